-- Tier history as validity ranges from history_start_date to the run date, derived
-- from the order history (int_customer_tier_evaluations), not dbt snapshots: re-running
-- an old date rebuilds exactly its history.
with

evaluations as (

    select * from {{ ref('int_customer_tier_evaluations') }}

),

marked as (

    select
        customer_id,
        evaluation_date,
        rolling_12m_spend,
        loyalty_tier,
        lag(loyalty_tier) over (partition by customer_id order by evaluation_date) as previous_tier

    from evaluations

),

changes as (

    select * from marked
    where previous_tier is null or previous_tier <> loyalty_tier

),

ranged as (

    select
        changes.*,
        lead(evaluation_date) over (partition by customer_id order by evaluation_date)
            as next_valid_from_date

    from changes

),

final as (

    select
        {{ dbt.concat([
            dbt.safe_cast('customer_id', dbt.type_string()),
            "'-'",
            dbt.safe_cast('evaluation_date', dbt.type_string())
        ]) }} as tier_change_id,
        customer_id,
        previous_tier,
        loyalty_tier,
        case
            when previous_tier is null then 'start'
            when {{ loyalty_tier_rank('loyalty_tier') }} > {{ loyalty_tier_rank('previous_tier') }}
                then 'upgrade'
            else 'downgrade'
        end as change_type,
        rolling_12m_spend as rolling_12m_spend_at_change,
        evaluation_date as valid_from_date,
        cast({{ dbt.dateadd('day', -1, 'next_valid_from_date') }} as date) as valid_to_date,
        next_valid_from_date is null as is_current

    from ranged

)

select * from final
