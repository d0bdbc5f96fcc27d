-- The fallback recommendation: the best seller (most paid orders, then the lower
-- product id) of the customer's top category — top bought, or for those who never
-- bought, top viewed — that they have not bought. One row per customer with a category.
with

order_products as (

    select * from {{ ref('int_paid_order_products') }}

),

owned as (

    select * from {{ ref('int_customer_owned_products') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

profiles as (

    select * from {{ ref('dim_customer_engagement') }}

),

product_sales as (

    select
        products.product_id,
        products.product_name,
        products.category,
        count(distinct order_products.order_id) as paid_orders

    from products

    left join order_products
        on products.product_id = order_products.product_id

    group by products.product_id, products.product_name, products.category

),

candidates as (

    select
        profiles.customer_id,
        product_sales.product_id,
        product_sales.product_name,
        product_sales.category,
        row_number() over (
            partition by profiles.customer_id
            order by product_sales.paid_orders desc, product_sales.product_id
        ) as candidate_rank

    from profiles

    inner join product_sales
        on coalesce(profiles.top_bought_category, profiles.top_viewed_category) = product_sales.category

    left join owned
        on profiles.customer_id = owned.customer_id
        and product_sales.product_id = owned.product_id

    where owned.product_id is null

),

final as (

    select
        customer_id,
        product_id,
        product_name,
        category

    from candidates
    where candidate_rank = 1

)

select * from final
