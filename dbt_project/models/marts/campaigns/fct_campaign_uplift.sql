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

paid_orders as (

    select customer_id, ordered_date, total_reporting
    from {{ ref('fct_orders') }}
    where is_paid

),

entries as (

    select * from {{ ref('int_campaign_entries') }}

),

outcomes as (

    select
        entries.segment,
        entries.entry_date,
        entries.customer_id,
        entries.is_holdout,
        entries.is_exported,
        entries.is_first_run,
        case when count(paid_orders.customer_id) > 0 then 1 else 0 end as purchased,
        coalesce(sum(paid_orders.total_reporting), 0) as revenue

    from entries

    left join paid_orders
        on entries.customer_id = paid_orders.customer_id
        and paid_orders.ordered_date > entries.entry_date
        and paid_orders.ordered_date <= {{ dbt.dateadd('day', window_days, 'entries.entry_date') }}

    group by
        entries.segment,
        entries.entry_date,
        entries.customer_id,
        entries.is_holdout,
        entries.is_exported,
        entries.is_first_run

),

groups as (

    select
        segment,
        entry_date,
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

    group by segment, entry_date, is_first_run

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
