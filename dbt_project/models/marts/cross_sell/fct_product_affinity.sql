-- Association rules A -> B over baskets = paid orders as of the run date (refunded and
-- cancelled orders are no purchase). A pair seen in fewer than var
-- affinity_min_pair_orders orders is noise and is left out.
--   support    = orders with A and B / all paid orders
--   confidence = orders with A and B / orders with A      (P(B | A))
--   lift       = confidence / (orders with B / all paid orders)
with

-- a product twice in one order is one basket entry
baskets as (

    select order_id, product_id
    from {{ ref('int_paid_order_products') }}

),

totals as (

    select count(distinct order_id) as paid_orders from baskets

),

product_orders as (

    select
        product_id,
        count(*) as orders

    from baskets
    group by product_id

),

pairs as (

    select
        antecedent.product_id as antecedent_product_id,
        consequent.product_id as consequent_product_id,
        count(*) as pair_orders

    from baskets as antecedent

    inner join baskets as consequent
        on antecedent.order_id = consequent.order_id
        and antecedent.product_id <> consequent.product_id

    group by antecedent.product_id, consequent.product_id
    having count(*) >= {{ var('affinity_min_pair_orders', 3) }}

),

final as (

    select
        cast(pairs.antecedent_product_id as {{ dbt.type_string() }})
            || '-' || cast(pairs.consequent_product_id as {{ dbt.type_string() }}) as product_pair_id,
        pairs.antecedent_product_id,
        pairs.consequent_product_id,
        pairs.pair_orders,
        antecedent.orders as antecedent_orders,
        consequent.orders as consequent_orders,
        totals.paid_orders as basket_count,
        cast(pairs.pair_orders as {{ type_double() }}) / totals.paid_orders as support,
        cast(pairs.pair_orders as {{ type_double() }}) / antecedent.orders as confidence,
        (cast(pairs.pair_orders as {{ type_double() }}) / antecedent.orders)
            / (cast(consequent.orders as {{ type_double() }}) / totals.paid_orders) as lift

    from pairs

    inner join product_orders as antecedent
        on pairs.antecedent_product_id = antecedent.product_id

    inner join product_orders as consequent
        on pairs.consequent_product_id = consequent.product_id

    cross join totals

)

select * from final
