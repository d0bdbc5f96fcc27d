"""Switching engines changes nothing: one shop, built on DuckDB, PostgreSQL and Spark.

A small shop is extracted into a raw zone. ``nurture.warehouse.load_postgres`` loads it into a
real PostgreSQL server (the project's own, ``scripts/postgres.sh``, which ``make test``
starts); Spark reads it in place (a local session inside this process, its tables and
metastore in a temporary folder). ``dbt build`` runs every model, data test and unit
test on each engine, then the steps after dbt run on what that engine built: the mart
gate, the BI snapshot, the export allocation and the predicted-value step. Every mart
and segment must hold the same rows on all three (sorted; floats within 1e-9
relative), and so must the allocations and the predictions. The export state holds
six weeks of earlier runs' allocations (mirrored to PostgreSQL and Spark before their
builds), so campaign uplift is compared on rows, not on three empty tables. Each run
works in fresh schemas, dropped at the end.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest

from nurture import pipeline
from nurture.export.allocation import ALLOCATIONS, ensure_tables
from nurture.predict.step import predict_customer_value
from nurture.privacy.erasure import forget
from nurture.quality.checks import MART_MODELS, check_marts
from nurture.warehouse import spark
from nurture.warehouse.load_postgres import DATASETS, load_raw_to_postgres
from nurture.warehouse.queries import read_sql
from nurture.warehouse.transform import dbt_build, manifest_path
from tests.conftest import fresh_pg_schemas, make_shop, midnight
from tests.tables import assert_same_table

psycopg2 = pytest.importorskip("psycopg2")

ENGINES = ("postgres", "spark", "duckdb")  # DuckDB last: its manifest is the one left


@pytest.fixture(scope="module")
def schemas(pg_url):
    """Fresh schemas for this run (reruns and parallel runs never collide)."""
    with fresh_pg_schemas(pg_url, "raw", "dbt", "range") as names:
        yield names


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """(settings, shop) with the whole shop extracted into the raw zone."""
    with pytest.MonkeyPatch.context() as env:
        # run_dbt exports these and load_settings reads them: keep other modules' paths out.
        env.delenv("NURTURE_RAW_DIR", raising=False)
        env.delenv("NURTURE_WAREHOUSE", raising=False)
        settings, shop = make_shop(tmp_path_factory.mktemp("engines"), customers=300, days=200, seed=5)
        start, end = midnight(shop.start), midnight(shop.end + timedelta(days=1))
        pipeline.extract_shop(settings, settings.shop_db_url, start, end)
        pipeline.extract_events(settings, start, end)
    earlier_allocations(settings, shop.end)
    return settings, shop


def earlier_allocations(settings, day: date) -> None:
    """Daily runs of the 42 days before ``day`` in the export state: three segments,
    each customer a candidate on about one run in six, a fifth of them in the holdout and
    a tenth without consent (the same customers every run), so that uplift has entrants,
    holdout groups and outcomes to compute on every engine."""
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    customers = f"read_parquet('{settings.raw_dir}/customers/*/*.parquet')"
    with duckdb.connect(str(settings.warehouse_path)) as con:
        ensure_tables(con)
        con.execute(
            f"""insert into {ALLOCATIONS}
            select run_date, segment, 'email', customer_id, null, true,
                case when customer_id % 5 = 0 then 'holdout'
                    when customer_id % 10 = 1 then 'no_consent' else 'included' end,
                null
            from (select distinct customer_id from {customers}) as customers,
                (select cast(? as date) - cast(range as integer) as run_date from range(1, 43)) as runs,
                (values ('seg_winback_lapsing'), ('seg_vip_thanks'), ('seg_cross_sell')) as segments (segment)
            where (customer_id * 7 + (run_date - date '2000-01-01') + length(segment)) % 6 = 0""",
            [day],
        )


@pytest.fixture(scope="module")
def built(shop, pg_url, schemas, tmp_path_factory):
    """Build the shop on every engine and run the steps after dbt on each; what each gave."""
    settings, generated = shop
    day = generated.end
    load_raw_to_postgres(settings.raw_dir, pg_url, schema=schemas["raw"])
    out = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NURTURE_PG_RAW_SCHEMA", schemas["raw"])
        env.setenv("NURTURE_PG_SCHEMA", schemas["dbt"])
        env.delenv("NURTURE_SPARK_SCHEMA", raising=False)  # the default, nurture: its own folder
        spark_dir = str(tmp_path_factory.mktemp("spark"))
        env.setenv("NURTURE_SPARK_DIR", spark_dir)
        for engine in ENGINES:
            on = replace(settings, dbt_target=engine)
            run_id = f"test_{engine}_{schemas['dbt']}"
            # As the daily run does: the allocations mirrored first (PostgreSQL, Spark).
            results = pipeline.transform(on, day, target=engine, unit_tests=True)  # raises on a failed node
            rerun = rerun_incremental(on, day) if engine == "spark" else None
            nodes = manifest_nodes(on)
            checks = check_marts(on, day, run_id)
            published = pipeline.publish_bi(on, day)
            pipeline.stage_exports(on, day, run_id)  # replaces the day's allocation
            with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:  # export state
                allocated = con.sql(f"select * from exports.allocations where run_date = '{day}'").df()
            predicted = predict_customer_value(on, day, engine)
            schema = {"duckdb": "main", "spark": "nurture", "postgres": schemas["dbt"]}[engine]
            tables = {
                name: read_sql(on, f'select * from "{schema}"."{name}"')
                for name in [*nodes, "pred_customer_value"]
            }
            out[engine] = {
                "results": results,
                "checks": checks,
                "published": published,
                "allocated": allocated,
                "predicted": predicted,
                "tables": tables,
                "run_id": run_id,
                "day": day,
                "rerun_latest": rerun,
                "spark_dir": spark_dir,
            }
        # Everything is read: stop the session (its JVM holds GBs for the rest of the suite).
        spark.session(replace(settings, dbt_target="spark")).stop()
    return out


def rerun_incremental(settings, day: date) -> date:
    """Spark's incremental path (partitions dropped, insert_overwrite): re-run a day five
    days back, then the day again; the comparison then checks the table equals DuckDB's
    full build. Returns the latest arrival day after the re-run of the older day."""
    events = ["--select", "stg_events__events", "fct_engagement_events"]
    tables_only = {"target": "spark", "build_args": events, "data_tests": False}  # the full build tested
    dbt_build(settings, day - timedelta(days=5), **tables_only)
    latest = read_sql(settings, "select max(arrived_date) from nurture.fct_engagement_events")
    dbt_build(settings, day, **tables_only)
    return pd.Timestamp(latest.iloc[0, 0]).date()


def manifest_nodes(settings) -> list[str]:
    """The marts and segments of the last build (models under models/marts)."""
    import json

    nodes = json.loads(manifest_path(settings).read_text())["nodes"].values()
    return sorted(n["name"] for n in nodes if n["resource_type"] == "model" and n["fqn"][1] == "marts")


def test_the_loader_mirrors_the_raw_zone_and_replaces_days(shop, pg_url, schemas):
    settings, generated = shop
    counts = load_raw_to_postgres(settings.raw_dir, pg_url, schema=schemas["raw"])
    for dataset in DATASETS:
        want = duck_rows(f"select count(*) from {raw_parquet(settings, dataset)}")[0][0]
        assert counts[dataset] == want > 0, dataset

    # The tie-break columns carry exactly what read_parquet gives DuckDB.
    columns = "order_id, status, total, updated_at, dt, filename, file_row_number"
    order = "order by dt, file_row_number"
    assert pg_rows(pg_url, f'select {columns} from "{schemas["raw"]}".orders {order}') == duck_rows(
        f"select {columns} from {raw_parquet(settings, 'orders')} {order}"
    )

    # A range loads just its days, and loading it again replaces them.
    first, end = generated.end - timedelta(days=9), generated.end - timedelta(days=2)
    for _ in range(2):
        ranged = load_raw_to_postgres(settings.raw_dir, pg_url, first, end, schema=schemas["range"])
    query = (
        "select count(*), min(dt), max(dt), count(distinct (dt, file_row_number))"
        f' from "{schemas["range"]}".events'
    )
    rows, low, high, distinct = pg_rows(pg_url, query)[0]
    assert (rows, distinct, low, high) == (ranged["events"], rows, first, end - timedelta(days=1))
    want = f"select count(*) from {raw_parquet(settings, 'events')} where dt >= '{first}' and dt < '{end}'"
    assert rows == duck_rows(want)[0][0] > 0


def test_every_model_test_and_unit_test_passes_on_every_engine(built):
    for engine, got in built.items():
        kinds = {r.resource_type for r in got["results"]}
        assert {"model", "test", "unit_test", "seed"} <= kinds, (engine, kinds)
        assert not [r for r in got["results"] if r.status in ("error", "fail", "skipped")], engine
        assert len(got["results"]) == len(built["duckdb"]["results"]), engine


def test_every_mart_and_segment_holds_the_same_rows_on_every_engine(built):
    want = built["duckdb"]["tables"]
    # Re-running an older day on Spark left only what had arrived by then (the later
    # partitions dropped); the day again restored the rest (compared below).
    assert built["spark"]["rerun_latest"] == built["spark"]["day"] - timedelta(days=5)
    assert {"dim_customers", "fct_orders", "seg_winback_lapsing", "fct_engagement_events"} <= set(want)
    assert sum(len(frame) > 5 for frame in want.values()) > 20, "the shop fills most marts"
    uplift, detectable = want["fct_campaign_uplift"], want["rpt_campaign_detectable_uplift"]
    assert uplift["rate_uplift_ci_low"].notna().sum() > 10, "uplift with intervals to compare"
    assert detectable["min_detectable_uplift"].notna().sum() > 3
    differences = []
    for engine in ("postgres", "spark"):
        got = built[engine]["tables"]
        assert set(got) == set(want), engine
        for name in sorted(want):
            try:
                assert_same_table(name, engine, got[name], want[name])
            except AssertionError as error:
                differences.append(str(error).splitlines()[0][:600])
    assert not differences, "\n".join(differences)


def test_checks_bi_and_exports_work_whichever_engine_built_the_marts(built):
    want = built["duckdb"]
    assert sum(n for n in want["allocated"].groupby("segment").size()) > 20
    for engine in ENGINES:
        got = built[engine]
        outcomes = got["checks"]
        assert sorted(o.suite for o in outcomes) == [f"mart_{m}" for m in sorted(MART_MODELS)], engine
        assert not [f for o in outcomes for f in o.blocking_failures], engine
        assert got["published"]["dim_customers"] == len(want["tables"]["dim_customers"]) > 0, engine
        uplift = len(want["tables"]["fct_campaign_uplift"])
        assert got["published"]["fct_campaign_uplift"] == uplift > 0, engine
        assert_same_table("exports.allocations", engine, got["allocated"], want["allocated"])
        # The predictions themselves are compared with the marts (pred_customer_value).
        assert got["predicted"] == want["predicted"] == len(want["tables"]["pred_customer_value"]) > 0, engine


def pg_rows(url: str, query: str) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query)
        rows = cur.fetchall()
    conn.close()
    return rows


def duck_rows(query: str) -> list[tuple]:
    with duckdb.connect() as con:
        return con.sql(query).fetchall()


def raw_parquet(settings, dataset: str) -> str:
    """The dbt-duckdb source of ``dataset`` (see the sources' external_location)."""
    return (
        f"read_parquet('{settings.raw_dir}/{dataset}/*/*.parquet', "
        "hive_partitioning = true, filename = true, file_row_number = true)"
    )


def test_forget_deletes_the_customer_from_every_postgresql_table_at_once(built, shop, pg_url, schemas):
    """Runs last (it erases a customer of the module's shop): on the PostgreSQL target,
    `forget` reaches the raw copy and the marts there, not only the DuckDB file."""
    settings, _ = shop
    on = replace(settings, dbt_target="postgres")
    [(customer_id,)] = pg_rows(pg_url, f'select min(customer_id) from "{schemas["dbt"]}".fct_orders')
    outcome = forget(on, {customer_id})
    assert sum(n for place, n in outcome.removed.items() if place.startswith("postgres/")) > 0
    tables = pg_rows(
        pg_url,
        "select table_schema, table_name from information_schema.columns where column_name = 'customer_id' "
        f"and table_schema in ('{schemas['raw']}', '{schemas['dbt']}')",
    )
    assert len(tables) > 10
    query = 'select count(*) from "{}"."{}" where customer_id = {}'
    left = [f"{s}.{t}" for s, t in tables if pg_rows(pg_url, query.format(s, t, customer_id))[0][0]]
    assert left == []


def test_forget_deletes_the_customer_from_every_spark_table_at_once(built, shop, monkeypatch):
    """Runs last: on the Spark target, `forget` rewrites the managed tables' Parquet files
    without the customer (the incremental events table's old partitions too), and Spark
    still reads every table."""
    settings, _ = shop
    monkeypatch.setenv("NURTURE_SPARK_DIR", built["spark"]["spark_dir"])
    monkeypatch.delenv("NURTURE_SPARK_SCHEMA", raising=False)
    on = replace(settings, dbt_target="spark")
    events = built["spark"]["tables"]["fct_engagement_events"]
    erased_before = built["duckdb"]["tables"]["fct_orders"]["customer_id"].min()  # by the test above
    busiest = events.loc[events["customer_id"] != erased_before, "customer_id"].value_counts()
    customer_id = int(busiest.index[0])
    outcome = forget(on, {customer_id})
    assert outcome.removed.get("spark/nurture.fct_engagement_events", 0) > 0, outcome.removed
    with duckdb.connect() as con:
        names = spark.attach_tables(on, con)
        keyed = [n for n in names if "customer_id" in con.sql(f"select * from {n} limit 0").columns]
        assert len(keyed) > 10
        left = [
            n
            for n in keyed
            if con.execute(f"select count(*) from {n} where customer_id = ?", [customer_id]).fetchall()[0][0]
        ]
    assert left == []
    session = spark.session(on)
    try:
        counts = {n: session.table(n).count() for n in keyed}
    finally:
        session.stop()
    assert (
        counts["nurture.fct_engagement_events"]
        == len(events) - outcome.removed["spark/nurture.fct_engagement_events"]
    )
