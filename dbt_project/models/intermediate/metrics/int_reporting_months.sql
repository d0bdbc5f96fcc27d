-- The months every monthly report has a row for, even a month without orders:
-- the months of the calendar's days, from history_start_date's to the run date's.
with

days as (

    select * from {{ ref('int_calendar_days') }}

),

months as (

    select
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start_date,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, dbt.date_trunc('month', 'date_day'))) }} as date)
            as month_end_date

    from days
    group by 1, 2

),

final as (

    select
        month_start_date,
        month_end_date,
        -- The run date's month is cut short: it ends on the run date.
        case
            when month_end_date > {{ run_date() }} then {{ run_date() }}
            else month_end_date
        end as period_end_date,
        month_end_date > {{ run_date() }} as is_partial_month

    from months

)

select * from final
