-- How customers move between stages, month by month (the flow in the report).
with

changes as (

    select * from {{ ref('fct_customer_stage_changes') }}
    -- The first row of a customer whose history starts before history_start_date
    -- is not a transition.
    where previous_stage is not null
        or valid_from_date > cast('{{ var("history_start_date") }}' as date)

),

final as (

    select
        cast({{ dbt.date_trunc('month', 'valid_from_date') }} as date) as month_start_date,
        coalesce(previous_stage, 'signup') as from_stage,
        lifecycle_stage as to_stage,
        count(*) as customers

    from changes
    group by 1, 2, 3

)

select * from final
