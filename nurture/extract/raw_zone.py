"""The raw landing zone: Parquet files partitioned by day, replaced atomically.

Layout: ``<raw>/<dataset>/dt=YYYY-MM-DD/part-0.parquet`` and, for rejected
rows, ``<raw>/_quarantine/<dataset>/dt=YYYY-MM-DD/part-0.parquet``; the
extract audit (rows read / accepted / quarantined, schema drift) of each
dataset and day in ``<raw>/_audit/<dataset>/dt=YYYY-MM-DD/``. Every
extracted day gets a file, even an empty one, so "extracted, nothing happened"
differs from "not extracted yet". Re-running a day replaces its partition.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nurture.atomic import new_work_folder, swap_folder

QUARANTINE = "_quarantine"
AUDIT = "_audit"
AUDIT_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("day", pa.date32()),
        ("rows_read", pa.int64()),
        ("rows_accepted", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("extra_columns", pa.string()),  # in the source, not in our schema: dropped (schema drift)
        ("missing_columns", pa.string()),  # in our schema, not in the source: rows quarantined
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
        ("field", pa.string()),
        ("rule", pa.string()),
        ("raw_line", pa.string()),
    ]
)


def partition_dir(raw_dir: Path, dataset: str, day: date) -> Path:
    return raw_dir / dataset / f"dt={day.isoformat()}"


def utc_naive(moment: datetime) -> datetime:
    """A timestamp in UTC without tzinfo: how the raw zone and the shop store time."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def days_in_interval(start: datetime, end: datetime) -> Iterator[date]:
    """The UTC days a data interval [start, end) touches."""
    start, end = utc_naive(start), utc_naive(end)
    day, last = start.date(), (end - timedelta(microseconds=1)).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


def write_partition(raw_dir: Path, dataset: str, day: date, table: pa.Table) -> Path:
    """Write one day's partition under a temporary name, then swap it in.

    Readers see the old partition or the new one, never a half-written file.
    """
    final = partition_dir(raw_dir, dataset, day)
    work = new_work_folder(final)
    pq.write_table(table, work / "part-0.parquet", compression="zstd")
    swap_folder(work, final)
    return final / "part-0.parquet"


def write_quarantine(raw_dir: Path, dataset: str, day: date, rows: pa.Table) -> None:
    write_partition(
        raw_dir / QUARANTINE, dataset, day, rows.select(QUARANTINE_SCHEMA.names).cast(QUARANTINE_SCHEMA)
    )


class RowsLostError(AssertionError):
    """Rows read != rows accepted + rows quarantined: a bug, never bad input."""


def write_audit(
    raw_dir: Path,
    dataset: str,
    day: date,
    read: int,
    accepted: int,
    quarantined: int,
    extra_columns: list[str] = (),
    missing_columns: list[str] = (),
) -> None:
    """Record a dataset-day's counts; refuse to record a day that lost rows."""
    if read != accepted + quarantined:
        raise RowsLostError(
            f"{dataset} {day}: {read} rows read but {accepted} accepted + {quarantined} quarantined"
        )
    row = {
        "dataset": dataset,
        "day": day,
        "rows_read": read,
        "rows_accepted": accepted,
        "rows_quarantined": quarantined,
        "extra_columns": ",".join(extra_columns) or None,
        "missing_columns": ",".join(missing_columns) or None,
    }
    write_partition(raw_dir / AUDIT, dataset, day, pa.Table.from_pylist([row], AUDIT_SCHEMA))
