"""Erasure and retention for the raw zone, its quarantine included.

Quarantined rows are raw lines with personal data: an erasure request removes a
customer's rows from every raw and quarantine partition, and the retention
period deletes raw and quarantine partitions alike. The extract audit holds
counts only and is kept. (The warehouse, exports and the suppression list that
stops re-extracted data from coming back belong to the exports work.)
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from nurture.export.slot import RunSlot
from nurture.extract.raw_zone import AUDIT, QUARANTINE, write_partition

log = logging.getLogger(__name__)

# Raw datasets that name a customer, and how.
CUSTOMER_KEYED = ("customers", "orders", "carts", "events")
# A customer id inside a quarantined line, JSON or not (shop rows are JSON with text values).
CUSTOMER_IN_LINE = r'"customer_id"\s*:\s*"?(\d+)'
ORDER_IN_LINE = r'"order_id"\s*:\s*"?(\d+)'


def _partitions(folder: Path) -> list[Path]:
    return sorted(folder.glob("dt=*/part-0.parquet"))


def files_failing(con, files: list, keep_sql: str) -> dict[Path, int]:
    """The Parquet files with rows where ``keep_sql`` fails, and how many: one scan of them all
    (only the columns the predicate reads), not a query per file."""
    if not files:
        return {}
    options = "filename = true, hive_partitioning = false, union_by_name = true"
    scan = f"read_parquet({list(map(str, files))}, {options})"
    rows = con.execute(f"select filename, count(*) from {scan} where not ({keep_sql}) group by 1 order by 1")
    return {Path(name): n for name, n in rows.fetchall()}


def _rewrite_without(con, files: list[Path], keep_sql: str, dataset_root: Path) -> int:
    """Rewrite the partition files holding rows where ``keep_sql`` fails, keeping the others
    untouched; returns rows removed. One scan of every file finds them (the daily run sweeps
    the whole raw zone with the suppression list: its cost must not be one query per file)."""
    holding = files_failing(con, files, keep_sql)
    for path in holding:
        kept = con.sql(f"select * from read_parquet('{path}', hive_partitioning = false) where {keep_sql}")
        day = date.fromisoformat(path.parent.name.removeprefix("dt="))
        write_partition(
            dataset_root, path.parent.parent.name, day, kept.to_arrow_table().cast(pq.read_schema(path))
        )
    return sum(holding.values())


def erase_customers(raw_dir: Path, customer_ids: set[int]) -> dict[str, int]:
    """Remove every raw and quarantined row of these customers; returns rows removed per dataset."""
    return erase_hashes(raw_dir, [str(c) for c in sorted(customer_ids)], lambda column: f"{column}::varchar")


def erase_hashes(raw_dir: Path, hashes: list[str], hash_of: Callable[[str], str]) -> dict[str, int]:
    """Remove every raw and quarantined row whose customer id hashes (``hash_of``, SQL) into ``hashes``."""
    if not hashes:
        return {}
    removed: dict[str, int] = {}
    with duckdb.connect() as con:
        con.execute("create temp table erased as select unnest(?::varchar[]) as h", [sorted(hashes)])
        in_line = f"try_cast(regexp_extract(raw_line, '{CUSTOMER_IN_LINE}', 1) as bigint)"
        names_order = f"try_cast(regexp_extract(raw_line, '{ORDER_IN_LINE}', 1) as bigint)"
        listed = f"{hash_of('customer_id')} in (select h from erased)"
        line_listed = f"{hash_of(in_line)} in (select h from erased)"
        # Their orders, accepted or quarantined: the order lines go with them.
        orders_sql = "select null::bigint as order_id where false"
        if order_files := [str(p) for p in _partitions(raw_dir / "orders")]:
            orders_sql += f" union select order_id from read_parquet({order_files}) where {listed}"
        if held := [str(p) for p in _partitions(raw_dir / QUARANTINE / "orders")]:
            orders_sql += f" union select {names_order} from read_parquet({held}) where {line_listed}"
        con.execute(f"create temp table erased_orders as {orders_sql}")
        for dataset in (*CUSTOMER_KEYED, "order_items"):
            key = "order_id in (select * from erased_orders)" if dataset == "order_items" else listed
            removed[dataset] = _rewrite_without(
                con, _partitions(raw_dir / dataset), f"({key}) is not true", raw_dir
            )
        quarantine = raw_dir / QUARANTINE
        keep = (
            f"({line_listed}) is not true and (source_file <> 'shop:order_items' "
            f"or ({names_order} in (select * from erased_orders)) is not true)"
        )
        folders = sorted(p for p in quarantine.iterdir() if p.is_dir()) if quarantine.exists() else []
        for folder in folders:
            rows = _rewrite_without(con, _partitions(folder), keep, quarantine)
            removed[f"{QUARANTINE}/{folder.name}"] = rows
    log.info("erased %d customers from the raw zone: rows removed %s", len(hashes), removed)
    return removed


def purge_expired(raw_dir: Path, retention_days: int, as_of: date) -> list[Path]:
    """Delete raw and quarantine partitions (and their audit) older than the retention period.

    ``as_of`` is the run's logical date, not the wall clock, so a backfill keeps what a
    run on that day would have kept.
    """
    cutoff = as_of - timedelta(days=retention_days)
    removed = []
    for root in (raw_dir, raw_dir / QUARANTINE, raw_dir / AUDIT):
        for folder in sorted(p for p in root.glob("*/dt=*") if p.is_dir()):
            if date.fromisoformat(folder.name.removeprefix("dt=")) < cutoff:
                shutil.rmtree(folder)
                removed.append(folder)
    log.info("retention %d days as of %s: removed %d partitions", retention_days, as_of, len(removed))
    return removed


def purge_exports(exports_dir: Path, retention_days: int, as_of: date) -> list[Path]:
    """Delete export copies, staged rows, push journals and sync-log files older than the
    retention period. Each destination keeps its latest member snapshot whatever its age:
    the next delta is computed against it."""
    cutoff = (as_of - timedelta(days=retention_days)).isoformat()
    removed = []

    def day_of(path: Path) -> str:  # a run's stamp starts with its day (see export/slot.py)
        return path.name.removeprefix("dt=")[:10]

    candidates = [
        *exports_dir.glob("[!_]*/????-??-??*"),
        *exports_dir.glob("_ads/*/????-??-??*"),
        *exports_dir.glob("_staging/dt=*"),
        *exports_dir.glob("_state/sync_log/dt=*"),
        *exports_dir.glob("_state/push/*/*/*.log"),
    ]
    for folder in exports_dir.glob("_state/members/*/*"):
        snapshots = sorted(folder.glob("dt=*.parquet"), key=lambda p: RunSlot.parse(p.stem[3:]).order)
        candidates += snapshots[:-1]
    for path in sorted(candidates):
        if day_of(path) < cutoff:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed.append(path)
    log.info("export retention %d days as of %s: removed %d paths", retention_days, as_of, len(removed))
    return removed
