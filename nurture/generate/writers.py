"""Write the generated shop: tables into the shop database, events into log files."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sqlalchemy import Engine, Table, create_engine

from nurture.generate.calendar import ShopCalendar
from nurture.shop_schema import metadata

# SQLAlchemy's own storage formats on SQLite, so its DateTime / Date types read them back.
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
SQLITE_DATE = "%Y-%m-%d"
LOG_NAME = "events-{day}.jsonl.gz"
SQLITE_CHUNK_ROWS = 500_000


def reset_database(url: str) -> Engine:
    """Drop and create the shop tables (or create the SQLite file afresh)."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
    engine = create_engine(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    return engine


def _sqlite_values(frame: pd.DataFrame, table: Table) -> list[tuple]:
    """Rows as tuples in SQLAlchemy's SQLite storage formats (fast bulk path)."""
    cols = []
    for column in table.columns:
        values = frame[column.name]
        kind = column.type.python_type
        if kind.__name__ == "datetime":
            text = pd.to_datetime(values).dt.strftime(SQLITE_DATETIME)
            cols.append(text.astype(object).where(values.notna(), None))
        elif kind.__name__ == "date":
            text = pd.to_datetime(values).dt.strftime(SQLITE_DATE)
            cols.append(text.astype(object).where(values.notna(), None))
        elif kind is bool:
            cols.append(values.astype(int).astype(object))
        else:
            cols.append(values.astype(object).where(values.notna(), None))
    return list(zip(*cols, strict=True))


def write_table(engine: Engine, table: Table, frame: pd.DataFrame) -> None:
    """Insert ``frame`` into ``table``; bulk path on SQLite, SQLAlchemy elsewhere."""
    frame = frame[[c.name for c in table.columns]]
    if engine.dialect.name == "sqlite":
        placeholders = ", ".join("?" for _ in table.columns)
        raw = engine.raw_connection()
        try:
            # In chunks: a large shop's rows as Python tuples would not fit in memory at once.
            for start in range(0, len(frame), SQLITE_CHUNK_ROWS):
                rows = _sqlite_values(frame.iloc[start : start + SQLITE_CHUNK_ROWS], table)
                raw.cursor().executemany(f"insert into {table.name} values ({placeholders})", rows)
            raw.commit()
        finally:
            raw.close()
        return
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    with engine.begin() as conn:
        for start in range(0, len(records), 10_000):
            conn.execute(table.insert(), records[start : start + 10_000])


# One block's events as they are kept on disk until all blocks are made: fixed types,
# so every block's file has the same schema; partitioned by the day they occurred.
BLOCK_SQL = """
select
    t,
    cust_idx,
    cast(event_type as varchar) as event_type,
    {block} as block,
    block_row,
    customer_id,
    occurred_at,
    arrived_at,
    cast(campaign as varchar) as campaign,
    cast(product_id as double) as product_id,
    cast(cart_id as double) as cart_id,
    cast(order_id as double) as order_id,
    cast(ticket_id as double) as ticket_id,
    cast(nps as double) as nps,
    cast(value as double) as value,
    cast(bounce_type as varchar) as bounce_type,
    cast(channel as varchar) as channel,
    cast(floor(t) as integer) as occurred_day
from events
"""

# One day's events (by occurrence) from every block, in time order (ties by customer,
# type, then the order they were made in); the position in the whole shop's order
# becomes the event id.
EVENTS_SQL = """
with ordered as (
    select
        *,
        {first_seq} - 1 + row_number() over (order by t, cust_idx, event_type, block, block_row) as seq
    from read_parquet('{blocks}/*/occurred_day={day}/*.parquet')
)
select
    printf('ev_%010d', seq) as event_id,
    event_type,
    customer_id,
    strftime(occurred_at, '%Y-%m-%dT%H:%M:%SZ') as "timestamp",
    campaign,
    case event_type
        when 'page_viewed' then json_object('product_id', product_id)
        when 'cart_updated' then json_object('cart_id', cart_id, 'value', value)
        when 'email_bounced' then json_object('bounce_type', bounce_type)
        when 'sms_bounced' then json_object('bounce_type', bounce_type)
        when 'unsubscribed' then json_object('channel', channel)
        when 'survey_answered' then json_object('nps', nps, 'order_id', order_id)
        when 'support_ticket_opened' then json_object('ticket_id', ticket_id, 'order_id', order_id)
        when 'support_ticket_resolved' then json_object('ticket_id', ticket_id, 'order_id', order_id)
        else json_object()
    end as properties,
    strftime(arrived_at, '%Y-%m-%d') as arrival_day
from ordered
order by seq
"""


def write_event_logs(
    blocks: Iterable[pd.DataFrame], calendar: ShopCalendar, log_dir: Path
) -> tuple[int, int]:
    """One gzipped JSON-lines file per arrival day; returns (files, events).

    Each block goes to Parquet first, by the day its events occurred, so memory holds
    one block at a time. Then each occurrence day, in turn, is ordered and written to
    the arrival days' files (late events land in a later day's file); an arrival day's
    pieces, in occurrence-day order, make its file.
    """
    if log_dir.exists():
        shutil.rmtree(log_dir)
    work = log_dir.parent / f".{log_dir.name}.work"
    shutil.rmtree(work, ignore_errors=True)
    staging, block_dir = work / "partitions", work / "blocks"
    block_dir.mkdir(parents=True)
    with duckdb.connect() as con:
        # One thread keeps each file's line order and bytes the same for a seed.
        con.execute("set threads = 1")
        con.execute("set enable_progress_bar = false")
        for number, block in enumerate(blocks):
            frame = block.assign(
                occurred_at=calendar.to_datetime(block["t"].to_numpy()),
                arrived_at=calendar.to_datetime(block["t_arrival"].to_numpy()),
                block_row=np.arange(len(block)),
            )
            con.register("events", frame)
            con.execute(
                f"copy ({BLOCK_SQL.format(block=number)}) to '{block_dir / f'{number:05d}'}' "
                "(format parquet, partition_by (occurred_day))"
            )
            con.unregister("events")
        per_day = dict(
            con.execute(
                f"select occurred_day, count(*) from read_parquet('{block_dir}/*/*/*.parquet', "
                "hive_partitioning = true) group by all order by 1"
            ).fetchall()
        )
        first_seq = 1
        for day, events in per_day.items():
            con.execute(
                "create or replace temp table day_events as "
                + EVENTS_SQL.format(first_seq=first_seq, blocks=block_dir, day=day)
            )
            # One file per arrival day, named by the occurrence day: in name order they
            # follow the event ids. (A partitioned COPY would not keep the row order.)
            for (arrival_day,) in con.execute("select distinct arrival_day from day_events").fetchall():
                piece = staging / f"arrival_day={arrival_day}" / f"day{day:06d}.json.gz"
                piece.parent.mkdir(parents=True, exist_ok=True)
                con.execute(
                    f"copy (select * exclude (arrival_day) from day_events where arrival_day = ? "
                    f"order by event_id) to '{piece}' (format json, compression gzip)",
                    [arrival_day],
                )
            first_seq += events
    log_dir.mkdir(parents=True)
    day = calendar.start
    files = 0
    while day <= calendar.end:
        part = staging / f"arrival_day={day.isoformat()}"
        target = log_dir / LOG_NAME.format(day=day.isoformat())
        chunks = sorted(part.glob("*.json.gz")) if part.exists() else []  # occurrence-day order
        if chunks:
            with target.open("wb") as out:
                for chunk in chunks:  # gzip members concatenate into one valid stream
                    out.write(chunk.read_bytes())
        else:
            _empty_gzip(target)
        files += 1
        day += timedelta(days=1)
    shutil.rmtree(work)
    return files, first_seq - 1


def _empty_gzip(path: Path) -> None:
    with gzip.GzipFile(path, "wb", mtime=0):
        pass
