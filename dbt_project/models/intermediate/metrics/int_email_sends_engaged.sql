-- Email engagement counted per send: what happened to each email afterwards, tied to
-- it by customer and campaign. Counting flags per send (not events) keeps an email
-- opened twice, or an event delivered twice, from counting twice.
with

events as (

    select * from {{ ref('stg_events__events') }}
    where event_type in ('email_sent', 'email_bounced', 'email_opened', 'email_clicked', 'unsubscribed')

),

sends as (

    select
        customer_id,
        campaign,
        min(occurred_at) as sent_at

    from events
    where event_type = 'email_sent'
    group by customer_id, campaign

),

responses as (

    select
        customer_id,
        campaign,
        max(case when event_type = 'email_bounced' then 1 else 0 end) as is_bounced,
        max(case when event_type = 'email_opened' then 1 else 0 end) as is_opened,
        max(case when event_type = 'email_clicked' then 1 else 0 end) as is_clicked,
        max(case when event_type = 'unsubscribed' and unsubscribed_channel = 'email' then 1 else 0 end)
            as is_unsubscribed

    from events
    where event_type <> 'email_sent'
    group by customer_id, campaign

),

final as (

    select
        sends.customer_id,
        sends.campaign,
        sends.sent_at,
        {{ business_date('sends.sent_at') }} as sent_date,
        coalesce(responses.is_bounced, 0) = 1 as is_bounced,
        coalesce(responses.is_opened, 0) = 1 as is_opened,
        coalesce(responses.is_clicked, 0) = 1 as is_clicked,
        coalesce(responses.is_unsubscribed, 0) = 1 as is_unsubscribed

    from sends

    left join responses
        on sends.customer_id = responses.customer_id
        and sends.campaign = responses.campaign

)

select * from final
