{{ config(materialized='view') }}

-- Every version of every customer with the raw partition it arrived in: what the
-- incremental stage history reads to find new customers and corrected signup days.
-- A view: its readers filter on the partition column, so only those partitions are read.
with

source as (

    select * from {{ source('shop', 'customers') }}

),

final as (

    select
        customer_id,
        signed_up_at,
        cast(dt as date) as arrived_date

    from source

)

select * from final
