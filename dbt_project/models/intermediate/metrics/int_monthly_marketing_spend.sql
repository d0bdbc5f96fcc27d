-- Marketing spend per month and channel in the reporting currency. A month's spend is
-- converted at the average of the rates published in that month (spend accrues over
-- the month); a currency without a rate that month takes its last rate before it (the
-- range holding on the month's eve).
with

spend as (

    select * from {{ ref('stg_shop__marketing_spend') }}

),

fx_rate_ranges as (

    select * from {{ ref('int_fx_rate_ranges') }}

),

month_average_rates as (

    select
        currency,
        cast({{ dbt.date_trunc('month', 'valid_from_date') }} as date) as rate_month,
        avg(rate_to_reporting) as rate_to_reporting

    from fx_rate_ranges

    group by currency, cast({{ dbt.date_trunc('month', 'valid_from_date') }} as date)

),

converted as (

    select
        spend.spend_id,
        spend.spend_month,
        spend.channel,
        spend.currency,
        spend.spend,
        case
            when spend.currency = '{{ var("reporting_currency") }}' then 1
            else coalesce(month_average_rates.rate_to_reporting, fx_rate_ranges.rate_to_reporting)
        end as fx_rate_to_reporting

    from spend

    left join month_average_rates
        on spend.currency = month_average_rates.currency
        and spend.spend_month = month_average_rates.rate_month

    left join fx_rate_ranges
        on spend.currency = fx_rate_ranges.currency
        and fx_rate_ranges.valid_from_date < spend.spend_month
        and (
            fx_rate_ranges.valid_to_date >= spend.spend_month
            or fx_rate_ranges.valid_to_date is null
        )

),

final as (

    select
        *,
        cast(round(spend * fx_rate_to_reporting, 2) as decimal(14, 2)) as spend_reporting

    from converted

)

select * from final
