{#-
    Incremental with a lookback window for late events. An incremental run for
    run date D first deletes every row that arrived after D - event_lookback_days
    (the pre-hook), then inserts the events that arrived after what is left, up to D:
    delete + insert on DuckDB and PostgreSQL; on Spark the table is partitioned by
    arrival day, the pre-hook drops those partitions and insert_overwrite writes them.
    So the table always holds exactly the events that arrived on or before D — also
    when an old date is re-run after later ones — and equals a full refresh.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite' if target.type == 'spark' else 'append',
    partition_by=['arrived_date'] if target.type == 'spark' else none,
    pre_hook="{% if is_incremental() %}{{ delete_rows_after(this, 'arrived_date', "
        ~ "dbt.dateadd('day', -var('event_lookback_days'), run_date())) }}{% endif %}"
) }}

with

landed as (

    select * from {{ ref('stg_events__events') }}
    {% if is_incremental() %}
    where arrived_date > (select coalesce(max(arrived_date), cast('1900-01-01' as date)) from {{ this }})
    {% endif %}

),

-- An event delivered more than once keeps its first arrival.
ranked as (

    select
        *,
        row_number() over (
            partition by event_id
            order by arrived_date, source_file, source_line, filename, file_row_number
        ) as arrival_number

    from landed

),

final as (

    select
        event_id,
        event_type,
        customer_id,
        occurred_at,
        occurred_date,
        arrived_date,
        is_late_arrival,
        campaign,
        properties,
        nps_score,
        bounce_type,
        unsubscribed_channel,
        viewed_product_id,
        source_file,
        source_line

    from ranked
    where arrival_number = 1
    {% if is_incremental() %}
        and not exists (select 1 from {{ this }} as known where known.event_id = ranked.event_id)
    {% endif %}

)

select * from final
