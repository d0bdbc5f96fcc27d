"""Publish the BI tables after each run: a Parquet snapshot BI tools and the report read
without ever touching the warehouse file (DuckDB locks it against other processes).

    $NURTURE_HOME/bi/
        snapshots/<run date>_<id>/<table>.parquet   one folder per publish
        current -> snapshots/...                    symlink, swapped atomically
        nurture_bi.duckdb                           views over current/, read-only use

The tables are the models of the dbt exposures BI tools read (type dashboard or
analysis: ``bi_tables``, ``retention_report``) plus operational tables the report
shows: the sync log, the data-quality results, the run record, and the export
audiences as counts (segment sizes per run, overlaps at the latest run; no contacts).
A reader that opened the old snapshot finishes on it: the previous one is kept.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from nurture.config import Settings
from nurture.warehouse.engines import engine_for
from nurture.warehouse.queries import node_relation, read_marts
from nurture.warehouse.transform import manifest_path

BI_EXPOSURE_TYPES = ("dashboard", "analysis")
CATALOGUE = "nurture_bi.duckdb"

# Tables the pipeline writes outside dbt, as the report and BI tools read them:
# name -> (the warehouse table it needs, the query).
OPERATIONAL = {
    "exports__sync_log": ("exports.sync_log", "select * from exports.sync_log"),
    "audit__validation_results": ("audit.validation_results", "select * from audit.validation_results"),
    "audit__pipeline_runs": ("audit.pipeline_runs", "select * from audit.pipeline_runs"),
    "exports__segment_sizes": (
        "exports.allocations",
        """
        select run_date, run_hour, segment, channel, status, count(*) as customers
        from exports.allocations
        group by all
        order by run_date, run_hour nulls last, segment, status
    """,
    ),
    # Customers in two segments at once, at the latest daily run (a segment with itself:
    # its size). Counts only.
    "exports__segment_overlap": (
        "exports.allocations",
        """
        with members as (
            select distinct segment, customer_id from exports.allocations
            where status = 'included' and run_hour is null
                and run_date = (select max(run_date) from exports.allocations where run_hour is null)
        )
        select
            (select max(run_date) from exports.allocations where run_hour is null) as run_date,
            a.segment as segment_a, b.segment as segment_b, count(*) as customers
        from members as a
        join members as b using (customer_id)
        group by all
        order by segment_a, segment_b
    """,
    ),
}


def bi_dir(settings: Settings) -> Path:
    return settings.home / "bi"


def current_dir(settings: Settings) -> Path:
    return bi_dir(settings) / "current"


def bi_models(manifest: Path) -> dict[str, str]:
    """Table name -> quoted relation, for every model an exposure of a BI type depends on."""
    if not manifest.exists():
        raise FileNotFoundError(f"dbt manifest not found at {manifest}: run the dbt build first")
    content = json.loads(manifest.read_text())
    ids = {
        node
        for exposure in content["exposures"].values()
        if exposure["type"] in BI_EXPOSURE_TYPES
        for node in exposure["depends_on"]["nodes"]
    }
    nodes = [content["nodes"][node_id] for node_id in sorted(ids)]
    return {node["name"]: node_relation(node) for node in nodes}


def publish(settings: Settings, run_date: date) -> dict[str, int]:
    """Write a new snapshot from the warehouse, swap ``current`` to it; rows per table."""
    root = bi_dir(settings)
    snapshots = root / "snapshots"
    snapshots.mkdir(parents=True, exist_ok=True)
    snapshot = snapshots / f"{run_date.isoformat()}_{uuid.uuid4().hex[:8]}"
    work = snapshots / f".{snapshot.name}.tmp"
    work.mkdir()
    models = bi_models(manifest_path(settings))
    if not engine_for(settings).marts_in_state_file:
        _copy_marts(settings, models, work)
        models = {}
    if settings.warehouse_path.exists():  # the exports' tables live in the DuckDB file
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            present = {
                f"{schema}.{name}"
                for schema, name in con.execute(
                    "select table_schema, table_name from information_schema.tables"
                ).fetchall()
            }
            queries = {name: f"select * from {relation}" for name, relation in models.items()}
            queries |= {name: sql for name, (needs, sql) in OPERATIONAL.items() if needs in present}
            for name, sql in queries.items():
                con.execute(f"copy ({sql}) to '{work / f'{name}.parquet'}' (format parquet)")
    rows = {path.stem: pq.read_metadata(path).num_rows for path in sorted(work.glob("*.parquet"))}
    os.rename(work, snapshot)
    _point_current(root, snapshot)
    _write_catalogue(root, sorted(rows))
    _prune(snapshots, keep={snapshot.name, *_previous(root)})
    return rows


def _copy_marts(settings: Settings, models: dict[str, str], folder: Path) -> None:
    """The marts of the PostgreSQL or Spark target, through ``read_marts``, as Parquet."""
    for name, relation in models.items():
        pq.write_table(read_marts(settings, f"select * from {relation}"), folder / f"{name}.parquet")


def _point_current(root: Path, snapshot: Path) -> None:
    """Repoint ``current`` with one rename: a reader sees the old snapshot or the new one."""
    previous = root / "current"
    if previous.is_symlink():
        (root / ".previous").unlink(missing_ok=True)
        (root / ".previous").symlink_to(os.readlink(previous))
    link = root / f".current.{uuid.uuid4().hex}"
    link.symlink_to(snapshot.relative_to(root))
    os.replace(link, previous)


def _previous(root: Path) -> list[str]:
    marker = root / ".previous"
    return [Path(os.readlink(marker)).name] if marker.is_symlink() else []


def _prune(snapshots: Path, keep: set[str]) -> None:
    for folder in snapshots.iterdir():
        if folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)


def _write_catalogue(root: Path, tables: list[str]) -> None:
    """A DuckDB file of views over ``current/``: what a BI tool opens (read-only)."""
    tmp = root / f".{CATALOGUE}.{uuid.uuid4().hex}.tmp"
    with duckdb.connect(str(tmp)) as con:
        for name in tables:
            path = (root / "current" / f"{name}.parquet").as_posix()
            con.execute(f"create view \"{name}\" as select * from read_parquet('{path}')")
    os.replace(tmp, root / CATALOGUE)
