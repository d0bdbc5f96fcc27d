"""A real orders-only shop plugs in with settings only: the public CDNOW sample, end to end.

``scripts/load_cdnow.py`` writes the 6,919 purchase records of the 2,357 CDNOW customers
(1997-01-01 .. 1998-06-30, ``tests/data/cdnow/CDNOW_sample.txt``) as a shop database in
Nurture's schema, with every consent false. With nothing but the settings a user sets
(``NURTURE_EVENT_SOURCE=none``, ``NURTURE_REPORTING_CURRENCY=USD``, ``NURTURE_START_DATE`` and
``NURTURE_SHOP_OPENED_ON`` = 1997-01-01), check-source finds no blocker, the history loads,
and the last day runs every step: the marts, predictions and report fill from real data,
and nobody is exported, because nobody consented.

Time: the history extract (545 days) about 25 s, the last day's run about 35 s, the rebuild
as of 1997-09-30 about 17 s: about 75 s in all.
"""

from __future__ import annotations

import glob
import importlib.util
import shutil
import sqlite3
import sys
from contextlib import closing
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from nurture import pipeline
from nurture.config import PROJECT_ROOT, Settings, load_settings
from nurture.extract.source_check import check_source
from tests.conftest import midnight

SOURCE = PROJECT_ROOT / "tests" / "data" / "cdnow" / "CDNOW_sample.txt"
FIRST_DAY, LAST_DAY = date(1997, 1, 1), date(1998, 6, 30)
CUSTOMERS, RECORDS, REVENUE = 2_357, 6_919, Decimal("244091.94")


def load_script():
    """scripts/load_cdnow.py as a module (scripts/ is not a package)."""
    if "load_cdnow" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "load_cdnow", PROJECT_ROOT / "scripts" / "load_cdnow.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclass looks its module up
        spec.loader.exec_module(module)
    return sys.modules["load_cdnow"]


def cdnow_settings(env: pytest.MonkeyPatch, home: Path, shop_db_url: str) -> Settings:
    """What a user of this shop sets: the shop, no engagement logs, USD, its first day."""
    for name, value in {
        "NURTURE_SHOP_DB_URL": shop_db_url,
        "NURTURE_EVENT_SOURCE": "none",
        "NURTURE_REPORTING_CURRENCY": "USD",
        "NURTURE_START_DATE": FIRST_DAY.isoformat(),
        "NURTURE_SHOP_OPENED_ON": FIRST_DAY.isoformat(),
    }.items():
        env.setenv(name, value)
    return load_settings(home)


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory):
    """The CDNOW shop loaded, checked, its history extracted and its last day run."""
    home = tmp_path_factory.mktemp("cdnow")
    shop_db_url = f"sqlite:///{home / 'cdnow.db'}"
    assert load_script().main(["--source", str(SOURCE), "--shop-db", shop_db_url]) == 0
    with pytest.MonkeyPatch.context() as env:
        settings = cdnow_settings(env, home, shop_db_url)
        source = check_source(settings)
        start, last = midnight(FIRST_DAY), midnight(LAST_DAY)
        history = pipeline.extract_shop(settings, settings.shop_db_url, start, last)
        history["events"] = pipeline.extract_events(settings, start, last)
        pipeline.check_something_accepted(settings, history, start, last)
        outcome = pipeline.run_day(settings, settings.shop_db_url, last, last + timedelta(days=1), "cdnow")
    return settings, source, history, outcome


@pytest.fixture(scope="module")
def warehouse(cdnow):
    settings = cdnow[0]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        yield con


def rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_the_loader_maps_every_record_and_refuses_to_load_twice(cdnow):
    settings = cdnow[0]
    with closing(sqlite3.connect(settings.shop_db_url.removeprefix("sqlite:///"))) as con:
        query = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        orders, customers, revenue = query(
            "select count(*), count(distinct customer_id), sum(total) from orders"
        )[0]
        assert (orders, customers, revenue) == (RECORDS, CUSTOMERS, pytest.approx(float(REVENUE)))
        assert query("select count(*), sum(quantity) from order_items") == [(RECORDS, 16_479)]
        assert query("select count(*) from customers where consent_email or consent_sms or consent_push") == [
            (0,)
        ]
        # The eight $0 records (1 CD each, each its customer's only record) stay paid purchases.
        assert query("select count(*), min(status), max(status) from orders where total = 0") == [
            (8, "paid", "paid")
        ]
        assert query("select count(*) from carts") == query("select count(*) from fx_rates") == [(0,)]
    with pytest.raises(SystemExit, match="--replace"):
        load_script().main(["--source", str(SOURCE), "--shop-db", settings.shop_db_url])


def test_check_source_finds_no_blocker_and_suggests_the_settings_used(cdnow):
    _, source, _, _ = cdnow
    assert source.blockers() == []
    assert source.suggestions["NURTURE_START_DATE"] == FIRST_DAY.isoformat()
    assert source.suggestions["NURTURE_SHOP_OPENED_ON"] == FIRST_DAY.isoformat()
    assert source.suggestions["NURTURE_EVENT_SOURCE"] == "none"
    assert source.suggestions["NURTURE_REPORTING_CURRENCY"] == "USD"
    # Its empty carts and fx_rates tables are said as facts, not as problems.
    assert source.warnings() == []
    empty = {t.table: f.message for t in source.tables for f in t.findings if f.check == "rows"}
    assert empty["carts"].startswith("empty: no cart data") and empty["fx_rates"].startswith("empty")


def test_check_source_blocks_a_dollar_shop_left_at_the_default_currency(cdnow, monkeypatch):
    """At EUR, every USD order would be quarantined: a blocker that names the setting."""
    settings = cdnow[0]
    cdnow_settings(monkeypatch, settings.home, settings.shop_db_url)
    monkeypatch.delenv("NURTURE_REPORTING_CURRENCY")
    blockers = check_source(load_settings(settings.home)).blockers()
    assert [b.split(",")[0] for b in blockers] == ["products", "orders"], blockers
    assert all("set NURTURE_REPORTING_CURRENCY=USD" in b for b in blockers), blockers


def test_every_raw_row_is_accepted_or_quarantined(cdnow):
    settings, _, history, outcome = cdnow
    assert outcome.error() is None, outcome.warnings()
    for name, counts in history.items():
        assert counts["read"] == counts["accepted"] + counts["quarantined"], name
    audit = duckdb.sql(
        f"select dataset, count(distinct day), sum(rows_read), sum(rows_accepted), sum(rows_quarantined) "
        f"from read_parquet('{settings.raw_dir}/_audit/*/*/*.parquet', hive_partitioning = false) group by 1"
    ).fetchall()
    days = (LAST_DAY - FIRST_DAY).days + 1  # the history and the run's day
    read = {"customers": CUSTOMERS, "products": 1, "orders": RECORDS, "order_items": RECORDS}
    empty = ("carts", "fx_rates", "marketing_spend", "events")  # marketing_spend: an optional table
    assert {dataset: (n_days, r) for dataset, n_days, r, _, _ in audit} == {
        name: (days, read.get(name, 0)) for name in (*read, *empty)
    }
    for dataset, _, r, accepted, quarantined in audit:
        assert r == accepted + quarantined, dataset
        assert quarantined == 0, dataset  # real data, mapped honestly: nothing to set aside
    landed = sum(pq.read_metadata(p).num_rows for p in glob.glob(f"{settings.raw_dir}/orders/*/*.parquet"))
    assert landed == RECORDS


def test_customers_stages_and_rfm(warehouse):
    assert rows(warehouse, "select count(*) from dim_customers") == [(CUSTOMERS,)]
    stages = dict(rows(warehouse, "select lifecycle_stage, count(*) from dim_customers group by 1"))
    # Everyone first bought in 1997-Q1: by mid-1998 nobody is a prospect or new, and most
    # have not bought for a year. Observed: inactive 1,545, active 307, lapsing 269,
    # loyal 220, reactivated 16.
    assert set(stages) <= {"active", "loyal", "lapsing", "inactive", "reactivated"}
    assert stages["inactive"] > CUSTOMERS / 2
    assert max(stages, key=stages.get) == "inactive"
    assert min(stages["active"], stages["loyal"], stages["lapsing"]) > 100
    rfm = dict(rows(warehouse, "select rfm_segment, count(*) from dim_customer_rfm group by 1"))
    assert sum(rfm.values()) == CUSTOMERS
    assert len(rfm) >= 6  # observed 9, from Hibernating 465 to Can't lose them 2


def test_monthly_retention_covers_the_eighteen_months(warehouse):
    months = rows(
        warehouse,
        "select month_start_date, new_customers, customers_at_end, cumulative_revenue_reporting "
        "from rpt_monthly_retention order by 1",
    )
    assert [m[0] for m in months] == [date(1997 + (i // 12), i % 12 + 1, 1) for i in range(18)]
    assert [m[1] for m in months[:3]] == [781, 857, 719]  # acquisition stops after March 1997
    assert sum(m[1] for m in months) == CUSTOMERS
    assert months[-1][3] == REVENUE  # every dollar, in USD: no rates needed
    # Churn is a year without a purchase: the base shrinks only from 1998 on.
    assert months[11][2] == CUSTOMERS and months[-1][2] < CUSTOMERS / 2


def test_predicted_value_is_filled(warehouse):
    assert rows(
        warehouse,
        "select count(*), count(probability_alive), min(probability_alive) >= 0, max(probability_alive) <= 1,"
        " count(expected_value_horizon), sum(expected_value_horizon) > 0 from pred_customer_value",
    ) == [(CUSTOMERS, CUSTOMERS, True, True, CUSTOMERS, True)]
    fit = rows(
        warehouse,
        "select run_date, customers, bgnbd_converged, gg_converged, bgnbd_at_bound, gg_at_bound "
        "from pred_model_fit",
    )
    assert fit == [(LAST_DAY, CUSTOMERS, True, True, False, False)]


def test_nobody_is_exported_without_consent(cdnow, warehouse):
    settings, _, _, outcome = cdnow
    assert outcome.error() is None
    assert rows(
        warehouse, "select count(*) from dim_customers where is_emailable or is_smsable or is_pushable"
    ) == [(0,)]
    segments = [
        t
        for (t,) in rows(warehouse, "select table_name from information_schema.tables")
        if t.startswith("seg_")
    ]
    assert len(segments) >= 10
    for segment in segments:
        assert rows(warehouse, f"select count(*) from {segment}") == [(0,)], segment
    synced = rows(
        warehouse,
        "select count(*), sum(considered), sum(included), sum(sent), count(*) filter (status <> 'success') "
        "from exports.sync_log where run_id = 'cdnow'",
    )
    assert synced[0][0] >= len(segments) and synced[0][1:] == (0, 0, 0, 0)
    assert outcome.entries and all(e["included"] == 0 for e in outcome.entries)
    exported = glob.glob(f"{settings.exports_dir}/**/*.parquet", recursive=True)
    assert exported and sum(pq.read_metadata(p).num_rows for p in exported) == 0


def test_the_report_is_written(cdnow):
    settings = cdnow[0]
    report = settings.home / "reports" / f"retention-report-{LAST_DAY}.html"
    html = report.read_text()
    assert "Lifecycle stage mix" in html and "RFM segment map" in html
    assert html.count("No event source") == 2  # email engagement and NPS, labelled
    assert f"As of {LAST_DAY}" in html


def test_as_of_the_papers_calibration_end_the_fit_matches_the_paper(cdnow, tmp_path):
    """From the raw purchase records through dbt, as of 1997-09-30 (the end of Fader, Hardie &
    Lee's 39-week calibration period), the predict step finds their published parameters."""
    settings = cdnow[0]
    home = tmp_path / "as_of_1997_09_30"
    shutil.copytree(settings.home, home)
    calibration_end = date(1997, 9, 30)
    with pytest.MonkeyPatch.context() as env:
        earlier = cdnow_settings(env, home, settings.shop_db_url)
        pipeline.transform(earlier, calibration_end, data_tests=False)  # the fit is what is checked
        pipeline.predict(earlier, calibration_end)
    with duckdb.connect(str(earlier.warehouse_path), read_only=True) as con:
        (fit,) = con.execute(
            "select repeat_customers, bgnbd_r, bgnbd_alpha / 7, bgnbd_a, bgnbd_b, gg_p, gg_q, gg_v "
            f"from pred_model_fit where run_date = '{calibration_end}'"
        ).fetchall()
    # BG/NBD r, alpha (weeks), a, b; Gamma-Gamma p, q, v on the 946 repeat customers.
    published = (946, 0.243, 4.414, 0.793, 2.426, 6.25, 3.74, 15.44)
    assert fit == pytest.approx(published, rel=0.01)
