-- Members in var vip_min_tier or a higher loyalty tier, for a thank-you message.
with

audience as (

    {{ segment_audience('email', 'promotional') }}

),

final as (

    select
        customer_id,
        email,
        first_name,
        lifecycle_stage,
        loyalty_tier,
        points_balance,
        recommended_product_id,
        recommended_product_name,
        preferred_send_hour,
        rolling_12m_spend

    from audience
    where {{ loyalty_tier_rank('loyalty_tier') }} >= {{ loyalty_tier_rank("'" ~ var('vip_min_tier') ~ "'") }}

)

select * from final
