-- Carts left without checking out, as of the data interval's end (as_of_at(): the end of
-- the run date, or of the hour for the hourly refresh). Idle time runs from the cart's
-- last change (updated_at). Thresholds compare timestamps, not hour counts, so "idle for
-- at least 1 hour" means exactly that on every engine.
{%- set as_of_at = as_of_at() %}

with

carts as (

    select * from {{ ref('stg_shop__carts') }}
    where status in ('open', 'abandoned')

),

orders as (

    select * from {{ ref('int_orders_converted') }}
    where status <> 'cancelled'

),

-- A customer who checked out (another cart) after this cart's last change has bought.
recovered as (

    select distinct carts.cart_id

    from carts

    inner join orders
        on carts.customer_id = orders.customer_id
        and orders.ordered_at >= carts.updated_at

),

final as (

    select
        carts.cart_id,
        carts.customer_id,
        carts.status,
        carts.created_at,
        carts.updated_at as last_activity_at,
        carts.item_count,
        carts.cart_value,
        carts.currency,
        cast(floor({{ dbt.datediff('carts.updated_at', as_of_at, 'second') }} / 3600.0) as integer)
            as hours_idle,
        recovered.cart_id is not null as is_recovered,
        (
            carts.updated_at <= {{ dbt.dateadd('hour', -var('abandoned_cart_min_hours'), as_of_at) }}
            and carts.updated_at >= {{ dbt.dateadd('day', -var('abandoned_cart_max_days'), as_of_at) }}
            and carts.item_count > 0
            and recovered.cart_id is null
        ) as is_remindable

    from carts

    left join recovered
        on carts.cart_id = recovered.cart_id

)

select * from final
