-- Customers whose latest NPS answer is 0-6 and came fewer than var nps_followup_days
-- days ago: a service follow-up, so customers with an open support ticket stay in.
with

audience as (

    {{ segment_audience('email', 'service') }}

),

latest_nps as (

    select * from {{ ref('int_customer_latest_nps') }}
    where nps_category = 'detractor'
        and days_since_answer < {{ var('nps_followup_days', 30) }}

),

final as (

    select
        audience.customer_id,
        audience.email,
        audience.first_name,
        audience.lifecycle_stage,
        audience.loyalty_tier,
        audience.points_balance,
        audience.recommended_product_id,
        audience.recommended_product_name,
        audience.preferred_send_hour,
        latest_nps.nps_score,
        latest_nps.answered_date as nps_answered_date,
        latest_nps.survey_order_id,
        audience.has_open_support_ticket

    from audience

    inner join latest_nps
        on audience.customer_id = latest_nps.customer_id

)

select * from final
