-- When a consumable a customer bought runs out. The cycle is the customer's own average
-- days between purchase days of the product when they bought it on two or more days;
-- otherwise the product's replenishment_days times the quantity last bought (two packs
-- last twice as long). The due date counts from the latest purchase, so a product
-- bought again is never due early.
with

order_products as (

    select * from {{ ref('int_paid_order_products') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}
    where replenishment_days is not null

),

purchase_days as (

    select
        order_products.customer_id,
        order_products.product_id,
        {{ business_date('order_products.ordered_at') }} as purchase_date,
        sum(order_products.quantity) as quantity

    from order_products

    inner join products
        on order_products.product_id = products.product_id

    group by 1, 2, 3

),

sequenced as (

    select
        *,
        row_number() over (
            partition by customer_id, product_id order by purchase_date desc
        ) as recency_rank,
        count(*) over (partition by customer_id, product_id) as purchase_days,
        min(purchase_date) over (partition by customer_id, product_id) as first_purchase_date

    from purchase_days

),

cycles as (

    select
        sequenced.customer_id,
        sequenced.product_id,
        products.product_name,
        sequenced.purchase_date as last_purchase_date,
        sequenced.quantity as last_quantity,
        sequenced.purchase_days,
        case
            when sequenced.purchase_days >= 2
                then cast(round(
                    cast({{ dbt.datediff('sequenced.first_purchase_date', 'sequenced.purchase_date', 'day') }}
                        as {{ dbt.type_numeric() }}) / (sequenced.purchase_days - 1)
                ) as integer)
            else products.replenishment_days * sequenced.quantity
        end as cycle_days

    from sequenced

    inner join products
        on sequenced.product_id = products.product_id

    where sequenced.recency_rank = 1

),

final as (

    select
        cast(customer_id as {{ dbt.type_string() }}) || '-' || cast(product_id as {{ dbt.type_string() }})
            as customer_product_id,
        customer_id,
        product_id,
        product_name,
        last_purchase_date,
        last_quantity,
        purchase_days,
        cycle_days,
        cast({{ dbt.dateadd('day', 'cycle_days', 'last_purchase_date') }} as date) as due_date,
        {{ dbt.datediff(run_date(), dbt.dateadd('day', 'cycle_days', 'last_purchase_date'), 'day') }}
            as days_until_due

    from cycles

)

select * from final
