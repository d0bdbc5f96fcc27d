"""Extract the shop's tables incrementally: the rows whose ``updated_at`` falls
in the run's data interval [start, end).

The window comes from the run, not from a stored "last seen" watermark, so
re-running any past day (or a backfill) reproduces that day's partition.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, Table, create_engine, select

from nurture.extract.raw_zone import days_in_interval, utc_naive, write_partition
from nurture.shop_schema import SHOP_TABLES


def arrow_type(column) -> pa.DataType:
    kind = column.type
    if isinstance(kind, Boolean):
        return pa.bool_()
    if isinstance(kind, Integer):
        return pa.int64()
    if isinstance(kind, DateTime):
        return pa.timestamp("us")
    if isinstance(kind, Date):
        return pa.date32()
    if isinstance(kind, Numeric):
        return pa.decimal128(kind.precision, kind.scale)
    return pa.string()


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema([(c.name, arrow_type(c)) for c in table.columns])


def read_window(engine, table: Table, start: datetime, end: datetime) -> pa.Table:
    """Rows of ``table`` updated in [start, end), in primary-key order."""
    stmt = (
        select(table)
        .where(table.c.updated_at >= start, table.c.updated_at < end)
        .order_by(*table.primary_key.columns)
    )
    schema = arrow_schema(table)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    return pa.table(
        [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)], schema=schema
    )


def extract_shop_tables(
    shop_db_url: str, raw_dir, start: datetime, end: datetime, tables: list[str] | None = None
) -> dict[str, int]:
    """Land each table's changed rows as one Parquet partition per day; returns row counts."""
    start, end = utc_naive(start), utc_naive(end)
    engine = create_engine(shop_db_url)
    counts: dict[str, int] = {}
    try:
        for name in tables or list(SHOP_TABLES):
            data = read_window(engine, SHOP_TABLES[name], start, end)
            day_of_row = data.column("updated_at").cast(pa.date32()).to_numpy(zero_copy_only=False)
            for day in days_in_interval(start, end):
                mask = day_of_row == np.datetime64(day, "D")
                write_partition(raw_dir, name, day, data.filter(pa.array(mask)))
            counts[name] = data.num_rows
    finally:
        engine.dispose()
    return counts
