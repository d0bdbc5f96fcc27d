"""Retention metrics marts against an independent pandas computation from the shop database.

One generated shop with more than a year of history (so customers can churn), extracted
into the raw zone, one dbt build of the retention marts as of a date inside the last month.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest
import yaml

from nurture import pipeline
from nurture.config import DBT_PROJECT_DIR
from nurture.warehouse.transform import run_dbt
from tests.conftest import make_shop, midnight
from tests.reference import monthly_retention_reference

RUN_DATE = date(2025, 6, 20)  # the shop ends 2025-06-30: June is partial, later refunds are unseen
VARS = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
HISTORY_START = date.fromisoformat(VARS["history_start_date"])
MARTS = ["rpt_monthly_retention", "rpt_daily_customer_activity"]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """(shop db path, monthly mart, daily mart, pandas reference), built once for the module."""
    # 600 days: customers can go 365 days without buying before the first month, and
    # this seed puts customers on every edge of the S and E windows (see the edge test).
    settings, shop = make_shop(tmp_path_factory.mktemp("metrics"), customers=500, days=600, seed=3)
    end = midnight(shop.end + timedelta(days=1))
    pipeline.extract_shop(settings, settings.shop_db_url, midnight(shop.start), end)
    build = ["build", "--select", *(f"+{m}" for m in MARTS), "--indirect-selection", "cautious"]
    outcome = run_dbt(settings, build, RUN_DATE)
    failed = [f"{r.node.name}: {r.message}" for r in outcome.result or [] if r.status in ("error", "fail")]
    assert outcome.success and not failed, failed or outcome.exception
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        monthly = con.sql("select * from rpt_monthly_retention order by month_start_date").df()
        daily = con.sql("select * from rpt_daily_customer_activity order by activity_date").df()
    db_path = settings.shop_db_url.removeprefix("sqlite:///")
    expected = monthly_retention_reference(db_path, RUN_DATE, HISTORY_START, VARS["churn_days"])
    return db_path, monthly, daily, expected


def assert_rates_equal(got: pd.Series, want: pd.Series, months: pd.Series, name: str) -> None:
    """Equal to 1e-12, or both null."""
    for value, reference, month in zip(got, want, months, strict=True):
        if pd.isna(reference):
            assert pd.isna(value), f"{name} {month}: mart {value}, pandas null"
        else:
            assert math.isclose(value, reference, rel_tol=0, abs_tol=1e-12), (
                f"{name} {month}: mart {value}, pandas {reference}"
            )


def test_months_run_from_history_start_to_the_partial_run_month(warehouse):
    _, monthly, _, expected = warehouse
    months = [d.date() for d in pd.to_datetime(monthly["month_start_date"])]
    assert months == list(expected["month_start_date"])
    assert months[0] == HISTORY_START.replace(day=1)
    assert monthly["is_partial_month"].tolist() == [False] * (len(monthly) - 1) + [True]
    assert pd.Timestamp(monthly["period_end_date"].iloc[-1]).date() == RUN_DATE


def test_crr_counts_and_rate_equal_pandas(warehouse):
    db_path, monthly, _, expected = warehouse
    # The reference sees the shop as of the run date: orders changed later are not seen
    # (there are some, so the warehouse's visibility rule is exercised).
    cutoff = str(RUN_DATE + timedelta(days=1))
    with sqlite3.connect(db_path) as con:
        query = "select count(*) from orders where ordered_at < ? and updated_at >= ?"
        assert con.execute(query, [cutoff, cutoff]).fetchone()[0] > 0
    counts = ["customers_at_start", "customers_at_end", "new_customers"]
    pd.testing.assert_frame_equal(monthly[counts].astype("int64"), expected[counts].astype("int64"))
    months = expected["month_start_date"]
    crr = expected["customer_retention_rate"]
    assert_rates_equal(monthly["customer_retention_rate"], crr, months, "CRR")
    assert_rates_equal(monthly["churn_rate"], 1 - crr, months, "churn rate")
    assert (crr < 1).all() and (crr > 0).all(), "customers churn in this shop: CRR is not trivially 1"


def test_the_s_and_e_windows_are_exact_to_the_day(warehouse):
    """The mart's S and E differ from the counts of a window a day shorter or longer: an
    off-by-one in the mart, either way, would fail here (this shop has customers on
    every window edge)."""
    db_path, monthly, _, _ = warehouse
    for shift in (-1, 1):
        shifted = monthly_retention_reference(db_path, RUN_DATE, HISTORY_START, VARS["churn_days"] + shift)
        for column in ("customers_at_start", "customers_at_end"):
            assert monthly[column].tolist() != shifted[column].tolist(), (column, shift)


def test_repeat_purchase_rate_equals_pandas(warehouse):
    _, monthly, _, expected = warehouse
    assert monthly["buyers"].tolist() == expected["buyers"].tolist()
    assert monthly["repeat_buyers"].tolist() == expected["repeat_buyers"].tolist()
    rate = expected["repeat_purchase_rate"]
    assert_rates_equal(monthly["repeat_purchase_rate"], rate, expected["month_start_date"], "repeat rate")
    assert 0 < rate.min() < rate.max() < 1


def test_daily_counts_add_up_to_the_monthly_ones(warehouse):
    _, monthly, daily, _ = warehouse
    by_day = daily.set_index(pd.to_datetime(daily["activity_date"]))
    for row in monthly.itertuples():
        month = by_day.loc[pd.Timestamp(row.month_start_date) : pd.Timestamp(row.period_end_date)]
        assert month["active_customers"].iloc[-1] == row.customers_at_end
        assert month["new_customers"].sum() == row.new_customers
        assert month["paid_orders"].sum() == row.paid_orders
    # A complete month's E is the next month's S; the active count moves by
    # new + reactivated - churned from one day to the next.
    assert monthly["customers_at_end"].iloc[:-1].tolist() == monthly["customers_at_start"].iloc[1:].tolist()
    moves = daily["new_customers"] + daily["reactivated_customers"] - daily["churned_customers"]
    assert (daily["active_customers"].diff().iloc[1:] == moves.iloc[1:]).all()
    assert daily["churned_customers"].sum() > 0 and daily["reactivated_customers"].sum() > 0
