{{ config(materialized='view') }}

-- Every version of every order in the raw zone, with the partition it arrived in:
-- stg_shop__orders keeps the latest as of the run date; the incremental stage history
-- finds here the days that late or corrected orders touch. A view: its readers filter
-- on the partition column, so only those partitions are read.
with

source as (

    select * from {{ source('shop', 'orders') }}

),

final as (

    select
        order_id,
        customer_id,
        ordered_at,
        status,
        currency,
        subtotal,
        discount,
        total,
        promo_code,
        updated_at,
        dt,
        cast(dt as date) as arrived_date,
        filename,
        file_row_number

    from source

)

select * from final
