-- The messaging platforms' opt-out signals, per channel: they override the shop's
-- consent and arrive through the engagement logs, not the shop database. The rule
-- that weighs them against the consent is the channel_reachable macro (dim_customers).
with

events as (

    select * from {{ ref('fct_engagement_events') }}
    where occurred_date <= {{ run_date() }}

),

signals as (

    select * from events
    where (event_type = 'unsubscribed' and unsubscribed_channel in ('email', 'sms', 'push'))
        or (event_type in ('email_bounced', 'sms_bounced') and bounce_type = 'hard')
        or event_type = 'push_token_invalid'

),

final as (

    select
        customer_id,
        max(case when event_type = 'unsubscribed' and unsubscribed_channel = 'email'
            then occurred_at end) as email_unsubscribed_at,
        max(case when event_type = 'email_bounced'
            then occurred_at end) as email_hard_bounced_at,
        max(case when event_type = 'unsubscribed' and unsubscribed_channel = 'sms'
            then occurred_at end) as sms_unsubscribed_at,
        max(case when event_type = 'sms_bounced'
            then occurred_at end) as sms_hard_bounced_at,
        max(case when event_type = 'unsubscribed' and unsubscribed_channel = 'push'
            then occurred_at end) as push_unsubscribed_at,
        max(case when event_type = 'push_token_invalid'
            then occurred_at end) as push_token_invalid_at

    from signals
    group by customer_id

)

select * from final
