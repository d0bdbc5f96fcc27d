-- Buying customers (new, active or loyal) with a next-product recommendation
-- (dim_customer_next_product).
with

audience as (

    {{ segment_audience('email', 'promotional') }}

),

next_products as (

    select * from {{ ref('dim_customer_next_product') }}

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
        next_products.recommended_category,
        next_products.recommendation_source,
        next_products.based_on_product_id

    from audience

    inner join next_products
        on audience.customer_id = next_products.customer_id

    where audience.lifecycle_stage in ('new', 'active', 'loyal')

)

select * from final
