-- Customers whose latest NPS answer is 9 or 10, given fewer than var
-- referral_nps_max_age_days days ago (enthusiasm fades): ask them for a referral.
with

audience as (

    {{ segment_audience('email', 'promotional') }}

),

latest_nps as (

    select * from {{ ref('int_customer_latest_nps') }}
    where nps_category = 'promoter'
        and days_since_answer < {{ var('referral_nps_max_age_days', 90) }}

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
        latest_nps.answered_date as nps_answered_date

    from audience

    inner join latest_nps
        on audience.customer_id = latest_nps.customer_id

)

select * from final
