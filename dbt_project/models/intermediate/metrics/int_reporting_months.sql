-- The months every monthly report has a row for, even a month without orders:
-- from the month of history_start_date to the month of the run date.
with

spine as (

    {{ dbt.date_spine(
        'month',
        "cast(" ~ dbt.date_trunc('month', "cast('" ~ var('history_start_date') ~ "' as date)") ~ " as date)",
        dbt.dateadd('month', 1, "cast(" ~ dbt.date_trunc('month', run_date()) ~ " as date)")
    ) }}

),

months as (

    select
        cast(date_month as date) as month_start_date,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'date_month')) }} as date) as month_end_date

    from spine

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
