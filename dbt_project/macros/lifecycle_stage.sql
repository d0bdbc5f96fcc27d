{% macro lifecycle_stage(
    paid_orders='paid_orders',
    days_since_first_paid_order='days_since_first_paid_order',
    days_since_last_paid_order='days_since_last_paid_order',
    paid_orders_last_365d='paid_orders_last_365d',
    lapsing_after_days='lapsing_after_days'
) -%}
    {#-
        THE one place where lifecycle stage precedence lives (see the
        `lifecycle_stage` docs block): the first matching rule wins.
        "Within N days" means days since the event < N, i.e. the run date and the N - 1 days before it.
    -#}
    case
        when {{ paid_orders }} = 0
            then 'prospect'
        when {{ days_since_last_paid_order }} >= {{ var('churn_days') }}
            then 'inactive'
        when {{ days_since_first_paid_order }} < {{ var('onboarding_days') }}
            then 'new'
        when {{ days_since_last_paid_order }} > {{ lapsing_after_days }}
            then 'lapsing'
        when {{ paid_orders_last_365d }} >= {{ var('loyal_min_orders') }}
            then 'loyal'
        else 'active'
    end
{%- endmacro %}
