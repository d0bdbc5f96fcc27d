with

source as (

    select * from {{ source('shop', 'carts') }}
    where dt <= {{ run_date() }}

),

latest as (

    {{ latest_version('source', 'cart_id') }}

),

final as (

    select
        cart_id,
        customer_id,
        created_at,
        cast(created_at as date) as created_date,
        status,
        status = 'converted' as is_converted,
        status = 'abandoned' as is_abandoned,
        order_id,
        item_count,
        value as cart_value,
        upper(currency) as currency,
        updated_at

    from latest

)

select * from final
