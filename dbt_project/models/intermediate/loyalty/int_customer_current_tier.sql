-- Each customer's latest tier evaluation: the rolling 12-month spend and tier that hold
-- from then up to the run date.
with

evaluations as (

    select * from {{ ref('int_customer_tier_evaluations') }}

),

latest_evaluation_dates as (

    select
        customer_id,
        max(evaluation_date) as evaluation_date

    from evaluations
    group by customer_id

),

final as (

    select
        evaluations.customer_id,
        evaluations.evaluation_date,
        evaluations.rolling_12m_spend,
        evaluations.loyalty_tier

    from evaluations

    inner join latest_evaluation_dates
        on evaluations.customer_id = latest_evaluation_dates.customer_id
        and evaluations.evaluation_date = latest_evaluation_dates.evaluation_date

)

select * from final
