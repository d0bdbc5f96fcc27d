-- Birthdays from the run date up to var birthday_lead_days days ahead, both included,
-- so the greeting can go out ahead of the day (int_customer_next_birthdays).
with

audience as (

    {{ segment_audience('sms', 'promotional') }}

),

birthdays as (

    select * from {{ ref('int_customer_next_birthdays') }}
    where days_until_birthday between 0 and {{ var('birthday_lead_days') }}

),

final as (

    select
        audience.customer_id,
        audience.phone,
        audience.first_name,
        audience.lifecycle_stage,
        audience.loyalty_tier,
        audience.points_balance,
        audience.recommended_product_id,
        audience.recommended_product_name,
        audience.preferred_send_hour,
        birthdays.next_birthday_date,
        birthdays.days_until_birthday

    from audience

    inner join birthdays
        on audience.customer_id = birthdays.customer_id

)

select * from final
