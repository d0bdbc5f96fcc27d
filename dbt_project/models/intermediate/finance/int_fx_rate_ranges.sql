-- A rate holds from its rate_date until the currency's next published rate: no rates
-- are published on some days (weekends), the last one carries forward.
with

fx_rates as (

    select * from {{ ref('stg_shop__fx_rates') }}

),

final as (

    select
        currency,
        rate_date as valid_from_date,
        lead(rate_date) over (partition by currency order by rate_date) as valid_to_date,
        rate_to_reporting

    from fx_rates

)

select * from final
