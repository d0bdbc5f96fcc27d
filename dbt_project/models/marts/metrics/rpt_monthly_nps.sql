-- Definitions: the `nps_metrics` docs block (_metrics__docs.md).
with

months as (

    select * from {{ ref('int_reporting_months') }}

),

answers as (

    select
        {{ business_date('occurred_at') }} as answered_date,
        nps_score

    from {{ ref('stg_events__events') }}
    where event_type = 'survey_answered'
        and nps_score is not null

),

counted as (

    select
        months.month_start_date,
        count(*) as responses,
        count(case when answers.nps_score >= 9 then 1 end) as promoters,
        count(case when answers.nps_score between 7 and 8 then 1 end) as passives,
        count(case when answers.nps_score <= 6 then 1 end) as detractors

    from months

    inner join answers
        on answers.answered_date >= months.month_start_date
        and answers.answered_date <= months.period_end_date

    group by months.month_start_date

),

final as (

    select
        months.month_start_date,
        months.is_partial_month,
        coalesce(counted.responses, 0) as responses,
        coalesce(counted.promoters, 0) as promoters,
        coalesce(counted.passives, 0) as passives,
        coalesce(counted.detractors, 0) as detractors,
        cast(counted.promoters as {{ type_double() }}) / nullif(counted.responses, 0) as promoter_share,
        cast(counted.passives as {{ type_double() }}) / nullif(counted.responses, 0) as passive_share,
        cast(counted.detractors as {{ type_double() }}) / nullif(counted.responses, 0) as detractor_share,
        100 * cast(counted.promoters - counted.detractors as {{ type_double() }})
            / nullif(counted.responses, 0) as nps

    from months

    left join counted
        on months.month_start_date = counted.month_start_date

)

select * from final
