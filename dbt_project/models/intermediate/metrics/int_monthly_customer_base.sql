-- The three counts of the customer retention rate, CRR = (E - N) / S. "Active" is
-- the lifecycle's: a paid order fewer than churn_days (365) days ago, so a month's
-- E is the next month's S.
with

months as (

    select * from {{ ref('int_reporting_months') }}

),

orders as (

    select * from {{ ref('int_paid_orders_sequenced') }}

),

-- S: a paid order in the churn_days days before the month's first day.
active_at_start as (

    select
        months.month_start_date,
        count(distinct orders.customer_id) as customers_at_start

    from months

    inner join orders
        on orders.purchase_date < months.month_start_date
        and orders.purchase_date >= {{ dbt.dateadd('day', -var('churn_days'), 'months.month_start_date') }}

    group by months.month_start_date

),

-- E: a paid order in the churn_days days up to and including the period's last day.
active_at_end as (

    select
        months.month_start_date,
        count(distinct orders.customer_id) as customers_at_end

    from months

    inner join orders
        on orders.purchase_date <= months.period_end_date
        and orders.purchase_date > {{ dbt.dateadd('day', -var('churn_days'), 'months.period_end_date') }}

    group by months.month_start_date

),

-- N: first paid order ever within the period.
acquired as (

    select
        months.month_start_date,
        count(*) as new_customers

    from months

    inner join orders
        on orders.customer_order_number = 1
        and orders.purchase_date >= months.month_start_date
        and orders.purchase_date <= months.period_end_date

    group by months.month_start_date

),

counted as (

    select
        months.month_start_date,
        months.month_end_date,
        months.period_end_date,
        months.is_partial_month,
        coalesce(active_at_start.customers_at_start, 0) as customers_at_start,
        coalesce(active_at_end.customers_at_end, 0) as customers_at_end,
        coalesce(acquired.new_customers, 0) as new_customers

    from months

    left join active_at_start
        on months.month_start_date = active_at_start.month_start_date

    left join active_at_end
        on months.month_start_date = active_at_end.month_start_date

    left join acquired
        on months.month_start_date = acquired.month_start_date

),

final as (

    select
        month_start_date,
        month_end_date,
        period_end_date,
        is_partial_month,
        customers_at_start,
        customers_at_end,
        new_customers,
        cast(customers_at_end - new_customers as {{ type_double() }})
            / nullif(customers_at_start, 0) as customer_retention_rate,
        1 - cast(customers_at_end - new_customers as {{ type_double() }})
            / nullif(customers_at_start, 0) as churn_rate

    from counted

)

select * from final
