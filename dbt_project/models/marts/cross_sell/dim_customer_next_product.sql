-- The best next product for a customer, one they have not bought yet:
--   1. affinity: among rules A -> B (fct_product_affinity) with A bought by the customer,
--      the highest lift, then confidence, then pair orders, then the lower product ids;
--   2. otherwise the best seller (most paid orders, then lower product id) of their top
--      category: top bought, or for those who never bought, top viewed.
with

paid_orders as (

    select * from {{ ref('int_orders_converted') }}
    where is_paid

),

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

affinity as (

    select * from {{ ref('fct_product_affinity') }}

),

profiles as (

    select * from {{ ref('dim_customer_engagement') }}

),

owned as (

    select distinct
        paid_orders.customer_id,
        order_items.product_id

    from paid_orders

    inner join order_items
        on paid_orders.order_id = order_items.order_id

),

affinity_candidates as (

    select
        owned.customer_id,
        affinity.consequent_product_id as product_id,
        'affinity' as recommendation_source,
        1 as source_priority,
        affinity.antecedent_product_id as based_on_product_id,
        affinity.lift,
        affinity.confidence,
        affinity.pair_orders as sort_orders

    from owned

    inner join affinity
        on owned.product_id = affinity.antecedent_product_id

    left join owned as already_owned
        on owned.customer_id = already_owned.customer_id
        and affinity.consequent_product_id = already_owned.product_id

    where already_owned.product_id is null

),

product_sales as (

    select
        products.product_id,
        products.category,
        count(distinct paid_orders.order_id) as paid_orders

    from products

    left join order_items
        on products.product_id = order_items.product_id

    left join paid_orders
        on order_items.order_id = paid_orders.order_id

    group by products.product_id, products.category

),

best_seller_candidates as (

    select
        profiles.customer_id,
        product_sales.product_id,
        'category_best_seller' as recommendation_source,
        2 as source_priority,
        cast(null as {{ dbt.type_bigint() }}) as based_on_product_id,
        cast(null as double precision) as lift,
        cast(null as double precision) as confidence,
        product_sales.paid_orders as sort_orders

    from profiles

    inner join product_sales
        on coalesce(profiles.top_bought_category, profiles.top_viewed_category) = product_sales.category

    left join owned
        on profiles.customer_id = owned.customer_id
        and product_sales.product_id = owned.product_id

    where owned.product_id is null

),

candidates as (

    select * from affinity_candidates
    union all
    select * from best_seller_candidates

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id
            order by
                source_priority,
                lift desc,
                confidence desc,
                sort_orders desc,
                product_id,
                based_on_product_id
        ) as candidate_rank

    from candidates

),

final as (

    select
        ranked.customer_id,
        ranked.product_id as recommended_product_id,
        products.product_name as recommended_product_name,
        products.category as recommended_category,
        ranked.recommendation_source,
        ranked.based_on_product_id,
        ranked.lift,
        ranked.confidence

    from ranked

    inner join products
        on ranked.product_id = products.product_id

    where ranked.candidate_rank = 1

)

select * from final
