-- Every order that was paid at order time (status paid, or refunded later) is a lot:
-- it earns points and counts towards tier spend from its order date until it leaves
-- the 365-day window or is refunded. Cancelled orders were never paid.
with

orders as (

    select * from {{ ref('int_orders_converted') }}
    where status in ('paid', 'refunded')

),

-- int_orders_converted has no updated_at; a refunded order's latest version is the
-- refund itself, so its updated_at is the refund time.
order_versions as (

    select
        order_id,
        updated_at

    from {{ ref('stg_shop__orders') }}

),

lots as (

    select
        orders.order_id,
        orders.customer_id,
        {{ business_date('orders.ordered_at') }} as earned_date,
        orders.total_reporting as spend_reporting,
        -- decimal, not double, so 100.00 x 0.29 is 29 and not 28.999...
        cast(floor(
            orders.total_reporting
            * cast({{ var('loyalty_points_per_unit') }} as decimal(18, 6))
        ) as integer) as points_earned,
        case
            when orders.status = 'refunded' then {{ business_date('order_versions.updated_at') }}
        end as refunded_date

    from orders

    inner join order_versions
        on orders.order_id = order_versions.order_id

),

final as (

    select
        order_id,
        customer_id,
        earned_date,
        spend_reporting,
        points_earned,
        refunded_date,
        cast({{ dbt.dateadd('month', var('loyalty_points_expiry_months'), 'earned_date') }} as date)
            as expires_date

    from lots
    where earned_date <= {{ run_date() }}

)

select * from final
