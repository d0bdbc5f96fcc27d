-- First-month activation per acquisition month. A cohort is only judged once the
-- window of its last-acquired customer (acquired on the month's last day) has closed.
with

months as (

    select * from {{ ref('int_reporting_months') }}

),

first_orders as (

    select * from {{ ref('int_paid_orders_sequenced') }}
    where customer_order_number = 1

),

acquired as (

    select
        months.month_start_date,
        count(*) as acquired_customers,
        -- "Within activation_days" = fewer than activation_days days after the first
        -- order (a second order the same day counts), as everywhere in the project.
        count(case when first_orders.days_to_next_order < {{ var('activation_days') }} then 1 end)
            as activated_customers

    from months

    inner join first_orders
        on first_orders.purchase_date >= months.month_start_date
        and first_orders.purchase_date <= months.period_end_date

    group by months.month_start_date

),

final as (

    select
        months.month_start_date,
        coalesce(acquired.acquired_customers, 0) as acquired_customers,
        coalesce(acquired.activated_customers, 0) as activated_customers,
        {{ dbt.dateadd('day', var('activation_days') - 1, 'months.month_end_date') }} <= {{ run_date() }}
            as is_activation_window_closed

    from months

    left join acquired
        on months.month_start_date = acquired.month_start_date

)

select * from final
