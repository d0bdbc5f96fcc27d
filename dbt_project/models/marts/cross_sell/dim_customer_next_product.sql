-- The best next product for a customer, one they have not bought yet:
--   1. affinity: among rules A -> B (fct_product_affinity) with A bought by the customer,
--      the highest lift, then confidence, then pair orders, then the lower product ids;
--   2. otherwise the best seller (most paid orders, then lower product id) of their top
--      category: top bought, or for those who never bought, top viewed.
--
-- Joining every owned product to every rule is owned x rules rows (150M at SF1). The
-- rules are ranked once instead, and searched in two bands: the top band finds almost
-- every customer's rule; only customers with no hit there are joined to the rest.

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

ranked_rules as (

    select
        antecedent_product_id,
        consequent_product_id,
        lift,
        confidence,
        row_number() over (
            order by
                lift desc,
                confidence desc,
                pair_orders desc,
                consequent_product_id,
                antecedent_product_id
        ) as rule_rank

    from affinity

),

top_band_hits as (

    select
        owned.customer_id,
        min(ranked_rules.rule_rank) as rule_rank

    from owned

    inner join ranked_rules
        on owned.product_id = ranked_rules.antecedent_product_id
        and ranked_rules.rule_rank <= {{ var('next_product_rule_band', 1000) }}

    left join owned as already_owned
        on owned.customer_id = already_owned.customer_id
        and ranked_rules.consequent_product_id = already_owned.product_id

    where already_owned.product_id is null

    group by owned.customer_id

),

rest_band_hits as (

    select
        owned.customer_id,
        min(ranked_rules.rule_rank) as rule_rank

    from owned

    inner join ranked_rules
        on owned.product_id = ranked_rules.antecedent_product_id
        and ranked_rules.rule_rank > {{ var('next_product_rule_band', 1000) }}

    left join owned as already_owned
        on owned.customer_id = already_owned.customer_id
        and ranked_rules.consequent_product_id = already_owned.product_id

    left join top_band_hits
        on owned.customer_id = top_band_hits.customer_id

    where already_owned.product_id is null
        and top_band_hits.customer_id is null

    group by owned.customer_id

),

affinity_picks as (

    select
        hits.customer_id,
        ranked_rules.consequent_product_id as product_id,
        'affinity' as recommendation_source,
        ranked_rules.antecedent_product_id as based_on_product_id,
        ranked_rules.lift,
        ranked_rules.confidence

    from (
        select * from top_band_hits
        union all
        select * from rest_band_hits
    ) as hits

    inner join ranked_rules
        on hits.rule_rank = ranked_rules.rule_rank

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
        product_sales.paid_orders

    from profiles

    inner join product_sales
        on coalesce(profiles.top_bought_category, profiles.top_viewed_category) = product_sales.category

    left join owned
        on profiles.customer_id = owned.customer_id
        and product_sales.product_id = owned.product_id

    left join affinity_picks
        on profiles.customer_id = affinity_picks.customer_id

    where owned.product_id is null
        and affinity_picks.customer_id is null

),

best_seller_picks as (

    select
        customer_id,
        product_id,
        'category_best_seller' as recommendation_source,
        cast(null as {{ dbt.type_bigint() }}) as based_on_product_id,
        cast(null as {{ type_double() }}) as lift,
        cast(null as {{ type_double() }}) as confidence

    from (
        select
            *,
            row_number() over (
                partition by customer_id
                order by paid_orders desc, product_id
            ) as candidate_rank
        from best_seller_candidates
    ) as ranked

    where candidate_rank = 1

),

picks as (

    select * from affinity_picks
    union all
    select * from best_seller_picks

),

final as (

    select
        picks.customer_id,
        picks.product_id as recommended_product_id,
        products.product_name as recommended_product_name,
        products.category as recommended_category,
        picks.recommendation_source,
        picks.based_on_product_id,
        picks.lift,
        picks.confidence

    from picks

    inner join products
        on picks.product_id = products.product_id

)

select * from final
