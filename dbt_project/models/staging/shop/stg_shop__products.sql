with

source as (

    select * from {{ source('shop', 'products') }}
    where dt <= {{ run_date() }}

),

latest as (

    {{ latest_version('source', 'product_id') }}

),

final as (

    select
        product_id,
        name as product_name,
        category,
        price,
        upper(currency) as currency,
        replenishment_days,
        replenishment_days is not null as is_consumable,
        updated_at

    from latest

)

select * from final
