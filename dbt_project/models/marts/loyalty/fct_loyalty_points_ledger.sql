-- Points movements derived from the order history as of the run date (not stored
-- state), so a re-run of any date rebuilds exactly the ledger that date could see.
-- Expiry rule (loyalty_points_expiry docs block): each earn lot expires whole on
-- earned_date + loyalty_points_expiry_months unless its order was refunded before
-- that day, in which case the refund reverses the whole lot and nothing is left to expire.
with

lots as (

    select * from {{ ref('int_loyalty_point_lots') }}
    where points_earned > 0

),

movements as (

    select
        order_id,
        customer_id,
        'earn' as movement_type,
        earned_date as movement_date,
        points_earned as points,
        earned_date,
        expires_date

    from lots

    union all

    select
        order_id,
        customer_id,
        'refund_reversal' as movement_type,
        refunded_date as movement_date,
        -points_earned as points,
        earned_date,
        expires_date

    from lots
    where refunded_date < expires_date

    union all

    -- A refund on or after the expiry day finds the lot already expired: no reversal.
    select
        order_id,
        customer_id,
        'expiry' as movement_type,
        expires_date as movement_date,
        -points_earned as points,
        earned_date,
        expires_date

    from lots
    where refunded_date is null
        or refunded_date >= expires_date

),

dated as (

    select * from movements
    where movement_date <= {{ run_date() }}

),

final as (

    select
        {{ dbt.concat([
            dbt.safe_cast('order_id', dbt.type_string()),
            "'-'",
            'movement_type'
        ]) }} as points_movement_id,
        customer_id,
        order_id,
        movement_type,
        movement_date,
        points,
        earned_date as lot_earned_date,
        expires_date as lot_expires_date,
        -- Same-day movements in a fixed order (earn, reversal, expiry, then by order),
        -- so the running balance is deterministic and never dips below zero.
        cast(sum(points) over (
            partition by customer_id
            order by
                movement_date,
                case movement_type when 'earn' then 1 when 'refund_reversal' then 2 else 3 end,
                order_id
            rows between unbounded preceding and current row
        ) as bigint) as points_balance_after

    from dated

)

select * from final
