-- Lifecycle rules count purchase days, not orders: two orders on one day are one visit.
with

paid_orders as (

    select * from {{ ref('int_orders_converted') }}
    where is_paid

),

dated as (

    select
        customer_id,
        {{ business_date('ordered_at') }} as purchase_date,
        total_reporting

    from paid_orders

),

final as (

    select
        customer_id,
        purchase_date,
        count(*) as paid_orders,
        sum(total_reporting) as revenue_reporting

    from dated
    group by customer_id, purchase_date

)

select * from final
