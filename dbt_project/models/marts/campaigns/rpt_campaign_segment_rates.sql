-- The per-segment inputs of the detectable uplift (docs block detectable_uplift): a
-- segment's entrants per day over the last uplift_entry_lookback_days days of runs, and
-- its base repeat-purchase rate (the rate without the campaign), from fct_campaign_uplift.
-- One row per segment with a daily run; rpt_campaign_detectable_uplift sizes its holdout
-- test from them.
{%- set min_group = var('uplift_min_group_customers') %}
{%- set lookback_days = var('uplift_entry_lookback_days') %}

with

uplift as (

    select * from {{ ref('fct_campaign_uplift') }}

),

-- The last daily export run the mart has seen (entries of any segment).
last_run as (

    select max(entry_date) as last_run_date from uplift

),

-- A segment's entrants per day over the last uplift_entry_lookback_days days of runs
-- after its first run (whose customers were members already, not entrants).
entry_periods as (

    select
        uplift.segment,
        {{ dbt.dateadd('day', -lookback_days, 'last_run.last_run_date') }} as lookback_start_date,
        last_run.last_run_date,
        min(case when uplift.is_first_run then uplift.entry_date end) as first_run_date

    from uplift

    cross join last_run

    group by uplift.segment, last_run.last_run_date

),

entry_rates as (

    select
        entry_periods.segment,
        {{ dbt.datediff(
            'greatest(entry_periods.lookback_start_date, coalesce(entry_periods.first_run_date, entry_periods.lookback_start_date))',
            'entry_periods.last_run_date', 'day') }} as entry_days,
        coalesce(sum(uplift.treated_customers + uplift.holdout_customers), 0) as entrants

    from entry_periods

    left join uplift
        on entry_periods.segment = uplift.segment
        and not uplift.is_first_run
        and uplift.entry_date > entry_periods.lookback_start_date
        and uplift.entry_date <= entry_periods.last_run_date

    group by entry_periods.segment, entry_periods.lookback_start_date, entry_periods.first_run_date,
        entry_periods.last_run_date

),

-- The rate without the campaign: the holdout's over complete windows, or every entrant's
-- (treated included) while the holdout's complete windows hold fewer than
-- uplift_min_group_customers. A young segment, without enough complete windows yet, is
-- extrapolated from the days observed so far at a constant daily purchase hazard.
base_rates as (

    select
        segment,
        max(window_days) as window_days,
        sum(case when is_complete then holdout_customers else 0 end) as complete_holdout_customers,
        sum(case when is_complete then holdout_buyers else 0 end) as complete_holdout_buyers,
        sum(case when is_complete then treated_customers + holdout_customers else 0 end) as complete_entrants,
        sum(case when is_complete then treated_buyers + holdout_buyers else 0 end) as complete_buyers,
        sum(holdout_customers) as holdout_customers,
        sum(holdout_buyers) as holdout_buyers,
        sum(holdout_customers * days_observed) as holdout_customer_days,
        sum(treated_customers + holdout_customers) as entrants,
        sum(treated_buyers + holdout_buyers) as buyers,
        sum((treated_customers + holdout_customers) * days_observed) as entrant_days

    from uplift

    where not is_first_run

    group by segment

),

final as (

    select
        entry_rates.segment,
        entry_rates.entry_days,
        entry_rates.entrants,
        case when entry_rates.entry_days > 0 then entry_rates.entrants * 1.0 / entry_rates.entry_days end
            as entrants_per_day,
        case
            when base_rates.complete_holdout_customers >= {{ min_group }}
                then base_rates.complete_holdout_buyers * 1.0 / base_rates.complete_holdout_customers
            when base_rates.complete_entrants >= {{ min_group }}
                then base_rates.complete_buyers * 1.0 / base_rates.complete_entrants
            when base_rates.holdout_customers >= {{ min_group }}
                then 1 - exp(-base_rates.window_days * base_rates.holdout_buyers * 1.0 / base_rates.holdout_customer_days)
            when base_rates.entrants >= {{ min_group }}
                then 1 - exp(-base_rates.window_days * base_rates.buyers * 1.0 / base_rates.entrant_days)
        end as base_rate,
        case
            when base_rates.complete_holdout_customers >= {{ min_group }} then 'holdout'
            when base_rates.complete_entrants >= {{ min_group }} then 'all entrants'
            when base_rates.holdout_customers >= {{ min_group }} then 'holdout, extrapolated'
            when base_rates.entrants >= {{ min_group }} then 'all entrants, extrapolated'
        end as base_rate_source

    from entry_rates

    left join base_rates
        on entry_rates.segment = base_rates.segment

)

select * from final
