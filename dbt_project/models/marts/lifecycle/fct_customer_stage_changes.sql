-- Stage history as validity ranges, derived from the daily stages (not dbt snapshots,
-- which stamp the wall clock): re-running an old date rebuilds exactly its history.
with

daily_stages as (

    select
        customer_id,
        as_of_date,
        lifecycle_stage

    from {{ ref('int_customer_daily_stages') }}

),

marked as (

    select
        *,
        lag(lifecycle_stage) over (partition by customer_id order by as_of_date) as previous_stage

    from daily_stages

),

changes as (

    select
        customer_id,
        previous_stage,
        lifecycle_stage,
        as_of_date as valid_from_date

    from marked
    where previous_stage is null or previous_stage <> lifecycle_stage

),

ranged as (

    select
        customer_id,
        previous_stage,
        lifecycle_stage,
        valid_from_date,
        lead(valid_from_date) over (partition by customer_id order by valid_from_date)
            as next_valid_from_date

    from changes

),

final as (

    select
        {{ dbt.concat([
            dbt.safe_cast('customer_id', dbt.type_string()),
            "'-'",
            dbt.safe_cast('valid_from_date', dbt.type_string())
        ]) }} as stage_change_id,
        customer_id,
        previous_stage,
        lifecycle_stage,
        valid_from_date,
        cast({{ dbt.dateadd('day', -1, 'next_valid_from_date') }} as date) as valid_to_date,
        next_valid_from_date is null as is_current

    from ranged

)

select * from final
