-- The best next product for a customer, one they have not bought yet: their best
-- affinity rule (int_customer_affinity_picks), otherwise the best seller of their top
-- category (int_customer_best_seller_picks).
with

affinity_picks as (

    select * from {{ ref('int_customer_affinity_picks') }}

),

best_seller_picks as (

    select * from {{ ref('int_customer_best_seller_picks') }}

),

picks as (

    select
        customer_id,
        product_id,
        product_name,
        category,
        'affinity' as recommendation_source,
        based_on_product_id,
        lift,
        confidence

    from affinity_picks

    union all

    select
        best_seller_picks.customer_id,
        best_seller_picks.product_id,
        best_seller_picks.product_name,
        best_seller_picks.category,
        'category_best_seller' as recommendation_source,
        cast(null as {{ dbt.type_bigint() }}) as based_on_product_id,
        cast(null as {{ type_double() }}) as lift,
        cast(null as {{ type_double() }}) as confidence

    from best_seller_picks

    left join affinity_picks
        on best_seller_picks.customer_id = affinity_picks.customer_id

    where affinity_picks.customer_id is null

),

final as (

    select
        customer_id,
        product_id as recommended_product_id,
        product_name as recommended_product_name,
        category as recommended_category,
        recommendation_source,
        based_on_product_id,
        lift,
        confidence

    from picks

)

select * from final
