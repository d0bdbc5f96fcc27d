-- The products each customer has bought in a paid order: never recommended to them.
with

order_products as (

    select * from {{ ref('int_paid_order_products') }}

),

final as (

    select distinct
        customer_id,
        product_id

    from order_products

)

select * from final
