"""The bad-input catalogue: each kind of bad row goes through the real extract and
lands in the quarantine with its field and rule; nothing is lost on the way."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from datetime import date, timedelta

import pyarrow.parquet as pq
import pytest

from nurture.extract.event_logs import LOG_NAME, extract_event_logs
from nurture.extract.limits import Limits
from nurture.extract.raw_zone import AUDIT, QUARANTINE, partition_dir
from nurture.extract.shop_tables import SourceSchemaError, extract_shop_tables
from tests.conftest import day_interval, land_customers


@pytest.fixture
def shop_copy(small_shop, tmp_path):
    """A writable copy of the small shop: (settings-like paths, shop, sqlite path, limits)."""
    settings, shop = small_shop
    db = tmp_path / "shop.db"
    shutil.copy(settings.shop_db_url.removeprefix("sqlite:///"), db)
    limits = Limits(shop_opened_on=shop.start, max_amount=50_000)
    return shop, db, limits


def quarantine_rows(raw, dataset, day) -> list[dict]:
    return pq.read_table(partition_dir(raw / QUARANTINE, dataset, day) / "part-0.parquet").to_pylist()


def audit_row(raw, dataset, day) -> dict:
    [row] = pq.read_table(partition_dir(raw / AUDIT, dataset, day) / "part-0.parquet").to_pylist()
    return row


def drop_constraints(con: sqlite3.Connection, table: str) -> None:
    """Rebuild a table without its primary key and NOT NULLs, as a replica or CDC feed may be."""
    con.execute(f"create table {table}_copy as select * from {table}")
    con.execute(f"drop table {table}")
    con.execute(f"alter table {table}_copy rename to {table}")


def test_every_bad_order_kind_is_quarantined_with_its_field_and_rule(shop_copy, tmp_path):
    shop, db, limits = shop_copy
    day = shop.end - timedelta(days=1)
    stamp = f"{day} 12:00:00.000000"
    with sqlite3.connect(db) as con:
        drop_constraints(con, "orders")
        template = dict(
            customer_id=1, ordered_at=f"{day} 11:00:00.000000", status="paid", currency="EUR",
            subtotal=10, discount=0, total=10, promo_code=None, updated_at=stamp,
        )  # fmt: skip
        bad = {
            900001: ({"total": -5}, ("total", "negative_amount")),
            900002: ({"subtotal": 1e7, "total": 1e7}, ("total", "absurd_amount")),
            900003: ({"currency": "XXX"}, ("currency", "unknown_currency")),
            900004: ({"customer_id": 999_999}, ("customer_id", "unknown_customer")),
            900005: ({"ordered_at": "2099-01-01 00:00:00.000000"}, ("ordered_at", "after_interval_end")),
            900006: ({"ordered_at": "1999-01-01 00:00:00.000000"}, ("ordered_at", "before_shop_opened")),
            900007: ({"total": "ten euros"}, ("total", "wrong_type")),
            900008: ({"status": None}, ("status", "missing_required")),
            900009: ({"status": "stolen"}, ("status", "unknown_value")),
            900010: ({"customer_id": 1.5}, ("customer_id", "wrong_type")),  # not rounded to 2
        }
        rows = [template | {"order_id": oid} | change for oid, (change, _) in bad.items()]
        # A good order, a second copy of it (same updated_at: a duplicate) and its
        # refund (later updated_at: an update, kept).
        good = template | {"order_id": 900100}
        rows += [good, good, good | {"status": "refunded", "updated_at": f"{day} 15:00:00.000000"}]
        columns = list(rows[0])
        con.executemany(
            f"insert into orders ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
            [tuple(r[c] for c in columns) for r in rows],
        )
        in_window = con.execute(
            "select count(*) from orders where updated_at >= ? and updated_at < ?",
            (f"{day} 00:00:00", f"{day + timedelta(days=1)} 00:00:00"),
        ).fetchone()[0]

    raw = tmp_path / "raw"
    land_customers(f"sqlite:///{db}", raw, shop, day)
    [result] = extract_shop_tables(f"sqlite:///{db}", raw, *day_interval(day), ["orders"], limits)
    quarantined = quarantine_rows(raw, "orders", day)
    reasons = {json.loads(q["raw_line"])["order_id"]: (q["field"], q["rule"]) for q in quarantined}
    expected = {str(oid): reason for oid, (_, reason) in bad.items()} | {"900100": ("order_id", "duplicate")}
    assert reasons == expected
    assert all(q["source_file"] == "shop:orders" and q["source_line"] > 0 for q in quarantined)

    accepted = pq.read_table(partition_dir(raw, "orders", day) / "part-0.parquet").to_pylist()
    assert [r["status"] for r in accepted if r["order_id"] == 900100] == ["paid", "refunded"]
    assert result.read == in_window == result.accepted + result.quarantined
    assert audit_row(raw, "orders", day) == {
        "dataset": "orders", "day": day, "rows_read": in_window, "rows_accepted": result.accepted,
        "rows_quarantined": len(expected), "extra_columns": None, "missing_columns": None,
    }  # fmt: skip


def test_bad_marketing_spend_rows_are_quarantined_with_their_field_and_rule(shop_copy, tmp_path):
    shop, db, limits = shop_copy
    day = shop.end - timedelta(days=1)  # no generated spend is reported that day
    stamp = f"{day} 09:00:00.000000"
    rows = {  # channel: (spend_month, spend, currency, the expected (field, rule) or None)
        "podcast": ("2025-05-01", 120.0, "EUR", None),
        "tv": ("2025-05-01", -50.0, "EUR", ("spend", "negative_amount")),
        "radio": ("2025-05-01", 80.0, "XXX", ("currency", "unknown_currency")),
        "print": ("2025-05-15", 80.0, "EUR", ("spend_month", "not_month_start")),
    }
    with sqlite3.connect(db) as con:
        con.executemany(
            "insert into marketing_spend values (?, ?, ?, ?, ?)",
            [(month, channel, spend, cur, stamp) for channel, (month, spend, cur, _) in rows.items()],
        )
    raw = tmp_path / "raw"
    [result] = extract_shop_tables(f"sqlite:///{db}", raw, *day_interval(day), ["marketing_spend"], limits)
    quarantined = quarantine_rows(raw, "marketing_spend", day)
    reasons = {json.loads(q["raw_line"])["channel"]: (q["field"], q["rule"]) for q in quarantined}
    assert reasons == {channel: row[3] for channel, row in rows.items() if row[3]}
    assert all(q["source_file"] == "shop:marketing_spend" for q in quarantined)
    accepted = pq.read_table(partition_dir(raw, "marketing_spend", day) / "part-0.parquet").to_pylist()
    assert [(r["channel"], str(r["spend_month"]), float(r["spend"])) for r in accepted] == [
        ("podcast", "2025-05-01", 120.0)
    ]
    assert (result.read, result.accepted, result.quarantined) == (4, 1, 3)
    assert audit_row(raw, "marketing_spend", day)["rows_read"] == 4


def test_an_invalid_email_quarantines_the_customer_row(shop_copy, tmp_path):
    shop, db, limits = shop_copy
    day = shop.end
    with sqlite3.connect(db) as con:
        customer_id = con.execute(
            "select customer_id from customers where updated_at >= ? order by customer_id limit 1",
            (str(day),),
        ).fetchone()[0]
        con.execute("update customers set email = 'ann.example.com' where customer_id = ?", (customer_id,))
    raw = tmp_path / "raw"
    [result] = extract_shop_tables(f"sqlite:///{db}", raw, *day_interval(day), ["customers"], limits)
    [row] = quarantine_rows(raw, "customers", day)
    assert (row["field"], row["rule"]) == ("email", "invalid_email")
    assert json.loads(row["raw_line"])["customer_id"] == str(customer_id)
    assert result.quarantined == 1 and result.read == result.accepted + 1


def test_a_renamed_column_quarantines_the_window_and_a_new_column_is_reported(shop_copy, tmp_path):
    shop, db, limits = shop_copy
    day = shop.end - timedelta(days=2)
    with sqlite3.connect(db) as con:
        con.execute("alter table orders rename column promo_code to voucher_code")
        con.execute("alter table customers add column loyalty_opt_in integer")
    raw = tmp_path / "raw"
    results = extract_shop_tables(f"sqlite:///{db}", raw, *day_interval(day), ["customers", "orders"], limits)
    orders = next(r for r in results if r.table == "orders")
    assert orders.read > 0 and orders.accepted == 0 and orders.quarantined == orders.read
    assert {(q["field"], q["rule"]) for q in quarantine_rows(raw, "orders", day)} == {
        ("promo_code", "column_missing")
    }
    assert "voucher_code" in quarantine_rows(raw, "orders", day)[0]["raw_line"]
    assert audit_row(raw, "orders", day)["missing_columns"] == "promo_code"
    customers = audit_row(raw, "customers", day)
    assert customers["extra_columns"] == "loyalty_opt_in"
    assert customers["rows_quarantined"] == 0, "a new column alone does not reject rows"


def test_an_optional_column_the_shop_never_had_is_read_as_empty_once_declared(shop_copy, tmp_path):
    """NURTURE_ABSENT_COLUMNS: a shop without an app has no push tokens. Undeclared, the missing
    column quarantines the window (as a rename would); declared, every row is accepted."""
    shop, db, limits = shop_copy
    day = shop.end - timedelta(days=3)
    with sqlite3.connect(db) as con:
        con.execute("alter table customers drop column push_token")
    url, window = f"sqlite:///{db}", day_interval(day)
    [undeclared] = extract_shop_tables(url, tmp_path / "raw", *window, ["customers"], limits)
    assert undeclared.read > 0 and undeclared.accepted == 0
    assert audit_row(tmp_path / "raw", "customers", day)["missing_columns"] == "push_token"

    declared = Limits(**{**limits.__dict__, "absent_columns": ("customers.push_token",)})
    [result] = extract_shop_tables(url, tmp_path / "raw", *window, ["customers"], declared)
    assert (result.read, result.accepted, result.quarantined) == (undeclared.read, undeclared.read, 0)
    rows = pq.read_table(partition_dir(tmp_path / "raw", "customers", day)).to_pylist()
    assert len(rows) == result.read and all(r["push_token"] is None and r["email"] for r in rows)
    assert audit_row(tmp_path / "raw", "customers", day)["missing_columns"] is None


def test_a_source_without_updated_at_fails_with_a_clear_message(shop_copy, tmp_path):
    shop, db, limits = shop_copy
    with sqlite3.connect(db) as con:
        con.execute("alter table carts rename column updated_at to modified_at")
    with pytest.raises(SourceSchemaError, match="carts: column updated_at is missing"):
        extract_shop_tables(f"sqlite:///{db}", tmp_path / "raw", *day_interval(shop.end), ["carts"], limits)


def write_log(folder, day: date, lines: list[bytes]) -> None:
    folder.mkdir(exist_ok=True)
    (folder / LOG_NAME.format(day=day.isoformat())).write_bytes(
        gzip.compress(b"".join(x + b"\n" for x in lines))
    )


def test_bad_survey_answers_and_ancient_events_are_quarantined(small_shop, tmp_path):
    _, shop = small_shop
    day = shop.end
    base = {
        "event_id": "s",
        "event_type": "survey_answered",
        "customer_id": 1,
        "timestamp": f"{day}T10:00:00Z",
    }
    lines = [
        json.dumps(base | {"event_id": "ok", "properties": {"nps": 9}}),
        json.dumps(base | {"event_id": "s1", "properties": {"nps": 11}}),
        json.dumps(base | {"event_id": "s2", "properties": {"nps": "ten"}}),
        json.dumps(base | {"event_id": "s3", "properties": {}}),
        json.dumps(base | {"event_id": "s4", "properties": {"nps": 3}, "timestamp": "1999-05-01T00:00:00Z"}),
    ]
    write_log(tmp_path / "logs", day, [line.encode() for line in lines])
    limits = Limits(shop_opened_on=shop.start)
    [result] = extract_event_logs(tmp_path / "logs", tmp_path / "raw", *day_interval(day), limits)
    assert (result.read, result.accepted, result.quarantined) == (5, 1, 4)
    assert [
        (q["source_line"], q["field"], q["rule"]) for q in quarantine_rows(tmp_path / "raw", "events", day)
    ] == [
        (2, "properties.nps", "out_of_range"),
        (3, "properties.nps", "wrong_type"),
        (4, "properties.nps", "missing_required"),
        (5, "timestamp", "before_shop_opened"),
    ]


def test_an_empty_log_file_lands_an_empty_day_and_is_audited(tmp_path):
    day = date(2025, 6, 30)
    write_log(tmp_path / "logs", day, [])
    [result] = extract_event_logs(tmp_path / "logs", tmp_path / "raw", *day_interval(day))
    assert (result.read, result.accepted, result.quarantined) == (0, 0, 0)
    assert audit_row(tmp_path / "raw", "events", day)["rows_read"] == 0
    assert pq.read_table(partition_dir(tmp_path / "raw", "events", day) / "part-0.parquet").num_rows == 0


def test_raw_rows_in_equal_accepted_plus_quarantined_for_every_dataset_and_day(small_shop, tmp_path):
    settings, shop = small_shop
    first = shop.end - timedelta(days=6)
    start, end = day_interval(first)[0], day_interval(shop.end)[1]
    extract_shop_tables(settings.shop_db_url, tmp_path / "raw", start, end)
    extract_event_logs(settings.log_dir, tmp_path / "raw", start, end)
    raw = tmp_path / "raw"
    rows = 0
    datasets = ("customers", "fx_rates", "marketing_spend", "products", "orders", "order_items", "carts")
    for dataset in (*datasets, "events"):
        for offset in range(7):
            day = first + timedelta(days=offset)
            counts = audit_row(raw, dataset, day)
            landed = pq.read_table(partition_dir(raw, dataset, day) / "part-0.parquet").num_rows
            held = len(quarantine_rows(raw, dataset, day))
            assert (
                counts["rows_read"] == landed + held == counts["rows_accepted"] + counts["rows_quarantined"]
            )
            rows += landed
    assert rows > 0
