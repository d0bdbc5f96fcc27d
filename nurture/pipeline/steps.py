"""The steps of one data interval: what the DAG tasks and the CLI call.

Each step reads and writes its own partition or files, so it can run twice with the
same result. Dates: a run covers the data interval [start, end); ``run_date`` is the
day it starts, the as-of date of the warehouse. ``run_day`` runs them all in the DAG's
order (the CLI's ``nurture run``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from nurture.config import Settings
from nurture.export.erasure_outbox import Delivery
from nurture.export.slot import RunSlot
from nurture.extract.event_logs import extract_event_logs
from nurture.extract.limits import Limits
from nurture.extract.shop_tables import extract_shop_tables
from nurture.warehouse.transform import DbtBuildError, NodeResult, dbt_build

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


class NothingAcceptedError(RuntimeError):
    """An extract read rows and quarantined every one of them: not a success."""


def check_something_accepted(
    settings: Settings, counts: dict[str, dict[str, int]], start: datetime, end: datetime
) -> None:
    """Raise when a dataset's rows were all quarantined, naming its most common reason:
    typically a setting (the shop-opened date, a status) rather than bad data."""
    import duckdb

    from nurture.extract.raw_zone import QUARANTINE, days_in_interval, partition_dir

    lost = [name for name, c in counts.items() if c["read"] and not c["accepted"]]
    if not lost:
        return
    files = [
        str(path)
        for name in lost
        for day in days_in_interval(start, end)
        if (path := partition_dir(settings.raw_dir / QUARANTINE, name, day) / "part-0.parquet").exists()
    ]
    reason = ""
    if files:
        with duckdb.connect() as con:
            field_, rule, n = con.execute(
                f"select field, rule, count(*) from read_parquet({files}, hive_partitioning = false) "
                "group by 1, 2 order by 3 desc, 1, 2 limit 1"
            ).fetchone()
        reason = f"; most often {field_} {rule} ({n:,} rows)"
        if rule == "before_shop_opened":
            reason += f": set NURTURE_SHOP_OPENED_ON (now {settings.shop_opened_on}) to the shop's first day"
        if rule == "unknown_currency":
            reason += (
                f": add fx_rates for it, or set NURTURE_REPORTING_CURRENCY"
                f" (now {settings.reporting_currency})"
            )
    rows = sum(counts[name]["read"] for name in lost)
    raise NothingAcceptedError(
        f"every row read from {', '.join(lost)} for [{start:%Y-%m-%d}, {end:%Y-%m-%d}) was quarantined "
        f"({rows:,} rows){reason}; the reasons: {settings.raw_dir / QUARANTINE}"
    )


def extract_events(settings: Settings, start: datetime, end: datetime) -> dict[str, int]:
    log_dir = None if settings.event_source == "none" else settings.log_dir  # an orders-only shop
    days = extract_event_logs(log_dir, settings.raw_dir, start, end, Limits.from_settings(settings))
    totals = _totals(days)
    log.info("extracted events for [%s, %s): %s", start, end, totals)
    return totals


def load_warehouse(settings: Settings, start: datetime, end: datetime) -> dict[str, int]:
    """On the PostgreSQL target, load the interval's raw partitions into schema ``raw``
    (DuckDB reads the raw zone in place: nothing to do)."""
    from nurture.warehouse.engines import engine_for

    engine = engine_for(settings)
    counts = engine.load_raw(start, end)
    if counts:
        log.info("loaded raw rows into %s for [%s, %s): %s", engine.name, start, end, counts)
    return counts


def dbt_vars(settings: Settings) -> dict:
    """The dbt vars the pipeline adds to ``transform.project_vars``, which settings below
    the export layer cannot know: detectable uplift is sized for the holdout share the
    exports apply. Every dbt call of a run passes the same vars (so dbt reuses its parse)."""
    from nurture.export.config import load_export_config

    return {"uplift_holdout_share": load_export_config(settings).guards.holdout_share}


def transform(settings: Settings, run_date: date, run_id: str | None = None, **build) -> list[NodeResult]:
    """``dbt build`` as of ``run_date``; with a ``run_id``, every node's outcome (failures
    included) goes to ``audit.dbt_node_results``. ``build``: see ``transform.dbt_build``
    (the hourly refresh's selection and deferral). On PostgreSQL and Spark the export
    state's allocations are mirrored there first (campaign uplift reads them)."""
    from nurture.bi.run_record import record_dbt_results
    from nurture.export.allocation_mirror import mirror_allocations

    mirror_allocations(settings)
    build["extra_vars"] = dbt_vars(settings) | build.get("extra_vars", {})
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
    from nurture.bi.run_record import record_run as record

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
    settings: Settings,
    target: dict,
    run: date | RunSlot,
    run_id: str,
    data_interval_end: datetime,
    max_retries: int | None = None,
) -> dict:
    """Publish one staged segment to one destination; returns its sync-log entry.
    ``run``: the daily run's date, or the hourly refresh's slot."""
    from nurture.export.config import load_export_config
    from nurture.export.publish import publish_target

    config = load_export_config(settings)
    return publish_target(
        settings.exports_dir, config, target["segment"], target["destination"], run, run_id,
        data_interval_end, max_retries=max_retries,
    )  # fmt: skip


def record_exports(settings: Settings, run: date | RunSlot, run_id: str) -> dict[str, int]:
    """Load the run's sync-log entries into ``exports.sync_log``; counts by status."""
    from collections import Counter

    from nurture.export.sync_log import record_sync_log

    return dict(Counter(e["status"] for e in record_sync_log(settings, run, run_id)))


class DestinationsFailedError(RuntimeError):
    """Some destinations failed (a push or a platform delete); every other one published."""


@dataclass
class ExportOutcome:
    """What the CLI's export did: entries of the targets that went out, and one sentence
    per problem. A failed destination never stops the others."""

    entries: list[dict] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "segment -> destination: why"
    no_connection: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    erasures: Delivery | None = None

    def warnings(self) -> list[str]:
        """Targets skipped for want of a connection, one sentence per destination."""
        return [
            f"Segments {', '.join(sorted(segments))} were not sent to {destination!r}: it needs the "
            f"Airflow connection {conn_id!r} (or the environment variable {variable})."
            for (destination, conn_id, variable), segments in sorted(self.no_connection.items())
        ]

    def error(self) -> DestinationsFailedError | None:
        problems = [*self.failed]
        if self.erasures and self.erasures.failed:
            problems.append(self.erasures.sentence())
        if not problems:
            return None
        return DestinationsFailedError(
            f"{len(problems)} destination problem(s), everything else was published: "
            + " | ".join(problems)
            + " Fix the destination, then run again: sent batches are not sent twice."
        )


def deliver_erasures(settings: Settings) -> Delivery:
    """Try every platform delete in the erasure outbox; each destination on its own."""
    from nurture.export.erasure_outbox import deliver

    return deliver(settings)


def export(settings: Settings, run_date: date, run_id: str, data_interval_end: datetime) -> ExportOutcome:
    """Stage, publish every target, deliver pending platform deletes and record the sync
    log (the CLI's one-step export). Raises only when staging fails (a quality gate)."""
    from nurture.connections import MissingConnectionError

    outcome = ExportOutcome()
    failing: set[str] = set()  # destinations that failed after their retries in this run
    for target in stage_exports(settings, run_date, run_id):
        # A platform that just failed is tried once per later segment, not with backoff again:
        # a platform down costs the run seconds, not minutes per segment.
        retries = 0 if target["destination"] in failing else None
        try:
            outcome.entries.append(publish(settings, target, run_date, run_id, data_interval_end, retries))
        except MissingConnectionError as error:
            key = (target["destination"], error.conn_id, error.variable)
            outcome.no_connection.setdefault(key, []).append(target["segment"])
        except Exception as error:
            # The traceback goes to the log (``-v``); the CLI prints one sentence.
            log.info("export of %s to %s failed", target["segment"], target["destination"], exc_info=True)
            why = str(error).splitlines()[0] if str(error) else type(error).__name__
            failing.add(target["destination"])
            outcome.failed.append(f"{target['segment']} -> {target['destination']}: {why}")
    outcome.erasures = deliver_erasures(settings)
    record_exports(settings, run_date, run_id)
    return outcome


def publish_bi(settings: Settings, run_date: date) -> dict[str, int]:
    """Publish the BI tables as a new Parquet snapshot (``nurture.bi.snapshot``); rows per table."""
    from nurture.bi import snapshot as bi

    return bi.publish(settings, run_date)


def report(settings: Settings, run_date: date) -> str:
    """Write the retention report from the current BI snapshot; returns its path."""
    from nurture.report import build_report

    return str(build_report(settings, run_date))


def apply_erasures(settings: Settings) -> dict[str, int]:
    """Apply every erasure request to every local layer: the raw zone (re-extracted rows
    included), the warehouse, the exports and the BI snapshots; runs after extract,
    before anything reads the day. Platforms are the outbox's (``deliver_erasures``)."""
    from nurture.privacy.erasure import apply_erasures as apply

    return apply(settings)


def apply_retention(settings: Settings, run_date: date) -> int:
    """Delete raw, quarantine and export files, and warehouse rows with personal data, past
    their retention periods (none when unset); returns files and rows removed."""
    from nurture.export.config import load_export_config
    from nurture.privacy.files import purge_expired, purge_exports
    from nurture.privacy.warehouse_retention import purge_warehouse_rows

    removed = 0
    if settings.raw_retention_days is not None:
        removed += len(purge_expired(settings.raw_dir, settings.raw_retention_days, run_date))
    if settings.export_retention_days is not None:
        removed += len(purge_exports(settings.exports_dir, settings.export_retention_days, run_date))
    cap_days = load_export_config(settings).guards.window_days
    removed += sum(purge_warehouse_rows(settings, run_date, cap_days).values())
    return removed


def run_day(
    settings: Settings, shop_db_url: str, start: datetime, end: datetime, run_id: str
) -> ExportOutcome:
    """Every step of one data interval in the DAG's order, in this process (the CLI's
    ``nurture run``). Gives the same results as the DAG: a failing destination fails
    only its own targets, never the BI snapshot or the report (see ``ExportOutcome``)."""
    run_date = start.date()
    extract_shop(settings, shop_db_url, start, end)
    extract_events(settings, start, end)
    apply_erasures(settings)
    validate_raw(settings, start, end, run_id)
    load_warehouse(settings, start, end)
    transform(settings, run_date, run_id)
    predict(settings, run_date)
    validate_marts(settings, run_date, run_id)
    outcome = export(settings, run_date, run_id, end)
    publish_bi(settings, run_date)
    report(settings, run_date)
    apply_retention(settings, run_date)
    return outcome
