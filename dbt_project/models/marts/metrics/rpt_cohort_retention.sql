-- Definitions: the `cohort_retention` docs block (_metrics__docs.md).
with

months as (

    select * from {{ ref('int_reporting_months') }}

),

orders as (

    select * from {{ ref('int_paid_orders_sequenced') }}

),

cohorts as (

    select
        first_purchase_month as cohort_month,
        count(*) as cohort_size

    from orders
    where customer_order_number = 1
        and first_purchase_month >= (select min(month_start_date) from months)
    group by first_purchase_month

),

-- Every cohort gets a row for each month from its own to the run date's, also
-- for months in which nobody in it bought.
cohort_months as (

    select
        cohorts.cohort_month,
        cohorts.cohort_size,
        months.month_start_date as activity_month,
        months.is_partial_month,
        cast({{ dbt.datediff('cohorts.cohort_month', 'months.month_start_date', 'month') }} as integer)
            as months_since_first_order

    from cohorts

    inner join months
        on months.month_start_date >= cohorts.cohort_month

),

activity as (

    select
        first_purchase_month as cohort_month,
        purchase_month as activity_month,
        count(distinct customer_id) as customers_retained,
        sum(total_reporting) as revenue_reporting

    from orders
    group by first_purchase_month, purchase_month

),

joined as (

    select
        cohort_months.cohort_month,
        cohort_months.months_since_first_order,
        cohort_months.activity_month,
        cohort_months.is_partial_month,
        cohort_months.cohort_size,
        coalesce(activity.customers_retained, 0) as customers_retained,
        coalesce(activity.revenue_reporting, 0) as revenue_reporting

    from cohort_months

    left join activity
        on cohort_months.cohort_month = activity.cohort_month
        and cohort_months.activity_month = activity.activity_month

),

final as (

    select
        cohort_month,
        months_since_first_order,
        activity_month,
        is_partial_month,
        cohort_size,
        customers_retained,
        cast(customers_retained as {{ type_double() }}) / cohort_size as retention_rate,
        revenue_reporting,
        sum(revenue_reporting) over (
            partition by cohort_month
            order by months_since_first_order
            rows between unbounded preceding and current row
        ) as cumulative_revenue_reporting,
        cast(sum(revenue_reporting) over (
            partition by cohort_month
            order by months_since_first_order
            rows between unbounded preceding and current row
        ) as {{ type_double() }}) / cohort_size as cumulative_ltv_per_customer_reporting

    from joined

)

select * from final
