"""The dbt project on a real PostgreSQL server, against the same project on DuckDB.

A small shop is extracted into a raw zone; ``nurture.load_postgres`` loads that raw
zone into PostgreSQL and ``dbt build --target postgres`` builds every model, data
test and unit test there. dim_customers and fct_orders must then equal the tables
dbt builds on DuckDB from the same raw zone. The server is the project's own
(``scripts/postgres.sh``, which ``make test`` starts), found through NURTURE_PG_*
with the script's defaults; each run works in fresh schemas, dropped at the end.
"""

from __future__ import annotations

import math
import os
import subprocess
import uuid
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import duckdb
import pytest

from nurture import pipeline
from nurture.config import PROJECT_ROOT
from nurture.load_postgres import DATASETS, load_raw_to_postgres, postgres_url_from_env
from nurture.pipeline import publish_bi
from nurture.quality.checks import MART_MODELS, check_marts
from nurture.transform import dbt_build
from tests.conftest import make_shop, midnight

psycopg2 = pytest.importorskip("psycopg2")

COMPARED = {
    "dim_customers": "customer_id",
    "fct_orders": "order_id",
    "fct_customer_stage_changes": "stage_change_id",
    "rpt_monthly_retention": "month_start_date",
    "dim_customer_rfm": "customer_id",
    "dim_customer_loyalty": "customer_id",
    "dim_customer_engagement": "customer_id",
    "seg_winback_lapsing": "customer_id",
    "seg_cross_sell": "customer_id",
}


@pytest.fixture(scope="module")
def pg_url() -> str:
    """The warehouse URL; a local server is started (idempotently) by the project's script."""
    if os.environ.get("NURTURE_PG_HOST", "127.0.0.1") in ("127.0.0.1", "localhost"):
        script = PROJECT_ROOT / "scripts" / "postgres.sh"
        started = subprocess.run([script, "start"], capture_output=True, text=True)
        if started.returncode:
            pytest.fail(f"{script} start failed:\n{started.stderr}")
    url = postgres_url_from_env()
    try:
        psycopg2.connect(url).close()
    except psycopg2.OperationalError as error:
        pytest.fail(f"no PostgreSQL at {url} (run scripts/postgres.sh start, as `make test` does): {error}")
    return url


@pytest.fixture(scope="module")
def schemas(pg_url):
    """Fresh raw and dbt schemas for this run (reruns and parallel runs never collide)."""
    suffix = uuid.uuid4().hex[:10]
    names = {"raw": f"test_raw_{suffix}", "dbt": f"test_dbt_{suffix}", "range": f"test_range_{suffix}"}
    yield names
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        for name in names.values():
            cur.execute(f'drop schema if exists "{name}" cascade')
    conn.close()


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """(settings, shop) with the whole shop extracted into the raw zone."""
    with pytest.MonkeyPatch.context() as env:
        # run_dbt exports these and load_settings reads them: keep other modules' paths out.
        env.delenv("NURTURE_RAW_DIR", raising=False)
        env.delenv("NURTURE_WAREHOUSE", raising=False)
        settings, shop = make_shop(tmp_path_factory.mktemp("dbt_postgres"), customers=300, days=200, seed=5)
        start, end = midnight(shop.start), midnight(shop.end + timedelta(days=1))
        pipeline.extract_shop(settings, settings.shop_db_url, start, end)
        pipeline.extract_events(settings, start, end)
    return settings, shop


def pg_rows(url: str, query: str) -> tuple[list[str], list[tuple]]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query)
        columns, rows = [d.name for d in cur.description], cur.fetchall()
    conn.close()
    return columns, rows


def duck_rows(path, query: str) -> tuple[list[str], list[tuple]]:
    """Rows from the DuckDB warehouse at ``path``, or from an in-memory DuckDB (raw zone reads)."""
    with duckdb.connect(str(path), read_only=True) if path else duckdb.connect() as con:
        result = con.sql(query)
        return result.columns, result.fetchall()


def raw_parquet(settings, dataset: str) -> str:
    """The dbt-duckdb source of ``dataset`` (see the sources' external_location)."""
    return (
        f"read_parquet('{settings.raw_dir}/{dataset}/*/*.parquet', "
        "hive_partitioning = true, filename = true, file_row_number = true)"
    )


def same_value(a, b) -> bool:
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int | float | Decimal) and isinstance(b, int | float | Decimal):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def assert_same_rows(name: str, got: tuple[list[str], list[tuple]], want: tuple[list[str], list[tuple]]):
    (got_columns, got_rows), (want_columns, want_rows) = got, want
    assert got_columns == want_columns, f"{name}: columns differ"
    assert len(got_rows) == len(want_rows), (
        f"{name}: {len(got_rows)} rows on PostgreSQL, {len(want_rows)} on DuckDB"
    )
    differences = [
        (row[0], column, value, other)
        for row, other_row in zip(got_rows, want_rows, strict=True)
        for column, value, other in zip(got_columns, row, other_row, strict=True)
        if not same_value(value, other)
    ]
    assert not differences, f"{name}: (key, column, PostgreSQL, DuckDB) differ: {differences[:10]}"


def test_the_loader_mirrors_the_raw_zone_and_replaces_days(shop, pg_url, schemas):
    settings, generated = shop
    counts = load_raw_to_postgres(settings.raw_dir, pg_url, schema=schemas["raw"])
    for dataset in DATASETS:
        want = duck_rows(None, f"select count(*) from {raw_parquet(settings, dataset)}")[1][0][0]
        assert counts[dataset] == want > 0, dataset

    # The tie-break columns carry exactly what read_parquet gives DuckDB.
    columns = "order_id, status, total, updated_at, dt, filename, file_row_number"
    order = "order by dt, file_row_number"
    assert_same_rows(
        "raw.orders",
        pg_rows(pg_url, f'select {columns} from "{schemas["raw"]}".orders {order}'),
        duck_rows(None, f"select {columns} from {raw_parquet(settings, 'orders')} {order}"),
    )

    # A range loads just its days, and loading it again replaces them.
    first, end = generated.end - timedelta(days=9), generated.end - timedelta(days=2)
    for _ in range(2):
        ranged = load_raw_to_postgres(settings.raw_dir, pg_url, first, end, schema=schemas["range"])
    query = (
        "select count(*), min(dt), max(dt), count(distinct (dt, file_row_number))"
        f' from "{schemas["range"]}".events'
    )
    rows, low, high, distinct = pg_rows(pg_url, query)[1][0]
    assert (rows, distinct, low, high) == (ranged["events"], rows, first, end - timedelta(days=1))
    want = f"select count(*) from {raw_parquet(settings, 'events')} where dt >= '{first}' and dt < '{end}'"
    assert rows == duck_rows(None, want)[1][0][0] > 0


def test_dbt_builds_on_postgres_as_on_duckdb(shop, pg_url, schemas, monkeypatch, tmp_path):
    settings, generated = shop
    load_raw_to_postgres(settings.raw_dir, pg_url, schema=schemas["raw"])
    monkeypatch.setenv("NURTURE_PG_RAW_SCHEMA", schemas["raw"])
    monkeypatch.setenv("NURTURE_PG_SCHEMA", schemas["dbt"])

    results = dbt_build(settings, generated.end, target="postgres")  # raises naming any failed node
    kinds = {r.resource_type for r in results}
    assert {"model", "test", "unit_test"} <= kinds, kinds
    assert not [r for r in results if r.status in ("error", "fail", "skipped")]
    models = [r for r in results if r.resource_type == "model"]
    assert {r.name for r in models} >= set(COMPARED)
    assert all(r.status == "success" for r in models)

    # The mart gate reads the marts and records its results on the same engine.
    run_id = f"test_{schemas['dbt']}"
    outcomes = check_marts(replace(settings, dbt_target="postgres"), generated.end, run_id)
    assert not [f for o in outcomes for f in o.blocking_failures]
    mine = f"from audit.validation_results where run_id = '{run_id}'"
    recorded = pg_rows(pg_url, f"select distinct suite {mine}")
    assert sorted(r[0] for r in recorded[1]) == [f"mart_{m}" for m in sorted(MART_MODELS)]
    pg_rows(pg_url, f"delete {mine} returning 1")

    # The BI tables publish from whichever engine built the marts.
    published = publish_bi(replace(settings, dbt_target="postgres"), generated.end)
    customers = pg_rows(pg_url, f'select count(*) from "{schemas["dbt"]}".dim_customers')[1][0][0]
    assert published["dim_customers"] == customers > 0
    assert published["fct_campaign_uplift"] == 0, "no exports have run on this warehouse"

    # The export step allocates from the PostgreSQL marts (mirrored into the DuckDB file
    # that keeps the export state); the DuckDB build below must give the same allocation.
    pipeline.stage_exports(replace(settings, dbt_target="postgres"), generated.end, run_id)
    allocated = "select segment, status, count(*) from exports.allocations"
    allocated += f" where run_date = '{generated.end}'"
    on_postgres = duck_rows(settings.warehouse_path, f"{allocated} group by all order by all")
    assert sum(n for _, _, n in on_postgres[1]) > 20

    dbt_build(settings, generated.end)  # the same project on DuckDB
    pipeline.stage_exports(settings, generated.end, run_id)  # replaces the day's allocation
    assert duck_rows(settings.warehouse_path, f"{allocated} group by all order by all") == on_postgres
    for model, key in COMPARED.items():
        got = pg_rows(pg_url, f'select * from "{schemas["dbt"]}".{model} order by {key}')
        want = duck_rows(settings.warehouse_path, f"select * from {model} order by {key}")
        assert len(want[1]) > 5, model
        assert_same_rows(model, got, want)

    # The predicted-value step gives the same figures whichever engine it reads from.
    from nurture.predict.step import predict_customer_value

    assert predict_customer_value(settings, generated.end, "postgres") == predict_customer_value(
        settings, generated.end, "duckdb"
    )
    query = "select * from {}.pred_customer_value order by customer_id"
    assert_same_rows(
        "pred_customer_value",
        pg_rows(pg_url, query.format(f'"{schemas["dbt"]}"')),
        duck_rows(settings.warehouse_path, query.format("main")),
    )
