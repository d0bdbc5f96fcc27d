with

paid_orders as (

    select * from {{ ref('int_orders_converted') }}
    where is_paid

),

final as (

    select
        customer_id,
        count(*) as paid_orders,
        count(case when discount > 0 then order_id end) as discounted_paid_orders,
        cast(count(case when discount > 0 then order_id end) as {{ type_double() }})
            / count(*) as discount_share

    from paid_orders
    group by customer_id

)

select * from final
