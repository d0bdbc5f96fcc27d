"""Erasure requests ("right to be forgotten"): every local copy at once, platforms by outbox.

A request is kept only as a keyed hash of the customer id in the warehouse table
``privacy.erasure_requests``: the suppression list. ``forget`` records it, queues
the platforms' user deletes (``nurture.export.erasure_outbox``) and then erases every local
layer before it returns:

- every warehouse table with a ``customer_id`` (the DuckDB file, and the PostgreSQL
  or Spark warehouse on those targets): rows deleted now, so nobody has to wait for
  a build; the next build, from the erased raw zone, stays consistent;
- the raw zone and its quarantine (``nurture.privacy.files.erase_hashes``);
- the staged export rows, each destination's member snapshots, and the local
  export copies (files and hashed ad audiences), rewritten with fresh manifests;
- the BI snapshots (the HTML reports hold aggregates only).

Every run applies the list again after extract, so data re-extracted from the
shop never brings a person back, and the allocation step never includes a listed
customer. No platform is called here: a platform that is down or not configured
can neither stop the local erasure nor leave a local copy behind.

The hash is SHA-256 of ``NURTURE_ERASURE_PEPPER:customer_id``; set the pepper (a
secret, from the environment) so the list cannot be reversed by trying every id.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from nurture.atomic import new_work_folder, replace_file, swap_folder
from nurture.bi.snapshot import bi_dir
from nurture.config import Settings
from nurture.export import erasure_outbox
from nurture.export.erasure_outbox import Delivery
from nurture.export.suppression import REQUESTS, customer_hash, ensure_requests, hash_sql, pepper
from nurture.privacy.files import erase_hashes, files_failing
from nurture.warehouse.engines import ErasureSweep, engine_for

log = logging.getLogger(__name__)
# Warehouse tables dbt does not rebuild from the raw zone on every build.
KEPT_TABLES = ("fct_engagement_events", "pred_customer_value", "exports.allocations")
# The incremental stage history keeps its days from build to build, and an erased repeat
# buyer counted in the shop-wide median gap of every day from their first gap on: those
# days go, and the next build rebuilds them (docs block incremental_stage_history). On
# Spark the rows are rewritten (the erased customer's go), the medians wait for a full refresh.
STAGE_HISTORY = "int_customer_daily_stages"


def _rewind_sql(table: str, erased_ids_sql: str) -> str:
    """Delete every day of the stage history from the erased customers' first median gap."""
    return f"""delete from {table} where as_of_date >= (
        select min(as_of_date) from {table}
        where median_gap_days is not null and customer_id in ({erased_ids_sql}))"""


def request_erasure(settings: Settings, customer_ids: set[int]) -> int:
    """Record erasure requests (as hashes); returns how many are new."""
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(tzinfo=None)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        ensure_requests(con)
        [(before,)] = con.execute(f"select count(*) from {REQUESTS}").fetchall()
        con.executemany(
            f"insert into {REQUESTS} values (?, ?, null) on conflict do nothing",
            [(customer_hash(c), now) for c in sorted(customer_ids)],
        )
        [(after,)] = con.execute(f"select count(*) from {REQUESTS}").fetchall()
    return after - before


def _customer_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every base table of the DuckDB file with a customer_id column (marts, mirrors, audits)."""
    rows = con.execute(
        """select c.table_schema, c.table_name from information_schema.columns as c
        join information_schema.tables as t using (table_catalog, table_schema, table_name)
        where c.column_name = 'customer_id' and t.table_type = 'BASE TABLE' order by 1, 2"""
    ).fetchall()
    return [f'"{schema}"."{table}"' for schema, table in rows]


def _erase_warehouse(con: duckdb.DuckDBPyConnection, every_table: bool) -> dict[str, int]:
    """Delete the listed customers' rows. ``every_table`` for requests not yet applied;
    otherwise only the tables a build does not rebuild from the raw zone."""
    tables = _customer_tables(con)
    if not every_table:
        kept = {k.split(".")[-1] for k in KEPT_TABLES}
        tables = [t for t in tables if t.split(".")[-1].strip('"') in kept]
    removed = {}
    for table in tables:
        name = table.replace('"', "")
        # Hash each distinct id once, not every row (events tables are large).
        ids = f"select customer_id from (select distinct customer_id from {table}) where {hash_sql()} in "
        if every_table and name.endswith(f".{STAGE_HISTORY}"):
            fresh = f"(select customer_hash from {REQUESTS} where applied_at is null)"
            if n := con.execute(_rewind_sql(table, ids + fresh)).fetchall()[0][0]:
                removed[f"{name} (days to rebuild)"] = n
        [(n,)] = con.execute(
            f"delete from {table} where customer_id in ({ids} (select customer_hash from {REQUESTS}))"
        ).fetchall()
        if n:
            removed[name] = n
    return removed


def _not_listed_sql(hashes: list[str]) -> str:
    """A DuckDB predicate: the row's customer is not among these hashes (rows without one are kept)."""
    return f"({hash_sql()} in (" + ", ".join(f"'{h}'" for h in hashes) + ")) is not true"


def _erase_parquet_files(paths: list[Path], hashes: list[str]) -> dict[Path, int]:
    """Rewrite each file that holds a listed customer without them; rows removed per rewritten
    file. One scan of every file with a customer_id finds them (only the id is read)."""
    keep = _not_listed_sql(hashes)
    keyed = [p for p in paths if "customer_id" in pq.read_schema(p).names]
    with duckdb.connect() as con:
        removed = files_failing(con, keyed, keep)
    for path in removed:
        _filter_parquet(path, keep)
    return removed


def _filter_parquet(path: Path, keep_sql: str) -> None:
    with duckdb.connect() as con:
        rows = con.sql(f"select * from read_parquet('{path}', hive_partitioning = false) where {keep_sql}")
        kept = rows.to_arrow_table().cast(pq.read_schema(path))
    replace_file(path, lambda tmp: pq.write_table(kept, tmp))


def _kept_lines(path: Path, fmt: str, erased) -> tuple[list[str], int]:
    """The file's lines without the erased customers' rows, verbatim; and how many went."""
    lines = path.read_text().splitlines(keepends=True)
    if fmt == "csv":
        header, rows = lines[:1], lines[1:]
        names = next(csv.reader(header)) if header else []
        column = next((i for i, n in enumerate(names) if n in ("customer_id", "email_sha256")), None)
        if column is None:
            return lines, 0
        kept = [line for line in rows if not erased(names[column], next(csv.reader([line]))[column])]
        return header + kept, len(rows) - len(kept)
    kept = []
    for line in lines:
        record = json.loads(line)
        field = next((n for n in ("customer_id", "email_sha256") if n in record), None)
        if not (field and erased(field, str(record[field]))):
            kept.append(line)
    return kept, len(lines) - len(kept)


def _erase_export_folder(folder: Path, erased) -> int:
    """Rewrite one export folder without the erased rows, manifest updated, swapped in whole."""
    from nurture.export.destination_types import sha256_of

    manifest = json.loads((folder / "manifest.json").read_text())
    work = new_work_folder(folder)
    shutil.copytree(folder, work, dirs_exist_ok=True)
    dropped = 0
    for entry in manifest["files"]:
        path = work / entry["path"]
        if entry["rows"] == 0:
            continue
        if entry["format"] == "parquet":
            table = pq.read_table(path)
            column = next((n for n in ("customer_id", "email_sha256") if n in table.column_names), None)
            if column is None:
                continue
            keep = [not erased(column, str(v)) for v in table.column(column).to_pylist()]
            n = keep.count(False)
            if n:
                pq.write_table(table.filter(pa.array(keep)), path)
        else:
            lines, n = _kept_lines(path, entry["format"], erased)
            if n:
                path.write_text("".join(lines))
        if n:
            dropped += n
            entry.update(rows=entry["rows"] - n, sha256=sha256_of(path))
    if dropped:
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        swap_folder(work, folder)
    else:
        shutil.rmtree(work)
    return dropped


def _erase_exports(settings: Settings, hashes: list[str]) -> dict[str, int]:
    """Staged rows, member snapshots and local export copies of the listed customers."""
    root = settings.exports_dir
    staged = sorted(root.glob("_staging/*/*.parquet"))
    removed = {"staging": sum(_erase_parquet_files(staged, hashes).values())}
    # Hashed ad audiences carry no id: what was sent for a customer is in the snapshots.
    snapshots = sorted(root.glob("_state/members/*/*/*.parquet"))
    identities: set[str] = set()
    if snapshots:
        scan = f"read_parquet({list(map(str, snapshots))}, hive_partitioning = false, union_by_name = true)"
        where = f"not ({_not_listed_sql(hashes)}) and identity is not null"
        with duckdb.connect() as con:
            identities = {
                i for (i,) in con.execute(f"select distinct identity from {scan} where {where}").fetchall()
            }
    removed["members"] = sum(_erase_parquet_files(snapshots, hashes).values())
    listed_hashes = set(hashes)

    def erased(column: str, value: str) -> bool:
        if column == "email_sha256":
            return value in identities
        return value.isdigit() and customer_hash(int(value)) in listed_hashes

    for manifest_path in sorted(root.glob("**/manifest.json")):
        removed["export_rows"] = removed.get("export_rows", 0) + _erase_export_folder(
            manifest_path.parent, erased
        )
    return removed


def _erase_bi(settings: Settings, hashes: list[str]) -> int:
    """Rows of the listed customers in the published BI snapshots (current and previous)."""
    snapshots = sorted((bi_dir(settings) / "snapshots").glob("*/*.parquet"))
    return sum(_erase_parquet_files(snapshots, hashes).values())


def apply_erasures(settings: Settings) -> dict[str, int]:
    """Apply every erasure request to every local layer; returns rows removed per place.

    Requests are marked applied only once every layer is done: after a crash the
    next call (a run, or ``forget`` again) sweeps every table again.
    """
    if not settings.warehouse_path.exists():
        return {}
    with duckdb.connect(str(settings.warehouse_path)) as con:
        ensure_requests(con)
        rows = con.execute(f"select customer_hash, applied_at is null from {REQUESTS} order by 1").fetchall()
        if not rows:
            return {}
        hashes = [h for h, _ in rows]
        new = any(unapplied for _, unapplied in rows)
        removed = _erase_warehouse(con, every_table=new)
    if new:  # the engine's own copies (PostgreSQL tables, Spark's Parquet), beyond the file
        sweep = ErasureSweep(
            hashes=hashes,
            fresh=[h for h, unapplied in rows if unapplied],
            pepper=pepper(),
            rewind_table=STAGE_HISTORY,
            rewind_sql=_rewind_sql,
            rewrite_parquet=lambda paths: _erase_parquet_files(paths, hashes),
        )
        removed |= engine_for(settings).erase(sweep)
    removed |= {f"raw/{k}": v for k, v in erase_hashes(settings.raw_dir, hashes, hash_sql).items()}
    # Swept on every run, requests applied or not: a publish that read its rows before a
    # concurrent ``forget`` may have written them after its sweep.
    removed |= _erase_exports(settings, hashes)
    removed["bi"] = _erase_bi(settings, hashes)
    if new:
        now = datetime.now(UTC).replace(tzinfo=None)
        with duckdb.connect(str(settings.warehouse_path)) as con:
            con.execute(f"update {REQUESTS} set applied_at = ? where applied_at is null", [now])
    log.info("applied %d erasure requests: rows removed %s", len(hashes), removed)
    return removed


@dataclass
class ForgetOutcome:
    new_requests: int
    removed: dict[str, int]  # place -> rows removed locally
    queued: dict[str, int]  # destination -> platform deletes queued
    delivery: Delivery


def forget(settings: Settings, customer_ids: set[int]) -> ForgetOutcome:
    """Erase customers: record the request and queue the platform deletes first (so a
    crash later loses neither), erase every local copy, then try the platforms once."""
    new = request_erasure(settings, customer_ids)
    queued = erasure_outbox.queue(settings, customer_ids)
    removed = apply_erasures(settings)
    delivery = erasure_outbox.deliver(settings, max_retries=1)
    return ForgetOutcome(new, removed, queued, delivery)
