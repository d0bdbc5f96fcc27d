"""Shop timestamps as other tools write them (issue 20): each row lands in exactly one
daily window, as its UTC instant, and a timestamp that does not read is quarantined once."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import date, datetime, timedelta
from urllib.parse import quote

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import DateTime

from nurture.extract.raw_zone import AUDIT, QUARANTINE, partition_dir
from nurture.extract.shop_tables import extract_shop_tables
from nurture.shop_schema import SHOP_TABLES
from tests.conftest import day_interval, midnight

CUSTOMERS = SHOP_TABLES["customers"]
TIMESTAMPS = [c.name for c in CUSTOMERS.columns if isinstance(c.type, DateTime)]
DAYS = [date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)]


def customer(customer_id: int, stamp, **changes) -> dict:
    """A customer row whose timestamps all hold ``stamp``."""
    row = {
        "customer_id": customer_id, "email": f"c{customer_id}@example.com", "phone": None,
        "push_token": None, "first_name": "Ann", "birthday": None, "country": "DE",
        "time_zone": "Europe/Berlin", "consent_email": 1, "consent_sms": 0, "consent_push": 0,
    }  # fmt: skip
    return row | dict.fromkeys(TIMESTAMPS, stamp) | changes


def sqlite_shop(path, rows: list[dict], timestamp_type: str = "TEXT") -> str:
    """A shop written with the sqlite3 module: values stored as given, no NOT NULL."""
    con = sqlite3.connect(path)
    columns = [f"{c.name} {timestamp_type if c.name in TIMESTAMPS else ''}" for c in CUSTOMERS.columns]
    con.execute(f"create table customers ({', '.join(columns)}, primary key (customer_id))")
    con.execute("create index customers_updated_at on customers (updated_at)")
    con.execute(
        "create table fx_rates (rate_date text, currency text, rate_to_reporting real, updated_at text)"
    )
    names = [c.name for c in CUSTOMERS.columns]
    con.executemany(
        f"insert into customers values ({', '.join('?' * len(names))})", [[r[n] for n in names] for r in rows]
    )
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def extract_days(url: str, raw, days=DAYS):
    results = []
    for day in days:
        results += extract_shop_tables(url, raw, *day_interval(day), tables=["customers"])
    return results


def part(raw, day: date):
    return pq.read_table(partition_dir(raw, "customers", day) / "part-0.parquet")


def landed(raw, days=DAYS) -> dict[int, list[tuple[date, dict]]]:
    """customer_id -> every (day, row) accepted into the raw zone."""
    rows: dict[int, list] = {}
    for day in days:
        for row in part(raw, day).to_pylist():
            rows.setdefault(row["customer_id"], []).append((day, row))
    return rows


def held(raw, days=DAYS) -> list[dict]:
    """Every quarantined row of ``days``, with its day and its customer_id read back from the line."""
    rows = []
    for day in days:
        table = pq.read_table(partition_dir(raw / QUARANTINE, "customers", day) / "part-0.parquet")
        for row in table.to_pylist():
            rows.append(row | {"day": day, "customer_id": int(json.loads(row["raw_line"])["customer_id"])})
    return rows


def audits(raw, days=DAYS) -> list[dict]:
    return [pq.read_table(partition_dir(raw / AUDIT, "customers", day)).to_pylist()[0] for day in days]


def assert_each_row_in_its_day(raw, expected: dict[int, datetime], days=DAYS) -> None:
    """Exactly the expected rows, each accepted once, on its UTC day, every timestamp as its UTC instant."""
    rows = landed(raw, days)
    assert sorted(rows) == sorted(expected)
    for customer_id, moment in expected.items():
        [(day, row)] = rows[customer_id]
        assert (day, row["updated_at"]) == (moment.date(), moment), customer_id
        assert [row[n] for n in TIMESTAMPS] == [moment] * len(TIMESTAMPS), customer_id


def test_text_in_any_iso_form_lands_in_exactly_one_day_as_utc(tmp_path):
    stamps = {
        1: ("2025-01-01 00:00:00", datetime(2025, 1, 1)),  # issue 20: no fraction, at midnight
        2: ("2025-01-01 23:59:59", datetime(2025, 1, 1, 23, 59, 59)),
        3: ("2025-01-02 00:00:00", datetime(2025, 1, 2)),
        4: ("2025-01-02T00:00:00Z", datetime(2025, 1, 2)),
        5: ("2025-01-02T12:30:00.25Z", datetime(2025, 1, 2, 12, 30, 0, 250000)),
        6: ("2025-01-03T01:30:00+02:00", datetime(2025, 1, 2, 23, 30)),
        7: ("2025-01-02T19:00:00-05:00", datetime(2025, 1, 3)),  # midnight UTC, through an offset
        8: ("2025-01-03 05:29:59.999999+05:30", datetime(2025, 1, 2, 23, 59, 59, 999999)),
        9: ("2025-01-03 10:00:00+0100", datetime(2025, 1, 3, 9)),  # an offset SQLite cannot read
        10: ("2025-01-03", datetime(2025, 1, 3)),  # a date alone
        11: ("2025-01-01 23:59:59.9996", datetime(2025, 1, 1, 23, 59, 59, 999600)),  # SQLite: 2025-01-02
        12: ("2025-01-03T23:59:59.9999999Z", datetime(2025, 1, 3, 23, 59, 59, 999999)),
    }
    url = sqlite_shop(tmp_path / "shop.db", [customer(i, text) for i, (text, _) in stamps.items()])
    results = extract_days(url, tmp_path / "daily")
    assert sum(r.read for r in results) == sum(r.accepted for r in results) == len(stamps)
    assert_each_row_in_its_day(tmp_path / "daily", {i: moment for i, (_, moment) in stamps.items()})

    # A history load (one chunk for the three days) lands the same partitions.
    extract_shop_tables(url, tmp_path / "range", midnight(DAYS[0]), midnight(date(2025, 1, 4)), ["customers"])
    for day in DAYS:
        assert part(tmp_path / "range", day).equals(part(tmp_path / "daily", day))


def test_epoch_seconds_stored_as_numbers_are_read_as_utc(tmp_path):
    stamps = {
        1: (1735689600, datetime(2025, 1, 1)),
        2: (1735775999.5, datetime(2025, 1, 1, 23, 59, 59, 500000)),
        3: (1735776000, datetime(2025, 1, 2)),
        4: ("2025-01-03T00:00:00Z", datetime(2025, 1, 3)),  # the same column, as text
    }
    rows = [customer(i, value) for i, (value, _) in stamps.items()]
    rows.append(customer(5, 1735689600, updated_at=1735689600000))  # milliseconds: off the calendar
    url = sqlite_shop(tmp_path / "shop.db", rows, timestamp_type="INTEGER")
    results = extract_days(url, tmp_path / "raw")
    assert_each_row_in_its_day(tmp_path / "raw", {i: moment for i, (_, moment) in stamps.items()})
    [bad] = held(tmp_path / "raw")
    assert [bad[k] for k in ("day", "customer_id", "field", "rule")] == [
        DAYS[0],
        5,
        "updated_at",
        "wrong_type",
    ]
    assert json.loads(bad["raw_line"])["updated_at"] == "1735689600000"
    assert sum(r.read for r in results) == sum(r.accepted + r.quarantined for r in results) == len(rows)


def test_a_shop_written_by_pandas_lands_its_utc_instants(tmp_path):
    berlin = pd.to_datetime(
        ["2025-01-01 01:00:00", "2025-01-02 00:30:00", "2025-01-03 00:59:59.5", "2025-01-03 01:00:00"],
        format="ISO8601",
    ).tz_localize("Europe/Berlin")  # stored as '2025-01-01 01:00:00+01:00'
    utc = [moment.tz_convert("UTC").tz_localize(None).to_pydatetime() for moment in berlin]
    frame = pd.DataFrame([customer(i + 1, None) for i in range(len(utc))])
    for name in TIMESTAMPS:  # naive UTC, which pandas writes without a fraction when it is zero
        frame[name] = pd.Series(utc, dtype="datetime64[us]")
    frame["updated_at"] = berlin
    frame["consent_email"] = True
    with sqlite3.connect(tmp_path / "shop.db") as con:
        frame.to_sql("customers", con, index=False)
        con.execute(
            "create table fx_rates (rate_date text, currency text, rate_to_reporting real, updated_at text)"
        )
        assert con.execute("select updated_at from customers where customer_id = 1").fetchone() == (
            "2025-01-01 01:00:00+01:00",
        )
    results = extract_days(f"sqlite:///{tmp_path / 'shop.db'}", tmp_path / "raw")
    assert sum(r.read for r in results) == sum(r.accepted for r in results) == len(utc)
    assert_each_row_in_its_day(tmp_path / "raw", {i + 1: moment for i, moment in enumerate(utc)})
    assert utc[0] == datetime(2025, 1, 1) and utc[2] == datetime(2025, 1, 2, 23, 59, 59, 500000)


def test_an_unreadable_updated_at_is_quarantined_once_with_its_line(tmp_path):
    good = "2025-01-01 10:00:00"
    rows = [
        customer(1, good),
        customer(2, good, updated_at="yesterday"),  # off the calendar: found by the first extract
        customer(3, good, updated_at=None),
        customer(4, good, updated_at="0000-00-00 00:00:00"),
        customer(5, good, updated_at="2025-01-02 25:00:00"),  # sorts into 2025-01-02
        customer(6, good, updated_at="2025-01-03T10:00:00+25:00"),  # sorts into 2025-01-03
        customer(7, "2025-01-02 10:00:00", signed_up_at="2025-13-45"),
    ]
    url = sqlite_shop(tmp_path / "shop.db", rows)
    results = extract_days(url, tmp_path / "raw")
    assert [(r.day, r.read, r.accepted, r.quarantined) for r in results] == [
        ("2025-01-01", 4, 1, 3),
        ("2025-01-02", 2, 0, 2),
        ("2025-01-03", 1, 0, 1),
    ]
    assert [a["rows_read"] for a in audits(tmp_path / "raw")] == [4, 2, 1]
    expected = [
        (date(2025, 1, 1), 2, "updated_at", "wrong_type", "yesterday"),
        (date(2025, 1, 1), 3, "updated_at", "missing_required", None),
        (date(2025, 1, 1), 4, "updated_at", "wrong_type", "0000-00-00 00:00:00"),
        (date(2025, 1, 2), 5, "updated_at", "wrong_type", "2025-01-02 25:00:00"),
        (date(2025, 1, 2), 7, "signed_up_at", "wrong_type", "2025-01-02 10:00:00"),
        (date(2025, 1, 3), 6, "updated_at", "wrong_type", "2025-01-03T10:00:00+25:00"),
    ]

    def quarantine(raw):
        return sorted(
            (q["day"], q["customer_id"], q["field"], q["rule"], json.loads(q["raw_line"])["updated_at"])
            for q in held(raw)
        )

    assert quarantine(tmp_path / "raw") == expected
    assert all(q["source_file"] == "shop:customers" and q["source_line"] >= 1 for q in held(tmp_path / "raw"))
    assert list(landed(tmp_path / "raw")) == [1]

    # Re-running the first day finds the unplaced rows again there, the last day not at all.
    extract_days(url, tmp_path / "raw", [DAYS[0], DAYS[2]])
    assert quarantine(tmp_path / "raw") == expected
    # A history load finds them on its last day.
    extract_shop_tables(url, tmp_path / "range", midnight(DAYS[0]), midnight(date(2025, 1, 4)), ["customers"])
    off_calendar = {2, 3, 4}
    assert quarantine(tmp_path / "range") == sorted(
        (DAYS[2] if q[1] in off_calendar else q[0], *q[1:]) for q in expected
    )


@pytest.fixture
def pg_shop(pg_url):
    """A shop schema on the project's PostgreSQL, dropped afterwards: (URL, cursor, schema)."""
    import psycopg2

    schema = f"shop_ts_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(pg_url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(f'create schema "{schema}"')
    # A server whose sessions show another time zone: the extract must not depend on it.
    options = quote(f"-c search_path={schema} -c timezone=Asia/Kolkata", safe="")
    try:
        yield f"{pg_url}?options={options}", cur, schema
    finally:
        cur.execute(f'drop schema "{schema}" cascade')
        conn.close()


def test_postgresql_timestamp_and_timestamptz_windows_are_utc(pg_shop, tmp_path):
    url, cur, schema = pg_shop
    types = {"customer_id": "integer", "signed_up_at": "timestamp"}  # naive: UTC
    types |= {n: "timestamptz" for n in TIMESTAMPS if n != "signed_up_at"}
    types |= {n: "boolean" for n in ("consent_email", "consent_sms", "consent_push")}
    columns = ", ".join(f"{c.name} {types.get(c.name, 'text')}" for c in CUSTOMERS.columns)
    cur.execute(f'create table "{schema}".customers ({columns}, primary key (customer_id))')
    cur.execute(f'create index on "{schema}".customers (updated_at)')
    fx_columns = "rate_date date, currency text, rate_to_reporting numeric, updated_at timestamptz"
    cur.execute(f'create table "{schema}".fx_rates ({fx_columns})')
    stamps = {
        1: ("2025-01-01 00:00:00+00", datetime(2025, 1, 1)),
        2: ("2025-01-02 05:29:59.999999+05:30", datetime(2025, 1, 1, 23, 59, 59, 999999)),
        3: ("2025-01-01 19:00:00-05", datetime(2025, 1, 2)),
        4: ("2025-01-02T12:00:00Z", datetime(2025, 1, 2, 12)),
    }
    rows = [customer(i, text, signed_up_at=str(moment)) for i, (text, moment) in stamps.items()]
    rows += [customer(5, "2025-01-01 10:00:00+00", updated_at=None)]
    rows += [customer(6, "2025-01-01 10:00:00+00", updated_at="infinity")]
    names = [c.name for c in CUSTOMERS.columns]
    for row in rows:
        values = [bool(row[n]) if types.get(n) == "boolean" else row[n] for n in names]
        cur.execute(f'insert into "{schema}".customers values ({", ".join(["%s"] * len(names))})', values)

    results = extract_days(url, tmp_path / "raw", DAYS[:2])
    assert_each_row_in_its_day(tmp_path / "raw", {i: moment for i, (_, moment) in stamps.items()}, DAYS[:2])
    assert sorted(
        (q["day"], q["customer_id"], q["field"], q["rule"]) for q in held(tmp_path / "raw", DAYS[:2])
    ) == [
        (DAYS[0], 5, "updated_at", "missing_required"),
        (DAYS[0], 6, "updated_at", "wrong_type"),
    ]
    assert sum(r.read for r in results) == sum(r.accepted + r.quarantined for r in results) == len(rows)


def test_a_shops_own_statuses_and_currency_come_in_through_settings(tmp_path):
    """NURTURE_STATUS_MAP maps 'completed' onto paid (the raw line keeps the shop's word);
    NURTURE_REPORTING_CURRENCY makes a dollar shop's orders need no rates."""
    from sqlalchemy import create_engine, insert

    from nurture.extract.limits import Limits
    from nurture.shop_schema import metadata

    db = tmp_path / "shop.db"
    engine = create_engine(f"sqlite:///{db}")
    metadata.create_all(engine)
    stamp = datetime(2025, 3, 1, 10)
    with engine.begin() as conn:
        conn.execute(insert(metadata.tables["orders"]), [
            {"order_id": i, "customer_id": 1, "ordered_at": stamp, "status": status, "currency": "USD",
             "subtotal": 10, "discount": 0, "total": 10, "promo_code": None, "updated_at": stamp}
            for i, status in enumerate(["completed", "shipped", "paid"], start=1)
        ])  # fmt: skip
        conn.execute(insert(metadata.tables["customers"]), [{
            "customer_id": 1, "signed_up_at": stamp, "email": "a@example.com", "first_name": "A",
            "country": "US", "time_zone": "UTC", "consent_email": True, "consent_email_at": stamp,
            "consent_sms": False, "consent_sms_at": stamp, "consent_push": False, "consent_push_at": stamp,
            "updated_at": stamp,
        }])  # fmt: skip
    limits = Limits(reporting_currency="USD", status_map=(("completed", "paid"),))
    day = datetime(2025, 3, 1)
    extract_shop_tables(f"sqlite:///{db}", tmp_path / "raw", day, day + timedelta(days=1),
                        tables=["customers", "orders"], limits=limits)  # fmt: skip
    with duckdb.connect() as con:
        accepted = con.execute(
            f"select order_id, status from read_parquet('{tmp_path}/raw/orders/*/*.parquet') order by 1"
        ).fetchall()
        rejected = con.execute(
            f"select field, rule, raw_line from read_parquet('{tmp_path}/raw/_quarantine/orders/*/*.parquet')"
        ).fetchall()
    assert accepted == [(1, "paid"), (3, "paid")]  # USD known: the reporting currency
    [(field, rule, line)] = rejected
    assert (field, rule) == ("status", "unknown_value") and '"shipped"' in line
