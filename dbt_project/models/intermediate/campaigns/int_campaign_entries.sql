-- Campaign entries: who entered a segment at a daily run, once per segment and
-- uplift_window_days, and was eligible (consent), with their holdout assignment. The
-- rows fct_campaign_uplift follows for the outcome (docs block uplift_intervals).
{%- set window_days = var('uplift_window_days') %}

with

allocations as (

    select run_date, segment, customer_id, status
    from {{ ref('stg_exports__allocations') }}
    where run_hour is null
        and run_date < {{ run_date() }}

),

runs as (

    select
        run_date,
        lag(run_date) over (order by run_date) as previous_run_date

    from (select distinct run_date from allocations) as run_dates

),

-- One row per segment, run and customer (a segment may list a customer twice; the holdout
-- and consent verdicts are the customer's, so both rows agree).
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

final as (

    select
        segment,
        run_date as entry_date,
        customer_id,
        is_first_run,
        is_holdout,
        is_exported

    from entries

)

select * from final
