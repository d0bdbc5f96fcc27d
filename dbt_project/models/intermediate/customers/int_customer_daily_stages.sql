{#-
    Incremental (docs block `incremental_stage_history`): a run keeps the days nothing
    new reaches back to and builds the rest, normally just the run date. Delete + insert
    on DuckDB and PostgreSQL (the pre-hook deletes the days after the kept one); on
    Spark the table is partitioned by day, the pre-hook drops those partitions and
    insert_overwrite writes them. Its input int_customer_history_spells is a table
    rebuilt each run: a row per change of a purchase history, not per customer-day.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite' if target.type == 'spark' else 'append',
    partition_by=['as_of_date'] if target.type == 'spark' else none,
    pre_hook="{% if is_incremental() %}{{ rewind_stage_history() }}{% endif %}"
) }}

{%- set keep_through = stage_history_keep_through(ref('base_shop__orders'), ref('base_shop__customers')) %}

-- The lifecycle stage of every customer on every day from history_start_date to the
-- run date, from the purchase history visible on that day only (its spell): so the
-- stage history never changes when later days are added; today's is the last row.
with

spells as (

    select * from {{ ref('int_customer_history_spells') }}

),

-- The days this run builds: after the kept ones, up to the run date.
days as (

    select date_day as as_of_date
    from {{ ref('int_calendar_days') }}
    where date_day > cast('{{ keep_through }}' as date)

),

-- Each customer's days from signup, each from the spell holding on it.
history as (

    select
        spells.customer_id,
        days.as_of_date,
        spells.first_purchase_date,
        spells.last_purchase_date,
        spells.paid_orders,
        spells.paid_orders_last_365d,
        spells.last_reactivation_date,
        spells.median_gap_days

    from spells

    inner join days
        on days.as_of_date >= spells.valid_from
        and days.as_of_date < spells.valid_to
        and days.as_of_date >= spells.signed_up_date

),

-- The gap expected of one-time buyers, per day: the median over repeat buyers of
-- each one's own median gap (so heavy buyers do not weigh more).
shop_gaps as (

    select
        as_of_date,
        percentile_cont(0.5) within group (order by median_gap_days) as shop_median_gap_days

    from history
    where median_gap_days is not null
    group by as_of_date

),

measured as (

    select
        history.customer_id,
        history.as_of_date,
        history.first_purchase_date,
        history.last_purchase_date,
        history.last_reactivation_date,
        history.paid_orders,
        history.paid_orders_last_365d,
        history.median_gap_days,
        shop_gaps.shop_median_gap_days,
        {{ dbt.datediff('history.first_purchase_date', 'history.as_of_date', 'day') }}
            as days_since_first_purchase,
        {{ dbt.datediff('history.last_purchase_date', 'history.as_of_date', 'day') }}
            as days_since_last_purchase,
        {{ dbt.datediff('history.last_reactivation_date', 'history.as_of_date', 'day') }}
            as days_since_reactivation,
        case when history.paid_orders > 0 then
            greatest(
                {{ var('lapsing_floor_days') }},
                coalesce(
                    {{ var('lapsing_k') }}
                    * coalesce(history.median_gap_days, shop_gaps.shop_median_gap_days),
                    0
                )
            )
        end as lapsing_after_days

    from history

    left join shop_gaps
        on history.as_of_date = shop_gaps.as_of_date

),

staged as (

    select
        *,
        {{ lifecycle_stage() }} as lifecycle_stage

    from measured

),

{% if is_incremental() %}
-- The last kept day: the stage before the first day built.
kept_day as (

    select customer_id, lifecycle_stage
    from {{ this }}
    where as_of_date = cast('{{ keep_through }}' as date)

),
{% endif %}

-- The stage the day before, so a stage change is a row, not a scan of the history.
final as (

    select
        staged.*,
        {% if is_incremental() %}coalesce({% endif %}
            lag(staged.lifecycle_stage) over (partition by staged.customer_id order by staged.as_of_date)
        {% if is_incremental() %}, kept_day.lifecycle_stage){% endif %} as previous_stage

    from staged

    {% if is_incremental() %}
    left join kept_day
        on kept_day.customer_id = staged.customer_id
        and staged.as_of_date = {{ dbt.dateadd('day', 1, "cast('" ~ keep_through ~ "' as date)") }}
    {% endif %}

)

select * from final
