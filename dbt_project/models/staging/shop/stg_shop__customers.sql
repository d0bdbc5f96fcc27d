with

source as (

    select * from {{ ref('base_shop__customers') }}
    where dt <= {{ run_date() }}
        -- the hourly refresh sees the day only up to its hour (a no-op for the daily run)
        and updated_at < {{ as_of_at() }}

),

latest as (

    {{ latest_version('source', 'customer_id') }}

),

final as (

    select
        customer_id,
        signed_up_at,
        cast(signed_up_at as date) as signed_up_date,
        lower(trim(email)) as email,
        phone,
        push_token,
        first_name,
        birthday,
        upper(country) as country,
        time_zone,
        consent_email,
        consent_email_at,
        consent_sms,
        consent_sms_at,
        consent_push,
        consent_push_at,
        updated_at

    from latest

)

select * from final
