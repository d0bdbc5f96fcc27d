with

scores as (

    select * from {{ ref('int_customer_rfm_scores') }}

),

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

),

final as (

    select
        scores.customer_id,
        scores.first_purchase_date,
        scores.last_purchase_date,
        scores.recency_days,
        scores.frequency,
        scores.monetary,
        scores.r_score,
        scores.f_score,
        scores.m_score,
        {{ dbt.concat([
            dbt.safe_cast('scores.r_score', dbt.type_string()),
            dbt.safe_cast('scores.f_score', dbt.type_string()),
            dbt.safe_cast('scores.m_score', dbt.type_string())
        ]) }} as rfm_cell,
        scores.f_score_method,
        segment_map.rfm_segment

    from scores

    -- Left join: a cell missing from the map shows as a null segment and fails the
    -- not_null test instead of silently dropping the customer.
    left join segment_map
        on scores.r_score = segment_map.r_score
        and scores.f_score = segment_map.f_score

)

select * from final
