"""Write the generated shop: tables into the shop database, events into log files."""

from __future__ import annotations

import gzip
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
from sqlalchemy import Engine, Table, create_engine

from nurture.generate.calendar import ShopCalendar
from nurture.shop_schema import metadata

# SQLAlchemy's own storage formats on SQLite, so its DateTime / Date types read them back.
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
SQLITE_DATE = "%Y-%m-%d"
LOG_NAME = "events-{day}.jsonl.gz"


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
        rows = _sqlite_values(frame, table)
        placeholders = ", ".join("?" for _ in table.columns)
        raw = engine.raw_connection()
        try:
            raw.cursor().executemany(f"insert into {table.name} values ({placeholders})", rows)
            raw.commit()
        finally:
            raw.close()
        return
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    with engine.begin() as conn:
        for start in range(0, len(records), 10_000):
            conn.execute(table.insert(), records[start : start + 10_000])


EVENTS_SQL = """
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
        when 'unsubscribed' then json_object('channel', 'email')
        when 'survey_answered' then json_object('nps', nps, 'order_id', order_id)
        when 'support_ticket_opened' then json_object('ticket_id', ticket_id, 'order_id', order_id)
        when 'support_ticket_resolved' then json_object('ticket_id', ticket_id, 'order_id', order_id)
        else json_object()
    end as properties,
    strftime(arrived_at, '%Y-%m-%d') as arrival_day
from events
order by seq
"""


def write_event_logs(events: pd.DataFrame, calendar: ShopCalendar, log_dir: Path) -> int:
    """One gzipped JSON-lines file per arrival day; returns the number of files."""
    if log_dir.exists():
        shutil.rmtree(log_dir)
    staging = log_dir.parent / f".{log_dir.name}.partitions"
    shutil.rmtree(staging, ignore_errors=True)
    frame = events.assign(
        occurred_at=calendar.to_datetime(events["t"].to_numpy()),
        arrived_at=calendar.to_datetime(events["t_arrival"].to_numpy()),
    ).drop(columns=["t", "t_arrival", "cust_idx"])
    with duckdb.connect() as con:
        # One thread keeps each file's line order and bytes the same for a seed.
        con.execute("set threads = 1")
        con.execute("set enable_progress_bar = false")
        con.register("events", frame)
        con.execute(
            f"copy ({EVENTS_SQL}) to '{staging}' "
            "(format json, compression gzip, partition_by (arrival_day), write_partition_columns false)"
        )
    log_dir.mkdir(parents=True)
    day = calendar.start
    files = 0
    while day <= calendar.end:
        part = staging / f"arrival_day={day.isoformat()}"
        target = log_dir / LOG_NAME.format(day=day.isoformat())
        chunks = sorted(part.glob("*.json.gz")) if part.exists() else []
        if chunks:
            with target.open("wb") as out:
                for chunk in chunks:  # gzip members concatenate into one valid stream
                    out.write(chunk.read_bytes())
        else:
            _empty_gzip(target)
        files += 1
        day += timedelta(days=1)
    shutil.rmtree(staging)
    return files


def _empty_gzip(path: Path) -> None:
    with gzip.GzipFile(path, "wb", mtime=0):
        pass
