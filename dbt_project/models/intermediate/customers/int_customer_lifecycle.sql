with

customers as (

    select * from {{ ref('stg_shop__customers') }}

),

order_stats as (

    select * from {{ ref('int_customer_order_stats') }}

),

-- The gap expected of a one-time buyer: the median, over repeat buyers, of
-- each one's own median gap (so heavy buyers do not weigh more).
shop_order_gap as (

    select
        percentile_cont(0.5) within group (order by median_order_gap_days)
            as shop_median_order_gap_days

    from order_stats
    where median_order_gap_days is not null

),

measured as (

    select
        customers.customer_id,
        order_stats.first_paid_order_date,
        order_stats.last_paid_order_date,
        coalesce(order_stats.paid_orders, 0) as paid_orders,
        coalesce(order_stats.paid_orders_last_365d, 0) as paid_orders_last_365d,
        order_stats.median_order_gap_days,
        coalesce(
            order_stats.median_order_gap_days,
            shop_order_gap.shop_median_order_gap_days
        ) as expected_order_gap_days,
        {{ dbt.datediff('order_stats.first_paid_order_date', run_date(), 'day') }}
            as days_since_first_paid_order,
        {{ dbt.datediff('order_stats.last_paid_order_date', run_date(), 'day') }}
            as days_since_last_paid_order

    from customers

    left join order_stats
        on customers.customer_id = order_stats.customer_id

    cross join shop_order_gap

),

with_threshold as (

    select
        *,
        case when paid_orders > 0 then
            greatest(
                {{ var('lapsing_floor_days') }},
                coalesce({{ var('lapsing_k') }} * expected_order_gap_days, 0)
            )
        end as lapsing_after_days

    from measured

),

final as (

    select
        *,
        {{ lifecycle_stage() }} as lifecycle_stage

    from with_threshold

)

select * from final
