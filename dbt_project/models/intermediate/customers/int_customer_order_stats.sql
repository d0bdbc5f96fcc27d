with

paid_orders as (

    select * from {{ ref('int_orders_converted') }}
    where is_paid

),

-- Days between each paid order and the customer's previous one (null for the first).
order_gaps as (

    select
        customer_id,
        order_id,
        ordered_date,
        total_reporting,
        {{ dbt.datediff('lag(ordered_date) over (partition by customer_id order by ordered_date, order_id)', 'ordered_date', 'day') }}
            as days_since_previous_order,
        {{ dbt.datediff('ordered_date', run_date(), 'day') }} as days_before_run_date

    from paid_orders

),

final as (

    select
        customer_id,
        min(ordered_date) as first_paid_order_date,
        max(ordered_date) as last_paid_order_date,
        count(*) as paid_orders,
        -- "last 365 days" = the run date and the 364 days before it
        count(case when days_before_run_date < 365 then order_id end) as paid_orders_last_365d,
        percentile_cont(0.5) within group (order by days_since_previous_order)
            as median_order_gap_days,
        sum(total_reporting) as revenue_reporting

    from order_gaps
    group by customer_id

)

select * from final
