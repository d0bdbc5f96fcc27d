"""A shop without engagement logs runs end to end: orders are enough to start.

The shop declares its event source absent (``NURTURE_EVENT_SOURCE=none``): each day
lands an empty events partition, the events freshness check is skipped (and says
so), and everything built from orders works: stages, RFM, loyalty, the order-based
segments, the checks, the exports and the report; engagement-based models are empty.
"""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta

import duckdb
import pytest

from nurture import pipeline
from nurture.config import load_settings
from tests.conftest import make_shop, midnight


@pytest.fixture(scope="module")
def orders_only(tmp_path_factory):
    home = tmp_path_factory.mktemp("orders_only")
    _, shop = make_shop(home, customers=200, days=90, seed=13)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NURTURE_EVENT_SOURCE", "none")
        settings = load_settings(home)
        shutil.rmtree(settings.log_dir)  # no log shipper yet
        start, last = midnight(shop.start), midnight(shop.end)
        pipeline.extract_shop(settings, settings.shop_db_url, start, last)
        pipeline.extract_events(settings, start, last)
        end = last + timedelta(days=1)
        outcome = pipeline.run_day(settings, settings.shop_db_url, last, end, "orders_only")
    return settings, shop, outcome


def test_an_orders_only_shop_runs_every_step(orders_only):
    settings, shop, outcome = orders_only
    assert outcome.error() is None, outcome.warnings()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        count = lambda table: con.execute(f"select count(*) from {table}").fetchone()[0]  # noqa: E731
        assert count("fct_engagement_events") == 0
        assert count("dim_customers") > 150
        assert count("fct_orders") > 100
        stages = {s for (s,) in con.execute("select distinct lifecycle_stage from dim_customers").fetchall()}
        assert {"prospect", "new", "active"} <= stages
        assert count("dim_customer_rfm") > 50
        assert count("seg_welcome_series") > 0  # signups need no events
    assert outcome.entries, "segments went out"
    report = (settings.home / "reports" / f"retention-report-{shop.end}.html").read_text()
    assert report.count("No event source") == 2  # email engagement and NPS, labelled
    assert "Lifecycle stage mix" in report


def test_the_events_freshness_check_is_skipped_and_says_so(orders_only, caplog):
    settings, shop, _ = orders_only
    day = midnight(shop.end)
    with caplog.at_level(logging.INFO, logger="nurture.quality.checks"):
        counts = pipeline.validate_raw(settings, day, day + timedelta(days=1), "orders_only_again")
    assert "events freshness not checked" in caplog.text
    assert counts["expectations"] > 0
