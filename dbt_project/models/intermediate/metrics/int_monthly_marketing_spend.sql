-- Marketing spend per month and channel in the reporting currency. A month's spend is
-- converted at the average of the rates published in that month (spend accrues over
-- the month); a currency without a rate that month takes its last rate before it.
with

spend as (

    select * from {{ ref('stg_shop__marketing_spend') }}

),

fx_rates as (

    select * from {{ ref('stg_shop__fx_rates') }}

),

month_average_rates as (

    select
        currency,
        cast({{ dbt.date_trunc('month', 'rate_date') }} as date) as rate_month,
        avg(rate_to_reporting) as rate_to_reporting

    from fx_rates

    group by currency, cast({{ dbt.date_trunc('month', 'rate_date') }} as date)

),

-- The last rate before each month (for a month without one).
carried_rates as (

    select
        spend.spend_id,
        max(fx_rates.rate_date) as rate_date

    from spend

    inner join fx_rates
        on spend.currency = fx_rates.currency
        and fx_rates.rate_date < spend.spend_month

    group by spend.spend_id

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
            else coalesce(month_average_rates.rate_to_reporting, fx_rates.rate_to_reporting)
        end as fx_rate_to_reporting

    from spend

    left join month_average_rates
        on spend.currency = month_average_rates.currency
        and spend.spend_month = month_average_rates.rate_month

    left join carried_rates
        on spend.spend_id = carried_rates.spend_id

    left join fx_rates
        on spend.currency = fx_rates.currency
        and carried_rates.rate_date = fx_rates.rate_date

),

final as (

    select
        *,
        cast(round(spend * fx_rate_to_reporting, 2) as decimal(14, 2)) as spend_reporting

    from converted

)

select * from final
