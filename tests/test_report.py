"""The retention report, the campaign-uplift mart and the BI snapshot, on a generated
shop run for several days through the pipeline's steps (real dbt, real exports)."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from nurture import pipeline
from nurture.bi import snapshot as bi
from nurture.config import DBT_PROJECT_DIR, load_settings
from nurture.export.config import DEFAULT_FILE
from nurture.privacy.erasure import apply_erasures, request_erasure
from nurture.privacy.warehouse_retention import RetentionSettingError, check_periods
from nurture.report.build import FIRST_RUNS_ONLY, NO_SPEND_INPUT, SECTIONS, build_report, report_path
from tests.conftest import day_interval, make_shop, midnight
from tests.reference import (
    acquisition_cost_reference,
    entrants_to_detect,
    min_detectable_uplift,
    newcombe_interval,
)

DAYS = 5
HOLDOUT_SHARE = 0.3  # a large holdout, so both groups have customers on a small shop
VARS = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
WINDOW_DAYS, MIN_GROUP = VARS["uplift_window_days"], VARS["uplift_min_group_customers"]
Z_95 = 1.959963984540054


@pytest.fixture(scope="module")
def report_shop(tmp_path_factory):
    home = tmp_path_factory.mktemp("report_shop")
    config = yaml.safe_load(DEFAULT_FILE.read_text())
    config["guards"]["holdout_share"] = HOLDOUT_SHARE
    (home / "destinations.yml").write_text(yaml.safe_dump(config))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NURTURE_DESTINATIONS", str(home / "destinations.yml"))
        settings, shop = make_shop(home, customers=900, days=400, seed=31)
        days = [shop.end - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
        pipeline.extract_shop(settings, settings.shop_db_url, midnight(shop.start), midnight(days[0]))
        pipeline.extract_events(settings, midnight(shop.start), midnight(days[0]))
        for day in days:  # the DAG's steps that feed the report (the checks only on the last day)
            start, end = day_interval(day)
            pipeline.extract_shop(settings, settings.shop_db_url, start, end)
            pipeline.extract_events(settings, start, end)
            pipeline.transform(settings, day, data_tests=day == days[-1])  # the day reported is checked
            if day == days[-1]:
                pipeline.validate_marts(settings, day, f"test__{day}")
            pipeline.export(settings, day, f"test__{day}", end)
        pipeline.publish_bi(settings, days[-1])
        pipeline.report(settings, days[-1])
    return settings, days


def test_the_report_draws_every_chart_with_data_and_needs_no_network(report_shop):
    settings, days = report_shop
    page = report_path(settings, days[-1]).read_text()
    figures = re.findall(
        r'<figure class="chart" data-chart="(\w+)" data-points="(\d+)">(.*?)</figure>', page, re.S
    )
    assert [name for name, _, _ in figures] == [name for name, _, _ in SECTIONS]
    for name, points, body in figures:
        assert int(points) > 0, f"chart {name} has no data"
        assert body.count("<svg") == 1 and len(re.findall(r"<path|<image|<use", body)) > 5, name
    assert "<script" not in page, "no scripts: it opens offline and prints"
    assert not re.search(r'(src|href)="(https?:)?//', page), "nothing is fetched from the network"
    assert "No data yet" not in page


def pandas_uplift(allocations: pd.DataFrame, orders: pd.DataFrame, run_date) -> pd.DataFrame:
    """fct_campaign_uplift computed independently (the model's documented rules)."""
    daily = allocations[allocations["run_hour"].isna() & (allocations["run_date"] < run_date)]
    rows = []
    runs = sorted(daily["run_date"].unique())
    previous = {run: runs[i - 1] if i else None for i, run in enumerate(runs)}
    keys = set(zip(daily["segment"], daily["run_date"], daily["customer_id"], strict=True))
    first_run = daily.groupby("segment")["run_date"].min().to_dict()
    paid = orders[orders["is_paid"]]
    last_arrival: dict[tuple, object] = {}  # (segment, customer) -> their previous arrival
    for (run, segment, customer), statuses in daily.groupby(["run_date", "segment", "customer_id"])["status"]:
        if (statuses == "no_consent").any() or (segment, previous[run], customer) in keys:
            continue
        before, last_arrival[segment, customer] = last_arrival.get((segment, customer)), run
        if before is not None and before >= run - timedelta(days=WINDOW_DAYS):
            continue  # came back within the window of their last arrival: not a new entrant
        mine = paid[
            (paid["customer_id"] == customer)
            & (paid["ordered_date"] > run)
            & (paid["ordered_date"] <= run + timedelta(days=WINDOW_DAYS))
        ]
        rows.append(
            {
                "segment": segment,
                "entry_date": run,
                "is_first_run": run == first_run[segment],
                "holdout": (statuses == "holdout").any(),
                "exported": (statuses == "included").any(),
                "bought": len(mine) > 0,
                "revenue": float(mine["total_reporting"].sum()),
            }
        )
    result = []
    for (segment, entry, first), group in pd.DataFrame(rows).groupby(
        ["segment", "entry_date", "is_first_run"]
    ):
        treated, holdout = group[~group["holdout"]], group[group["holdout"]]
        n1, n0 = len(treated), len(holdout)
        p1 = treated["bought"].mean() if n1 else np.nan
        p0 = holdout["bought"].mean() if n0 else np.nan
        m1 = treated["revenue"].mean() if n1 else np.nan
        m0 = holdout["revenue"].mean() if n0 else np.nan
        v1 = treated["revenue"].var(ddof=1) if n1 > 1 else np.nan
        v0 = holdout["revenue"].var(ddof=1) if n0 > 1 else np.nan
        b1, b0 = int(treated["bought"].sum()), int(holdout["bought"].sum())
        sized = n1 >= MIN_GROUP and n0 >= MIN_GROUP
        rate_low, rate_high = newcombe_interval(b1, n1, b0, n0) if sized else (np.nan, np.nan)
        revenue_margin = Z_95 * np.sqrt(v1 / n1 + v0 / n0) if sized else np.nan
        reasons = [
            (n0 == 0, "no holdout customers"),
            (n1 == 0, "no treated customers"),
            (n0 < MIN_GROUP, f"holdout under {MIN_GROUP} customers"),
            (n1 < MIN_GROUP, f"treated under {MIN_GROUP} customers"),
        ]
        result.append(
            {
                "segment": segment,
                "entry_date": entry,
                "is_first_run": first,
                "treated_customers": n1,
                "exported_customers": int(group["exported"].sum()),
                "holdout_customers": n0,
                "treated_buyers": b1,
                "holdout_buyers": b0,
                "rate_uplift": p1 - p0,
                "rate_uplift_ci_low": rate_low,
                "rate_uplift_ci_high": rate_high,
                "revenue_uplift": m1 - m0,
                "revenue_uplift_ci_high": m1 - m0 + revenue_margin,
                "interval_null_reason": next((why for hit, why in reasons if hit), None),
                "days_observed": min(WINDOW_DAYS, (run_date - entry).days),
            }
        )
    return pd.DataFrame(result)


def test_uplift_matches_an_independent_pandas_computation(report_shop):
    settings, days = report_shop
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        allocations = con.execute("select * from exports.allocations").df()
        orders = con.execute(
            "select customer_id, ordered_date, is_paid, total_reporting from fct_orders"
        ).df()
        mart = con.execute("select * from fct_campaign_uplift").df()
    for frame, column in ((allocations, "run_date"), (orders, "ordered_date"), (mart, "entry_date")):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    expected = pandas_uplift(allocations, orders, days[-1])
    assert len(expected) >= 5
    assert (expected["treated_customers"] > 1).any() and (expected["holdout_customers"] > 1).any()
    assert expected["rate_uplift_ci_low"].notna().any(), "some rows have an interval"
    got = mart.set_index(["segment", "entry_date"]).sort_index()
    want = expected.set_index(["segment", "entry_date"]).sort_index()
    assert list(got.index) == list(want.index)
    reasons = "interval_null_reason"
    assert got[reasons].fillna("").tolist() == want[reasons].fillna("").tolist()
    for column in want.columns.drop(reasons):
        assert np.allclose(
            got[column].astype(float), want[column].astype(float), rtol=1e-9, atol=1e-9, equal_nan=True
        ), column
    # The first run's members are reported apart from the later days' entrants.
    assert got["is_first_run"].any() and not got["is_first_run"].all()
    assert got.loc[got["is_first_run"]].index.get_level_values("entry_date").max() == days[0]
    # No interval on a group under the minimum: a reason instead.
    small = (got["treated_customers"] < MIN_GROUP) | (got["holdout_customers"] < MIN_GROUP)
    assert small.any() and (~small).any(), "the shop has rows on both sides of the minimum"
    interval = got[["rate_uplift_ci_low", "rate_uplift_ci_high", "revenue_uplift_ci_low"]]
    assert interval[small].isna().all().all() and got.loc[small, reasons].notna().all()
    assert interval[~small].notna().all().all() and got.loc[~small, reasons].isna().all()


def pandas_detectable(uplift: pd.DataFrame, holdout_share: float) -> pd.DataFrame:
    """rpt_campaign_detectable_uplift from fct_campaign_uplift's rows, by its docs (detectable_uplift)."""
    last_run = uplift["entry_date"].max()
    lookback_start = last_run - timedelta(days=VARS["uplift_entry_lookback_days"])
    shares = sorted({*VARS["uplift_holdout_share_options"], holdout_share})
    rows = []
    for segment, rows_of in uplift.groupby("segment"):
        first_run = rows_of.loc[rows_of["is_first_run"], "entry_date"].min()
        entry_days = (last_run - max(lookback_start, first_run)).days
        later = rows_of[~rows_of["is_first_run"]]
        recent = later[later["entry_date"] > lookback_start]
        entrants = int((recent["treated_customers"] + recent["holdout_customers"]).sum())
        per_day = entrants / entry_days if entry_days > 0 else math.nan
        complete = later[later["is_complete"]]
        both = lambda f, what: f[f"treated_{what}"] + f[f"holdout_{what}"]  # noqa: E731
        rate, source = math.nan, None
        for label, customers, buyers, frame in (
            ("holdout", complete["holdout_customers"], complete["holdout_buyers"], None),
            ("all entrants", both(complete, "customers"), both(complete, "buyers"), None),
            ("holdout, extrapolated", later["holdout_customers"], later["holdout_buyers"], later),
            ("all entrants, extrapolated", both(later, "customers"), both(later, "buyers"), later),
        ):
            if customers.sum() >= MIN_GROUP:
                if frame is None:
                    rate = buyers.sum() / customers.sum()
                else:  # a constant daily hazard over the customer-days observed
                    hazard = buyers.sum() / (customers * frame["days_observed"]).sum()
                    rate = 1 - math.exp(-WINDOW_DAYS * hazard)
                source = label
                break
        for share in shares:
            usable = per_day > 0 and 0 < rate < 1
            window = per_day * VARS["uplift_detection_window_days"]
            rows.append(
                {
                    "segment": segment,
                    "holdout_share": share,
                    "is_current_share": share == holdout_share,
                    "entrants": entrants,
                    "entrants_per_day": per_day,
                    "base_rate": rate,
                    "base_rate_source": source,
                    "min_detectable_uplift": min_detectable_uplift(rate, window, share)
                    if usable
                    else math.nan,
                    "days_to_detect_target": math.ceil(
                        entrants_to_detect(rate, VARS["uplift_target_effect"], share) / per_day
                    )
                    if usable
                    else math.nan,
                }
            )
    return pd.DataFrame(rows)


def test_detectable_uplift_matches_an_independent_computation(report_shop):
    settings, _ = report_shop
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        uplift = con.execute("select * from fct_campaign_uplift").df()
        mart = con.execute("select * from rpt_campaign_detectable_uplift").df()
    uplift["entry_date"] = pd.to_datetime(uplift["entry_date"]).dt.date
    want = pandas_detectable(uplift, HOLDOUT_SHARE).set_index(["segment", "holdout_share"]).sort_index()
    got = mart.set_index(["segment", "holdout_share"]).sort_index()
    assert list(got.index) == list(want.index)
    assert got["is_current_share"].tolist() == want["is_current_share"].tolist()
    assert got["base_rate_source"].fillna("").tolist() == want["base_rate_source"].fillna("").tolist()
    for column in (
        "entrants",
        "entrants_per_day",
        "base_rate",
        "min_detectable_uplift",
        "days_to_detect_target",
    ):
        assert np.allclose(
            got[column].astype(float), want[column].astype(float), rtol=1e-6, equal_nan=True
        ), column
    # Rows on both sides: a segment with an MDE, and one with a reason instead.
    assert got["min_detectable_uplift"].notna().any() and got["null_reason"].notna().any()
    assert (got["min_detectable_uplift"].isna() == got["null_reason"].notna()).all()
    # A larger holdout detects a smaller uplift.
    for _, rows in got.dropna(subset=["min_detectable_uplift"]).groupby(level="segment"):
        assert rows["min_detectable_uplift"].is_monotonic_decreasing


def test_acquisition_cost_matches_an_independent_computation(report_shop):
    settings, days = report_shop
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        paid = con.execute(
            "select customer_id, ordered_date as purchase_date, total_reporting from fct_orders "
            "where is_paid and ordered_date <= ?",
            [days[-1]],
        ).df()
        mart = con.execute("select * from rpt_monthly_acquisition_cost order by month_start_date").df()
    want = acquisition_cost_reference(
        settings.shop_db_url.removeprefix("sqlite:///"),
        days[-1],
        settings.start_date,
        paid,
        VARS["gross_margin_share"],
    )
    assert len(want) >= 3, "the generated shop has spend in several months"
    mart["month_start_date"] = pd.to_datetime(mart["month_start_date"]).dt.date
    assert mart["month_start_date"].tolist() == want["month_start_date"].tolist()
    assert mart["new_customers"].tolist() == want["new_customers"].tolist()
    assert np.allclose(mart["spend_reporting"].astype(float), want["spend_reporting"], atol=0.011)
    for column in ("cac_reporting", "margin_per_customer_to_date"):
        assert np.allclose(mart[column].astype(float), want[column], rtol=1e-4), column
    assert mart["months_observed"].tolist() == want["months_observed"].tolist()
    assert mart["payback_months"].astype("Int64").tolist() == want["payback_months"].astype("Int64").tolist()
    assert mart["payback_months"].notna().any(), "some month is paid back"


def test_the_report_says_why_a_chart_is_empty(report_shop, tmp_path):
    """A shop without marketing_spend (an empty mart) and segments past their first run only
    (no entrants yet): the report says why, not "no data yet"."""
    settings, days = report_shop
    snapshot = tmp_path / "bi" / "snapshots" / "young-shop-without-spend"
    snapshot.mkdir(parents=True)
    published = bi.current_dir(settings).resolve()
    changed = {
        "rpt_monthly_acquisition_cost": "select * from {} limit 0",
        "fct_campaign_uplift": "select * from {} where is_first_run",
        "rpt_campaign_detectable_uplift": "select * replace (null as min_detectable_uplift) from {}",
    }
    for table in published.glob("*.parquet"):
        if table.stem not in changed:
            (snapshot / table.name).symlink_to(table)
    with duckdb.connect() as con:
        for name, query in changed.items():
            source = repr(str(published / f"{name}.parquet"))
            con.execute(f"copy ({query.format(source)}) to '{snapshot / name}.parquet'")
    (tmp_path / "bi" / "current").symlink_to(snapshot)
    page = build_report(replace(settings, home=tmp_path), days[-1]).read_text()
    assert NO_SPEND_INPUT.replace("'", "&#39;") in page
    assert page.count(FIRST_RUNS_ONLY.replace("'", "&#39;")) == 2  # uplift and detectable uplift
    for chart in ("acquisition_cost", "uplift", "detectable_uplift"):
        assert f'data-chart="{chart}" data-points="0"' in page
    assert "No data yet" not in page


def test_bi_snapshot_reads_while_the_warehouse_is_locked_and_forgets_erased_customers(report_shop):
    settings, days = report_shop
    current = bi.current_dir(settings)
    assert current.is_symlink()
    first = current.resolve()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        customers = con.execute("select count(*) from dim_customers").fetchone()[0]
        victim = con.execute("select min(customer_id) from fct_orders").fetchone()[0]
    pipeline.publish_bi(settings, days[-1])
    second = current.resolve()
    assert second != first and first.exists(), "the previous snapshot stays for readers still on it"
    assert len(list((settings.home / "bi" / "snapshots").iterdir())) == 2, "older ones are pruned"
    # The catalogue answers while a writer holds the warehouse (DuckDB locks the file).
    with (
        duckdb.connect(str(settings.warehouse_path)),
        duckdb.connect(str(bi.bi_dir(settings) / bi.CATALOGUE), read_only=True) as catalogue,
    ):
        assert catalogue.execute("select count(*) from dim_customers").fetchone()[0] == customers
        listed = catalogue.execute("select table_name from information_schema.tables").fetchall()
        tables = {name for (name,) in listed}
    assert {"dim_customers", "fct_campaign_uplift", "rpt_cohort_retention", "exports__sync_log"} <= tables

    request_erasure(settings, {victim})
    apply_erasures(settings)
    for snapshot in (first, second):
        with duckdb.connect() as con:
            for table in ("dim_customers", "fct_orders", "dim_customer_rfm"):
                path = snapshot / f"{table}.parquet"
                rows = con.execute(
                    f"select count(*) from '{path}' where customer_id = ?", [victim]
                ).fetchone()[0]
                assert rows == 0, f"{path} still holds the erased customer"


def test_retention_periods_delete_old_warehouse_rows_with_personal_data(report_shop, monkeypatch):
    """Last in the module: it deletes rows. A run five days after the last one, with the
    events kept 30 days, the allocations 7 (the frequency cap's window) and the audit 3."""
    settings, days = report_shop
    as_of = days[-1] + timedelta(days=5)
    tables = {
        "fct_engagement_events": ("cast(occurred_at as date)", 30),
        "exports.allocations": ("run_date", 7),
        "audit.validation_results": ("logical_date", 3),
        "exports.sync_log": ("logical_date", 3),
    }

    def counts() -> dict[str, tuple[int, int]]:
        """(rows before the table's cut-off, rows from it on)."""
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            return {
                table: con.execute(
                    f"select count(*) filter (where {column} < ?), count(*) filter (where {column} >= ?) "
                    f"from {table}",
                    [as_of - timedelta(days=period)] * 2,
                ).fetchone()
                for table, (column, period) in tables.items()
            }

    before = counts()
    assert all(old > 0 for old, _ in before.values()), before
    assert before["fct_engagement_events"][1] > 0 and before["exports.allocations"][1] > 0
    periods = {"events_retention_days": 30, "allocations_retention_days": 7, "audit_retention_days": 3}
    pipeline.apply_retention(replace(settings, **periods), as_of)
    after = counts()
    assert {table: old for table, (old, _) in after.items()} == dict.fromkeys(tables, 0)
    assert {table: new for table, (_, new) in after.items()} == {t: new for t, (_, new) in before.items()}

    # Periods that would break a rule are refused, not applied quietly.
    with pytest.raises(RetentionSettingError, match="frequency cap"):
        pipeline.apply_retention(replace(settings, allocations_retention_days=2), as_of)
    with pytest.raises(RetentionSettingError, match="spark"):
        check_periods(replace(settings, events_retention_days=30, dbt_target="spark"), 7)
    monkeypatch.setenv("NURTURE_AUDIT_RETENTION_DAYS", "0")
    with pytest.raises(ValueError, match="NURTURE_AUDIT_RETENTION_DAYS"):
        load_settings(settings.home)
