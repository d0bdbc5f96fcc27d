"""The hourly abandoned-cart refresh through real Airflow (`airflow dags test` of
`nurture_hourly_carts`) between two daily runs, on one shop with its own sandbox CRM:
it sees the day so far, publishes on the daily exports' timeline, and the next
daily run's delta starts from it, so the platform ends with exactly the audience."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

import duckdb
import pandas as pd
import pytest

from devkit.local_airflow import airflow_env, dags_test, free_port, init_metadata, sandbox_connection
from devkit.sandbox_api import SandboxApi
from nurture import pipeline
from tests.conftest import make_shop, midnight

pytestmark = pytest.mark.airflow
HOUR = 20  # the refresh of 20:00-21:00 sees the day until 21:00


@pytest.fixture(scope="module")
def refresh(tmp_path_factory):
    """Daily run of day D-1, then the hourly refresh of D 20:00 through Airflow, twice."""
    settings, shop = make_shop(tmp_path_factory.mktemp("hourly_shop"), customers=800, days=200, seed=11)
    day, before = shop.end, shop.end - timedelta(days=1)
    with SandboxApi() as crm, pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_NURTURE_CRM", sandbox_connection(crm.url))
        pipeline.extract_shop(settings, settings.shop_db_url, midnight(shop.start), midnight(before))
        pipeline.extract_events(settings, midnight(shop.start), midnight(before))
        pipeline.run_day(settings, settings.shop_db_url, midnight(before), midnight(day), "daily_before")
        env = airflow_env(settings, api_port=free_port(), calendar=(shop.start, shop.end))
        logs = settings.home / "service-logs"
        init_metadata(env, logs / "init.log")
        # A manual run at T covers the interval that ends at T: [HOUR:00, HOUR+1:00).
        logical = f"{day.isoformat()}T{HOUR + 1:02d}:00:00+00:00"
        first = dags_test(env, logical, logs / "hourly.log", dag_id="nurture_hourly_carts", check=False)
        folder = settings.exports_dir / "abandoned_cart" / f"{day.isoformat()}T{HOUR:02d}"
        first_files = {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}
        after_hourly = set(crm.store.audiences.get("abandoned_cart", {}))
        again = dags_test(env, logical, logs / "hourly-again.log", dag_id="nurture_hourly_carts", check=False)
        after_rerun = set(crm.store.audiences.get("abandoned_cart", {}))
        pipeline.run_day(
            settings, settings.shop_db_url, midnight(day), midnight(day) + timedelta(days=1), "daily_D"
        )
        after_daily = set(crm.store.audiences.get("abandoned_cart", {}))
    return {
        "settings": settings, "shop": shop, "day": day, "before": before, "folder": folder,
        "runs": (first.returncode, again.returncode), "logs": logs, "first_files": first_files,
        "crm": (after_hourly, after_rerun, after_daily),
    }  # fmt: skip


def exported_ids(folder) -> set[str]:
    return set(pd.read_csv(folder / "abandoned_cart.csv", dtype=str)["customer_id"])


def test_the_hourly_runs_end_green_and_publish_the_hour(refresh):
    assert refresh["runs"] == (0, 0), f"see {refresh['logs']}/hourly*.log"
    manifest = json.loads((refresh["folder"] / "manifest.json").read_text())
    assert manifest["run_hour"] == HOUR
    assert manifest["delta_against"] == refresh["before"].isoformat(), "the hour follows the last daily run"
    assert manifest["data_interval_end"].startswith(f"{refresh['day'].isoformat()}T{HOUR + 1:02d}:00")


def test_a_rerun_of_the_hour_gives_the_same_files(refresh):
    again = {p.name: p.read_bytes() for p in refresh["folder"].iterdir()}
    assert {n: b for n, b in again.items() if n != "manifest.json"} == {
        n: b for n, b in refresh["first_files"].items() if n != "manifest.json"
    }
    strip = lambda raw: {k: v for k, v in json.loads(raw).items() if k != "run_id"}  # noqa: E731
    assert strip(again["manifest.json"]) == strip(refresh["first_files"]["manifest.json"])


def remindable_carts(shop_db_url: str, as_of: datetime) -> pd.DataFrame:
    """Independently, in pandas: each customer's latest remindable cart as of ``as_of``
    (idle 1 h to 3 days, items in it, open or abandoned, no order since its last change)."""
    with sqlite3.connect(shop_db_url.removeprefix("sqlite:///")) as db:
        carts = pd.read_sql("select * from carts", db, parse_dates=["updated_at"])
        orders = pd.read_sql("select * from orders", db, parse_dates=["ordered_at", "updated_at"])
    carts = carts[carts.updated_at < as_of].sort_values("updated_at").groupby("cart_id").tail(1)
    orders = orders[(orders.updated_at < as_of)].sort_values("updated_at").groupby("order_id").tail(1)
    orders = orders[orders.status != "cancelled"]
    carts = carts[
        carts.status.isin(["open", "abandoned"])
        & (carts.item_count > 0)
        & (carts.updated_at <= as_of - timedelta(hours=1))
        & (carts.updated_at >= as_of - timedelta(days=3))
    ]
    last_order = orders.groupby("customer_id").ordered_at.max()
    recovered = carts.customer_id.map(last_order) >= carts.updated_at
    carts = carts[~recovered.fillna(False)]
    return (
        carts.sort_values(["updated_at", "cart_id"]).groupby("customer_id").tail(1).set_index("customer_id")
    )


def test_the_hour_sees_the_day_so_far(refresh):
    settings, day = refresh["settings"], refresh["day"]
    as_of = midnight(day) + timedelta(hours=HOUR + 1)
    expected = remindable_carts(settings.shop_db_url, as_of)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        segment = con.sql("select customer_id, cart_id from main_hourly.seg_abandoned_cart").df()
        audience = "select customer_id from main.dim_customer_audience where is_emailable"
        reachable = set(con.sql(f"{audience} and not has_open_support_ticket").df().customer_id)
    want = {c: int(row.cart_id) for c, row in expected.iterrows() if c in reachable}
    assert dict(zip(segment.customer_id, segment.cart_id, strict=True)) == want
    fresh = expected[expected.updated_at >= midnight(day)]
    assert set(fresh.index) & set(want), "some carts left today, which the last daily run could not see"
    exported = {int(c) for c in exported_ids(refresh["folder"])}
    assert exported <= set(want) and exported, "exported: the segment minus holdout and suppressions"


def test_the_next_daily_run_deltas_against_the_hour_and_the_crm_ends_exact(refresh):
    settings, day = refresh["settings"], refresh["day"]
    hourly_ids = exported_ids(refresh["folder"])
    daily = settings.exports_dir / "abandoned_cart" / day.isoformat()
    manifest = json.loads((daily / "manifest.json").read_text())
    assert manifest["delta_against"] == f"{day.isoformat()}T{HOUR:02d}"
    removed = set(pd.read_csv(daily / "removed.csv", dtype=str)["customer_id"])
    assert removed == hourly_ids - exported_ids(daily)
    after_hourly, after_rerun, after_daily = refresh["crm"]
    assert after_hourly == after_rerun == hourly_ids, "the CRM holds the hour's audience"
    assert after_daily == exported_ids(daily), "no removal lost between the hour and the day"


def test_hourly_runs_are_logged_and_count_against_the_frequency_cap(refresh):
    settings, day = refresh["settings"], refresh["day"]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        logged = con.execute(
            "select destination, status from exports.sync_log where logical_date = ? and run_hour = ?",
            [day, HOUR],
        ).fetchall()
        hourly_segments = con.execute(
            "select distinct segment from exports.allocations where run_hour is not null"
        ).fetchall()
        renewed = con.execute(
            """select count(*), count(*) filter (where d.is_new) from exports.allocations d
            join exports.allocations h using (segment, customer_id)
            where d.run_date = $day and d.run_hour is null and h.run_date = $day and h.run_hour = $hour
                and d.status = 'included' and h.status = 'included'""",
            {"day": day, "hour": HOUR},
        ).fetchall()[0]
    assert sorted(logged) == [("crm", "success")] * 2 + [("files", "success")] * 2, "a row per run"
    assert hourly_segments == [("abandoned_cart",)]
    assert renewed[0] > 0 and renewed[1] == 0, "who entered at the hour is no new message at the day"
