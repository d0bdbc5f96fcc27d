-- The floor: lifecycle stage, RFM and CRR as of {run_date}, in one hand-written DuckDB
-- script straight from the raw zone. The same rules as the dbt models (README:
-- lifecycle stages; the rfm_scoring and retention_metrics docs), without a framework
-- and without the stage history: what the engine does with nothing around it.

create temp table orders as
select customer_id, cast(ordered_at as date) as purchase_date, ordered_at, order_id, status,
    upper(currency) as currency, total
from read_parquet('{raw}/orders/dt=*/*.parquet', hive_partitioning = true)
where dt <= date '{run_date}'
qualify row_number() over (partition by order_id order by updated_at desc, dt desc) = 1;

create temp table fx as
select upper(currency) as currency, rate_date, rate_to_reporting
from read_parquet('{raw}/fx_rates/dt=*/*.parquet', hive_partitioning = true)
where dt <= date '{run_date}'
qualify row_number() over (partition by rate_date, currency order by updated_at desc, dt desc) = 1;

create temp table customers as
select customer_id, cast(signed_up_at as date) as signed_up_date
from read_parquet('{raw}/customers/dt=*/*.parquet', hive_partitioning = true)
where dt <= date '{run_date}'
qualify row_number() over (partition by customer_id order by updated_at desc, dt desc) = 1;

-- Paid orders in EUR at the latest rate on or before the order date.
create temp table paid as
select o.customer_id, o.order_id, o.ordered_at, o.purchase_date,
    cast(round(o.total * case when o.currency = '{reporting_currency}' then 1 else fx.rate_to_reporting end, 2)
        as decimal(12, 2)) as total_reporting
from orders as o
asof left join fx on fx.currency = o.currency and o.purchase_date >= fx.rate_date
where o.status = 'paid' and o.purchase_date <= date '{run_date}';

create temp table purchase_days as
select customer_id, purchase_date, count(*) as paid_orders, sum(total_reporting) as revenue
from paid group by all;

-- Lifecycle stage, today only.
create temp table gaps as
select *, purchase_date - lag(purchase_date) over (partition by customer_id order by purchase_date) as gap
from purchase_days;

create temp table purchase_stats as
select customer_id,
    min(purchase_date) as first_date,
    max(purchase_date) as last_date,
    sum(paid_orders) as paid_orders,
    coalesce(sum(paid_orders) filter (where date '{run_date}' - purchase_date < 365), 0) as paid_orders_365,
    max(purchase_date) filter (where gap > {churn_days}) as reactivated_date,
    median(gap) as median_gap
from gaps group by customer_id;

create temp table lifecycle as
with measured as (
    select c.customer_id, coalesce(s.paid_orders, 0) as paid_orders, s.paid_orders_365,
        date '{run_date}' - s.first_date as since_first,
        date '{run_date}' - s.last_date as since_last,
        date '{run_date}' - s.reactivated_date as since_reactivation,
        case when s.paid_orders > 0 then greatest({lapsing_floor_days},
            coalesce({lapsing_k} * coalesce(s.median_gap,
                (select median(median_gap) from purchase_stats)), 0)) end as lapsing_after
    from customers as c left join purchase_stats as s using (customer_id)
    where c.signed_up_date <= date '{run_date}'
),
flagged as (
    select *, (since_last > lapsing_after or since_last >= {churn_days}) as late from measured
)
select customer_id,
    case
        when paid_orders = 0 then 'prospect'
        when since_first < {onboarding_days} then 'new'
        when since_reactivation < {onboarding_days} then 'reactivated'
        when paid_orders_365 >= {loyal_min_orders} and not late then 'loyal'
        when not late then 'active'
        when since_last < {churn_days} then 'lapsing'
        else 'inactive'
    end as lifecycle_stage
from flagged;

-- RFM: 1-5 scores from quintile cut points (fixed frequency bins when they degenerate).
create temp table rfm as
with v as (
    select customer_id, date '{run_date}' - max(purchase_date) as recency_days,
        sum(paid_orders) as frequency, cast(sum(revenue) as decimal(18, 2)) as monetary
    from purchase_days group by customer_id
),
cuts as (
    select
        quantile_cont(recency_days, [0.2, 0.4, 0.6, 0.8]) as r,
        quantile_cont(frequency, [0.2, 0.4, 0.6, 0.8]) as f,
        quantile_cont(monetary, [0.2, 0.4, 0.6, 0.8]) as m
    from v
)
select customer_id, recency_days, frequency, monetary,
    5 - ((recency_days > r[1])::int + (recency_days > r[2])::int + (recency_days > r[3])::int
        + (recency_days > r[4])::int) as r_score,
    case when f[1] < f[2] and f[2] < f[3] and f[3] < f[4]
        then 1 + (frequency > f[1])::int + (frequency > f[2])::int + (frequency > f[3])::int
            + (frequency > f[4])::int
        else case when frequency >= 6 then 5 when frequency >= 4 then 4 when frequency >= 3 then 3
            when frequency >= 2 then 2 else 1 end
    end as f_score,
    1 + (monetary > m[1])::int + (monetary > m[2])::int + (monetary > m[3])::int
        + (monetary > m[4])::int as m_score
from v, cuts;

-- CRR per month, (E - N) / S, from the history start's month to the run date's.
create temp table crr as
with months as (
    select cast(m as date) as month_start,
        least(cast(m + interval 1 month - interval 1 day as date), date '{run_date}') as period_end
    from range(date_trunc('month', date '{history_start}'), date '{run_date}' + 1, interval 1 month) as t(m)
),
buyer_days as (select distinct customer_id, purchase_date from purchase_days),
firsts as (
    select customer_id, arg_min(purchase_date, (ordered_at, order_id)) as first_date
    from paid group by customer_id
),
counts as (
    select month_start,
        (select count(distinct customer_id) from buyer_days
            where purchase_date < month_start and purchase_date >= month_start - {churn_days}) as s,
        (select count(distinct customer_id) from buyer_days
            where purchase_date <= period_end and purchase_date > period_end - {churn_days}) as e,
        (select count(*) from firsts where first_date between month_start and period_end) as n
    from months
)
select *, (e - n) / nullif(s, 0) as customer_retention_rate from counts;
