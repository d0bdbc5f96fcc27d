with

source as (

    select * from {{ source('shop', 'carts') }}
    where dt <= {{ run_date() }}
        -- the hourly refresh sees the day only up to its hour (a no-op for the daily run)
        and updated_at < {{ as_of_at() }}

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
