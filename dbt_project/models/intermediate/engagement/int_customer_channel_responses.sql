-- Observed responses per channel over the profile lookback (var profile_lookback_days),
-- the input of preferred_channel. The logs carry no SMS events, so SMS has none.
{%- set lookback_start = dbt.dateadd('day', 1 - var('profile_lookback_days', 365), run_date()) %}

with

events as (

    select * from {{ ref('fct_engagement_events') }}
    where event_type in ('email_opened', 'email_clicked', 'push_opened')

),

final as (

    select
        customer_id,
        -- an email opened and clicked is one response: count campaigns
        count(distinct case when event_type in ('email_opened', 'email_clicked') then campaign end)
            as email_responses,
        count(case when event_type = 'push_opened' then event_id end) as push_responses,
        0 as sms_responses

    from events
    where {{ business_date('occurred_at') }} between {{ lookback_start }} and {{ run_date() }}
    group by customer_id

)

select * from final
