with

source as (

    select * from {{ source('shop', 'fx_rates') }}
    where dt <= {{ run_date() }}

),

latest as (

    {{ latest_version('source', ['rate_date', 'currency']) }}

),

final as (

    select
        upper(currency) || ':' || cast(rate_date as {{ dbt.type_string() }}) as fx_rate_id,
        rate_date,
        upper(currency) as currency,
        rate_to_reporting,
        updated_at

    from latest

)

select * from final
