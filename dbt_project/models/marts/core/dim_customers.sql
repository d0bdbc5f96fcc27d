with

customers as (

    select * from {{ ref('stg_shop__customers') }}

),

lifecycle as (

    select * from {{ ref('int_customer_lifecycle') }}

),

order_stats as (

    select * from {{ ref('int_customer_order_stats') }}

),

suppressions as (

    select * from {{ ref('int_customer_channel_suppressions') }}

),

final as (

    select
        customers.customer_id,
        customers.signed_up_at,
        customers.signed_up_date,
        customers.email,
        customers.phone,
        customers.push_token,
        customers.first_name,
        customers.birthday,
        customers.country,
        customers.time_zone,
        customers.consent_email,
        customers.consent_email_at,
        customers.consent_sms,
        customers.consent_sms_at,
        customers.consent_push,
        customers.consent_push_at,
        suppressions.email_unsubscribed_at,
        suppressions.email_hard_bounced_at,
        suppressions.sms_unsubscribed_at,
        suppressions.sms_hard_bounced_at,
        suppressions.push_unsubscribed_at,
        suppressions.push_token_invalid_at,
        -- Consent given in the shop counts unless the channel's platform has since
        -- reported an unsubscribe; a hard bounce or a dead push token ends the channel.
        {{ channel_reachable(
            'customers.consent_email', 'customers.consent_email_at', 'customers.email',
            'suppressions.email_unsubscribed_at', 'suppressions.email_hard_bounced_at'
        ) }} as is_emailable,
        {{ channel_reachable(
            'customers.consent_sms', 'customers.consent_sms_at', 'customers.phone',
            'suppressions.sms_unsubscribed_at', 'suppressions.sms_hard_bounced_at'
        ) }} as is_smsable,
        {{ channel_reachable(
            'customers.consent_push', 'customers.consent_push_at', 'customers.push_token',
            'suppressions.push_unsubscribed_at', 'suppressions.push_token_invalid_at'
        ) }} as is_pushable,
        lifecycle.first_paid_order_date,
        lifecycle.last_paid_order_date,
        lifecycle.days_since_first_paid_order,
        lifecycle.days_since_last_paid_order,
        lifecycle.paid_orders,
        lifecycle.paid_orders_last_365d,
        lifecycle.median_order_gap_days,
        lifecycle.lapsing_after_days,
        coalesce(order_stats.revenue_reporting, 0) as revenue_reporting,
        lifecycle.lifecycle_stage

    from customers

    inner join lifecycle
        on customers.customer_id = lifecycle.customer_id

    left join order_stats
        on customers.customer_id = order_stats.customer_id

    left join suppressions
        on customers.customer_id = suppressions.customer_id

)

select * from final
