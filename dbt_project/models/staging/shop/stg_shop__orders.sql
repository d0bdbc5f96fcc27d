with

source as (

    select * from {{ ref('base_shop__orders') }}
    where dt <= {{ run_date() }}
        -- the hourly refresh sees the day only up to its hour (a no-op for the daily run)
        and updated_at < {{ as_of_at() }}

),

latest as (

    {{ latest_version('source', 'order_id') }}

),

final as (

    select
        order_id,
        customer_id,
        ordered_at,
        cast(ordered_at as date) as ordered_date,
        status,
        status = 'paid' as is_paid,
        upper(currency) as currency,
        subtotal,
        discount,
        total,
        promo_code,
        updated_at

    from latest
    where cast(ordered_at as date) <= {{ run_date() }}

)

select * from final
