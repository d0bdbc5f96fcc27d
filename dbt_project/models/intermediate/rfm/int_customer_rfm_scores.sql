-- R, F and M scores 1-5 from quintile cut points on the values, not ntile(): ntile
-- splits a run of equal values across buckets by an arbitrary row order, comparing to
-- cut points never does (see the rfm_scoring docs block).
with

rfm_values as (

    select * from {{ ref('int_customer_rfm_values') }}

),

-- percentile_cont as an aggregate (PostgreSQL has no window percentile): one row.
{%- set cut_point_columns = [] -%}
{%- for metric in ['recency_days', 'frequency', 'monetary'] -%}
    {%- for pct in [20, 40, 60, 80] -%}
        {%- do cut_point_columns.append((metric, pct)) -%}
    {%- endfor -%}
{%- endfor %}
cut_points as (

    select
        {%- for metric, pct in cut_point_columns %}
        percentile_cont({{ pct / 100 }}) within group (order by {{ metric }})
            as {{ metric }}_p{{ pct }}{{ ',' if not loop.last }}
        {%- endfor %}

    from rfm_values

),

-- Most customers buy once, so the lower frequency cut points coincide; quintiles then
-- leave scores empty, and fixed bins take over.
frequency_method as (

    select
        *,
        case
            when frequency_p20 < frequency_p40
                and frequency_p40 < frequency_p60
                and frequency_p60 < frequency_p80
                then 'quintiles'
            else 'fixed_bins'
        end as f_score_method

    from cut_points

),

scored as (

    select
        rfm_values.customer_id,
        rfm_values.first_purchase_date,
        rfm_values.last_purchase_date,
        rfm_values.recency_days,
        rfm_values.frequency,
        rfm_values.monetary,
        {{ rfm_score(
            'rfm_values.recency_days',
            ['fm.recency_days_p20', 'fm.recency_days_p40', 'fm.recency_days_p60', 'fm.recency_days_p80'],
            reverse=true
        ) }} as r_score,
        case
            when fm.f_score_method = 'quintiles' then {{ rfm_score(
                'rfm_values.frequency',
                ['fm.frequency_p20', 'fm.frequency_p40', 'fm.frequency_p60', 'fm.frequency_p80']
            ) }}
            else {{ rfm_frequency_bin_score('rfm_values.frequency') }}
        end as f_score,
        {{ rfm_score(
            'rfm_values.monetary',
            ['fm.monetary_p20', 'fm.monetary_p40', 'fm.monetary_p60', 'fm.monetary_p80']
        ) }} as m_score,
        fm.f_score_method

    from rfm_values

    cross join frequency_method as fm

),

final as (

    select * from scored

)

select * from final
