-- The customer's latest NPS answer (surveys answered on or before the run date).
-- Ties on the timestamp go to the later event id, so the pick is deterministic.
with

answers as (

    select * from {{ ref('fct_engagement_events') }}
    where event_type = 'survey_answered'
        and nps_score is not null

),

ranked as (

    select
        customer_id,
        nps_score,
        occurred_at as answered_at,
        {{ business_date('occurred_at') }} as answered_date,
        -- ids arrive as JSON numbers ("42.0"): via numeric, which reads both 42 and 42.0
        cast(cast({{ json_text('properties', 'order_id') }} as {{ dbt.type_numeric() }})
            as {{ dbt.type_bigint() }})
            as survey_order_id,
        row_number() over (partition by customer_id order by occurred_at desc, event_id desc) as answer_rank

    from answers

),

final as (

    select
        customer_id,
        nps_score,
        case
            when nps_score >= 9 then 'promoter'
            when nps_score >= 7 then 'passive'
            else 'detractor'
        end as nps_category,
        answered_at,
        answered_date,
        {{ dbt.datediff('answered_date', run_date(), 'day') }} as days_since_answer,
        survey_order_id

    from ranked
    where answer_rank = 1

)

select * from final
