-- Every day from var history_start_date to the run date: the one day spine the daily
-- and monthly models share (declared as the project's time spine, so it is a root
-- model on purpose).
with

spine as (

    {{ dbt.date_spine(
        'day',
        "cast('" ~ var('history_start_date') ~ "' as date)",
        dbt.dateadd('day', 1, run_date())
    ) }}

),

final as (

    select cast(date_day as date) as date_day
    from spine

)

select * from final
