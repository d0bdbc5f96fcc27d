-- Definitions: the `email_engagement_metrics` docs block (_metrics__docs.md).
with

months as (

    select * from {{ ref('int_reporting_months') }}

),

sends as (

    select * from {{ ref('int_email_sends_engaged') }}

),

counted as (

    select
        months.month_start_date,
        count(*) as sends,
        count(case when sends.is_bounced then 1 end) as bounced_sends,
        count(case when sends.is_opened then 1 end) as opened_sends,
        count(case when sends.is_clicked then 1 end) as clicked_sends,
        count(case when sends.is_unsubscribed then 1 end) as unsubscribed_sends

    from months

    inner join sends
        on sends.sent_date >= months.month_start_date
        and sends.sent_date <= months.period_end_date

    group by months.month_start_date

),

final as (

    select
        months.month_start_date,
        months.is_partial_month,
        coalesce(counted.sends, 0) as sends,
        coalesce(counted.bounced_sends, 0) as bounced_sends,
        coalesce(counted.opened_sends, 0) as opened_sends,
        coalesce(counted.clicked_sends, 0) as clicked_sends,
        coalesce(counted.unsubscribed_sends, 0) as unsubscribed_sends,
        1 - cast(counted.bounced_sends as {{ type_double() }}) / nullif(counted.sends, 0) as delivery_rate,
        cast(counted.opened_sends as {{ type_double() }}) / nullif(counted.sends, 0) as open_rate,
        cast(counted.clicked_sends as {{ type_double() }}) / nullif(counted.sends, 0) as click_rate,
        cast(counted.unsubscribed_sends as {{ type_double() }}) / nullif(counted.sends, 0) as unsubscribe_rate

    from months

    left join counted
        on months.month_start_date = counted.month_start_date

)

select * from final
