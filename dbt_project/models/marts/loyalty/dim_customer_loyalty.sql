with

customers as (

    select customer_id from {{ ref('stg_shop__customers') }}

),

ledger as (

    select * from {{ ref('fct_loyalty_points_ledger') }}

),

current_spend as (

    select * from {{ ref('int_customer_current_tier') }}

),

tier_changes as (

    select * from {{ ref('fct_loyalty_tier_changes') }}
    where is_current

),

points as (

    select
        customer_id,
        cast(sum(points) as bigint) as points_balance,
        cast(sum(case when movement_type = 'earn' then points else 0 end) as bigint)
            as lifetime_points_earned,
        cast(-sum(case when movement_type = 'refund_reversal' then points else 0 end) as bigint)
            as lifetime_points_reversed,
        cast(-sum(case when movement_type = 'expiry' then points else 0 end) as bigint)
            as lifetime_points_expired

    from ledger
    group by customer_id

),

-- Lots still holding points on the run date (earned, neither reversed nor expired yet).
live_lots as (

    select
        customer_id,
        lot_expires_date,
        cast(sum(points) as bigint) as points

    from ledger
    group by customer_id, order_id, lot_expires_date
    having sum(points) > 0

),

next_expiry as (

    select
        customer_id,
        min(lot_expires_date) as next_points_expiry_date

    from live_lots
    group by customer_id

),

next_expiry_points as (

    select
        next_expiry.customer_id,
        next_expiry.next_points_expiry_date,
        sum(live_lots.points) as points_expiring_next

    from next_expiry

    inner join live_lots
        on next_expiry.customer_id = live_lots.customer_id
        and next_expiry.next_points_expiry_date = live_lots.lot_expires_date

    group by next_expiry.customer_id, next_expiry.next_points_expiry_date

),

joined as (

    select
        customers.customer_id,
        coalesce(points.points_balance, 0) as points_balance,
        coalesce(points.lifetime_points_earned, 0) as lifetime_points_earned,
        coalesce(points.lifetime_points_reversed, 0) as lifetime_points_reversed,
        coalesce(points.lifetime_points_expired, 0) as lifetime_points_expired,
        next_expiry_points.next_points_expiry_date,
        coalesce(next_expiry_points.points_expiring_next, 0) as points_expiring_next,
        cast(coalesce(current_spend.rolling_12m_spend, 0) as decimal(18, 2)) as rolling_12m_spend,
        coalesce(current_spend.loyalty_tier, 'Bronze') as loyalty_tier,
        tier_changes.valid_from_date as loyalty_tier_since_date

    from customers

    left join points
        on customers.customer_id = points.customer_id

    left join next_expiry_points
        on customers.customer_id = next_expiry_points.customer_id

    left join current_spend
        on customers.customer_id = current_spend.customer_id

    left join tier_changes
        on customers.customer_id = tier_changes.customer_id

),

final as (

    select
        *,
        {{ loyalty_next_tier('loyalty_tier') }} as next_tier,
        cast({{ loyalty_next_tier_spend('loyalty_tier') }} - rolling_12m_spend as decimal(18, 2))
            as spend_to_next_tier

    from joined

)

select * from final
