{#-
    Incremental (see the `incremental_stage_history` docs block): a run keeps the days
    nothing new reaches back to and builds the rest, normally just the run date. Delete
    + insert on DuckDB and PostgreSQL (the pre-hook deletes the days after the kept
    one); on Spark the table is partitioned by day, the pre-hook drops those partitions
    and insert_overwrite writes them.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite' if target.type == 'spark' else 'append',
    partition_by=['as_of_date'] if target.type == 'spark' else none,
    pre_hook="{% if is_incremental() %}{{ rewind_stage_history() }}{% endif %}"
) }}

{%- set keep_through = stage_history_keep_through(
    ref('base_shop__orders'), ref('base_shop__customers')) %}

-- The lifecycle stage of every customer on every day from history_start_date to
-- the run date, from the purchase history visible on that day only: so the stage
-- history never changes when later days are added, and today's stage is the last row.
with

customers as (

    select
        customer_id,
        {{ business_date('signed_up_at') }} as signed_up_date

    from {{ ref('stg_shop__customers') }}

),

purchase_days as (

    select * from {{ ref('int_customer_purchase_days') }}
    where purchase_date <= {{ run_date() }}

),

-- The days this run builds: after the kept ones, up to the run date.
days as (

    select date_day as as_of_date
    from {{ ref('int_calendar_days') }}
    where date_day > cast('{{ keep_through }}' as date)

),

-- Gap to the previous purchase day; a gap longer than the churn window makes the
-- purchase a reactivation (the customer ended at least one day inactive).
purchases as (

    select
        customer_id,
        purchase_date,
        paid_orders,
        {{ dbt.datediff(
            'lag(purchase_date) over (partition by customer_id order by purchase_date)',
            'purchase_date',
            'day'
        ) }} as gap_days

    from purchase_days

),

-- Each customer's median gap as of each purchase (all gaps up to and including it).
-- A self-join, because percentile_cont is no window function on PostgreSQL.
running_median_gaps as (

    select
        later.customer_id,
        later.purchase_date,
        percentile_cont(0.5) within group (order by earlier.gap_days) as median_gap_days

    from purchases as later

    inner join purchases as earlier
        on earlier.customer_id = later.customer_id
        and earlier.purchase_date <= later.purchase_date
        and earlier.gap_days is not null

    group by later.customer_id, later.purchase_date

),

purchase_facts as (

    select
        purchases.customer_id,
        purchases.purchase_date,
        purchases.paid_orders,
        running_median_gaps.median_gap_days,
        coalesce(purchases.gap_days > {{ var('churn_days') }}, false) as is_reactivation

    from purchases

    left join running_median_gaps
        on purchases.customer_id = running_median_gaps.customer_id
        and purchases.purchase_date = running_median_gaps.purchase_date

),

-- What a customer's purchase history looks like changes only on a purchase day and
-- on the day a purchase leaves the 365-day window: one row per such change, with the
-- history from that day on (running sums and maxima over the changes so far).
changes as (

    select customer_id, purchase_date as change_date, paid_orders as added,
        paid_orders as window_change, purchase_date, is_reactivation
    from purchase_facts

    union all

    select customer_id, {{ dbt.dateadd('day', 365, 'purchase_date') }} as change_date, 0 as added,
        -paid_orders as window_change, cast(null as date) as purchase_date, false as is_reactivation
    from purchase_facts

),

change_days as (

    select
        customer_id,
        cast(change_date as date) as change_date,
        sum(added) as added,
        sum(window_change) as window_change,
        max(purchase_date) as purchase_date,
        max(case when is_reactivation then purchase_date end) as reactivation_date

    from changes
    group by customer_id, cast(change_date as date)

),

-- A spell: from one change to the next (exclusive), the history holds still.
spells as (

    select
        customer_id,
        change_date as valid_from,
        coalesce(
            lead(change_date) over (partition by customer_id order by change_date),
            cast({{ dbt.dateadd('day', 1, run_date()) }} as date)
        ) as valid_to,
        min(purchase_date) over (partition by customer_id) as first_purchase_date,
        max(purchase_date) over (
            partition by customer_id order by change_date rows between unbounded preceding and current row
        ) as last_purchase_date,
        sum(added) over (
            partition by customer_id order by change_date rows between unbounded preceding and current row
        ) as paid_orders,
        sum(window_change) over (
            partition by customer_id order by change_date rows between unbounded preceding and current row
        ) as paid_orders_last_365d,
        max(reactivation_date) over (
            partition by customer_id order by change_date rows between unbounded preceding and current row
        ) as last_reactivation_date

    from change_days

),

-- Each customer's days: before the first purchase (a prospect), then each spell's days.
-- Joining days to spells by range costs one row per customer-day, not one per
-- customer-day and earlier purchase.
history as (

    select
        customers.customer_id,
        days.as_of_date,
        cast(null as date) as first_purchase_date,
        cast(null as date) as last_purchase_date,
        0 as paid_orders,
        0 as paid_orders_last_365d,
        cast(null as date) as last_reactivation_date

    from customers

    inner join days
        on days.as_of_date >= customers.signed_up_date

    left join (select customer_id, min(valid_from) as first_change from spells group by customer_id) as firsts
        on firsts.customer_id = customers.customer_id

    where firsts.first_change is null or days.as_of_date < firsts.first_change

    union all

    select
        customer_spells.customer_id,
        days.as_of_date,
        customer_spells.first_purchase_date,
        customer_spells.last_purchase_date,
        customer_spells.paid_orders,
        customer_spells.paid_orders_last_365d,
        customer_spells.last_reactivation_date

    from (
        select spells.*, customers.signed_up_date
        from spells
        inner join customers
            on customers.customer_id = spells.customer_id
    ) as customer_spells

    inner join days
        on days.as_of_date >= customer_spells.valid_from
        and days.as_of_date < customer_spells.valid_to
        and days.as_of_date >= customer_spells.signed_up_date

),

with_gap as (

    select
        history.*,
        last_purchase.median_gap_days

    from history

    left join purchase_facts as last_purchase
        on last_purchase.customer_id = history.customer_id
        and last_purchase.purchase_date = history.last_purchase_date

),

-- The gap expected of one-time buyers, per day: the median over repeat buyers of
-- each one's own median gap (so heavy buyers do not weigh more).
shop_gaps as (

    select
        as_of_date,
        percentile_cont(0.5) within group (order by median_gap_days) as shop_median_gap_days

    from with_gap
    where median_gap_days is not null
    group by as_of_date

),

measured as (

    select
        with_gap.customer_id,
        with_gap.as_of_date,
        with_gap.first_purchase_date,
        with_gap.last_purchase_date,
        with_gap.last_reactivation_date,
        with_gap.paid_orders,
        with_gap.paid_orders_last_365d,
        with_gap.median_gap_days,
        shop_gaps.shop_median_gap_days,
        {{ dbt.datediff('with_gap.first_purchase_date', 'with_gap.as_of_date', 'day') }}
            as days_since_first_purchase,
        {{ dbt.datediff('with_gap.last_purchase_date', 'with_gap.as_of_date', 'day') }}
            as days_since_last_purchase,
        {{ dbt.datediff('with_gap.last_reactivation_date', 'with_gap.as_of_date', 'day') }}
            as days_since_reactivation,
        case when with_gap.paid_orders > 0 then
            greatest(
                {{ var('lapsing_floor_days') }},
                coalesce(
                    {{ var('lapsing_k') }}
                    * coalesce(with_gap.median_gap_days, shop_gaps.shop_median_gap_days),
                    0
                )
            )
        end as lapsing_after_days

    from with_gap

    left join shop_gaps
        on with_gap.as_of_date = shop_gaps.as_of_date

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
