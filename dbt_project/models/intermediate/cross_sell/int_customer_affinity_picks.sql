-- Each customer's best affinity rule A -> B (fct_product_affinity) with A bought and B
-- not: the highest lift, then confidence, then pair orders, then the lower product ids.
--
-- Joining every owned product to every rule is owned x rules rows (150M at SF1). The
-- rules are ranked once instead, and searched in two bands: the top band finds almost
-- every customer's rule; only customers with no hit there are joined to the rest.
{%- set band = var('next_product_rule_band', 1000) %}

with

owned as (

    select * from {{ ref('int_customer_owned_products') }}

),

affinity as (

    select * from {{ ref('fct_product_affinity') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

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

-- Both bands search alike: one macro (affinity_band_hits).
top_band_hits as (

    {{ affinity_band_hits('ranked_rules.rule_rank <= ' ~ band) }}

),

rest_band_hits as (

    {{ affinity_band_hits('ranked_rules.rule_rank > ' ~ band, skip_customers_in='top_band_hits') }}

),

final as (

    select
        hits.customer_id,
        ranked_rules.consequent_product_id as product_id,
        products.product_name,
        products.category,
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

    inner join products
        on ranked_rules.consequent_product_id = products.product_id

)

select * from final
