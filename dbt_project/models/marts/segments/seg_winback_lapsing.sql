-- Lapsing customers who may be emailed and have no open support ticket (a promotion
-- while a complaint is open backfires). The first seven columns are the export's
-- original contract; later columns are appended at the end only.
with

audience as (

    {{ segment_audience('email', 'promotional') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

final as (

    select
        customers.customer_id,
        customers.email,
        customers.first_name,
        customers.lifecycle_stage,
        customers.last_paid_order_date as last_order_date,
        customers.days_since_last_paid_order as days_since_last_order,
        customers.paid_orders,
        audience.loyalty_tier,
        audience.points_balance,
        audience.recommended_product_id,
        audience.recommended_product_name,
        audience.preferred_send_hour

    from customers

    inner join audience
        on customers.customer_id = audience.customer_id

    where customers.lifecycle_stage = 'lapsing'

)

select * from final
