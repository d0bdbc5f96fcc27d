-- Consumables (products with replenishment_days) that run out from the run date up to
-- var replenishment_lead_days days ahead, both included, and were not bought again
-- since (int_customer_replenishment_due). One row per customer: the product due first.
with

audience as (

    {{ segment_audience('email', 'promotional') }}

),

due as (

    select * from {{ ref('int_customer_replenishment_due') }}
    where days_until_due between 0 and {{ var('replenishment_lead_days') }}

),

ranked as (

    select
        *,
        count(*) over (partition by customer_id) as products_due,
        row_number() over (partition by customer_id order by due_date, product_id) as due_rank

    from due

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
        ranked.product_id as replenish_product_id,
        ranked.product_name as replenish_product_name,
        ranked.last_purchase_date,
        ranked.due_date,
        ranked.days_until_due,
        ranked.products_due

    from audience

    inner join ranked
        on audience.customer_id = ranked.customer_id

    where ranked.due_rank = 1

)

select * from final
