-- Sums and counts of a month's paid orders and buyers; the mart turns them into rates.
with

months as (

    select * from {{ ref('int_reporting_months') }}

),

orders as (

    select * from {{ ref('int_paid_orders_sequenced') }}

),

month_orders as (

    select
        months.month_start_date,
        orders.*

    from months

    inner join orders
        on orders.purchase_date >= months.month_start_date
        and orders.purchase_date <= months.period_end_date

),

-- A buyer's highest order number in the month is their paid-order count up to the
-- period end: more than one makes them a repeat buyer.
month_buyers as (

    select
        month_start_date,
        customer_id,
        max(customer_order_number) as paid_orders_to_date,
        min(first_purchase_date) as first_purchase_date

    from month_orders
    group by month_start_date, customer_id

),

buyer_counts as (

    select
        month_start_date,
        count(*) as buyers,
        count(case when first_purchase_date < month_start_date then 1 end) as returning_buyers,
        count(case when paid_orders_to_date > 1 then 1 end) as repeat_buyers

    from month_buyers
    group by month_start_date

),

order_sums as (

    select
        month_start_date,
        count(*) as paid_orders,
        sum(total_reporting) as revenue_reporting,
        sum(case when is_discounted then total_reporting else 0 end) as discounted_revenue_reporting,
        -- Returning = acquired before this month (the month's buyers are new or returning).
        sum(case when first_purchase_date < month_start_date then total_reporting else 0 end)
            as returning_customer_revenue_reporting,
        count(days_since_previous_order) as orders_with_previous_order,
        cast(sum(days_since_previous_order) as bigint) as days_since_previous_order_sum

    from month_orders
    group by month_start_date

),

-- Every order and every first order up to each period end, history before
-- history_start_date included: the inputs of historical LTV.
orders_by_month as (

    select
        purchase_month,
        sum(total_reporting) as revenue_reporting,
        count(case when customer_order_number = 1 then 1 end) as acquired_customers

    from orders
    group by purchase_month

),

cumulative as (

    select
        months.month_start_date,
        sum(orders_by_month.revenue_reporting) as cumulative_revenue_reporting,
        cast(sum(orders_by_month.acquired_customers) as bigint) as cumulative_customers_acquired

    from months

    inner join orders_by_month
        on orders_by_month.purchase_month <= months.month_start_date

    group by months.month_start_date

),

final as (

    select
        months.month_start_date,
        coalesce(buyer_counts.buyers, 0) as buyers,
        coalesce(buyer_counts.returning_buyers, 0) as returning_buyers,
        coalesce(buyer_counts.repeat_buyers, 0) as repeat_buyers,
        coalesce(order_sums.paid_orders, 0) as paid_orders,
        coalesce(order_sums.revenue_reporting, 0) as revenue_reporting,
        coalesce(order_sums.discounted_revenue_reporting, 0) as discounted_revenue_reporting,
        coalesce(order_sums.returning_customer_revenue_reporting, 0) as returning_customer_revenue_reporting,
        coalesce(order_sums.orders_with_previous_order, 0) as orders_with_previous_order,
        coalesce(order_sums.days_since_previous_order_sum, 0) as days_since_previous_order_sum,
        coalesce(cumulative.cumulative_revenue_reporting, 0) as cumulative_revenue_reporting,
        coalesce(cumulative.cumulative_customers_acquired, 0) as cumulative_customers_acquired

    from months

    left join buyer_counts
        on months.month_start_date = buyer_counts.month_start_date

    left join order_sums
        on months.month_start_date = order_sums.month_start_date

    left join cumulative
        on months.month_start_date = cumulative.month_start_date

)

select * from final
