-- A customer's purchase history as seen on a day changes only on a purchase day and on
-- the day a purchase leaves the 365-day window. Between two such changes it holds
-- still: one row per spell (from signup, a prospect's spell before the first change),
-- so the daily stage history costs one row per customer-day, not one per customer-day
-- and earlier purchase.
with

customers as (

    select
        customer_id,
        {{ business_date('signed_up_at') }} as signed_up_date

    from {{ ref('stg_shop__customers') }}

),

purchase_gaps as (

    select * from {{ ref('int_customer_purchase_gaps') }}

),

-- One row per change: a purchase adds its orders, 365 days later they leave the window.
changes as (

    select customer_id, purchase_date as change_date, paid_orders as added,
        paid_orders as window_change, purchase_date, is_reactivation
    from purchase_gaps

    union all

    select customer_id, {{ dbt.dateadd('day', 365, 'purchase_date') }} as change_date, 0 as added,
        -paid_orders as window_change, cast(null as date) as purchase_date, false as is_reactivation
    from purchase_gaps

),

change_days as (

    select
        customer_id,
        cast(change_date as date) as change_date,
        sum(added) as added,
        sum(window_change) as window_change,
        max(purchase_date) as purchase_date,
        max(case when is_reactivation then purchase_date end) as reactivation_date

    from changes
    group by customer_id, cast(change_date as date)

),

-- From one change to the next (exclusive; the last to the day after the run date), with
-- the history from that day on: running sums and maxima over the changes so far.
purchase_spells as (

    select
        customer_id,
        change_date as valid_from,
        coalesce(
            lead(change_date) over (partition by customer_id order by change_date),
            cast({{ dbt.dateadd('day', 1, run_date()) }} as date)
        ) as valid_to,
        min(purchase_date) over (partition by customer_id) as first_purchase_date,
        max(purchase_date) over (
            partition by customer_id order by change_date rows between unbounded preceding and current row
        ) as last_purchase_date,
        sum(added) over (
            partition by customer_id order by change_date rows between unbounded preceding and current row
        ) as paid_orders,
        sum(window_change) over (
            partition by customer_id order by change_date rows between unbounded preceding and current row
        ) as paid_orders_last_365d,
        max(reactivation_date) over (
            partition by customer_id order by change_date rows between unbounded preceding and current row
        ) as last_reactivation_date

    from change_days

),

-- Before the first change the customer is a prospect (no row when that spell is empty).
prospect_spells as (

    select
        customers.customer_id,
        customers.signed_up_date as valid_from,
        coalesce(firsts.first_change, cast({{ dbt.dateadd('day', 1, run_date()) }} as date)) as valid_to,
        customers.signed_up_date,
        cast(null as date) as first_purchase_date,
        cast(null as date) as last_purchase_date,
        0 as paid_orders,
        0 as paid_orders_last_365d,
        cast(null as date) as last_reactivation_date

    from customers

    left join (
        select customer_id, min(valid_from) as first_change from purchase_spells group by customer_id
    ) as firsts
        on firsts.customer_id = customers.customer_id

    where firsts.first_change is null or customers.signed_up_date < firsts.first_change

),

spells as (

    select * from prospect_spells

    union all

    select
        purchase_spells.customer_id,
        purchase_spells.valid_from,
        purchase_spells.valid_to,
        customers.signed_up_date,
        purchase_spells.first_purchase_date,
        purchase_spells.last_purchase_date,
        purchase_spells.paid_orders,
        purchase_spells.paid_orders_last_365d,
        purchase_spells.last_reactivation_date

    from purchase_spells

    inner join customers
        on customers.customer_id = purchase_spells.customer_id

),

final as (

    select
        spells.*,
        last_purchase.median_gap_days

    from spells

    left join purchase_gaps as last_purchase
        on last_purchase.customer_id = spells.customer_id
        and last_purchase.purchase_date = spells.last_purchase_date

    -- a purchase leaving the window after the run date starts no spell yet
    where spells.valid_from <= {{ run_date() }}

)

select * from final
