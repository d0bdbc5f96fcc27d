"""What the report shows, read from the published BI snapshot (``nurture.bi.snapshot``): one
query per chart or table, in DuckDB over Parquet, never the warehouse file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

STAGES = ("signup", "prospect", "new", "active", "loyal", "lapsing", "inactive")
TIERS = ("Bronze", "Silver", "Gold", "Platinum")
Z_95 = 1.959963984540054  # 95 %, as the mart's z_95()

QUERIES = {
    "cohort_retention": """
        select cohort_month, months_since_first_order, retention_rate, cohort_size
        from rpt_cohort_retention
        order by cohort_month, months_since_first_order
    """,
    # Customers in each stage at each month's end (the run date for the last month).
    "stage_mix": """
        with months as (
            select distinct least(month_end_date, period_end_date) as as_of from rpt_monthly_retention
        )
        select months.as_of, changes.lifecycle_stage, count(*) as customers
        from months
        join fct_customer_stage_changes as changes
            on changes.valid_from_date <= months.as_of
            and (changes.valid_to_date is null or changes.valid_to_date > months.as_of)
        group by all
        order by 1, 2
    """,
    # Stage transitions over the last three months (the flow diagram's bands).
    "stage_flow": """
        select from_stage, to_stage, sum(customers) as customers
        from rpt_monthly_stage_transitions
        where month_start_date > (select max(month_start_date) from rpt_monthly_stage_transitions)
            - interval 3 month
        group by all
        order by customers desc
    """,
    "rfm_map": """
        select r_score, f_score, any_value(rfm_segment) as rfm_segment, count(*) as customers
        from dim_customer_rfm
        group by all
        order by 1, 2
    """,
    "retention_trends": """
        select month_start_date, is_partial_month, customer_retention_rate, churn_rate,
            repeat_purchase_rate, average_order_value_reporting, historical_ltv_reporting
        from rpt_monthly_retention
        order by month_start_date
    """,
    "email_engagement": """
        select month_start_date, is_partial_month, sends, open_rate, click_rate, unsubscribe_rate
        from rpt_monthly_email_engagement
        order by month_start_date
    """,
    "nps": """
        select month_start_date, responses, nps, promoter_share, passive_share, detractor_share
        from rpt_monthly_nps
        order by month_start_date
    """,
    "loyalty_tiers": """
        select loyalty_tier, count(*) as customers, sum(points_balance) as points
        from dim_customer_loyalty
        group by all
    """,
    "segment_sizes": """
        select run_date, segment, sum(customers) as customers
        from exports__segment_sizes
        where status = 'included' and run_hour is null
        group by all
        order by run_date, segment
    """,
    "segment_overlap": """
        select segment_a, segment_b, customers from exports__segment_overlap order by 1, 2
    """,
    # Each segment's entry days pooled; normal-approximation intervals from the pooled sums.
    "uplift": f"""
        with pooled as (
            select segment,
                count(*) as entry_days,
                min(entry_date) as first_entry, max(entry_date) as last_entry,
                sum(treated_customers) as n1, sum(holdout_customers) as n0,
                sum(exported_customers) as exported,
                sum(treated_buyers) as b1, sum(holdout_buyers) as b0,
                sum(treated_revenue) as r1, sum(holdout_revenue) as r0,
                sum(treated_revenue_squares) as q1, sum(holdout_revenue_squares) as q0
            from fct_campaign_uplift
            where not is_first_run  -- members already, not entrants
            group by segment
        ),
        stats as (
            select *,
                b1 / nullif(n1, 0) as p1, b0 / nullif(n0, 0) as p0,
                r1 / nullif(n1, 0) as m1, r0 / nullif(n0, 0) as m0,
                greatest(q1 - r1 * r1 / nullif(n1, 0), 0) / nullif(n1 - 1, 0) as v1,
                greatest(q0 - r0 * r0 / nullif(n0, 0), 0) / nullif(n0 - 1, 0) as v0
            from pooled
        )
        select segment, entry_days, first_entry, last_entry, n1 as treated, exported, n0 as holdout,
            p1 as treated_rate, p0 as holdout_rate, p1 - p0 as rate_uplift,
            {Z_95} * sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0) as rate_margin,
            m1 - m0 as revenue_uplift,
            {Z_95} * sqrt(v1 / n1 + v0 / n0) as revenue_margin
        from stats
        order by segment
    """,
    # Each segment's minimum detectable uplift by holdout share (the chart's lines).
    "detectable_uplift": """
        select segment, holdout_share, is_current_share, entrants_per_day, base_rate, base_rate_source,
            min_detectable_uplift, target_uplift, days_to_detect_target, null_reason
        from rpt_campaign_detectable_uplift
        order by segment, holdout_share
    """,
    "acquisition_cost": """
        select month_start_date, is_partial_month, spend_reporting, new_customers, cac_reporting,
            gross_margin_share, months_observed, margin_per_customer_to_date, payback_months
        from rpt_monthly_acquisition_cost
        order by month_start_date
    """,
    "checks": """
        with latest as (
            select * from audit__validation_results
            where logical_date = (select max(logical_date) from audit__validation_results)
            qualify validated_at = max(validated_at) over (partition by suite, batch)
        )
        select suite, count(*) as expectations,
            count(*) filter (where not success and severity = 'critical') as blocking_failed,
            count(*) filter (where not success and severity <> 'critical') as warnings,
            any_value(logical_date) as logical_date
        from latest
        group by suite
        order by suite
    """,
    # Delivery: rows sent in this attempt, confirmed by an earlier interrupted attempt,
    # not delivered; batches likewise; retries by cause (see nurture.export.sync_log).
    "sync": """
        select segment, destination, status, included, added, removed,
            suppressed_no_consent + suppressed_holdout + suppressed_duplicate
                + suppressed_frequency_cap as suppressed,
            sent, confirmed_earlier, failed, batches_sent, batches_confirmed_earlier,
            retries_429, retries_5xx, retries_timeout,
            logical_date
        from exports__sync_log
        where run_hour is null and run_id = (
            select run_id from exports__sync_log where run_hour is null
            order by logical_date desc, recorded_at desc limit 1)
        order by segment, destination
    """,
}


def load(snapshot: Path) -> dict[str, pd.DataFrame]:
    """Every query's result; an empty frame when a table it needs was not published."""
    frames: dict[str, pd.DataFrame] = {}
    with duckdb.connect() as con:
        for table in sorted(snapshot.glob("*.parquet")):
            con.execute(f"create view \"{table.stem}\" as select * from read_parquet('{table.as_posix()}')")
        for name, sql in QUERIES.items():
            try:
                frames[name] = con.execute(sql).df()
            # No export has run yet, or the table was published before a column existed
            # (a sync log recorded before the delivery figures): the next run fills it.
            except (duckdb.CatalogException, duckdb.BinderException):
                frames[name] = pd.DataFrame()
    return frames
