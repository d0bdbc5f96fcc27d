-- Carts idle for at least var abandoned_cart_min_hours and at most var
-- abandoned_cart_max_days days, not followed by an order (int_carts_abandoned). One row
-- per customer: their most recently changed remindable cart.
with

audience as (

    {{ segment_audience('email', 'promotional') }}

),

carts as (

    select * from {{ ref('int_carts_abandoned') }}
    where is_remindable

),

latest_carts as (

    select
        *,
        row_number() over (
            partition by customer_id order by last_activity_at desc, cart_id desc
        ) as cart_rank

    from carts

),

final as (

    select
        audience.customer_id,
        audience.email,
        audience.first_name,
        audience.lifecycle_stage,
        audience.loyalty_tier,
        audience.points_balance,
        audience.recommended_product_id,
        audience.recommended_product_name,
        audience.preferred_send_hour,
        latest_carts.cart_id,
        latest_carts.cart_value,
        latest_carts.currency,
        latest_carts.item_count,
        latest_carts.last_activity_at as cart_last_activity_at,
        latest_carts.hours_idle

    from audience

    inner join latest_carts
        on audience.customer_id = latest_carts.customer_id

    where latest_carts.cart_rank = 1

)

select * from final
