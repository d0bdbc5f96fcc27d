with

orders as (

    select * from {{ ref('int_orders_converted') }}

),

final as (

    select
        order_id,
        customer_id,
        ordered_at,
        ordered_date,
        status,
        is_paid,
        currency,
        subtotal,
        discount,
        total,
        promo_code,
        fx_rate_to_reporting,
        subtotal_reporting,
        discount_reporting,
        total_reporting

    from orders

)

select * from final
