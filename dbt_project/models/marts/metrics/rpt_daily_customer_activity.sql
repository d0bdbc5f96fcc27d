-- Definitions: the `retention_metrics` docs block (_metrics__docs.md). A customer is
-- active from a purchase until churn_days days pass without another one; on that day
-- they churn. Active customers on a day = everyone who became active (first purchase
-- or reactivation) on or before it minus everyone who churned on or before it.
with

orders as (

    select * from {{ ref('int_paid_orders_sequenced') }}

),

days as (

    select date_day as activity_date
    from {{ ref('int_calendar_days') }}

),

-- The last order of a purchase spell: no next purchase within churn_days. With two
-- orders on one day only the later has no same-day successor, so one row per spell.
churns as (

    select
        customer_id,
        cast({{ dbt.dateadd('day', var('churn_days'), 'purchase_date') }} as date) as churned_date

    from orders
    where next_purchase_date is null
        or days_to_next_order > {{ var('churn_days') }}

),

daily_orders as (

    select
        purchase_date,
        count(distinct customer_id) as active_buyers,
        count(distinct case when first_purchase_date = purchase_date then customer_id end)
            as new_customers,
        count(distinct case when first_purchase_date < purchase_date then customer_id end)
            as returning_customers,
        -- Reactivated: had been inactive at the end of the day before (see churns).
        count(distinct case when days_since_previous_order > {{ var('churn_days') }} then customer_id end)
            as reactivated_customers,
        count(*) as paid_orders,
        sum(total_reporting) as revenue_reporting

    from orders
    group by purchase_date

),

daily_churns as (

    select
        churned_date,
        count(*) as churned_customers

    from churns
    group by churned_date

),

-- +1 when a customer becomes active, -1 when they churn, summed per day (all history).
status_changes as (

    select
        purchase_date as change_date,
        new_customers + reactivated_customers as change

    from daily_orders

    union all

    select
        churned_date as change_date,
        -churned_customers as change

    from daily_churns

),

active as (

    select
        days.activity_date,
        cast(sum(status_changes.change) as bigint) as active_customers

    from days

    inner join status_changes
        on status_changes.change_date <= days.activity_date

    group by days.activity_date

),

final as (

    select
        days.activity_date,
        coalesce(daily_orders.active_buyers, 0) as active_buyers,
        coalesce(daily_orders.new_customers, 0) as new_customers,
        coalesce(daily_orders.returning_customers, 0) as returning_customers,
        coalesce(daily_orders.reactivated_customers, 0) as reactivated_customers,
        coalesce(daily_churns.churned_customers, 0) as churned_customers,
        coalesce(active.active_customers, 0) as active_customers,
        coalesce(daily_orders.paid_orders, 0) as paid_orders,
        coalesce(daily_orders.revenue_reporting, 0) as revenue_reporting

    from days

    left join daily_orders
        on days.activity_date = daily_orders.purchase_date

    left join daily_churns
        on days.activity_date = daily_churns.churned_date

    left join active
        on days.activity_date = active.activity_date

)

select * from final
