-- The rolling 365-day paid spend and loyalty tier of every customer, evaluated only on
-- the days it can change: the customer's first day in the history (history_start_date,
-- or the sign-up day if later), order days, and days an order leaves the window (order
-- day + 365) or is refunded. Between two evaluation dates the tier holds. Refunds count
-- from their refund date, not retroactively, so an old date's tier never changes when
-- the history is rebuilt later.
with

customers as (

    select
        customer_id,
        greatest(
            cast('{{ var("history_start_date") }}' as date),
            {{ business_date('signed_up_at') }}
        ) as history_start_date

    from {{ ref('stg_shop__customers') }}

),

lots as (

    select * from {{ ref('int_loyalty_point_lots') }}

),

-- "The last 365 days" = the day itself and the 364 before: an order counts from its
-- order date up to (excluding) order date + 365, or up to its refund date if sooner.
windowed_lots as (

    select
        customer_id,
        earned_date,
        spend_reporting,
        case
            when refunded_date < cast({{ dbt.dateadd('day', 365, 'earned_date') }} as date)
                then refunded_date
            else cast({{ dbt.dateadd('day', 365, 'earned_date') }} as date)
        end as leaves_window_date

    from lots

),

spend_changes as (

    select
        customer_id,
        earned_date as event_date,
        spend_reporting as spend_change

    from windowed_lots

    union all

    select
        customer_id,
        leaves_window_date as event_date,
        -spend_reporting as spend_change

    from windowed_lots
    where leaves_window_date <= {{ run_date() }}

    union all

    -- A zero change on the first day, so every customer is evaluated there.
    select
        customer_id,
        history_start_date as event_date,
        0 as spend_change

    from customers
    where history_start_date <= {{ run_date() }}

),

daily_changes as (

    select
        customer_id,
        event_date,
        sum(spend_change) as spend_change

    from spend_changes
    group by customer_id, event_date

),

running as (

    select
        daily_changes.customer_id,
        daily_changes.event_date,
        cast(sum(daily_changes.spend_change) over (
            partition by daily_changes.customer_id
            order by daily_changes.event_date
            rows between unbounded preceding and current row
        ) as decimal(18, 2)) as rolling_12m_spend

    from daily_changes

),

final as (

    select
        running.customer_id,
        running.event_date as evaluation_date,
        running.rolling_12m_spend,
        {{ loyalty_tier('running.rolling_12m_spend') }} as loyalty_tier

    from running

    inner join customers
        on running.customer_id = customers.customer_id

    -- Events before the history start only build up the opening balance.
    where running.event_date >= customers.history_start_date

)

select * from final
