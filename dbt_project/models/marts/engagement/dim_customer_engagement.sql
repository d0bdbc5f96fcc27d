-- The engagement profile. Every rule lives in an intermediate model; this mart puts one
-- row per customer together and adds the channel choice, which needs the channels the
-- customer may be reached on (dim_customers).
with

customers as (

    select * from {{ ref('dim_customers') }}

),

activity as (

    select * from {{ ref('int_customer_recent_activity') }}

),

channel_responses as (

    select * from {{ ref('int_customer_channel_responses') }}

),

send_hours as (

    select * from {{ ref('int_customer_send_hours') }}

),

categories as (

    select * from {{ ref('int_customer_category_preferences') }}

),

discounts as (

    select * from {{ ref('int_customer_discount_usage') }}

),

open_tickets as (

    select
        customer_id,
        count(*) as open_support_tickets

    from {{ ref('int_support_tickets') }}
    where is_open
    group by customer_id

),

reach as (

    select
        customers.customer_id,
        customers.is_emailable,
        customers.is_smsable,
        customers.is_pushable,
        coalesce(channel_responses.email_responses, 0) as email_responses,
        coalesce(channel_responses.sms_responses, 0) as sms_responses,
        coalesce(channel_responses.push_responses, 0) as push_responses

    from customers

    left join channel_responses
        on customers.customer_id = channel_responses.customer_id

),

-- Among the channels the customer may be reached on, the one with the most responses;
-- ties (and no responses at all) go to email, then push, then SMS (cheapest first).
preferred_channels as (

    select
        customer_id,
        case
            when is_emailable
                and (not is_pushable or email_responses >= push_responses)
                and (not is_smsable or email_responses >= sms_responses)
                then 'email'
            when is_pushable
                and (not is_smsable or push_responses >= sms_responses)
                then 'push'
            when is_smsable
                then 'sms'
        end as preferred_channel

    from reach

),

final as (

    select
        customers.customer_id,
        activity.engagement_score,
        activity.recent_email_opens,
        activity.recent_email_clicks,
        activity.recent_sessions,
        activity.recent_paid_orders,
        reach.is_emailable,
        reach.is_smsable,
        reach.is_pushable,
        reach.email_responses,
        reach.push_responses,
        reach.sms_responses,
        preferred_channels.preferred_channel,
        coalesce(send_hours.preferred_send_hour, {{ var('default_send_hour', 10) }}) as preferred_send_hour,
        send_hours.preferred_send_hour is not null as has_send_hour_signal,
        categories.top_viewed_category,
        categories.top_bought_category,
        discounts.discount_share,
        coalesce(open_tickets.open_support_tickets, 0) as open_support_tickets

    from customers

    inner join activity
        on customers.customer_id = activity.customer_id

    inner join reach
        on customers.customer_id = reach.customer_id

    inner join preferred_channels
        on customers.customer_id = preferred_channels.customer_id

    left join send_hours
        on customers.customer_id = send_hours.customer_id

    left join categories
        on customers.customer_id = categories.customer_id

    left join discounts
        on customers.customer_id = discounts.customer_id

    left join open_tickets
        on customers.customer_id = open_tickets.customer_id

)

select * from final
