"""The export state's allocations, mirrored into the PostgreSQL or Spark warehouse.

``fct_campaign_uplift`` reads who was a candidate for which segment at each run and how
they were allocated (``exports.allocations``). The export step keeps that in the DuckDB
file; on the PostgreSQL and Spark targets dbt builds elsewhere, so before each build
the allocations are copied there as ``<dbt schema>.export_allocations`` — without
contacts or channels (the uplift needs run, segment, customer and status only).

Only the run dates that differ are copied: a digest of each date's rows on both sides
decides (a re-run replaces a date's allocation; warehouse retention removes old dates,
and so does the mirror). The engine writes it (``Engine.write``: one transaction on
PostgreSQL, the changed partitions on Spark). Erasure reaches the mirror like every table with a
``customer_id`` (``nurture.privacy.erasure``). On DuckDB there is nothing to do.
"""

from __future__ import annotations

import logging
from datetime import date

import duckdb

from nurture.config import Settings
from nurture.export.allocation import ALLOCATIONS
from nurture.warehouse.engines import TableWrite, engine_for
from nurture.warehouse.owned_tables import ALLOCATIONS_MIRROR

log = logging.getLogger(__name__)

MIRROR = ALLOCATIONS_MIRROR.name
SELECT = ", ".join(ALLOCATIONS_MIRROR.columns)


def digest_sql(relation: str, collate: str = "") -> str:
    """Per run date, its rows and an md5 of them in one fixed order (the same text on DuckDB
    and PostgreSQL; ``collate``: PostgreSQL's "C", so text sorts by bytes as in DuckDB)."""
    key = f"coalesce(run_hour, -1), segment{collate}, customer_id, status{collate}"
    row = "concat_ws('|', coalesce(run_hour, -1), segment, customer_id, status)"
    return (
        f"select run_date, count(*), md5(string_agg({row}, ',' order by {key})) "
        f"from {relation} group by run_date"
    )


def mirror_allocations(settings: Settings) -> int:
    """Make the target's mirror equal the export state; returns the rows copied."""
    copied, _ = _sync(settings, copy_changed=True)
    return copied


def drop_purged_runs(settings: Settings) -> int:
    """Drop the mirror's runs the export state no longer holds (warehouse retention, right
    after it deleted them); returns the rows dropped."""
    _, dropped = _sync(settings, copy_changed=False)
    return dropped


def _sync(settings: Settings, copy_changed: bool) -> tuple[int, int]:
    """(rows copied, rows dropped) making the mirror equal the export state."""
    engine = engine_for(settings)
    if engine.marts_in_state_file or not settings.warehouse_path.exists():
        return 0, 0  # dbt reads the export state itself
    mirrored = _by_date(engine.read_owned(ALLOCATIONS_MIRROR, digest_sql) or [])
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        exists = "select 1 from duckdb_tables() where schema_name = 'exports' and table_name = 'allocations'"
        state = _by_date(con.sql(digest_sql(ALLOCATIONS)).fetchall()) if con.sql(exists).fetchall() else {}
        changed = sorted(d for d, digest in state.items() if copy_changed and mirrored.get(d) != digest)
        gone = sorted(set(mirrored) - set(state))
        if not changed and not gone:
            return 0, 0
        dates = ", ".join(f"date '{d}'" for d in changed) or "null"
        rows = con.sql(
            f"select {SELECT} from {ALLOCATIONS} where run_date in ({dates}) "
            "order by run_date, run_hour, segment, customer_id"
        ).to_arrow_table()
    engine.write([TableWrite(ALLOCATIONS_MIRROR, rows, replace_values=(*changed, *gone))])
    copied = sum(state[d][0] for d in changed)
    dropped = sum(mirrored[d][0] for d in gone)
    log.info(
        "allocations mirrored into the %s warehouse: %d run dates copied (%d rows), %d dropped (%d rows)",
        engine.name,
        len(changed),
        copied,
        len(gone),
        dropped,
    )
    return copied, dropped


def _by_date(rows: list[tuple]) -> dict[date, tuple[int, str]]:
    return {day: (count, digest) for day, count, digest in rows}
