with

customers as (

    select * from {{ ref('dim_customers') }}

),

final as (

    select
        customer_id,
        email,
        first_name,
        lifecycle_stage,
        last_paid_order_date as last_order_date,
        days_since_last_paid_order as days_since_last_order,
        paid_orders

    from customers
    where lifecycle_stage = 'lapsing'
        and is_emailable

)

select * from final
