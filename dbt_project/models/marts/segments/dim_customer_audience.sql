-- The base of every campaign audience (seg_* models): one place for who may be reached
-- on which channel, who must not get promotions (open support ticket), and the fields
-- each message personalises with.
with

customers as (

    select * from {{ ref('dim_customers') }}

),

engagement as (

    select * from {{ ref('dim_customer_engagement') }}

),

loyalty as (

    select * from {{ ref('dim_customer_loyalty') }}

),

next_products as (

    select * from {{ ref('dim_customer_next_product') }}

),

final as (

    select
        customers.customer_id,
        customers.email,
        customers.phone,
        customers.push_token,
        customers.first_name,
        customers.lifecycle_stage,
        customers.is_emailable,
        customers.is_smsable,
        customers.is_pushable,
        engagement.open_support_tickets > 0 as has_open_support_ticket,
        engagement.preferred_channel,
        engagement.preferred_send_hour,
        engagement.engagement_score,
        loyalty.loyalty_tier,
        loyalty.points_balance,
        loyalty.rolling_12m_spend,
        loyalty.next_tier,
        loyalty.spend_to_next_tier,
        next_products.recommended_product_id,
        next_products.recommended_product_name,
        next_products.recommended_category

    from customers

    inner join engagement
        on customers.customer_id = engagement.customer_id

    left join loyalty
        on customers.customer_id = loyalty.customer_id

    left join next_products
        on customers.customer_id = next_products.customer_id

)

select * from final
