"""The pipeline's three quality gates: raw data after extract, marts after dbt,
each segment before it is published.

Each gate builds its batches in DuckDB, validates them with the suites in
``expectations/``, records every result in the warehouse (``audit.validation_results``)
and in the Data Docs, then raises :class:`QualityGateError` if a blocking
expectation failed, so the DAG stops before anything is exported.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from nurture.config import Settings
from nurture.extract.raw_zone import AUDIT, days_in_interval, partition_dir, utc_naive
from nurture.quality.gate import SuiteOutcome, build_data_docs, enforce, validate
from nurture.warehouse.queries import model_relation, read_sql, record_results

log = logging.getLogger(__name__)

RAW_DATASETS = (
    "customers",
    "fx_rates",
    "marketing_spend",
    "products",
    "orders",
    "order_items",
    "carts",
    "events",
)
MART_MODELS = ("dim_customers", "fct_orders", "dim_customer_audience")
MAX_AUDIENCE_SHARE = 0.5  # a segment holding over half the customers earns a warning


def _parameters(settings: Settings) -> dict:
    return {
        "max_quarantine_share": settings.max_quarantine_share,
        "freshness_hours": settings.freshness_hours,
        "max_amount": settings.max_amount,
        "max_audience_share": MAX_AUDIENCE_SHARE,
    }


def _files(raw_dir: Path, dataset: str, days: list[date]) -> list[str]:
    paths = [partition_dir(raw_dir, dataset, day) / "part-0.parquet" for day in days]
    return [str(p) for p in paths if p.exists()]


def _read(files: list[str], sql: str = "select * from rows") -> pd.DataFrame:
    with duckdb.connect() as con:
        con.execute(f"create view rows as select * from read_parquet({files})")
        return con.sql(sql).df()


def raw_batches(settings: Settings, start: datetime, end: datetime) -> list[tuple[str, str, pd.DataFrame]]:
    """(suite, batch, frame) for the audit, the freshness and each raw dataset of [start, end)."""
    days = list(days_in_interval(start, end))
    span = days[0].isoformat() if len(days) == 1 else f"{days[0]}..{days[-1]}"
    raw = settings.raw_dir
    batches = []
    audit_files = [f for d in RAW_DATASETS for f in _files(raw / AUDIT, d, days)]
    if audit_files:
        audit = _read(
            audit_files,
            "select *, rows_read - rows_accepted - rows_quarantined as unaccounted_rows, "
            "coalesce(rows_quarantined / nullif(rows_read, 0), 0) as quarantine_share "
            "from rows order by dataset, day",
        )
        audit["over_error_budget"] = (audit.quarantine_share > settings.max_quarantine_share) & (
            audit.rows_quarantined > settings.quarantine_free_rows
        )
        batches.append(("raw_extract_audit", span, audit))
    end = utc_naive(end)
    sources = {"raw_orders_freshness": ("orders", "updated_at"), "raw_freshness": ("events", "occurred_at")}
    if settings.event_source == "none":
        log.info("events freshness not checked: the shop has no event source (NURTURE_EVENT_SOURCE=none)")
        del sources["raw_freshness"]
    for suite, (dataset, column) in sources.items():
        freshness = []
        for day in days:
            day_end = min(end, datetime.combine(day + timedelta(days=1), datetime.min.time()))
            files = _files(raw, dataset, [day])
            newest = _read(files, f"select max({column}) as newest from rows").newest[0] if files else None
            hours = None if pd.isna(newest) else (day_end - newest.to_pydatetime()).total_seconds() / 3600
            freshness.append({"day": day, f"{dataset}_staleness_hours": hours})
        batches.append((suite, span, pd.DataFrame(freshness)))
    for dataset in RAW_DATASETS:
        if dataset == "events" and settings.event_source == "none":
            continue  # no event source: its empty partitions are not a finding every day
        files = _files(raw, dataset, days)
        if files:
            batches.append((f"raw_{dataset}", f"{dataset} {span}", _read(files)))
    return batches


def _gate(settings: Settings, batches, run_id: str, logical_date: date) -> list[SuiteOutcome]:
    """Validate every batch, record all results, then stop on a blocking failure."""
    outcomes = [
        validate(settings, suite, batch, frame, run_id, _parameters(settings))
        for suite, batch, frame in batches
    ]
    build_data_docs(settings)
    now = datetime.now(UTC).replace(tzinfo=None)
    record_results(
        settings,
        [r.__dict__ | {"run_id": run_id, "logical_date": logical_date, "validated_at": now}
         for o in outcomes for r in o.results],
    )  # fmt: skip
    failed = sum(len(o.blocking_failures) for o in outcomes)
    warned = sum(len(o.warnings) for o in outcomes)
    log.info("validated %d batches: %d blocking failures, %d warnings", len(outcomes), failed, warned)
    enforce(outcomes)
    return outcomes


def check_raw(settings: Settings, start: datetime, end: datetime, run_id: str) -> list[SuiteOutcome]:
    """Raw suites after extract: the error budget, freshness and each dataset's rules."""
    return _gate(settings, raw_batches(settings, start, end), run_id, utc_naive(start).date())


def check_marts(settings: Settings, run_date: date, run_id: str) -> list[SuiteOutcome]:
    """Mart suites after dbt."""
    batches = [
        (
            f"mart_{model}",
            f"{model} {run_date}",
            read_sql(settings, f"select * from {model_relation(settings, model)}"),
        )
        for model in MART_MODELS
    ]
    return _gate(settings, batches, run_id, run_date)


def check_export_frames(
    settings: Settings, frames: dict[str, pd.DataFrame], run_date: date, run_id: str
) -> list[SuiteOutcome]:
    """The export suite on each segment's rows as they will be published (see ``export.stage``)."""
    batches = [("export_segment", f"{model} {run_date}", frame) for model, frame in sorted(frames.items())]
    return _gate(settings, batches, run_id, run_date)
