-- Top viewed category (product pages viewed over the profile lookback, var
-- profile_lookback_days) and top bought category (paid orders containing the category,
-- all history: most customers buy only once or twice). Ties go to the category with the
-- latest activity, then the category name, so the pick is deterministic.
{%- set lookback_start = dbt.dateadd('day', 1 - var('profile_lookback_days', 365), run_date()) %}

with

views as (

    select * from {{ ref('fct_engagement_events') }}
    where event_type = 'page_viewed'
        and viewed_product_id is not null

),

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

viewed as (

    select
        views.customer_id,
        products.category,
        count(*) as activity,
        max(views.occurred_at) as last_activity_at

    from views

    inner join products
        on views.viewed_product_id = products.product_id

    where {{ business_date('views.occurred_at') }} between {{ lookback_start }} and {{ run_date() }}
    group by views.customer_id, products.category

),

bought as (

    select
        paid_orders.customer_id,
        products.category,
        count(distinct paid_orders.order_id) as activity,
        max(paid_orders.ordered_at) as last_activity_at

    from paid_orders

    inner join order_items
        on paid_orders.order_id = order_items.order_id

    inner join products
        on order_items.product_id = products.product_id

    group by paid_orders.customer_id, products.category

),

ranked as (

    select
        'viewed' as activity_type,
        *,
        row_number() over (
            partition by customer_id order by activity desc, last_activity_at desc, category
        ) as category_rank
    from viewed

    union all

    select
        'bought' as activity_type,
        *,
        row_number() over (
            partition by customer_id order by activity desc, last_activity_at desc, category
        ) as category_rank
    from bought

),

final as (

    select
        customer_id,
        max(case when activity_type = 'viewed' then category end) as top_viewed_category,
        max(case when activity_type = 'viewed' then activity end) as top_viewed_category_views,
        max(case when activity_type = 'bought' then category end) as top_bought_category,
        max(case when activity_type = 'bought' then activity end) as top_bought_category_orders

    from ranked
    where category_rank = 1
    group by customer_id

)

select * from final
