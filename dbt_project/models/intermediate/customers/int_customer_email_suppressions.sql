-- Email platform signals that override the shop's consent flag: an unsubscribe
-- or a hard bounce arrives through the engagement logs, not the shop database.
with

events as (

    select * from {{ ref('fct_engagement_events') }}
    where occurred_date <= {{ run_date() }}

),

final as (

    select
        customer_id,
        max(case when event_type = 'unsubscribed' and unsubscribed_channel = 'email'
            then occurred_at end) as email_unsubscribed_at,
        max(case when event_type = 'email_bounced' and bounce_type = 'hard'
            then occurred_at end) as email_hard_bounced_at

    from events
    where (event_type = 'unsubscribed' and unsubscribed_channel = 'email')
        or (event_type = 'email_bounced' and bounce_type = 'hard')
    group by customer_id

)

select * from final
