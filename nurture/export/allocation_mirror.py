"""The export state's allocations, mirrored into the PostgreSQL or Spark warehouse.

``fct_campaign_uplift`` reads who was a candidate for which segment at each run and how
they were allocated (``exports.allocations``). The export step keeps that in the DuckDB
file; on the PostgreSQL and Spark targets dbt builds elsewhere, so before each build
the allocations are copied there as ``<dbt schema>.export_allocations`` — without
contacts or channels (the uplift needs run, segment, customer and status only).

Only the run dates that differ are copied: a digest of each date's rows on both sides
decides (a re-run replaces a date's allocation; warehouse retention removes old dates,
and so does the mirror). Erasure reaches the mirror like every table with a
``customer_id`` (``nurture.privacy.erasure``). On DuckDB there is nothing to do.
"""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import date
from pathlib import Path

import duckdb

from nurture.config import Settings
from nurture.export.allocation import ALLOCATIONS

log = logging.getLogger(__name__)

MIRROR = "export_allocations"
COLUMNS = {
    "run_date": "date",
    "run_hour": "integer",
    "segment": "varchar",
    "customer_id": "bigint",
    "status": "varchar",
}
SELECT = ", ".join(COLUMNS)


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
    if settings.dbt_target == "duckdb" or not settings.warehouse_path.exists():
        return 0, 0
    target = _Postgres() if settings.dbt_target == "postgres" else _Spark(settings)
    mirrored = target.digests()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        exists = "select 1 from duckdb_tables() where schema_name = 'exports' and table_name = 'allocations'"
        state = _by_date(con.sql(digest_sql(ALLOCATIONS)).fetchall()) if con.sql(exists).fetchall() else {}
    changed = sorted(d for d, digest in state.items() if copy_changed and mirrored.get(d) != digest)
    gone = sorted(set(mirrored) - set(state))
    if not changed and not gone:
        return 0, 0
    with tempfile.TemporaryDirectory(dir=settings.warehouse_path.parent) as work:
        rows = Path(work) / "allocations.parquet"
        dates = ", ".join(f"date '{d}'" for d in changed) or "null"
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            con.execute(
                f"copy (select {SELECT} from {ALLOCATIONS} where run_date in ({dates}) "
                f"order by run_date, run_hour, segment, customer_id) to '{rows}' (format parquet)"
            )
        target.replace(rows, changed, gone)
    copied = sum(state[d][0] for d in changed)
    dropped = sum(mirrored[d][0] for d in gone)
    log.info(
        "allocations mirrored into the %s warehouse: %d run dates copied (%d rows), %d dropped (%d rows)",
        settings.dbt_target,
        len(changed),
        copied,
        len(gone),
        dropped,
    )
    return copied, dropped


def _by_date(rows: list[tuple]) -> dict[date, tuple[int, str]]:
    return {day: (count, digest) for day, count, digest in rows}


class _Postgres:
    """``<NURTURE_PG_SCHEMA>.export_allocations``; each change in one transaction."""

    def __init__(self) -> None:
        self.table = f'"{os.environ.get("NURTURE_PG_SCHEMA", "nurture")}".{MIRROR}'

    def digests(self) -> dict[date, tuple[int, str]]:
        from nurture.warehouse.queries import postgres_connection

        with postgres_connection() as conn, conn.cursor() as cur:
            cur.execute("select to_regclass(%s) is not null", [self.table])
            if not cur.fetchone()[0]:
                return {}
            cur.execute(digest_sql(self.table, ' collate "C"'))
            return _by_date(cur.fetchall())

    def replace(self, rows: Path, changed: list[date], gone: list[date]) -> None:
        from nurture.warehouse.queries import postgres_connection

        ddl = ", ".join(f"{name} {kind.replace('varchar', 'text')}" for name, kind in COLUMNS.items())
        csv = rows.with_suffix(".csv")  # an empty field is NULL to COPY ... csv
        with duckdb.connect() as con:
            con.execute(f"copy (select {SELECT} from '{rows}') to '{csv}' (header false)")
        with postgres_connection() as conn, conn.cursor() as cur, csv.open() as lines:
            cur.execute(f"create schema if not exists {self.table.split('.')[0]}")
            cur.execute(f"create table if not exists {self.table} ({ddl})")
            cur.execute(f"delete from {self.table} where run_date = any(%s)", [[*changed, *gone]])
            cur.copy_expert(f"copy {self.table} ({SELECT}) from stdin with (format csv)", lines)


class _Spark:
    """``<schema>.export_allocations``, a Parquet table partitioned by run date, written
    through the Spark session dbt uses (changed dates overwritten, gone dates dropped)."""

    def __init__(self, settings: Settings) -> None:
        from nurture.warehouse import spark

        self.settings = settings
        self.schema = spark.target(settings)["schema"]
        self.folder = spark.warehouse_dir(settings) / f"{self.schema}.db" / MIRROR

    def digests(self) -> dict[date, tuple[int, str]]:
        if not any(self.folder.rglob("*.parquet")):
            return {}
        relation = f"read_parquet('{self.folder}/**/*.parquet', hive_partitioning = true)"
        with duckdb.connect() as con:
            return _by_date(con.sql(digest_sql(relation)).fetchall())

    def replace(self, rows: Path, changed: list[date], gone: list[date]) -> None:
        from nurture.warehouse import spark

        session = spark.session(self.settings)
        name = f"{self.schema}.{MIRROR}"
        session.sql(f"create schema if not exists {self.schema}")
        # Partition column last, as Spark stores it.
        ordered = [c for c in COLUMNS if c != "run_date"] + ["run_date"]
        spark_types = {"varchar": "string", "integer": "int"}
        frame = session.read.parquet(str(rows)).selectExpr(
            *(f"cast({c} as {spark_types.get(COLUMNS[c], COLUMNS[c])}) as {c}" for c in ordered)
        )
        if not session.catalog.tableExists(name):
            frame.write.format("parquet").partitionBy("run_date").saveAsTable(name)
        elif changed:
            session.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
            frame.write.insertInto(name, overwrite=True)
        for day in gone:
            session.sql(f"alter table {name} drop if exists partition (run_date = '{day}')")
