"""The source check: what a new user learns about their shop before the first extract."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest

from nurture.config import load_settings
from nurture.extract.source_check import SourceReport, check_source

# The shop schema as a hand-made shop might declare it (SQLite: timestamps as text).
DDL = {
    "customers": """customer_id integer primary key, signed_up_at datetime not null,
        email varchar(254) not null, phone varchar(32), push_token varchar(64),
        first_name varchar(64) not null, birthday date, country varchar(2) not null,
        time_zone varchar(64) not null, consent_email boolean not null,
        consent_email_at datetime not null, consent_sms boolean not null,
        consent_sms_at datetime not null, consent_push boolean not null,
        consent_push_at datetime not null, updated_at datetime not null""",
    # no category: a required column missing
    "products": """product_id integer primary key, name varchar(128) not null,
        price numeric(12, 2) not null, currency varchar(3) not null,
        replenishment_days integer, updated_at datetime not null""",
    "orders": """order_id integer primary key, customer_id integer not null,
        ordered_at datetime not null, status varchar(16) not null, currency varchar(3) not null,
        subtotal numeric(12, 2) not null, discount numeric(12, 2) not null,
        total numeric(12, 2) not null, promo_code varchar(32), updated_at datetime not null""",
    # no primary key constraint: duplicates possible
    "order_items": """order_item_id integer not null, order_id integer not null,
        product_id integer not null, quantity integer not null,
        unit_price numeric(12, 2) not null, updated_at datetime not null""",
    "carts": """cart_id integer primary key, customer_id integer not null,
        created_at datetime not null, status varchar(16) not null, order_id integer,
        item_count integer not null, value numeric(12, 2) not null, currency varchar(3) not null,
        updated_at datetime not null""",
    "fx_rates": """rate_date date not null, currency varchar(3) not null,
        rate_to_reporting numeric(18, 8) not null, updated_at datetime not null,
        primary key (rate_date, currency)""",
}
OLD = "1997-01-01 00:00:00"  # a test account from before the shop's configured opening
T = "2025-01-01 10:00:00"


def customer(customer_id: int, at: str, updated_at: str) -> tuple:
    return (customer_id, at, f"c{customer_id}@example.org", None, None, "Ann", None, "DE",
            "Europe/Berlin", 1, at, 0, at, 0, at, updated_at)  # fmt: skip


ROWS = {
    "customers": [customer(1, OLD, OLD), customer(2, T, "2025-01-01T10:00:00Z")],
    "products": [(1, "Tea", 4.5, "EUR", 30, "2025-01-01 08:00:00.000000")],
    "orders": [
        (1, 2, T, "paid", "EUR", 9.0, 0, 9.0, None, "2025-01-02 09:00:00.000000"),
        (2, 99, T, "paid", "EUR", 9.0, 0, 9.0, None, "2025-01-02 09:00:00.000000"),  # unknown customer
        (3, 2, T, "completed", "EUR", 9.0, 0, 9.0, None, "2025-01-02 09:00:00.000000"),
        (4, 2, T, "paid", "USD", 9.0, 0, 9.0, None, "2025-01-02 09:00:00.000000"),  # no USD rates
    ],
    "order_items": [
        (1, 1, 1, 2, 4.5, "2025-01-02 09:00:00.000000"),
        (1, 2, 1, 2, 4.5, "2025-01-02 09:00:00.000000"),  # the same key again
        (2, 3, 1, 2, 4.5, "2025-01-02 09:00:00.000000"),
    ],
    "carts": [(1, 2, T, "open", None, 1, 4.5, "EUR", "2025-01-01 10:30:00.000000")],
    "fx_rates": [("2025-01-01", "GBP", 1.17, "2025-01-01 00:00:00.000000")],
}


def settings_for(tmp_path: Path, monkeypatch, db: Path, log_dir: Path):
    monkeypatch.setenv("NURTURE_SHOP_DB_URL", f"sqlite:///{db}")
    monkeypatch.setenv("NURTURE_LOG_DIR", str(log_dir))
    for name in ("NURTURE_SHOP_OPENED_ON", "NURTURE_EVENT_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    return load_settings(tmp_path)


def build_shop(db: Path, ddl: dict[str, str], rows: dict[str, list[tuple]]) -> None:
    with sqlite3.connect(db) as con:
        for name, columns in ddl.items():
            con.execute(f"create table {name} ({columns})")
            if rows.get(name):
                marks = ", ".join("?" for _ in rows[name][0])
                con.executemany(f"insert into {name} values ({marks})", rows[name])
    con.close()


def flagged(report: SourceReport) -> dict[tuple[str, str], str]:
    """(where, check) -> verdict for every finding that is not ok."""
    found = {("shop database", f.check): f.verdict for f in report.findings if f.verdict != "ok"}
    for table in report.tables:
        found |= {(table.table, f.check): f.verdict for f in table.findings if f.verdict != "ok"}
    return found | {("logs", f.check): f.verdict for f in report.logs.findings if f.verdict != "ok"}


def message(report: SourceReport, where: str, check: str) -> str:
    findings = (
        report.logs.findings
        if where == "logs"
        else next(t for t in report.tables if t.table == where).findings
    )
    return next(f.message for f in findings if f.check == check)


def assert_printable(report: SourceReport) -> None:
    json.dumps(report.as_dict())
    lines = report.lines()
    assert lines and all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    assert not any("…" in line for line in lines)


@pytest.fixture
def problem_shop(tmp_path, monkeypatch) -> SourceReport:
    db = tmp_path / "shop.db"
    build_shop(db, DDL, ROWS)
    return check_source(settings_for(tmp_path, monkeypatch, db, tmp_path / "no-logs"))


def test_the_generated_shop_is_ready_to_extract(small_shop):
    settings, shop = small_shop
    report = check_source(settings)
    assert report.blockers() == []
    assert report.warnings() == []
    assert report.suggestions["NURTURE_EVENT_SOURCE"] == "logs"
    assert report.suggestions["NURTURE_START_DATE"] == shop.start.replace(day=1).isoformat()
    assert "NURTURE_STATUS_MAP" not in report.suggestions
    tables = {t.table: t for t in report.tables}
    assert {name: t.rows for name, t in tables.items()} == {
        name: n for name, n in shop.rows.items() if name != "events"
    }
    orders = tables["orders"]
    assert orders.duplicate_keys == 0 and orders.unknown_customers == 0
    assert orders.monthly.months == 6 and orders.monthly.empty_months == 0
    stamps = {s.column: s for s in orders.timestamps}
    assert stamps["updated_at"].formats == {"YYYY-MM-DD HH:MM:SS.ffffff": shop.rows["orders"]}
    assert report.logs.files == shop.log_files and report.logs.missing_day_count == 0
    assert report.logs.sampled_lines > 0 and report.logs.rejected_lines == 0
    assert_printable(report)


def test_every_problem_is_found_once_with_its_verdict(problem_shop):
    report = problem_shop
    assert flagged(report) == {
        ("products", "columns"): "blocker",
        ("order_items", "primary key order_item_id"): "blocker",
        ("customers", "shop opened"): "blocker",
        ("orders", "customers"): "warn",
        ("orders", "statuses"): "warn",
        ("orders", "currencies"): "warn",
        ("logs", "folder"): "warn",
    }
    assert len(report.blockers()) == 3  # 'T', 'Z' and a midnight without fraction are read fine
    assert "required column category missing" in message(report, "products", "columns")
    assert "1 key on 2 rows" in message(report, "order_items", "primary key order_item_id")
    updated = next(s for s in report.tables[0].timestamps if s.column == "updated_at")
    assert updated.formats == {"YYYY-MM-DD HH:MM:SS": 1, "YYYY-MM-DDTHH:MM:SSZ": 1}
    assert updated.unparsed == 0 and updated.earliest == OLD
    assert "1 row with a timestamp before NURTURE_SHOP_OPENED_ON=2000-01-01" in message(
        report, "customers", "shop opened"
    )
    assert message(report, "orders", "customers").startswith("1 row whose customer is not in customers")
    assert message(report, "orders", "statuses").startswith("completed (1 row) not one of paid")
    assert message(report, "orders", "currencies").startswith("USD (1 row) without rates")
    assert report.suggestions == {
        "NURTURE_START_DATE": "2025-01-01",
        "NURTURE_SHOP_OPENED_ON": "1997-01-01",
        "NURTURE_EVENT_SOURCE": "none",
        "NURTURE_STATUS_MAP": "completed=paid",
    }


def test_the_report_prints_whole_at_80_columns_and_as_json(problem_shop):
    assert_printable(problem_shop)
    text = "\n".join(problem_shop.lines())
    assert "NURTURE_STATUS_MAP=completed=paid" in text
    assert "Result: 3 blockers, 4 warnings" in text


def test_a_shop_missing_tables_and_columns_is_a_finding_not_a_crash(tmp_path, monkeypatch):
    db = tmp_path / "shop.db"
    build_shop(db, {"orders": "order_id integer primary key, total numeric"}, {"orders": [(1, 5)]})
    report = check_source(settings_for(tmp_path, monkeypatch, db, tmp_path / "no-logs"))
    found = flagged(report)
    missing = {"customers", "products", "order_items", "carts", "fx_rates"}
    assert {where for (where, check), v in found.items() if check == "table" and v == "blocker"} == missing
    assert found[("orders", "columns")] == "blocker"
    assert "updated_at" in message(report, "orders", "columns")
    assert_printable(report)


def test_a_missing_optional_column_is_a_blocker_until_declared_absent(tmp_path, monkeypatch):
    ddl = DDL | {"customers": DDL["customers"].replace("push_token varchar(64),", "")}
    ddl["products"] += ", category varchar(64)"
    rows = {name: ROWS[name][:1] for name in ("products", "orders", "order_items", "carts")}
    rows["customers"] = [c[:4] + c[5:] for c in ROWS["customers"][1:]]
    db = tmp_path / "shop.db"
    build_shop(db, ddl, rows | {"products": [(*ROWS["products"][0], "tea")]})
    report = check_source(settings_for(tmp_path, monkeypatch, db, tmp_path / "no-logs"))
    assert flagged(report) == {("customers", "columns"): "blocker", ("logs", "folder"): "warn"}
    assert "optional column push_token missing" in message(report, "customers", "columns")
    assert "NURTURE_ABSENT_COLUMNS=customers.push_token" in message(report, "customers", "columns") or any(
        "NURTURE_ABSENT_COLUMNS=customers.push_token" in b for b in report.blockers()
    )
    assert report.suggestions["NURTURE_ABSENT_COLUMNS"] == "customers.push_token"

    monkeypatch.setenv("NURTURE_ABSENT_COLUMNS", "customers.push_token")
    report = check_source(load_settings(tmp_path))
    assert flagged(report) == {("logs", "folder"): "warn"}
    assert "push_token absent as declared" in message(report, "customers", "columns")
    assert_printable(report)


def test_marketing_spend_is_optional_and_checked_like_the_other_tables(problem_shop, tmp_path, monkeypatch):
    [absent] = [t for t in problem_shop.tables if t.table == "marketing_spend"]
    assert not absent.present and [(f.check, f.verdict, f.message) for f in absent.findings] == [
        ("table", "ok", "not found (optional): no spend input; CAC and payback stay empty")
    ]
    spend = """spend_month date not null, channel varchar(32) not null, spend numeric(14, 2) not null,
        currency varchar(3) not null, updated_at datetime not null, primary key (spend_month, channel)"""
    stamp = "2025-02-05 09:00:00.000000"
    rows = [("2025-01-01", "search", 500, "EUR", stamp), ("2025-01-15", "social", 300, "EUR", stamp),
            ("2025-01-01", "affiliate", 100, "USD", stamp)]  # fmt: skip
    db = tmp_path / "spend.db"
    build_shop(db, DDL | {"marketing_spend": spend}, ROWS | {"marketing_spend": rows})
    report = check_source(settings_for(tmp_path, monkeypatch, db, tmp_path / "no-logs"))
    assert {check: v for (where, check), v in flagged(report).items() if where == "marketing_spend"} == {
        "spend months": "warn",
        "currencies": "warn",
    }
    assert message(report, "marketing_spend", "spend months").startswith(
        "1 row whose spend_month is not the first day of a month, e.g. 2025-01-15"
    )
    assert message(report, "marketing_spend", "currencies").startswith("USD (1 row) without rates")
    assert_printable(report)


def test_only_optional_shop_columns_can_be_declared_absent(monkeypatch, tmp_path):
    for value, error in [
        ("customers.email", "every customers row needs email"),
        ("customers.pushtoken", "a column of nurture/shop_schema.py"),
        ("push_token", "write table.column"),
    ]:
        monkeypatch.setenv("NURTURE_ABSENT_COLUMNS", value)
        with pytest.raises(ValueError, match=error):
            load_settings(tmp_path)


def test_an_unreachable_database_is_one_blocker_and_no_file_is_created(tmp_path, monkeypatch):
    db = tmp_path / "absent.db"
    report = check_source(settings_for(tmp_path, monkeypatch, db, tmp_path / "no-logs"))
    assert [f.check for f in report.findings] == ["connection"]
    assert len(report.blockers()) == 1 and not db.exists()
    assert_printable(report)


def test_log_files_missing_days_and_bad_lines(tmp_path, monkeypatch):
    db = tmp_path / "shop.db"
    build_shop(db, DDL, {})
    logs = tmp_path / "logs"
    logs.mkdir()
    good = {"event_id": "ev_1", "event_type": "session_started", "customer_id": 2,
            "timestamp": "2025-01-01T10:00:00Z", "campaign": None, "properties": {}}  # fmt: skip
    for day, lines in {"2025-01-01": [json.dumps(good), "{not json"], "2025-01-04": []}.items():
        with gzip.open(logs / f"events-{day}.jsonl.gz", "wt") as out:
            out.write("".join(f"{line}\n" for line in lines))
    (logs / "README.txt").write_text("not a log")
    report = check_source(settings_for(tmp_path, monkeypatch, db, logs))
    assert report.logs.missing_days == ["2025-01-02 .. 2025-01-03"]
    assert report.logs.other_files == 1
    assert report.logs.rejects == {"malformed_json (*)": 1}
    assert report.logs.earliest_event == "2025-01-01 10:00:00"
    verdicts = {f.check: f.verdict for f in report.logs.findings}
    assert verdicts == {"files": "warn", "lines": "warn"}
    assert report.suggestions["NURTURE_EVENT_SOURCE"] == "logs"
