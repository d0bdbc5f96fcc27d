-- Definitions: the `retention_metrics` docs block (_metrics__docs.md).
with

customer_base as (

    select * from {{ ref('int_monthly_customer_base') }}

),

order_metrics as (

    select * from {{ ref('int_monthly_order_metrics') }}

),

activation as (

    select * from {{ ref('int_monthly_activation') }}

),

final as (

    select
        customer_base.month_start_date,
        customer_base.month_end_date,
        customer_base.period_end_date,
        customer_base.is_partial_month,

        customer_base.customers_at_start,
        customer_base.customers_at_end,
        customer_base.new_customers,
        customer_base.customer_retention_rate,
        customer_base.churn_rate,

        order_metrics.buyers,
        order_metrics.returning_buyers,
        order_metrics.repeat_buyers,
        cast(order_metrics.repeat_buyers as {{ type_double() }})
            / nullif(order_metrics.buyers, 0) as repeat_purchase_rate,

        activation.activated_customers,
        case when activation.is_activation_window_closed then
            cast(activation.activated_customers as {{ type_double() }})
                / nullif(activation.acquired_customers, 0)
        end as activation_rate,

        order_metrics.paid_orders,
        cast(order_metrics.paid_orders as {{ type_double() }})
            / nullif(order_metrics.buyers, 0) as purchase_frequency,
        order_metrics.revenue_reporting,
        cast(order_metrics.revenue_reporting as {{ type_double() }})
            / nullif(order_metrics.paid_orders, 0) as average_order_value_reporting,
        order_metrics.discounted_revenue_reporting,
        cast(order_metrics.discounted_revenue_reporting as {{ type_double() }})
            / nullif(order_metrics.revenue_reporting, 0) as discounted_revenue_share,
        cast(order_metrics.revenue_reporting - order_metrics.discounted_revenue_reporting as {{ type_double() }})
            / nullif(order_metrics.revenue_reporting, 0) as full_price_revenue_share,
        order_metrics.returning_customer_revenue_reporting,
        cast(order_metrics.returning_customer_revenue_reporting as {{ type_double() }})
            / nullif(order_metrics.revenue_reporting, 0) as returning_customer_revenue_share,
        cast(order_metrics.days_since_previous_order_sum as {{ type_double() }})
            / nullif(order_metrics.orders_with_previous_order, 0) as mean_days_between_orders,
        order_metrics.cumulative_revenue_reporting,
        order_metrics.cumulative_customers_acquired,
        cast(order_metrics.cumulative_revenue_reporting as {{ type_double() }})
            / nullif(order_metrics.cumulative_customers_acquired, 0) as historical_ltv_reporting

    from customer_base

    inner join order_metrics
        on customer_base.month_start_date = order_metrics.month_start_date

    inner join activation
        on customer_base.month_start_date = activation.month_start_date

)

select * from final
