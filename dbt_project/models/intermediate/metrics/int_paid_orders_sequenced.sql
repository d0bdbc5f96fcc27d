-- Every metric counts paid orders on business days; numbering them per customer once
-- here (first order, previous / next purchase) keeps the window logic in one place.
with

orders as (

    select * from {{ ref('int_orders_converted') }}
    where is_paid

),

dated as (

    select
        order_id,
        customer_id,
        ordered_at,
        {{ business_date('ordered_at') }} as purchase_date,
        currency,
        total,
        discount,
        total_reporting,
        discount_reporting

    from orders

),

-- Staging keeps orders up to the run date in UTC; in a time zone ahead of UTC the
-- last hours of that UTC day are already the next business day.
visible as (

    select * from dated
    where purchase_date <= {{ run_date() }}

),

sequenced as (

    select
        *,
        row_number() over (
            partition by customer_id order by ordered_at, order_id
        ) as customer_order_number,
        min(purchase_date) over (partition by customer_id) as first_purchase_date,
        lag(purchase_date) over (
            partition by customer_id order by ordered_at, order_id
        ) as previous_purchase_date,
        lead(purchase_date) over (
            partition by customer_id order by ordered_at, order_id
        ) as next_purchase_date

    from visible

),

final as (

    select
        order_id,
        customer_id,
        ordered_at,
        purchase_date,
        cast({{ dbt.date_trunc('month', 'purchase_date') }} as date) as purchase_month,
        currency,
        total,
        discount,
        total_reporting,
        discount_reporting,
        discount > 0 as is_discounted,
        customer_order_number,
        first_purchase_date,
        cast({{ dbt.date_trunc('month', 'first_purchase_date') }} as date) as first_purchase_month,
        previous_purchase_date,
        next_purchase_date,
        {{ dbt.datediff('previous_purchase_date', 'purchase_date', 'day') }} as days_since_previous_order,
        {{ dbt.datediff('purchase_date', 'next_purchase_date', 'day') }} as days_to_next_order

    from sequenced

)

select * from final
