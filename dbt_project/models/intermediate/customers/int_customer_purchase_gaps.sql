-- Each purchase day up to the run date with what the lifecycle rules read from the
-- days before it: the gap since the previous one, the customer's median gap so far,
-- and whether the purchase reactivates a churned customer.
with

purchase_days as (

    select * from {{ ref('int_customer_purchase_days') }}
    where purchase_date <= {{ run_date() }}

),

-- Gap to the previous purchase day; a gap longer than the churn window makes the
-- purchase a reactivation (the customer ended at least one day inactive).
purchases as (

    select
        customer_id,
        purchase_date,
        paid_orders,
        {{ dbt.datediff(
            'lag(purchase_date) over (partition by customer_id order by purchase_date)',
            'purchase_date',
            'day'
        ) }} as gap_days

    from purchase_days

),

-- Each customer's median gap as of each purchase (all gaps up to and including it).
-- A self-join, because percentile_cont is no window function on PostgreSQL.
running_median_gaps as (

    select
        later.customer_id,
        later.purchase_date,
        percentile_cont(0.5) within group (order by earlier.gap_days) as median_gap_days

    from purchases as later

    inner join purchases as earlier
        on earlier.customer_id = later.customer_id
        and earlier.purchase_date <= later.purchase_date
        and earlier.gap_days is not null

    group by later.customer_id, later.purchase_date

),

final as (

    select
        purchases.customer_id,
        purchases.purchase_date,
        purchases.paid_orders,
        purchases.gap_days,
        running_median_gaps.median_gap_days,
        coalesce(purchases.gap_days > {{ var('churn_days') }}, false) as is_reactivation

    from purchases

    left join running_median_gaps
        on purchases.customer_id = running_median_gaps.customer_id
        and purchases.purchase_date = running_median_gaps.purchase_date

)

select * from final
