"""Load the raw zone into PostgreSQL, for the dbt ``postgres`` target.

DuckDB reads the Parquet files in place; PostgreSQL cannot, so each dataset
becomes a table ``<schema>.<dataset>`` (schema ``raw`` by default) with the
dataset's columns plus the three the DuckDB sources get from
``read_parquet(..., hive_partitioning, filename, file_row_number)``: ``dt``
(date), ``filename`` (text) and ``file_row_number`` (bigint). The Parquet is
read with that same DuckDB call and glob, so the values, and the staging
models' tie-breaks on them, are identical on both warehouses.

Loading is idempotent per partition: a load of days [start, end) deletes those
days' rows and inserts the partitions on disk for them, in one transaction per
dataset, so readers see the old days or the new ones. Without a range the table
becomes an exact copy of every partition on disk. Rows travel by COPY from
in-memory CSV, a batch at a time.
"""

from __future__ import annotations

import io
import logging
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv

from nurture.config import postgres_raw_schema, postgres_url
from nurture.extract.raw_zone import utc_naive

log = logging.getLogger(__name__)

DATASETS = (
    "customers",
    "products",
    "orders",
    "order_items",
    "carts",
    "fx_rates",
    "marketing_spend",
    "events",
)
BATCH_ROWS = 200_000
_PARTITION = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")


def pg_type(kind: pa.DataType) -> str:
    """The PostgreSQL column type for an Arrow type of the raw zone."""
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_int64(kind) or pa.types.is_uint32(kind):
        return "bigint"
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_floating(kind):
        return "double precision"
    if pa.types.is_decimal(kind):
        return f"numeric({kind.precision}, {kind.scale})"
    if pa.types.is_timestamp(kind):
        return "timestamptz" if kind.tz else "timestamp"
    if pa.types.is_date(kind):
        return "date"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "text"
    raise TypeError(f"no PostgreSQL type for Arrow type {kind}")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _partition_days(raw_dir: Path, dataset: str) -> list[date]:
    """The days with a partition file for ``dataset`` (temporary swap directories excluded)."""
    days = []
    for part in (raw_dir / dataset).glob("dt=*/*.parquet"):
        match = _PARTITION.match(part.parent.name)
        if match:
            days.append(date.fromisoformat(match.group(1)))
    return sorted(set(days))


def _read_partitions(
    duck: duckdb.DuckDBPyConnection, raw_dir: Path, dataset: str, days: tuple[date, date] | None
) -> pa.RecordBatchReader:
    """The dataset's rows exactly as the dbt-duckdb source reads them (same call, same glob)."""
    pattern = f"{raw_dir}/{dataset}/*/*.parquet"
    where = ""
    if days:
        where = f"where dt >= date '{days[0].isoformat()}' and dt < date '{days[1].isoformat()}'"
    query = f"""
        select * exclude (dt, filename, file_row_number),
            cast(dt as date) as dt, filename, file_row_number
        from read_parquet(
            '{pattern.replace("'", "''")}',
            hive_partitioning = true, filename = true, file_row_number = true)
        {where}
    """
    return duck.sql(query).fetch_record_batch(BATCH_ROWS)


def _ensure_table(cur, schema: str, dataset: str, arrow_schema: pa.Schema) -> None:
    """Create the table for ``arrow_schema`` (or add columns new in the Parquet)."""
    table = f"{_ident(schema)}.{_ident(dataset)}"
    columns = ",\n    ".join(f"{_ident(f.name)} {pg_type(f.type)}" for f in arrow_schema)
    cur.execute(f"create schema if not exists {_ident(schema)}")
    cur.execute(f"create table if not exists {table} (\n    {columns}\n)")
    cur.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
        (schema, dataset),
    )
    existing = {name for (name,) in cur.fetchall()}
    for field in arrow_schema:
        if field.name not in existing:
            cur.execute(f"alter table {table} add column {_ident(field.name)} {pg_type(field.type)}")
    cur.execute(f"create index if not exists {_ident(dataset + '_dt_idx')} on {table} (dt)")


def _copy_batches(cur, schema: str, dataset: str, reader: pa.RecordBatchReader) -> int:
    columns = ", ".join(_ident(name) for name in reader.schema.names)
    sql = f"copy {_ident(schema)}.{_ident(dataset)} ({columns}) from stdin with (format csv)"
    options = pa_csv.WriteOptions(include_header=False)
    rows = 0
    for batch in reader:
        if batch.num_rows == 0:
            continue
        buffer = io.BytesIO()
        # Strings are always quoted, so "" stays an empty string and an unquoted empty field is NULL.
        pa_csv.write_csv(batch, buffer, options)
        buffer.seek(0)
        cur.copy_expert(sql, buffer)
        rows += batch.num_rows
    return rows


def _table_exists(cur, schema: str, dataset: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (f"{_ident(schema)}.{_ident(dataset)}",))
    return cur.fetchone()[0]


def load_dataset(
    conn,
    duck: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    dataset: str,
    days: tuple[date, date] | None,
    schema: str = "raw",
) -> int:
    """Replace the days [start, end) of one dataset (all of it when ``days`` is None); one transaction."""
    on_disk = _partition_days(raw_dir, dataset)
    in_range = [d for d in on_disk if days is None or days[0] <= d < days[1]]
    table = f"{_ident(schema)}.{_ident(dataset)}"
    with conn, conn.cursor() as cur:
        reader = _read_partitions(duck, raw_dir, dataset, days) if in_range else None
        if reader is not None:
            _ensure_table(cur, schema, dataset, reader.schema)
        elif not _table_exists(cur, schema, dataset):
            log.warning("no partitions of %s in %s and no table %s yet: skipped", dataset, raw_dir, table)
            return 0
        if days is None:
            cur.execute(f"delete from {table}")
        else:
            cur.execute(f"delete from {table} where dt >= %s and dt < %s", days)
        rows = _copy_batches(cur, schema, dataset, reader) if reader is not None else 0
        cur.execute(f"analyze {table}")  # fresh statistics for the planner of the dbt models
    return rows


def _day_range(start_day: date | datetime | None, end_day: date | datetime | None) -> tuple[date, date]:
    """Days [first, end) for a range; a datetime ``end_day`` (a data interval's end) is
    exclusive to the microsecond, like :func:`nurture.extract.raw_zone.days_in_interval`."""
    first = utc_naive(start_day).date() if isinstance(start_day, datetime) else start_day or date.min
    if isinstance(end_day, datetime):
        end = (utc_naive(end_day) - timedelta(microseconds=1)).date() + timedelta(days=1)
    else:
        end = end_day or date.max
    if first >= end:
        raise ValueError(f"no days in [{start_day}, {end_day}): the end is exclusive")
    return first, end


def load_raw_to_postgres(
    raw_dir: Path | str,
    url: str | None = None,
    start_day: date | datetime | None = None,
    end_day: date | datetime | None = None,
    *,
    schema: str | None = None,
    datasets: tuple[str, ...] = DATASETS,
) -> dict[str, int]:
    """Load the raw zone's partitions for days [start_day, end_day) into ``<schema>.<dataset>``.

    ``end_day`` is exclusive, like the pipeline's data intervals (pass datetimes of a
    data interval to load exactly the days it touches). With neither day, every
    partition on disk is loaded and the tables end up equal to the raw zone. Returns
    rows loaded per dataset. ``url`` defaults to :func:`nurture.config.postgres_url`, ``schema``
    to NURTURE_PG_RAW_SCHEMA or ``raw``: where the dbt sources look on PostgreSQL.
    """
    import psycopg2  # only when loading PostgreSQL

    # The sources glob the resolved NURTURE_RAW_DIR (nurture.config): resolve the same way
    # so `filename` is the same string on both warehouses.
    raw_dir = Path(raw_dir).expanduser().resolve()
    days = None if start_day is None and end_day is None else _day_range(start_day, end_day)
    schema = schema or postgres_raw_schema()
    counts: dict[str, int] = {}
    conn = psycopg2.connect(url or postgres_url())
    duck = duckdb.connect()
    try:
        for dataset in datasets:
            counts[dataset] = load_dataset(conn, duck, raw_dir, dataset, days, schema)
            log.info("loaded %s.%s: %d rows for %s", schema, dataset, counts[dataset], days or "all days")
    finally:
        duck.close()
        conn.close()
    return counts


def main(argv: list[str] | None = None) -> None:
    """``python -m nurture.warehouse.load_postgres [--start D] [--end D]``: the raw zone into PG."""
    import argparse

    from nurture.config import load_settings

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--start", type=date.fromisoformat, help="first day (default: every partition)")
    parser.add_argument("--end", type=date.fromisoformat, help="day after the last one (exclusive)")
    parser.add_argument("--schema", help="target schema (default: NURTURE_PG_RAW_SCHEMA or raw)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    counts = load_raw_to_postgres(load_settings().raw_dir, None, args.start, args.end, schema=args.schema)
    print(counts)


if __name__ == "__main__":
    main()
