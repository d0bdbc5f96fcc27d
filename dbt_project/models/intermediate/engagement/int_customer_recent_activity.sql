-- Activity in the engagement window (var engagement_window_days: the run date and the
-- days before it, business-time-zone days) and the engagement score it gives
-- (see the engagement_score docs block).
{%- set window_days = var('engagement_window_days', 90) %}
{%- set window_start = dbt.dateadd('day', 1 - window_days, run_date()) %}
{#- (column, weight, cap): each component saturates at its cap, weights sum to 100. -#}
{%- set components = [
    ('recent_paid_orders', 40, 3),
    ('recent_email_clicks', 25, 5),
    ('recent_sessions', 20, 10),
    ('recent_email_opens', 15, 13),
] %}

with

customers as (

    select customer_id from {{ ref('stg_shop__customers') }}

),

events as (

    select * from {{ ref('fct_engagement_events') }}
    where event_type in ('email_opened', 'email_clicked', 'session_started')

),

paid_orders as (

    select * from {{ ref('int_orders_converted') }}
    where is_paid

),

recent_events as (

    select
        customer_id,
        -- an email opened (clicked) twice is one open (click): count campaigns
        count(distinct case when event_type = 'email_opened' then campaign end) as email_opens,
        count(distinct case when event_type = 'email_clicked' then campaign end) as email_clicks,
        count(case when event_type = 'session_started' then event_id end) as sessions

    from events
    where {{ business_date('occurred_at') }} between {{ window_start }} and {{ run_date() }}
    group by customer_id

),

recent_orders as (

    select
        customer_id,
        count(*) as paid_orders

    from paid_orders
    where {{ business_date('ordered_at') }} between {{ window_start }} and {{ run_date() }}
    group by customer_id

),

counts as (

    select
        customers.customer_id,
        coalesce(recent_events.email_opens, 0) as recent_email_opens,
        coalesce(recent_events.email_clicks, 0) as recent_email_clicks,
        coalesce(recent_events.sessions, 0) as recent_sessions,
        coalesce(recent_orders.paid_orders, 0) as recent_paid_orders

    from customers

    left join recent_events
        on customers.customer_id = recent_events.customer_id

    left join recent_orders
        on customers.customer_id = recent_orders.customer_id

),

final as (

    select
        *,
        -- log scale: the first actions count most. decimal(4, 1) rounds on both
        -- engines (PostgreSQL has no round(double precision, int)).
        cast(
            {%- for column, weight, cap in components %}
            {{ weight }} * least(1.0, ln(1.0 + {{ column }}) / ln({{ 1 + cap }}.0))
            {%- if not loop.last %} +{% endif %}
            {%- endfor %}
        as decimal(4, 1)) as engagement_score

    from counts

)

select * from final
