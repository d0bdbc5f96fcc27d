{{ config(materialized='table') }}

-- The lifecycle stage of every customer on every day from history_start_date to
-- the run date, from the purchase history visible on that day only: so the stage
-- history never changes when later days are added, and today's stage is the last row.
with

customers as (

    select
        customer_id,
        {{ business_date('signed_up_at') }} as signed_up_date

    from {{ ref('stg_shop__customers') }}

),

purchase_days as (

    select * from {{ ref('int_customer_purchase_days') }}
    where purchase_date <= {{ run_date() }}

),

calendar as (

    {{ dbt.date_spine(
        'day',
        "cast('" ~ var('history_start_date') ~ "' as date)",
        dbt.dateadd('day', 1, run_date())
    ) }}

),

days as (

    select cast(date_day as date) as as_of_date
    from calendar

),

-- Gap to the previous purchase day; a gap longer than the churn window makes the
-- purchase a reactivation (the customer ended at least one day inactive).
purchases as (

    select
        customer_id,
        purchase_date,
        paid_orders,
        {{ dbt.datediff(
            'lag(purchase_date) over (partition by customer_id order by purchase_date)',
            'purchase_date',
            'day'
        ) }} as gap_days

    from purchase_days

),

-- Each customer's median gap as of each purchase (all gaps up to and including it).
-- A self-join, because percentile_cont is no window function on PostgreSQL.
running_median_gaps as (

    select
        later.customer_id,
        later.purchase_date,
        percentile_cont(0.5) within group (order by earlier.gap_days) as median_gap_days

    from purchases as later

    inner join purchases as earlier
        on earlier.customer_id = later.customer_id
        and earlier.purchase_date <= later.purchase_date
        and earlier.gap_days is not null

    group by later.customer_id, later.purchase_date

),

purchase_facts as (

    select
        purchases.customer_id,
        purchases.purchase_date,
        purchases.paid_orders,
        running_median_gaps.median_gap_days,
        coalesce(purchases.gap_days > {{ var('churn_days') }}, false) as is_reactivation

    from purchases

    left join running_median_gaps
        on purchases.customer_id = running_median_gaps.customer_id
        and purchases.purchase_date = running_median_gaps.purchase_date

),

customer_days as (

    select
        customers.customer_id,
        days.as_of_date

    from customers

    inner join days
        on days.as_of_date >= customers.signed_up_date

),

-- What each customer's purchase history looks like on each day.
history as (

    select
        customer_days.customer_id,
        customer_days.as_of_date,
        min(purchase_facts.purchase_date) as first_purchase_date,
        max(purchase_facts.purchase_date) as last_purchase_date,
        coalesce(sum(purchase_facts.paid_orders), 0) as paid_orders,
        coalesce(sum(case
            when {{ dbt.datediff('purchase_facts.purchase_date', 'customer_days.as_of_date', 'day') }} < 365
                then purchase_facts.paid_orders
        end), 0) as paid_orders_last_365d,
        max(case when purchase_facts.is_reactivation then purchase_facts.purchase_date end)
            as last_reactivation_date

    from customer_days

    left join purchase_facts
        on purchase_facts.customer_id = customer_days.customer_id
        and purchase_facts.purchase_date <= customer_days.as_of_date

    group by customer_days.customer_id, customer_days.as_of_date

),

with_gap as (

    select
        history.*,
        last_purchase.median_gap_days

    from history

    left join purchase_facts as last_purchase
        on last_purchase.customer_id = history.customer_id
        and last_purchase.purchase_date = history.last_purchase_date

),

-- The gap expected of one-time buyers, per day: the median over repeat buyers of
-- each one's own median gap (so heavy buyers do not weigh more).
shop_gaps as (

    select
        as_of_date,
        percentile_cont(0.5) within group (order by median_gap_days) as shop_median_gap_days

    from with_gap
    where median_gap_days is not null
    group by as_of_date

),

measured as (

    select
        with_gap.customer_id,
        with_gap.as_of_date,
        with_gap.first_purchase_date,
        with_gap.last_purchase_date,
        with_gap.last_reactivation_date,
        with_gap.paid_orders,
        with_gap.paid_orders_last_365d,
        with_gap.median_gap_days,
        shop_gaps.shop_median_gap_days,
        {{ dbt.datediff('with_gap.first_purchase_date', 'with_gap.as_of_date', 'day') }}
            as days_since_first_purchase,
        {{ dbt.datediff('with_gap.last_purchase_date', 'with_gap.as_of_date', 'day') }}
            as days_since_last_purchase,
        {{ dbt.datediff('with_gap.last_reactivation_date', 'with_gap.as_of_date', 'day') }}
            as days_since_reactivation,
        case when with_gap.paid_orders > 0 then
            greatest(
                {{ var('lapsing_floor_days') }},
                coalesce(
                    {{ var('lapsing_k') }}
                    * coalesce(with_gap.median_gap_days, shop_gaps.shop_median_gap_days),
                    0
                )
            )
        end as lapsing_after_days

    from with_gap

    left join shop_gaps
        on with_gap.as_of_date = shop_gaps.as_of_date

),

final as (

    select
        *,
        {{ lifecycle_stage() }} as lifecycle_stage

    from measured

)

select * from final
