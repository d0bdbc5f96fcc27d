"""Erasure and retention reach the quarantine as they reach the raw zone."""

from __future__ import annotations

import gzip
import re
import shutil
import sqlite3
from datetime import date, timedelta

import duckdb
import pyarrow.parquet as pq

from nurture.extract.event_logs import LOG_NAME, extract_event_logs
from nurture.extract.raw_zone import AUDIT, QUARANTINE
from nurture.extract.shop_tables import extract_shop_tables
from nurture.privacy.files import erase_customers, purge_expired, purge_exports
from tests.conftest import day_interval, land_customers


def rows_naming(raw, customer_id: int) -> int:
    """Rows anywhere in the raw zone (quarantine included) that name the customer."""
    found = 0
    for path in raw.rglob("*.parquet"):
        rows = duckdb.sql(f"select * from read_parquet('{path}')")
        if "customer_id" in rows.columns:
            found += duckdb.sql(f"select count(*) from rows where customer_id = {customer_id}").fetchall()[0][
                0
            ]
        if "raw_line" in rows.columns:
            lines = [r[0] for r in duckdb.sql("select raw_line from rows").fetchall()]
            found += sum(bool(re.search(rf'"customer_id"\s*:\s*"?{customer_id}\b', line)) for line in lines)
    return found


def test_an_erased_customer_leaves_no_row_in_raw_or_quarantine(small_shop, tmp_path):
    settings, shop = small_shop
    db = tmp_path / "shop.db"
    shutil.copy(settings.shop_db_url.removeprefix("sqlite:///"), db)
    with sqlite3.connect(db) as con:
        customer_id, day = con.execute(
            "select customer_id, substr(min(updated_at), 1, 10) from orders "
            "where updated_at >= ? group by customer_id order by count(*) desc limit 1",
            (str(shop.end - timedelta(days=20)),),
        ).fetchone()
        # One of their orders goes bad and is quarantined.
        bad_order = (
            "update orders set total = -1 where order_id = "
            "(select min(order_id) from orders where customer_id = ? and updated_at >= ?)"
        )
        con.execute(bad_order, (customer_id, day))
    first = shop.end - timedelta(days=20)
    start, end = day_interval(first)[0], day_interval(shop.end)[1]
    # A malformed log line of theirs is quarantined too.
    log_dir = tmp_path / "logs"
    shutil.copytree(settings.log_dir, log_dir)
    path = log_dir / LOG_NAME.format(day=shop.end.isoformat())
    broken = f'{{"customer_id": {customer_id}, "event_id": "cut sh'.encode()
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()) + broken + b"\n"))

    raw = tmp_path / "raw"
    land_customers(f"sqlite:///{db}", raw, shop, first)
    extract_shop_tables(f"sqlite:///{db}", raw, start, end)
    extract_event_logs(log_dir, raw, start, end)
    assert rows_naming(raw / QUARANTINE, customer_id) >= 2
    before = {p: pq.read_metadata(p).num_rows for p in raw.rglob("*.parquet")}

    removed = erase_customers(raw, {customer_id})

    assert rows_naming(raw, customer_id) == 0, removed
    assert removed[f"{QUARANTINE}/orders"] >= 1 and removed[f"{QUARANTINE}/events"] == 1
    assert removed["orders"] >= 1 and removed["order_items"] >= 1, removed
    after = {p: pq.read_metadata(p).num_rows for p in raw.rglob("*.parquet")}
    assert sum(before.values()) - sum(after.values()) == sum(removed.values()), "only their rows went"


def test_retention_removes_old_raw_quarantine_and_audit_partitions(small_shop, tmp_path):
    settings, shop = small_shop
    first = shop.end - timedelta(days=9)
    raw = tmp_path / "raw"
    extract_event_logs(settings.log_dir, raw, day_interval(first)[0], day_interval(shop.end)[1])
    removed = purge_expired(raw, retention_days=5, as_of=shop.end)
    kept_days = sorted(p.name for p in (raw / "events").iterdir())
    assert kept_days == [f"dt={shop.end - timedelta(days=d)}" for d in range(5, -1, -1)]
    for root in (raw / QUARANTINE / "events", raw / AUDIT / "events"):
        assert sorted(p.name for p in root.iterdir()) == kept_days
    assert len(removed) == 3 * 4


def test_export_retention_keeps_recent_days_and_each_latest_snapshot(tmp_path):
    exports = tmp_path / "exports"
    days = ["2025-12-01", "2025-12-20", "2025-12-30"]
    for day in days:
        (exports / "winback" / day).mkdir(parents=True)
        (exports / "_staging" / f"dt={day}").mkdir(parents=True)
        (exports / "_state" / "push" / "crm" / "welcome").mkdir(parents=True, exist_ok=True)
        (exports / "_state" / "push" / "crm" / "welcome" / f"{day}.log").write_text("key\n")
    # The ads destination last succeeded long ago: its only snapshot stays.
    members = exports / "_state" / "members"
    (members / "files" / "winback").mkdir(parents=True)
    (members / "ads" / "winback").mkdir(parents=True)
    for day in days:
        (members / "files" / "winback" / f"dt={day}.parquet").write_bytes(b"")
    (members / "ads" / "winback" / "dt=2025-11-01.parquet").write_bytes(b"")

    purge_exports(exports, retention_days=15, as_of=date(2025, 12, 31))

    assert sorted(p.name for p in (exports / "winback").iterdir()) == days[1:]
    assert sorted(p.name for p in (exports / "_staging").iterdir()) == [f"dt={d}" for d in days[1:]]
    assert sorted(p.name for p in (members / "files" / "winback").iterdir()) == [
        f"dt={d}.parquet" for d in days[1:]
    ]
    assert [p.name for p in (members / "ads" / "winback").iterdir()] == ["dt=2025-11-01.parquet"]
    assert len(list((exports / "_state" / "push" / "crm" / "welcome").iterdir())) == 2


def test_export_retention_knows_hourly_runs(tmp_path):
    """Hourly stamps (2025-12-30T09) age by their day, and the latest snapshot is the latest
    run on the timeline: a day's daily run comes after its hours."""
    exports = tmp_path / "exports"
    for stamp in ("2025-12-01T14", "2025-12-30T09"):
        (exports / "abandoned_cart" / stamp).mkdir(parents=True)
    members = exports / "_state" / "members" / "crm" / "abandoned_cart"
    members.mkdir(parents=True)
    for stamp in ("2025-11-01T14", "2025-11-01", "2025-11-01T09"):
        (members / f"dt={stamp}.parquet").write_bytes(b"")

    purge_exports(exports, retention_days=15, as_of=date(2025, 12, 31))

    assert [p.name for p in (exports / "abandoned_cart").iterdir()] == ["2025-12-30T09"]
    assert [p.name for p in members.iterdir()] == ["dt=2025-11-01.parquet"]
