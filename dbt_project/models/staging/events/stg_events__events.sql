with

source as (

    select * from {{ source('events', 'events') }}
    where dt <= {{ run_date() }}

),

final as (

    select
        event_id,
        event_type,
        customer_id,
        occurred_at,
        cast(occurred_at as date) as occurred_date,
        cast(dt as date) as arrived_date,
        cast(dt as date) > cast(occurred_at as date) as is_late_arrival,
        campaign,
        properties,
        case when event_type = 'survey_answered'
            then {{ json_integer('properties', 'nps') }}
        end as nps_score,
        case when event_type in ('email_bounced', 'sms_bounced')
            then {{ json_text('properties', 'bounce_type') }}
        end as bounce_type,
        case when event_type = 'unsubscribed'
            then {{ json_text('properties', 'channel') }}
        end as unsubscribed_channel,
        case when event_type = 'page_viewed'
            then {{ json_integer('properties', 'product_id') }}
        end as viewed_product_id,
        source_file,
        source_line,
        filename,
        file_row_number

    from source

)

select * from final
