-- The hour of day, in the customer's own time zone, at which they open emails or buy
-- most (over the profile lookback, var profile_lookback_days). Ties go to the hour with
-- the most recent signal, then the earlier hour. Customers without a signal have no row.
{%- set lookback_start = dbt.dateadd('day', 1 - var('profile_lookback_days', 365), run_date()) %}

with

customers as (

    select * from {{ ref('stg_shop__customers') }}

),

opens as (

    select * from {{ ref('fct_engagement_events') }}
    where event_type = 'email_opened'

),

paid_orders as (

    select * from {{ ref('int_orders_converted') }}
    where is_paid

),

signals as (

    select customer_id, occurred_at as signal_at from opens
    where {{ business_date('occurred_at') }} between {{ lookback_start }} and {{ run_date() }}

    union all

    select customer_id, ordered_at as signal_at from paid_orders
    where {{ business_date('ordered_at') }} between {{ lookback_start }} and {{ run_date() }}

),

local_signals as (

    select
        signals.customer_id,
        signals.signal_at,
        -- a customer without a time zone is assumed to live in the business time zone
        cast(extract(hour from {{ to_local_time(
            'signals.signal_at',
            "coalesce(customers.time_zone, '" ~ var('business_timezone', 'UTC') ~ "')"
        ) }}) as integer) as local_hour

    from signals

    inner join customers
        on signals.customer_id = customers.customer_id

),

hours as (

    select
        customer_id,
        local_hour,
        count(*) as signals,
        max(signal_at) as last_signal_at

    from local_signals
    group by customer_id, local_hour

),

ranked as (

    select
        *,
        sum(signals) over (partition by customer_id) as total_signals,
        row_number() over (
            partition by customer_id
            order by signals desc, last_signal_at desc, local_hour
        ) as hour_rank

    from hours

),

final as (

    select
        customer_id,
        local_hour as preferred_send_hour,
        signals as preferred_hour_signals,
        total_signals as send_hour_signals

    from ranked
    where hour_rank = 1

)

select * from final
