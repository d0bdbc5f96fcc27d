"""The benchmark compares like with like: its hand-written DuckDB floor and its pandas
baseline compute exactly the pipeline's lifecycle stages, RFM scores and CRR."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest

from nurture import pipeline
from nurture.bench.floor import run_floor
from nurture.bench.pandas_baseline import run_pandas
from nurture.bench.report import agreement
from nurture.bench.stages import results_dir
from nurture.config import load_settings
from nurture.generate import generate_shop
from nurture.warehouse.transform import run_dbt
from tests.conftest import midnight


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A busy little shop (the benchmark's activity), its marts built as of its last day."""
    settings = load_settings(tmp_path_factory.mktemp("bench_shop"))
    shop = generate_shop(settings.shop_db_url, settings.log_dir, seed=9, customers=400, days=420, activity=10)
    start, end = midnight(shop.start), midnight(shop.end + timedelta(days=1))
    pipeline.extract_shop(settings, settings.shop_db_url, start, end)
    pipeline.extract_events(settings, start, end)
    select = ["--select", "+dim_customers +dim_customer_rfm +rpt_monthly_retention"]
    skip_tests = ["--exclude-resource-type", "test", "unit_test"]
    assert run_dbt(settings, ["build", *select, *skip_tests], shop.end).success
    run_floor(settings.raw_dir, shop.end, results_dir(settings.home, "floor"))
    run_pandas(settings.raw_dir, shop.end, results_dir(settings.home, "pandas"))
    return settings


def test_both_baselines_compute_what_the_marts_hold(built):
    found = agreement(built.home, built.warehouse_path)
    assert found == {name: {"lifecycle": 0, "rfm": 0, "crr": 0} for name in ("floor", "pandas")}
    with duckdb.connect(str(built.warehouse_path), read_only=True) as con:
        stages = dict(con.sql("select lifecycle_stage, count(*) from dim_customers group by 1").fetchall())
    assert {"loyal", "active", "lapsing", "new", "prospect"} <= set(stages), "a shop with every stage"


def test_a_difference_is_counted(built):
    """One customer missing and one with another stage: two rows differ."""
    folder = results_dir(built.home, "floor")
    with duckdb.connect() as con:
        changed = con.sql(f"""
            select customer_id, case when customer_id = 8 then
                    case when lifecycle_stage = 'inactive' then 'new' else 'inactive' end
                else lifecycle_stage end as lifecycle_stage
            from read_parquet('{folder}/lifecycle.parquet') where customer_id <> 7""").to_arrow_table()
        (folder / "lifecycle.parquet").unlink()
        con.register("changed", changed)
        con.execute(f"copy changed to '{folder}/lifecycle.parquet' (format parquet)")
    assert agreement(built.home, built.warehouse_path)["floor"]["lifecycle"] == 2
