-- The products of each paid order as of the run date (refunded and cancelled orders are
-- no purchase); a product twice in one order is one row, its quantities summed.
with

paid_orders as (

    select * from {{ ref('int_orders_converted') }}
    where is_paid

),

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

final as (

    select
        paid_orders.order_id,
        paid_orders.customer_id,
        paid_orders.ordered_at,
        order_items.product_id,
        sum(order_items.quantity) as quantity

    from paid_orders

    inner join order_items
        on paid_orders.order_id = order_items.order_id

    group by
        paid_orders.order_id,
        paid_orders.customer_id,
        paid_orders.ordered_at,
        order_items.product_id

)

select * from final
