-- Every points lot nets to between 0 and what it earned, and no running balance is
-- negative: the expiry rule never takes more than a lot holds. One row per violation.
with

ledger as (

    select * from {{ ref('fct_loyalty_points_ledger') }}

),

lot_totals as (

    select
        order_id,
        sum(case when movement_type = 'earn' then points else 0 end) as points_earned,
        sum(points) as points_left,
        count(case when movement_type <> 'earn' then 1 end) as closing_movements

    from ledger
    group by order_id

),

problems as (

    select
        'lot out of bounds' as problem,
        order_id,
        points_left as points

    from lot_totals
    where points_left < 0
        or points_left > points_earned
        or closing_movements > 1

    union all

    select
        'negative balance' as problem,
        order_id,
        points_balance_after as points

    from ledger
    where points_balance_after < 0

)

select * from problems
