-- Members close to the next loyalty tier: the rolling 12-month spend still missing is
-- at most var tier_upgrade_nudge_max_share (20 %) of the next tier's threshold
-- (threshold = rolling_12m_spend + spend_to_next_tier). Platinum has no next tier.
with

audience as (

    {{ segment_audience('push', 'promotional') }}

),

final as (

    select
        customer_id,
        push_token,
        first_name,
        lifecycle_stage,
        loyalty_tier,
        points_balance,
        recommended_product_id,
        recommended_product_name,
        preferred_send_hour,
        next_tier,
        spend_to_next_tier,
        rolling_12m_spend

    from audience
    where next_tier is not null
        and spend_to_next_tier > 0
        and spend_to_next_tier
            <= {{ var('tier_upgrade_nudge_max_share', 0.2) }} * (rolling_12m_spend + spend_to_next_tier)

)

select * from final
