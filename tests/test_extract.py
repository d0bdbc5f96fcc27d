"""Extract: the data-interval watermark, idempotent partitions, and nothing lost."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import sqlite3
from contextlib import closing
from datetime import date, datetime, timedelta

import pyarrow.parquet as pq
import pytest
import yaml

from nurture.config import DBT_PROJECT_DIR, PROJECT_ROOT, load_settings
from nurture.extract.event_logs import EVENT_TYPES as EXTRACT_EVENT_TYPES
from nurture.extract.event_logs import LOG_NAME, SourceMissingError, extract_event_logs
from nurture.extract.raw_zone import AUDIT, QUARANTINE, partition_dir
from nurture.extract.shop_tables import SourceUnavailableError, arrow_schema, extract_shop_tables
from nurture.generate.engagement import EVENT_TYPES as GENERATED_EVENT_TYPES
from nurture.shop_schema import SHOP_TABLES
from tests.conftest import day_interval, land_customers, midnight


def read_partition(raw_dir, dataset, day):
    files = sorted(partition_dir(raw_dir, dataset, day).glob("*.parquet"))
    assert len(files) == 1, f"one file per partition, got {files}"
    return pq.read_table(files[0])


def shop_rows_updated_in(settings, table, start, end) -> int:
    with sqlite3.connect(settings.shop_db_url.removeprefix("sqlite:///")) as con:
        query = f"select count(*) from {table} where updated_at >= ? and updated_at < ?"
        return con.execute(query, (str(start), str(end))).fetchone()[0]


def test_a_day_holds_exactly_the_rows_updated_in_its_interval(small_shop, tmp_path):
    settings, shop = small_shop
    raw = tmp_path / "raw"
    day = shop.end - timedelta(days=3)
    start, end = day_interval(day)
    land_customers(settings.shop_db_url, raw, shop, day)
    results = extract_shop_tables(settings.shop_db_url, raw, start, end)
    counts = {r.table: r.accepted for r in results}
    assert set(counts) == set(SHOP_TABLES)
    assert all(r.quarantined == 0 for r in results)
    for name in SHOP_TABLES:
        table = read_partition(raw, name, day)
        assert table.num_rows == counts[name] == shop_rows_updated_in(settings, name, start, end)
        stamps = table.column("updated_at").to_pylist()
        assert all(start <= t < end for t in stamps), name
    assert counts["orders"] > 0


def test_rerunning_a_day_replaces_its_partition_with_the_same_rows(small_shop, tmp_path):
    settings, shop = small_shop
    raw = tmp_path / "raw"
    start, end = day_interval(shop.end)
    extract_shop_tables(settings.shop_db_url, raw, start, end)
    first = read_partition(raw, "orders", shop.end)
    extract_shop_tables(settings.shop_db_url, raw, start, end)
    again = read_partition(raw, "orders", shop.end)
    assert again.equals(first)
    leftovers = [p.name for p in (raw / "orders").iterdir() if p.name.startswith(".")]
    assert leftovers == [], "no temporary partitions left behind"


def test_a_range_gives_the_same_partitions_as_its_days(small_shop, tmp_path):
    settings, shop = small_shop
    first_day = shop.end - timedelta(days=4)
    extract_shop_tables(settings.shop_db_url, tmp_path / "range", midnight(first_day), midnight(shop.end))
    for offset in range(4):
        day = first_day + timedelta(days=offset)
        extract_shop_tables(settings.shop_db_url, tmp_path / "daily", *day_interval(day))
        for name in ("orders", "customers", "order_items"):
            assert read_partition(tmp_path / "range", name, day).equals(
                read_partition(tmp_path / "daily", name, day)
            )


def test_a_refund_lands_on_the_day_it_happened(small_shop, tmp_path):
    settings, shop = small_shop
    with sqlite3.connect(settings.shop_db_url.removeprefix("sqlite:///")) as con:
        order_id, updated_at = con.execute(
            "select order_id, updated_at from orders where status = 'refunded' "
            "order by updated_at desc limit 1"
        ).fetchone()
    refund_day = datetime.fromisoformat(updated_at).date()
    land_customers(settings.shop_db_url, tmp_path, shop, refund_day)
    extract_shop_tables(settings.shop_db_url, tmp_path, *day_interval(refund_day), tables=["orders"])
    rows = read_partition(tmp_path, "orders", refund_day).to_pylist()
    refunded = [r for r in rows if r["order_id"] == order_id]
    assert [r["status"] for r in refunded] == ["refunded"]


def test_a_shop_without_marketing_spend_lands_it_empty_and_says_so_once(small_shop, tmp_path, caplog):
    """marketing_spend is optional: without it every day gets an empty partition and an
    audit line, as an empty table would; any other table missing stays an error."""
    settings, shop = small_shop
    db = tmp_path / "shop.db"
    shutil.copy(settings.shop_db_url.removeprefix("sqlite:///"), db)
    with closing(sqlite3.connect(db)) as con:
        con.execute("drop table marketing_spend")
    raw, first = tmp_path / "raw", shop.end - timedelta(days=2)
    days = [first + timedelta(days=offset) for offset in range(3)]
    window = midnight(first), midnight(shop.end + timedelta(days=1))
    with caplog.at_level(logging.INFO, logger="nurture.extract.shop_tables"):
        results = extract_shop_tables(f"sqlite:///{db}", raw, *window)
    assert [m for m in caplog.messages if "marketing_spend" in m] == [
        "shop table marketing_spend not found: no spend input; CAC and payback stay empty"
    ]
    spend = [r for r in results if r.table == "marketing_spend"]
    assert [(r.day, r.read, r.accepted, r.quarantined) for r in spend] == [(str(d), 0, 0, 0) for d in days]
    assert {r.table for r in results} == set(SHOP_TABLES) and any(r.read for r in results)
    for r in results:
        assert r.read == r.accepted + r.quarantined, r
    for day in days:
        landed = read_partition(raw, "marketing_spend", day)
        assert landed.num_rows == 0 and landed.schema.equals(arrow_schema(SHOP_TABLES["marketing_spend"]))
        assert read_partition(raw / QUARANTINE, "marketing_spend", day).num_rows == 0
        [audit] = read_partition(raw / AUDIT, "marketing_spend", day).to_pylist()
        assert (audit["rows_read"], audit["rows_accepted"], audit["rows_quarantined"]) == (0, 0, 0)

    with closing(sqlite3.connect(db)) as con:
        con.execute("drop table carts")
    with pytest.raises(SourceUnavailableError, match="table carts not found"):
        extract_shop_tables(f"sqlite:///{db}", tmp_path / "again", *day_interval(shop.end))


def test_events_are_accepted_or_quarantined_never_lost(small_shop, tmp_path):
    settings, shop = small_shop
    day = shop.end
    original = settings.log_dir / LOG_NAME.format(day=day.isoformat())
    good = gzip.decompress(original.read_bytes()).splitlines()
    first = json.loads(good[0])
    bad = [
        b'{"event_id": "broken", ',  # malformed JSON
        b'{"event_id": "x1", "event_type": "email_sent", "customer_id": 1, "timestamp": "\xff\xfe"}',
        json.dumps(first | {"event_id": "x2", "event_type": "teleported"}).encode(),
        json.dumps({k: v for k, v in first.items() if k != "customer_id"} | {"event_id": "x3"}).encode(),
        json.dumps(first | {"event_id": "x4", "customer_id": "abc"}).encode(),
        json.dumps(first | {"event_id": "x5", "timestamp": "2099-01-01T00:00:00Z"}).encode(),
        good[0],  # the same event_id twice
    ]
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    (log_dir / original.name).write_bytes(gzip.compress(b"\n".join(good + bad) + b"\n"))
    [result] = extract_event_logs(log_dir, tmp_path / "raw", *day_interval(day))
    assert result.read == len(good) + len(bad)
    assert result.accepted == len(good)
    assert result.quarantined == len(bad)
    quarantine = read_partition(tmp_path / "raw" / QUARANTINE, "events", day).to_pylist()
    reasons = {(q["source_line"] - len(good), q["field"], q["rule"]) for q in quarantine}
    assert reasons == {
        (1, "*", "malformed_json"),
        (2, "*", "invalid_utf8"),
        (3, "event_type", "unknown_event_type"),
        (4, "customer_id", "missing_required"),
        (5, "customer_id", "wrong_type"),
        (6, "timestamp", "after_interval_end"),
        (7, "event_id", "duplicate"),
    }
    assert all(q["source_file"] == original.name for q in quarantine)


def test_a_truncated_log_keeps_its_complete_lines(small_shop, tmp_path):
    settings, shop = small_shop
    original = settings.log_dir / LOG_NAME.format(day=shop.end.isoformat())
    lines = gzip.decompress(original.read_bytes()).splitlines()
    cut = gzip.compress(b"\n".join(lines) + b"\n")[:-40]  # lose the gzip trailer and some data
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / original.name).write_bytes(cut)
    [result] = extract_event_logs(tmp_path / "logs", tmp_path / "raw", *day_interval(shop.end))
    assert result.read == result.accepted + result.quarantined
    quarantine = read_partition(tmp_path / "raw" / QUARANTINE, "events", shop.end).to_pylist()
    assert [q["rule"] for q in quarantine] == ["truncated_file"]
    assert result.accepted >= len(lines) - 5


def test_a_missing_log_file_says_which_and_what_to_do(tmp_path):
    settings = load_settings(tmp_path)
    settings.log_dir.mkdir(parents=True)
    with pytest.raises(SourceMissingError, match=r"events-2025-06-30\.jsonl\.gz.*re-run the day"):
        extract_event_logs(settings.log_dir, settings.raw_dir, *day_interval(date(2025, 6, 30)))
    assert not list(settings.raw_dir.rglob("*.parquet")), "nothing half-extracted"


def test_the_generator_extract_raw_suite_and_staging_know_the_same_event_types():
    """A new event type (here the SMS and push opt-outs) must be accepted everywhere at once:
    the extract would quarantine it, the raw suite block it, the staging test fail on it."""
    suite = json.loads((PROJECT_ROOT / "expectations" / "raw_events.json").read_text())
    [in_set] = [
        e["kwargs"]["value_set"]
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] == "event_type"
    ]
    models = yaml.safe_load((DBT_PROJECT_DIR / "models/staging/events/_events__models.yml").read_text())
    [column] = [c for c in models["models"][0]["columns"] if c["name"] == "event_type"]
    [accepted] = [
        t["accepted_values"]["arguments"]["values"] for t in column["data_tests"] if "accepted_values" in t
    ]
    assert set(EXTRACT_EVENT_TYPES) == set(GENERATED_EVENT_TYPES) == set(in_set) == set(accepted)
    assert {"sms_bounced", "push_token_invalid", "unsubscribed"} <= set(EXTRACT_EVENT_TYPES)
