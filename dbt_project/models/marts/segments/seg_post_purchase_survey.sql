-- Paid orders (still paid on the run date) placed exactly var post_purchase_survey_days
-- days before the run date (business-time-zone days) whose survey has not been answered
-- yet. One row per customer: their latest such order. A service message: customers with
-- an open support ticket stay in (their feedback matters most).
with

audience as (

    {{ segment_audience('email', 'service') }}

),

paid_orders as (

    select * from {{ ref('int_orders_converted') }}
    where is_paid

),

answers as (

    select * from {{ ref('fct_engagement_events') }}
    where event_type = 'survey_answered'

),

answered_orders as (

    select distinct
        -- ids arrive as JSON numbers ("42.0"): via numeric, which reads both 42 and 42.0
        cast(cast({{ json_text('properties', 'order_id') }} as {{ dbt.type_numeric() }})
            as {{ dbt.type_bigint() }})
            as order_id

    from answers

),

survey_due as (

    select
        paid_orders.customer_id,
        paid_orders.order_id,
        {{ business_date('paid_orders.ordered_at') }} as ordered_date,
        row_number() over (
            partition by paid_orders.customer_id
            order by paid_orders.ordered_at desc, paid_orders.order_id desc
        ) as order_rank

    from paid_orders

    left join answered_orders
        on paid_orders.order_id = answered_orders.order_id

    where answered_orders.order_id is null
        and {{ business_date('paid_orders.ordered_at') }}
            = {{ dbt.dateadd('day', -var('post_purchase_survey_days'), run_date()) }}

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
        survey_due.order_id,
        survey_due.ordered_date

    from audience

    inner join survey_due
        on audience.customer_id = survey_due.customer_id

    where survey_due.order_rank = 1

)

select * from final
