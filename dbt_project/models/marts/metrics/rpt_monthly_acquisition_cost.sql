-- Customer acquisition cost and its payback per month (docs block acquisition_cost):
-- the month's marketing spend over its first-time buyers, and the months until that
-- cohort's cumulative gross margin per customer (var gross_margin_share of revenue)
-- reaches it. Months with a spend input only: without one the mart is empty.
{%- set margin_share = var('gross_margin_share') %}

with

months as (

    select * from {{ ref('int_reporting_months') }}

),

spend as (

    select * from {{ ref('int_monthly_marketing_spend') }}

),

orders as (

    select * from {{ ref('int_paid_orders_sequenced') }}

),

monthly_spend as (

    select
        spend_month as month_start_date,
        count(*) as spend_channels,
        sum(spend_reporting) as spend_reporting,
        -- Spend in a currency without any rate cannot be converted: the month has no CAC.
        sum(case when spend_reporting is null then 1 else 0 end) as unconverted_channels

    from spend

    group by spend_month

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

-- Each spend month's cohort, month by month to the run date's: cumulative margin per customer.
cohort_months as (

    select
        monthly_spend.month_start_date as cohort_month,
        months.month_start_date as activity_month,
        cast({{ dbt.datediff('monthly_spend.month_start_date', 'months.month_start_date', 'month') }} as integer)
            as months_since_acquisition,
        -- In doubles: Spark's decimal division would keep only a few places.
        {{ margin_share }} * sum(cast(coalesce(cohort_revenue.revenue_reporting, 0) as {{ type_double() }})) over (
            partition by monthly_spend.month_start_date
            order by months.month_start_date
            rows between unbounded preceding and current row
        ) / cohorts.new_customers as margin_per_customer

    from monthly_spend

    inner join cohorts
        on monthly_spend.month_start_date = cohorts.cohort_month

    inner join months
        on months.month_start_date >= monthly_spend.month_start_date

    left join cohort_revenue
        on monthly_spend.month_start_date = cohort_revenue.cohort_month
        and months.month_start_date = cohort_revenue.purchase_month

),

acquisition as (

    select
        months.month_start_date,
        months.is_partial_month,
        monthly_spend.spend_channels,
        monthly_spend.spend_reporting,
        coalesce(cohorts.new_customers, 0) as new_customers,
        case
            when monthly_spend.unconverted_channels = 0 and cohorts.new_customers > 0
                then cast(monthly_spend.spend_reporting as {{ type_double() }}) / cohorts.new_customers
        end as cac_reporting

    from monthly_spend

    inner join months
        on monthly_spend.month_start_date = months.month_start_date

    left join cohorts
        on monthly_spend.month_start_date = cohorts.cohort_month

),

last_month as (

    select max(month_start_date) as last_month_start_date from months

),

payback as (

    select
        acquisition.month_start_date,
        max(cohort_months.months_since_acquisition) as months_observed,
        max(case
            when cohort_months.activity_month = last_month.last_month_start_date
                then cohort_months.margin_per_customer
        end) as margin_per_customer_to_date,
        min(case
            when cohort_months.margin_per_customer >= acquisition.cac_reporting
                then cohort_months.months_since_acquisition
        end) as payback_months

    from acquisition

    inner join cohort_months
        on acquisition.month_start_date = cohort_months.cohort_month

    cross join last_month

    group by acquisition.month_start_date

),

final as (

    select
        acquisition.month_start_date,
        acquisition.is_partial_month,
        acquisition.spend_channels,
        cast(acquisition.spend_reporting as decimal(14, 2)) as spend_reporting,
        acquisition.new_customers,
        cast(acquisition.cac_reporting as {{ type_double() }}) as cac_reporting,
        {{ margin_share }} as gross_margin_share,
        payback.months_observed,
        cast(payback.margin_per_customer_to_date as {{ type_double() }}) as margin_per_customer_to_date,
        payback.payback_months,
        payback.payback_months is not null as is_paid_back

    from acquisition

    left join payback
        on acquisition.month_start_date = payback.month_start_date

)

select * from final
