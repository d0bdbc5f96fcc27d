{{ config(materialized='view') }}

-- Every version of every order with the raw partition it arrived in: what the
-- incremental stage history reads to find the days a late or corrected order touches.
-- A view: its readers filter on the partition column, so only those partitions are read.
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
        cast(dt as date) as arrived_date

    from source

)

select * from final
