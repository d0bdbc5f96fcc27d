with

source as (

    select * from {{ source('shop', 'order_items') }}
    where dt <= {{ run_date() }}

),

latest as (

    {{ latest_version('source', 'order_item_id') }}

),

final as (

    select
        order_item_id,
        order_id,
        product_id,
        quantity,
        unit_price,
        quantity * unit_price as line_total,
        updated_at

    from latest

)

select * from final
