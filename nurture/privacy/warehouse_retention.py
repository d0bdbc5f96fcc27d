"""Retention periods for the warehouse tables that keep personal data, one setting per
family of tables (``NURTURE_*_RETENTION_DAYS``; unset: kept). ``apply_retention`` runs
it in every daily run, after the exports; the raw zone and the export files have their
own periods (``nurture.privacy.files``).

- events: ``fct_engagement_events`` (a customer's opens, clicks, page views), rows whose
  ``occurred_at`` is older. Profiles look back ``profile_lookback_days`` (365): a shorter
  period shortens them. Set the raw zone's period no longer, or a full refresh brings
  the rows back.
- allocations: ``exports.allocations`` (who was a candidate for what, with their contact),
  rows of older runs, and their mirror on the PostgreSQL or Spark target. Never shorter
  than the frequency cap's window, which counts them.
- audit: ``audit.validation_results`` (failing values may be shown), ``audit.pipeline_steps``,
  ``audit.pipeline_runs``, ``audit.dbt_node_results`` and ``exports.sync_log``, rows of
  older logical dates.

The cut-off is the run's logical date minus the period, so a backfill keeps what a run
on that day would have kept.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from nurture.config import Settings
from nurture.warehouse import owned_tables
from nurture.warehouse.engines import engine_for
from nurture.warehouse.engines.base import delete_before_in_file

log = logging.getLogger(__name__)

# family -> the tables Python owns in it, with the date column the period counts from.
ALLOCATIONS = owned_tables.ALLOCATIONS.relation
OWN_TABLES = {
    "allocations": ((owned_tables.ALLOCATIONS, "run_date"),),
    "audit": (
        (owned_tables.VALIDATION_RESULTS, "logical_date"),
        (owned_tables.PIPELINE_STEPS, "logical_date"),
        (owned_tables.PIPELINE_RUNS, "logical_date"),
        (owned_tables.DBT_NODE_RESULTS, "logical_date"),
        (owned_tables.SYNC_LOG, "logical_date"),
    ),
}


class RetentionSettingError(ValueError):
    """A retention period that cannot be applied as set."""


def retention_periods(settings: Settings) -> dict[str, int]:
    """The families with a period set."""
    periods = {
        "events": settings.events_retention_days,
        "allocations": settings.allocations_retention_days,
        "audit": settings.audit_retention_days,
    }
    return {family: days for family, days in periods.items() if days is not None}


def check_periods(settings: Settings, frequency_cap_days: int) -> None:
    """Refuse periods that would break a rule rather than apply them quietly."""
    periods = retention_periods(settings)
    if periods.get("allocations", frequency_cap_days) < frequency_cap_days:
        raise RetentionSettingError(
            f"NURTURE_ALLOCATIONS_RETENTION_DAYS={periods['allocations']} is shorter than the "
            f"frequency cap's window ({frequency_cap_days} days, destinations.yml), which counts "
            "those rows: set it to at least the window"
        )
    if "events" in periods and not engine_for(settings).row_deletes:
        raise RetentionSettingError(
            "NURTURE_EVENTS_RETENTION_DAYS is not applied on the spark target (its tables take no "
            "row deletes): unset it and shorten NURTURE_RAW_RETENTION_DAYS, then rebuild"
        )


def purge_warehouse_rows(settings: Settings, as_of: date, frequency_cap_days: int) -> dict[str, int]:
    """Delete the rows past each family's period; returns rows deleted per table."""
    check_periods(settings, frequency_cap_days)
    periods = retention_periods(settings)
    deleted: dict[str, int] = {}
    engine = engine_for(settings)
    for family, days in periods.items():
        cutoff = as_of - timedelta(days=days)
        if family == "events":
            from nurture.warehouse.queries import model_relation

            events = model_relation(settings, "fct_engagement_events")
            deleted[events] = engine.delete_before(events, "cast(occurred_at as date)", cutoff)
        for table, column in OWN_TABLES.get(family, ()):
            if table.home == "state":  # the exports' state: the DuckDB file on every target
                n = delete_before_in_file(settings.warehouse_path, table.relation, column, cutoff)
            else:
                n = engine.delete_before(engine.relation(table), column, cutoff)
            deleted[table.relation] = n
        if family == "allocations" and deleted[ALLOCATIONS]:
            from nurture.export.allocation_mirror import MIRROR, drop_purged_runs

            # Not only at the next build: the PostgreSQL or Spark mirror drops those runs now.
            deleted[MIRROR] = drop_purged_runs(settings)
    if deleted:
        log.info("warehouse retention as of %s: %s", as_of, deleted)
    return deleted
