-- Raw RFM values per customer as of the run date, from purchase days in the business
-- time zone (int_customer_purchase_days), so recency counts the same calendar days as
-- the lifecycle stages.
with

purchase_days as (

    select * from {{ ref('int_customer_purchase_days') }}
    where purchase_date <= {{ run_date() }}

),

final as (

    select
        customer_id,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        {{ dbt.datediff('max(purchase_date)', run_date(), 'day') }} as recency_days,
        cast(sum(paid_orders) as bigint) as frequency,
        cast(sum(revenue_reporting) as decimal(18, 2)) as monetary

    from purchase_days
    group by customer_id

)

select * from final
