{{ config(materialized='view') }}

-- Every version of every customer in the raw zone, with the partition it arrived in:
-- stg_shop__customers keeps the latest as of the run date; the incremental stage
-- history finds here new customers and corrected signup days. A view: its readers
-- filter on the partition column, so only those partitions are read.
with

source as (

    select * from {{ source('shop', 'customers') }}

),

final as (

    select
        customer_id,
        signed_up_at,
        email,
        phone,
        push_token,
        first_name,
        birthday,
        country,
        time_zone,
        consent_email,
        consent_email_at,
        consent_sms,
        consent_sms_at,
        consent_push,
        consent_push_at,
        updated_at,
        dt,
        cast(dt as date) as arrived_date,
        filename,
        file_row_number

    from source

)

select * from final
