-- Campaign uplift, intent-to-treat: customers who entered a segment at a daily run and
-- were eligible (consent), split by the holdout assignment. Treated = every eligible
-- entrant outside the holdout (exported, or held back by the frequency cap or as a
-- duplicate: assignment, not delivery, defines the group); holdout = never messaged.
-- Outcome over the uplift_window_days days after entry (as far as observed by the
-- run date): bought again (a paid order) and revenue (EUR). 95 % intervals (docs block
-- uplift_intervals): Newcombe's hybrid score interval for the difference of rates, a
-- Welch-style standard error for the difference of mean revenue; none where a group has
-- fewer than uplift_min_group_customers, and interval_null_reason says why.
{%- set window_days = var('uplift_window_days') %}
{%- set min_group = var('uplift_min_group_customers') %}

with

allocations as (

    select run_date, segment, customer_id, status
    from {{ ref('stg_exports__allocations') }}
    where run_hour is null
        and run_date < {{ run_date() }}

),

paid_orders as (

    select customer_id, ordered_date, total_reporting
    from {{ ref('fct_orders') }}
    where is_paid

),

runs as (

    select
        run_date,
        lag(run_date) over (order by run_date) as previous_run_date

    from (select distinct run_date from allocations) as run_dates

),

-- One row per segment, run and customer (a customer can be a candidate twice in a
-- segment; the holdout and consent verdicts are the customer's, so both rows agree).
candidates as (

    select
        segment,
        run_date,
        customer_id,
        max(case when status = 'holdout' then 1 else 0 end) = 1 as is_holdout,
        max(case when status = 'included' then 1 else 0 end) = 1 as is_exported,
        min(case when status = 'no_consent' then 0 else 1 end) = 1 as is_eligible

    from allocations

    group by segment, run_date, customer_id

),

-- Each segment's first daily run (its candidates were members already).
segment_starts as (

    select segment, min(run_date) as first_run_date
    from candidates
    group by segment

),

-- Arrived: a candidate at this run who was not one at the run before. At a segment's
-- first run nobody arrived: its candidates were members already (reported apart,
-- is_first_run). The same rules for both groups.
arrivals as (

    select
        candidates.*,
        candidates.run_date = segment_starts.first_run_date as is_first_run

    from candidates

    inner join runs
        on candidates.run_date = runs.run_date

    inner join segment_starts
        on candidates.segment = segment_starts.segment

    left join candidates as before
        on candidates.segment = before.segment
        and candidates.customer_id = before.customer_id
        and before.run_date = runs.previous_run_date

    where before.customer_id is null
        and candidates.is_eligible

),

-- A customer counts once per segment and window: an arrival within uplift_window_days of
-- their previous arrival in the segment (left and came back) is not a new entry.
entries as (

    select *

    from (
        select
            arrivals.*,
            lag(run_date) over (partition by segment, customer_id order by run_date) as previous_arrival
        from arrivals
    ) as ordered

    where previous_arrival is null
        or previous_arrival < {{ dbt.dateadd('day', -window_days, 'run_date') }}

),

outcomes as (

    select
        entries.segment,
        entries.run_date,
        entries.customer_id,
        entries.is_holdout,
        entries.is_exported,
        entries.is_first_run,
        case when count(paid_orders.customer_id) > 0 then 1 else 0 end as purchased,
        coalesce(sum(paid_orders.total_reporting), 0) as revenue

    from entries

    left join paid_orders
        on entries.customer_id = paid_orders.customer_id
        and paid_orders.ordered_date > entries.run_date
        and paid_orders.ordered_date <= {{ dbt.dateadd('day', window_days, 'entries.run_date') }}

    group by
        entries.segment,
        entries.run_date,
        entries.customer_id,
        entries.is_holdout,
        entries.is_exported,
        entries.is_first_run

),

groups as (

    select
        segment,
        run_date as entry_date,
        is_first_run,
        sum(case when not is_holdout then 1 else 0 end) as treated_customers,
        sum(case when is_exported then 1 else 0 end) as exported_customers,
        sum(case when is_holdout then 1 else 0 end) as holdout_customers,
        sum(case when not is_holdout then purchased else 0 end) as treated_buyers,
        sum(case when is_holdout then purchased else 0 end) as holdout_buyers,
        cast(sum(case when not is_holdout then revenue else 0 end) as {{ type_double() }}) as treated_revenue,
        cast(sum(case when is_holdout then revenue else 0 end) as {{ type_double() }}) as holdout_revenue,
        cast(sum(case when not is_holdout then revenue * revenue else 0 end) as {{ type_double() }})
            as treated_revenue_squares,
        cast(sum(case when is_holdout then revenue * revenue else 0 end) as {{ type_double() }})
            as holdout_revenue_squares

    from outcomes

    group by segment, run_date, is_first_run

),

rates as (

    select
        *,
        {{ window_days }} as window_days,
        least({{ window_days }}, {{ dbt.datediff('entry_date', run_date(), 'day') }}) as days_observed,
        case when treated_customers > 0 then treated_buyers * 1.0 / treated_customers end as treated_rate,
        case when holdout_customers > 0 then holdout_buyers * 1.0 / holdout_customers end as holdout_rate,
        case when treated_customers > 0 then treated_revenue / treated_customers end as treated_revenue_per_customer,
        case when holdout_customers > 0 then holdout_revenue / holdout_customers end as holdout_revenue_per_customer,
        -- Sample variances of revenue per customer (n - 1 in the denominator).
        case when treated_customers > 1 then
            greatest(treated_revenue_squares - treated_revenue * treated_revenue / treated_customers, 0)
            / (treated_customers - 1)
        end as treated_revenue_variance,
        case when holdout_customers > 1 then
            greatest(holdout_revenue_squares - holdout_revenue * holdout_revenue / holdout_customers, 0)
            / (holdout_customers - 1)
        end as holdout_revenue_variance

    from groups

),

final as (

    select
        segment,
        entry_date,
        is_first_run,
        window_days,
        days_observed,
        days_observed = window_days as is_complete,
        treated_customers,
        exported_customers,
        holdout_customers,
        treated_buyers,
        holdout_buyers,
        treated_rate,
        holdout_rate,
        treated_rate - holdout_rate as rate_uplift,
        case when has_interval then cast(
            {{ newcombe_difference_bound('treated_buyers', 'treated_customers', 'holdout_buyers', 'holdout_customers', 'low') }}
            as {{ type_double() }})
        end as rate_uplift_ci_low,
        case when has_interval then cast(
            {{ newcombe_difference_bound('treated_buyers', 'treated_customers', 'holdout_buyers', 'holdout_customers', 'high') }}
            as {{ type_double() }})
        end as rate_uplift_ci_high,
        treated_revenue,
        holdout_revenue,
        treated_revenue_squares,
        holdout_revenue_squares,
        treated_revenue_per_customer,
        holdout_revenue_per_customer,
        treated_revenue_per_customer - holdout_revenue_per_customer as revenue_uplift,
        case when has_interval then
            treated_revenue_per_customer - holdout_revenue_per_customer - {{ z_95() }} * sqrt(
                treated_revenue_variance / treated_customers + holdout_revenue_variance / holdout_customers
            )
        end as revenue_uplift_ci_low,
        case when has_interval then
            treated_revenue_per_customer - holdout_revenue_per_customer + {{ z_95() }} * sqrt(
                treated_revenue_variance / treated_customers + holdout_revenue_variance / holdout_customers
            )
        end as revenue_uplift_ci_high,
        case
            when holdout_customers = 0 then 'no holdout customers'
            when treated_customers = 0 then 'no treated customers'
            when holdout_customers < {{ min_group }} then 'holdout under {{ min_group }} customers'
            when treated_customers < {{ min_group }} then 'treated under {{ min_group }} customers'
        end as interval_null_reason

    from (
        select
            *,
            treated_customers >= {{ min_group }} and holdout_customers >= {{ min_group }} as has_interval
        from rates
    ) as sized

)

select * from final
