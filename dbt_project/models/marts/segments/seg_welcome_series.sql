-- Fresh signups: signed up fewer than var welcome_series_days days before the run date
-- (the signup day is day 0), whether or not they have bought yet. day_in_series lets
-- the email platform send each step of the series on its day.
with

audience as (

    {{ segment_audience('email', 'promotional') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

signups as (

    select
        customer_id,
        signed_up_date,
        {{ dbt.datediff('signed_up_date', run_date(), 'day') }} as day_in_series,
        paid_orders > 0 as has_purchased

    from customers

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
        signups.signed_up_date,
        signups.day_in_series,
        signups.has_purchased

    from audience

    inner join signups
        on audience.customer_id = signups.customer_id

    where signups.day_in_series >= 0
        and signups.day_in_series < {{ var('welcome_series_days', 14) }}

)

select * from final
