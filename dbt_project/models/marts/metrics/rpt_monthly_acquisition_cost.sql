-- Customer acquisition cost and its payback per month (docs block acquisition_cost):
-- the month's marketing spend (int_monthly_acquisition_spend) over its first-time
-- buyers, and the months until that cohort's cumulative gross margin per customer
-- (int_monthly_cohort_margin) reaches it. Months with a spend input only: without one
-- the mart is empty.
{%- set margin_share = var('gross_margin_share') %}

with

monthly_spend as (

    select * from {{ ref('int_monthly_acquisition_spend') }}

),

cohort_margin as (

    select * from {{ ref('int_monthly_cohort_margin') }}

),

-- A cohort's size, on its row of the acquisition month itself.
cohorts as (

    select
        cohort_month,
        new_customers

    from cohort_margin

    where activity_month = cohort_month

),

acquisition as (

    select
        monthly_spend.month_start_date,
        monthly_spend.is_partial_month,
        monthly_spend.spend_channels,
        monthly_spend.spend_reporting,
        coalesce(cohorts.new_customers, 0) as new_customers,
        case
            when monthly_spend.unconverted_channels = 0 and cohorts.new_customers > 0
                then cast(monthly_spend.spend_reporting as {{ type_double() }}) / cohorts.new_customers
        end as cac_reporting

    from monthly_spend

    left join cohorts
        on monthly_spend.month_start_date = cohorts.cohort_month

),

-- The run date's month: every cohort is followed up to it.
last_month as (

    select max(activity_month) as last_month_start_date from cohort_margin

),

payback as (

    select
        acquisition.month_start_date,
        max(cohort_margin.months_since_acquisition) as months_observed,
        max(case
            when cohort_margin.activity_month = last_month.last_month_start_date
                then cohort_margin.margin_per_customer
        end) as margin_per_customer_to_date,
        min(case
            when cohort_margin.margin_per_customer >= acquisition.cac_reporting
                then cohort_margin.months_since_acquisition
        end) as payback_months

    from acquisition

    inner join cohort_margin
        on acquisition.month_start_date = cohort_margin.cohort_month

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
