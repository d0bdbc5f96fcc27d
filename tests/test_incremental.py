"""Built day by day, the warehouse holds what one full refresh holds.

A generated shop runs eight consecutive days as production runs them (extract the day,
apply the erasure list, load, build), with what real shops send on top of the
generator's late events: a refund of an order six weeks old, an order corrected after
it was built (a new date and total), an order that arrives days after it was placed,
a customer created and erased a few days later, and a long-standing repeat buyer
erased (whose gaps counted in the shop-wide median of earlier days). Every model then
holds exactly the rows one full refresh as of the last day gives, on DuckDB and on
PostgreSQL (each in its own warehouse, from the same raw zone). Spark's incremental
path is compared with a full DuckDB build in tests/test_engines.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
from datetime import date, datetime, time, timedelta

import duckdb
import pandas as pd
import pytest

from nurture import pipeline
from nurture.privacy.erasure import apply_erasures, forget
from nurture.warehouse.load_postgres import load_raw_to_postgres
from nurture.warehouse.queries import read_sql
from nurture.warehouse.transform import dbt_paths, manifest_path, run_dbt
from tests.conftest import fresh_pg_schemas, make_shop, midnight
from tests.tables import assert_same_table

DAYS = 8  # the last change (an erasure) happens on the eighth
SHOP_TIME = "%Y-%m-%d %H:%M:%S.000000"  # how the shop's SQLite file writes a timestamp


def at(day: date, hour: int) -> str:
    return datetime.combine(day, time(hour)).strftime(SHOP_TIME)


class Shop:
    """The shop's database, changed the way a shop changes it (new updated_at each time)."""

    def __init__(self, settings):
        self.path = settings.shop_db_url.removeprefix("sqlite:///")

    def one(self, query: str, *args):
        with sqlite3.connect(self.path) as con:
            return con.execute(query, args).fetchone()

    def run(self, query: str, *args) -> None:
        with sqlite3.connect(self.path) as con:
            con.execute(query, args)

    def refund_old_order(self, day: date, age_days: int, spare: int) -> int:
        """Refund a paid order placed about ``age_days`` before ``day``, not changed since
        (not one of customer ``spare``'s)."""
        (order_id,) = self.one(
            "select order_id from orders where status = 'paid' and date(ordered_at) <= ? "
            "and updated_at < ? and customer_id <> ? order by ordered_at desc limit 1",
            (day - timedelta(days=age_days)).isoformat(),
            day.isoformat(),
            spare,
        )
        self.run(
            "update orders set status = 'refunded', updated_at = ? where order_id = ?", at(day, 10), order_id
        )
        return order_id

    def correct_order(self, placed: date, day: date, spare: int) -> int:
        """Move a paid order placed on ``placed`` a day earlier and change its total."""
        (order_id,) = self.one(
            "select order_id from orders where status = 'paid' and date(ordered_at) = ? "
            "and updated_at < ? and customer_id <> ? order by order_id limit 1",
            placed.isoformat(),
            day.isoformat(),
            spare,
        )
        self.run(
            "update orders set ordered_at = datetime(ordered_at, '-1 day'), total = total + 5, "
            "subtotal = subtotal + 5, updated_at = ? where order_id = ?",
            at(day, 9),
            order_id,
        )
        return order_id

    def add_order(self, customer_id: int, placed: date, arrives: date) -> int:
        """A paid order placed on ``placed`` that reaches the shop database on ``arrives``."""
        (order_id,) = self.one("select max(order_id) + 1 from orders")
        (item_id,) = self.one("select max(order_item_id) + 1 from order_items")
        (product_id, price) = self.one("select product_id, price from products order by product_id limit 1")
        self.run(
            "insert into orders values (?, ?, ?, 'paid', 'EUR', ?, 0, ?, null, ?)",
            order_id, customer_id, at(placed, 12), price, price, at(arrives, 8),
        )  # fmt: skip
        self.run(
            "insert into order_items values (?, ?, ?, 1, ?, ?)",
            item_id,
            order_id,
            product_id,
            price,
            at(arrives, 8),
        )
        return order_id

    def add_customer(self, day: date) -> int:
        (customer_id,) = self.one("select max(customer_id) + 1 from customers")
        signed = at(day, 9)
        self.run(
            "insert into customers values (?, ?, ?, null, null, 'Ada', null, 'DE', 'Europe/Berlin', "
            "1, ?, 0, ?, 0, ?, ?)",
            customer_id, signed, f"ada{customer_id}@example.com", signed, signed, signed, signed,
        )  # fmt: skip
        return customer_id


def busy_buyer(shop: Shop, before: date, rank: int) -> int:
    """The customer with the ``rank``-th most purchase days before ``before`` (0: the most)."""
    (customer_id,) = shop.one(
        "select customer_id from orders where status = 'paid' and ordered_at < ? "
        "group by customer_id order by count(distinct date(ordered_at)) desc, customer_id limit 1 offset ?",
        before.isoformat(),
        rank,
    )
    return customer_id


@pytest.fixture(scope="module")
def pg_schemas(pg_url):
    with fresh_pg_schemas(pg_url, "raw", "dbt", "full_raw", "full_dbt") as names:
        yield names


@pytest.fixture(scope="module")
def day_by_day(tmp_path_factory, pg_url, pg_schemas):
    """Eight days run one by one on DuckDB and PostgreSQL, then a full refresh of each."""
    settings, generated = make_shop(tmp_path_factory.mktemp("incremental"), customers=300, days=150, seed=11)
    shop = Shop(settings)
    days = [generated.end - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    duck = settings
    postgres = dataclasses.replace(settings, dbt_target="postgres")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NURTURE_PG_RAW_SCHEMA", pg_schemas["raw"])
        env.setenv("NURTURE_PG_SCHEMA", pg_schemas["dbt"])

        def build(day: date, *options: str) -> None:
            """Models and seeds (rows are what this compares; tests/test_engines.py runs the tests)."""
            models_and_seeds = ["build", "--exclude-resource-type", "test", "unit_test", *options]
            for on in (duck, postgres):
                # A target folder per engine: each keeps its own parse from day to day.
                target = None if on.dbt_target == "duckdb" else settings.home / "dbt" / "target-postgres"
                outcome = run_dbt(on, models_and_seeds, day, target_path=target)
                failed = [f"{r.node.name}: {r.message}" for r in outcome.result or [] if r.status == "error"]
                assert outcome.success, f"{on.dbt_target} {day}: {failed or outcome.exception}"

        # The history before the first day, in one interval (how the demo loads it).
        history = midnight(generated.start), midnight(days[0])
        pipeline.extract_shop(settings, settings.shop_db_url, *history)
        pipeline.extract_events(settings, *history)
        load_raw_to_postgres(settings.raw_dir, pg_url, *history, schema=pg_schemas["raw"])
        build(days[0] - timedelta(days=1))

        # A long-standing repeat buyer erased on the sixth day; nothing else touches them.
        happened = {"erased_buyer": busy_buyer(shop, days[0], rank=0)}
        late_buyer = busy_buyer(shop, days[0], rank=1)
        for i, day in enumerate(days):
            if i == 1:
                happened["refunded"] = shop.refund_old_order(day, age_days=42, spare=happened["erased_buyer"])
            if i == 2:
                happened["created"] = shop.add_customer(day)
                shop.add_order(happened["created"], day, day)
            if i == 3:
                happened["late"] = shop.add_order(late_buyer, day - timedelta(days=6), day)
            if i == 4:
                happened["corrected"] = shop.correct_order(days[1], day, spare=happened["erased_buyer"])
                shop.add_order(happened["created"], day, day)
            start, end = midnight(day), midnight(day + timedelta(days=1))
            pipeline.extract_shop(settings, settings.shop_db_url, start, end)
            pipeline.extract_events(settings, start, end)
            apply_erasures(postgres)  # what every run does after extract
            load_raw_to_postgres(settings.raw_dir, pg_url, start, end, schema=pg_schemas["raw"])
            if i == 5:
                happened["rewound"] = forget(postgres, {happened["erased_buyer"]}).removed
            if i == 7:
                forget(postgres, {happened["created"]})
            build(day)

        nodes = json.loads(manifest_path(settings).read_text())["nodes"].values()
        models = sorted(n["name"] for n in nodes if n["resource_type"] == "model")
        incremental = {
            "duckdb": {m: read_sql(duck, f'select * from "main"."{m}"') for m in models},
            "postgres": {m: read_sql(postgres, f'select * from "{pg_schemas["dbt"]}"."{m}"') for m in models},
        }

        # One full refresh as of the last day, each engine in a warehouse of its own.
        duck = dataclasses.replace(settings, warehouse_path=settings.home / "full.duckdb")
        env.setenv("NURTURE_PG_RAW_SCHEMA", pg_schemas["full_raw"])
        env.setenv("NURTURE_PG_SCHEMA", pg_schemas["full_dbt"])
        load_raw_to_postgres(settings.raw_dir, pg_url, schema=pg_schemas["full_raw"])
        build(days[-1], "--full-refresh")
        full = {
            "duckdb": {m: read_sql(duck, f'select * from "main"."{m}"') for m in models},
            "postgres": {
                m: read_sql(postgres, f'select * from "{pg_schemas["full_dbt"]}"."{m}"') for m in models
            },
        }
    return {
        "days": days,
        "happened": happened,
        "incremental": incremental,
        "full": full,
        "settings": settings,
    }


def test_day_by_day_equals_one_full_refresh_on_duckdb_and_postgresql(day_by_day):
    differences = []
    for engine in ("duckdb", "postgres"):
        want, got = day_by_day["full"][engine], day_by_day["incremental"][engine]
        assert sum(len(frame) > 5 for frame in want.values()) > 30, "the shop fills most models"
        for name in sorted(want):
            if engine == "postgres":
                # A row's position in its raw file (a tie-break only): the erasure rewrote
                # the files, the PostgreSQL mirror keeps the positions it loaded, in order.
                got[name] = got[name].drop(columns=["file_row_number"], errors="ignore")
                want[name] = want[name].drop(columns=["file_row_number"], errors="ignore")
            try:
                assert_same_table(name, f"{engine} day by day", got[name], want[name], "a full refresh")
            except AssertionError as error:
                differences.append(str(error).splitlines()[0][:600])
    assert not differences, "\n".join(differences)


def test_the_days_exercised_what_reaches_back(day_by_day):
    """The equality above means something: each change happened, and reached back."""
    happened, days = day_by_day["happened"], day_by_day["days"]
    orders = day_by_day["full"]["duckdb"]["fct_orders"].set_index("order_id")
    assert orders.loc[happened["refunded"], "status"] == "refunded"
    placed = orders["ordered_date"].map(lambda t: pd.Timestamp(t).date())
    assert placed[happened["refunded"]] <= days[1] - timedelta(days=42)
    assert placed[happened["corrected"]] == days[1] - timedelta(days=1)
    assert placed[happened["late"]] == days[3] - timedelta(days=6)
    stages = day_by_day["full"]["duckdb"]["int_customer_daily_stages"]
    erased = {happened["erased_buyer"], happened["created"]}
    assert not stages["customer_id"].isin(erased).any()
    # The erased buyer's gaps left the shop-wide median of the days before the erasure:
    # the erasure deleted those days of every customer for the next run to rebuild.
    rewound = happened["rewound"]
    assert rewound["main.int_customer_daily_stages (days to rebuild)"] > 10 * stages["customer_id"].nunique()
    assert any(k.startswith("postgres/") and k.endswith("(days to rebuild)") for k in rewound), rewound


def test_a_day_rebuilds_only_what_its_data_reaches_back_to(day_by_day):
    """The stage history's runs as dbt logged them (DuckDB, then PostgreSQL, each day): a
    day keeps every day before the earliest order date its raw partition touches (the
    generator refunds and updates orders too), or before the erased customers' gaps."""
    days, settings = day_by_day["days"], day_by_day["settings"]
    log = (dbt_paths(settings)["logs"] / "dbt.log").read_text()
    logged = re.findall(r"int_customer_daily_stages: keeps the days through (\S+),", log)
    kept = [date.fromisoformat(d) for d in logged]
    assert len(kept) == 2 * DAYS  # the first build (before the first day) is a full one
    for i, day in enumerate(days):
        duck, postgres = kept[2 * i : 2 * i + 2]
        assert duck == postgres, day
        want = min(day, touched_by(settings, day)) - timedelta(days=1)
        if i == 5:  # the erased buyer: every day from their first gap
            assert duck < days[0] - timedelta(days=60)
        elif i == 7:  # the erased new customer: from their second order (days[4]) at the latest
            assert duck <= min(want, days[4] - timedelta(days=1)), day
        else:
            assert duck == want, day
    # What this test added reached back as far as it should.
    assert kept[2] <= days[1] - timedelta(days=43)  # the refund of an order six weeks old
    assert kept[6] <= days[3] - timedelta(days=7)  # the order placed six days before it arrived
    assert kept[8] <= days[1] - timedelta(days=2)  # the corrected order's old and new day


def touched_by(settings, day: date) -> date:
    """The earliest order date (any version) of the orders in the day's raw partition, and
    the signup day of customers first seen in it; the day itself when there is none."""
    raw = settings.raw_dir
    with duckdb.connect() as con:
        [(orders,)] = con.execute(
            f"""select min(cast(ordered_at as date)) from read_parquet('{raw}/orders/*/*.parquet')
            where dt <= ? and order_id in (
                select order_id from read_parquet('{raw}/orders/*/*.parquet') where dt = ?)""",
            [day, day],
        ).fetchall()
        [(customers,)] = con.execute(
            f"""select min(cast(signed_up_at as date)) from (
                select customer_id, min(dt) as first_dt, min(signed_up_at) as signed_up_at
                from read_parquet('{raw}/customers/*/*.parquet') where dt <= ? group by customer_id)
            where first_dt = ?""",
            [day, day],
        ).fetchall()
    return min(d for d in (orders, customers, day) if d is not None)
