"""The pipeline's steps for one data interval: what the DAG tasks and the CLI call.

Each step reads and writes its own partition or files, so it can run twice
with the same result. Dates: a run covers the data interval [start, end);
``run_date`` is the day it starts, the as-of date of the warehouse.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from nurture.config import Settings
from nurture.export.files import ExportResult, export_all
from nurture.export.segments import discover_segments
from nurture.extract.event_logs import extract_event_logs
from nurture.extract.limits import Limits
from nurture.extract.shop_tables import extract_shop_tables
from nurture.transform import NodeResult, dbt_build, manifest_path

log = logging.getLogger(__name__)


def _totals(days) -> dict[str, int]:
    return {
        "read": sum(d.read for d in days),
        "accepted": sum(d.accepted for d in days),
        "quarantined": sum(d.quarantined for d in days),
    }


def extract_shop(
    settings: Settings, shop_db_url: str, start: datetime, end: datetime
) -> dict[str, dict[str, int]]:
    """Extract the shop tables; returns {table: {read, accepted, quarantined}}."""
    limits = Limits.from_settings(settings)
    days = extract_shop_tables(shop_db_url, settings.raw_dir, start, end, limits=limits)
    tables = dict.fromkeys(d.table for d in days)
    counts = {table: _totals([d for d in days if d.table == table]) for table in tables}
    for table, c in counts.items():
        log.info("extracted %s for [%s, %s): %s", table, start, end, c)
    return counts


def extract_events(settings: Settings, start: datetime, end: datetime) -> dict[str, int]:
    days = extract_event_logs(settings.log_dir, settings.raw_dir, start, end, Limits.from_settings(settings))
    totals = _totals(days)
    log.info("extracted events for [%s, %s): %s", start, end, totals)
    return totals


def load_warehouse(settings: Settings, start: datetime, end: datetime) -> dict[str, int]:
    """On the PostgreSQL target, load the interval's raw partitions into schema ``raw``
    (DuckDB reads the raw zone in place: nothing to do)."""
    if settings.dbt_target != "postgres":
        return {}
    from nurture.load_postgres import load_raw_to_postgres

    counts = load_raw_to_postgres(settings.raw_dir, start_day=start, end_day=end)
    log.info("loaded raw rows into PostgreSQL for [%s, %s): %s", start, end, counts)
    return counts


def transform(settings: Settings, run_date: date) -> list[NodeResult]:
    return dbt_build(settings, run_date)


def predict(settings: Settings, run_date: date) -> int:
    """Fit BG/NBD + Gamma-Gamma and write the predicted-value tables (after dbt)."""
    from nurture.predict.step import predict_customer_value  # scipy: only when predicting

    return predict_customer_value(settings, run_date)


def validate_raw(settings: Settings, start: datetime, end: datetime, run_id: str) -> dict[str, int]:
    """Raw suites after extract; raises QualityGateError on a blocking failure."""
    from nurture.quality.checks import check_raw

    return _quality_counts(check_raw(settings, start, end, run_id))


def validate_marts(settings: Settings, run_date: date, run_id: str) -> dict[str, int]:
    """Mart suites after dbt; raises QualityGateError on a blocking failure."""
    from nurture.quality.checks import check_marts

    return _quality_counts(check_marts(settings, run_date, run_id))


def _quality_counts(outcomes) -> dict[str, int]:
    return {
        "expectations": sum(len(o.results) for o in outcomes),
        "warnings": sum(len(o.warnings) for o in outcomes),
    }


def export(
    settings: Settings, run_date: date, run_id: str, data_interval_end: datetime
) -> list[ExportResult]:
    """Validate every segment with the export suite, then publish them all (or none)."""
    from nurture.quality.checks import check_exports

    segments = discover_segments(manifest_path(settings))
    check_exports(settings, segments, run_date, run_id)
    results = export_all(
        settings.warehouse_path, segments, settings.exports_dir, run_date, run_id, data_interval_end
    )
    for r in results:
        log.info("exported %s: %d rows -> %s", r.segment, r.rows, r.data_file)
    return results


def apply_retention(settings: Settings, run_date: date) -> int:
    """Delete raw and quarantine partitions past the retention period (none when unset)."""
    if settings.raw_retention_days is None:
        return 0
    from nurture.privacy import purge_expired

    return len(purge_expired(settings.raw_dir, settings.raw_retention_days, run_date))
