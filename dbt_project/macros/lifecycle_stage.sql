{% macro lifecycle_stage() -%}
    {#-
        THE one place where the lifecycle stage is decided (see the `lifecycle_stage`
        docs block). Rules in precedence order, the first that matches wins. Expects
        the columns of int_customer_daily_stages: paid_orders, paid_orders_last_365d,
        days_since_first_purchase, days_since_last_purchase, days_since_reactivation,
        lapsing_after_days. "Within N days" means fewer than N days ago (today = 0).
        A customer is late when their last purchase is beyond their lapsing threshold
        or the churn window.
    -#}
    {%- set late -%}
        (days_since_last_purchase > lapsing_after_days
            or days_since_last_purchase >= {{ var('churn_days') }})
    {%- endset -%}
    case
        when paid_orders = 0
            then 'prospect'
        when days_since_first_purchase < {{ var('onboarding_days') }}
            then 'new'
        when days_since_reactivation < {{ var('onboarding_days') }}
            then 'reactivated'
        when paid_orders_last_365d >= {{ var('loyal_min_orders') }} and not {{ late }}
            then 'loyal'
        when not {{ late }}
            then 'active'
        when days_since_last_purchase < {{ var('churn_days') }}
            then 'lapsing'
        else 'inactive'
    end
{%- endmacro %}
