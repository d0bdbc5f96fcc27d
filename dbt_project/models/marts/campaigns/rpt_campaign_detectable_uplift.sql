-- The smallest uplift each segment's holdout test can detect (docs block
-- detectable_uplift): from its entrants per day, its base repeat-purchase rate
-- (rpt_campaign_segment_rates) and a holdout share, the minimum detectable uplift of
-- uplift_detection_window_days of entrants, and the days of entrants a chosen uplift
-- (uplift_target_effect) needs. One row per segment and holdout share: the configured
-- share and the alternatives marketers weigh (uplift_holdout_share_options).
{%- set min_group = var('uplift_min_group_customers') %}
{%- set detection_days = var('uplift_detection_window_days') %}
{%- set target = var('uplift_target_effect') %}

with

segments as (

    select * from {{ ref('rpt_campaign_segment_rates') }}

),

holdout_shares as (

    select distinct holdout_share
    from (
        {%- for share in var('uplift_holdout_share_options') %}
        select cast({{ share }} as {{ type_double() }}) as holdout_share
        union all
        {%- endfor %}
        select cast({{ var('uplift_holdout_share') }} as {{ type_double() }}) as holdout_share
    ) as options

),

sized as (

    select
        segments.*,
        holdout_shares.holdout_share,
        segments.entrants_per_day * {{ detection_days }} as window_entrants,
        case
            when segments.entrants_per_day is null or segments.entrants_per_day = 0
                then 'no entrants after the first run yet'
            when segments.base_rate is null then 'fewer than {{ min_group }} entrants yet'
            when segments.base_rate = 0 then 'no entrant bought yet (base rate 0)'
            when segments.base_rate = 1 then 'every entrant bought (base rate 1)'
        end as null_reason

    from segments

    cross join holdout_shares

),

final as (

    select
        segment || ':' || cast(cast(round(holdout_share * 10000) as {{ dbt.type_bigint() }}) as {{ dbt.type_string() }})
            as detectable_uplift_id,
        segment,
        holdout_share,
        holdout_share = cast({{ var('uplift_holdout_share') }} as {{ type_double() }}) as is_current_share,
        entry_days,
        entrants,
        entrants_per_day,
        base_rate,
        base_rate_source,
        {{ detection_days }} as detection_window_days,
        window_entrants,
        case when null_reason is null then cast(
            {{ min_detectable_uplift('base_rate', 'window_entrants', 'holdout_share') }}
            as {{ type_double() }})
        end as min_detectable_uplift,
        case when null_reason is null then cast(
            {{ min_detectable_uplift('base_rate', 'window_entrants', 'holdout_share') }} / base_rate
            as {{ type_double() }})
        end as min_detectable_uplift_relative,
        cast({{ target }} as {{ type_double() }}) as target_uplift,
        case when null_reason is null then cast(ceil(
            {{ entrants_to_detect('base_rate', target, 'holdout_share') }} / entrants_per_day
        ) as {{ dbt.type_bigint() }}) end as days_to_detect_target,
        null_reason

    from sized

)

select * from final
