-- Stage history as validity ranges, derived from the daily stages (not dbt snapshots,
-- which stamp the wall clock): re-running an old date rebuilds exactly its history.
with

-- The days whose stage differs from the day before (or a customer's first day): a
-- filter on the daily stages' previous_stage, not a window over the whole history.
changes as (

    select
        customer_id,
        previous_stage,
        lifecycle_stage,
        as_of_date as valid_from_date

    from {{ ref('int_customer_daily_stages') }}
    where previous_stage is null
        or previous_stage <> lifecycle_stage

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
