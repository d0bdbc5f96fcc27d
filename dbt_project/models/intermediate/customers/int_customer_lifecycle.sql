-- Today's row of the daily stage history: one definition for history and today.
with

daily_stages as (

    select * from {{ ref('int_customer_daily_stages') }}
    where as_of_date = {{ run_date() }}

),

final as (

    select
        customer_id,
        first_purchase_date as first_paid_order_date,
        last_purchase_date as last_paid_order_date,
        last_reactivation_date,
        days_since_first_purchase as days_since_first_paid_order,
        days_since_last_purchase as days_since_last_paid_order,
        paid_orders,
        paid_orders_last_365d,
        median_gap_days as median_order_gap_days,
        shop_median_gap_days,
        lapsing_after_days,
        lifecycle_stage

    from daily_stages

)

select * from final
