-- dim_customer_loyalty agrees with the histories it summarises: the balance equals the
-- last running balance in the ledger, and the tier equals the current tier spell.
-- One row per customer that disagrees.
with

loyalty as (

    select * from {{ ref('dim_customer_loyalty') }}

),

last_movements as (

    select
        customer_id,
        points_balance_after,
        row_number() over (
            partition by customer_id
            order by
                movement_date desc,
                case movement_type when 'earn' then 1 when 'refund_reversal' then 2 else 3 end desc,
                order_id desc
        ) as recency_rank

    from {{ ref('fct_loyalty_points_ledger') }}

),

current_spells as (

    select * from {{ ref('fct_loyalty_tier_changes') }}
    where is_current

),

problems as (

    select
        loyalty.customer_id,
        loyalty.points_balance,
        last_movements.points_balance_after,
        loyalty.loyalty_tier,
        current_spells.loyalty_tier as spell_tier

    from loyalty

    left join last_movements
        on loyalty.customer_id = last_movements.customer_id
        and last_movements.recency_rank = 1

    left join current_spells
        on loyalty.customer_id = current_spells.customer_id

    where loyalty.points_balance <> coalesce(last_movements.points_balance_after, 0)
        or loyalty.loyalty_tier <> coalesce(current_spells.loyalty_tier, 'Bronze')

)

select * from problems
