-- Tickets are tied together by the ticket_id in the events' properties. A ticket counts
-- as open when its latest opening has no resolution at or after it, so a ticket that is
-- reopened after a resolution is open again.
with

events as (

    select * from {{ ref('fct_engagement_events') }}
    where event_type in ('support_ticket_opened', 'support_ticket_resolved')

),

ticket_events as (

    select
        {{ json_text('properties', 'ticket_id') }} as ticket_id,
        customer_id,
        event_type,
        occurred_at

    from events

),

tickets as (

    select
        ticket_id,
        customer_id,
        min(case when event_type = 'support_ticket_opened' then occurred_at end) as first_opened_at,
        max(case when event_type = 'support_ticket_opened' then occurred_at end) as last_opened_at,
        max(case when event_type = 'support_ticket_resolved' then occurred_at end) as last_resolved_at

    from ticket_events
    where ticket_id is not null
    group by ticket_id, customer_id

),

final as (

    select
        ticket_id,
        customer_id,
        first_opened_at as opened_at,
        last_resolved_at as resolved_at,
        (last_resolved_at is null or last_resolved_at < last_opened_at) as is_open

    from tickets
    -- a resolution whose opening has not arrived yet is no ticket (yet)
    where first_opened_at is not null

)

select * from final
