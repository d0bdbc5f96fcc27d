-- Each acquisition cohort's gross margin month by month (docs block acquisition_cost):
-- the customers whose first paid order falls in a reporting month, and for that month and
-- every later one up to the run date's, the revenue of all their paid orders in it and
-- their cumulative gross margin per customer (var gross_margin_share of revenue). One row
-- per cohort month and activity month; rpt_monthly_acquisition_cost pays the CAC back
-- from it.
{%- set margin_share = var('gross_margin_share') %}

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
        count(*) as new_customers

    from orders

    where customer_order_number = 1

    group by first_purchase_month

),

cohort_revenue as (

    select
        first_purchase_month as cohort_month,
        purchase_month,
        sum(total_reporting) as revenue_reporting

    from orders

    group by first_purchase_month, purchase_month

),

-- A cohort of a reporting month, month by month to the run date's.
final as (

    select
        cohorts.cohort_month,
        months.month_start_date as activity_month,
        cast({{ dbt.datediff('cohorts.cohort_month', 'months.month_start_date', 'month') }} as integer)
            as months_since_acquisition,
        cohorts.new_customers,
        coalesce(cohort_revenue.revenue_reporting, 0) as revenue_reporting,
        -- In doubles: Spark's decimal division would keep only a few places.
        {{ margin_share }} * sum(cast(coalesce(cohort_revenue.revenue_reporting, 0) as {{ type_double() }})) over (
            partition by cohorts.cohort_month
            order by months.month_start_date
            rows between unbounded preceding and current row
        ) / cohorts.new_customers as margin_per_customer

    from cohorts

    inner join months as acquisition_months
        on cohorts.cohort_month = acquisition_months.month_start_date

    inner join months
        on months.month_start_date >= cohorts.cohort_month

    left join cohort_revenue
        on cohorts.cohort_month = cohort_revenue.cohort_month
        and months.month_start_date = cohort_revenue.purchase_month

)

select * from final
