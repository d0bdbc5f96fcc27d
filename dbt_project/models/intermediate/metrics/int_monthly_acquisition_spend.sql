-- The marketing spend of each reporting month with a spend input (docs block
-- acquisition_cost): its channels and its total in the reporting currency, and how many
-- channels could not be converted (a currency without any rate). One row per reporting
-- month with spend; rpt_monthly_acquisition_cost divides it over the month's new customers.
with

months as (

    select * from {{ ref('int_reporting_months') }}

),

spend as (

    select * from {{ ref('int_monthly_marketing_spend') }}

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

final as (

    select
        months.month_start_date,
        months.is_partial_month,
        monthly_spend.spend_channels,
        monthly_spend.spend_reporting,
        monthly_spend.unconverted_channels

    from monthly_spend

    inner join months
        on monthly_spend.month_start_date = months.month_start_date

)

select * from final
