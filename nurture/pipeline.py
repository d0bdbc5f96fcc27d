"""The pipeline's steps for one data interval: what the DAG tasks and the CLI call.

Each step reads and writes its own partition or files, so it can run twice
with the same result. Dates: a run covers the data interval [start, end);
``run_date`` is the day it starts, the as-of date of the warehouse.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from nurture.config import Settings
from nurture.export.slot import RunSlot
from nurture.extract.event_logs import extract_event_logs
from nurture.extract.limits import Limits
from nurture.extract.shop_tables import extract_shop_tables
from nurture.transform import DbtBuildError, NodeResult, dbt_build

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


def transform(settings: Settings, run_date: date, run_id: str | None = None, **build) -> list[NodeResult]:
    """``dbt build`` as of ``run_date``; with a ``run_id``, every node's outcome (failures
    included) goes to ``audit.dbt_node_results``. ``build``: see ``transform.dbt_build``
    (the hourly refresh's selection and deferral)."""
    from nurture.run_log import record_dbt_results

    try:
        results = dbt_build(settings, run_date, **build)
    except DbtBuildError as error:
        if run_id:
            record_dbt_results(settings, run_id, run_date, error.results)
        raise
    if run_id:
        record_dbt_results(settings, run_id, run_date, results)
    return results


def record_run(settings: Settings, run_date: date, run_id: str) -> dict:
    """The run's record (steps, rows per layer, check and sync summaries) into ``audit``."""
    from nurture.run_log import record_run as record

    return record(settings, run_date, run_id)


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


def stage_exports(settings: Settings, run_date: date, run_id: str) -> list[dict]:
    """Allocate (consent, holdout, dedup, frequency cap), guard, check and stage every segment.

    Returns the segment x destination targets; raises QualityGateError on a blocking failure.
    """
    from nurture.export.config import load_export_config
    from nurture.export.stage import stage_exports as stage

    plan = stage(settings, load_export_config(settings), run_date, run_id)
    log.info("staged %d export targets; held back: %s", len(plan.targets), plan.held_back or "none")
    return plan.targets


def publish(
    settings: Settings, target: dict, run: date | RunSlot, run_id: str, data_interval_end: datetime
) -> dict:
    """Publish one staged segment to one destination; returns its sync-log entry.
    ``run``: the daily run's date, or the hourly refresh's slot."""
    from nurture.export.config import load_export_config
    from nurture.export.publish import publish_target

    config = load_export_config(settings)
    return publish_target(
        settings.exports_dir, config, target["segment"], target["destination"], run, run_id,
        data_interval_end,
    )  # fmt: skip


def record_exports(settings: Settings, run: date | RunSlot, run_id: str) -> dict[str, int]:
    """Load the run's sync-log entries into ``exports.sync_log``; counts by status."""
    from collections import Counter

    from nurture.export.sync_log import record_sync_log

    return dict(Counter(e["status"] for e in record_sync_log(settings, run, run_id)))


def export(settings: Settings, run_date: date, run_id: str, data_interval_end: datetime) -> list[dict]:
    """Stage, publish every target and record the sync log (the CLI's one-step export).

    A failing destination does not stop the others; the error is raised at the end.
    """
    failures = []
    entries = []
    for target in stage_exports(settings, run_date, run_id):
        try:
            entries.append(publish(settings, target, run_date, run_id, data_interval_end))
        except Exception as error:
            log.exception("export of %s to %s failed", target["segment"], target["destination"])
            failures.append(f"{target['segment']} -> {target['destination']}: {error}")
    record_exports(settings, run_date, run_id)
    if failures:
        raise RuntimeError("exports failed:\n  " + "\n  ".join(failures))
    return entries


def publish_bi(settings: Settings, run_date: date) -> dict[str, int]:
    """Publish the BI tables as a new Parquet snapshot (``nurture.bi``); rows per table."""
    from nurture import bi

    return bi.publish(settings, run_date)


def report(settings: Settings, run_date: date) -> str:
    """Write the retention report from the current BI snapshot; returns its path."""
    from nurture.report import build_report

    return str(build_report(settings, run_date))


def apply_erasures(settings: Settings) -> dict[str, int]:
    """Apply every erasure request to the raw zone (re-extracted rows included), the
    warehouse and the exports; runs after extract, before anything reads the day."""
    from nurture.erasure import apply_erasures as apply

    return apply(settings)


def apply_retention(settings: Settings, run_date: date) -> int:
    """Delete raw, quarantine and export files past their retention periods (none when unset)."""
    from nurture.privacy import purge_expired, purge_exports

    removed = 0
    if settings.raw_retention_days is not None:
        removed += len(purge_expired(settings.raw_dir, settings.raw_retention_days, run_date))
    if settings.export_retention_days is not None:
        removed += len(purge_exports(settings.exports_dir, settings.export_retention_days, run_date))
    return removed


def run_day(settings: Settings, shop_db_url: str, start: datetime, end: datetime, run_id: str) -> list[dict]:
    """Every step of one data interval in the DAG's order, in this process (the CLI's
    ``nurture run``); returns the sync-log entries. Gives the same results as the DAG."""
    run_date = start.date()
    extract_shop(settings, shop_db_url, start, end)
    extract_events(settings, start, end)
    apply_erasures(settings)
    validate_raw(settings, start, end, run_id)
    load_warehouse(settings, start, end)
    transform(settings, run_date, run_id)
    predict(settings, run_date)
    validate_marts(settings, run_date, run_id)
    entries = export(settings, run_date, run_id, end)
    publish_bi(settings, run_date)
    report(settings, run_date)
    apply_retention(settings, run_date)
    return entries
