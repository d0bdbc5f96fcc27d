-- Inactive customers (no purchase for var churn_days days) who may be emailed, for a
-- reactivation offer.
with

audience as (

    {{ segment_audience('email', 'promotional') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

final as (

    select
        audience.customer_id,
        audience.email,
        audience.first_name,
        audience.lifecycle_stage,
        audience.loyalty_tier,
        audience.points_balance,
        audience.recommended_product_id,
        audience.recommended_product_name,
        audience.preferred_send_hour,
        customers.last_paid_order_date as last_order_date,
        customers.days_since_last_paid_order as days_since_last_order,
        customers.paid_orders

    from audience

    inner join customers
        on audience.customer_id = customers.customer_id

    where audience.lifecycle_stage = 'inactive'

)

select * from final
