with

source as (

    select * from {{ source('shop', 'marketing_spend') }}
    where dt <= {{ run_date() }}

),

latest as (

    {{ latest_version('source', ['spend_month', 'channel']) }}

),

final as (

    select
        lower(trim(channel)) || ':' || cast(spend_month as {{ dbt.type_string() }}) as spend_id,
        spend_month,
        lower(trim(channel)) as channel,
        spend,
        upper(currency) as currency,
        updated_at

    from latest

)

select * from final
