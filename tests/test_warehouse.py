"""The warehouse as of a date: lifecycle stages against an independent pandas
computation, incremental models against a full refresh, and re-runs of old dates."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import duckdb
import pandas as pd
import pytest

from nurture import pipeline
from nurture.warehouse.transform import dbt_build, generate_docs, run_dbt
from tests.conftest import make_shop, midnight
from tests.reference import lifecycle_reference


@pytest.fixture(scope="module")
def extracted_shop(tmp_path_factory):
    settings, shop = make_shop(tmp_path_factory.mktemp("warehouse"), customers=500, days=400, seed=9)
    end = midnight(shop.end + timedelta(days=1))
    pipeline.extract_shop(settings, settings.shop_db_url, midnight(shop.start), end)
    pipeline.extract_events(settings, midnight(shop.start), end)
    return settings, shop


def with_warehouse(settings, tmp_path):
    return dataclasses.replace(settings, warehouse_path=tmp_path / "warehouse.duckdb")


@pytest.fixture(scope="module")
def built(extracted_shop, tmp_path_factory):
    """The shop built as of its last day, with every data test (read-only for tests)."""
    settings, shop = extracted_shop
    settings = with_warehouse(settings, tmp_path_factory.mktemp("built"))
    dbt_build(settings, shop.end)
    return settings, shop


def read(settings, query: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.sql(query).df()


def test_every_customer_gets_the_stage_pandas_computes(built):
    settings, shop = built
    got = read(settings, "select customer_id, lifecycle_stage from dim_customers order by customer_id")
    expected = lifecycle_reference(settings.shop_db_url.removeprefix("sqlite:///"), shop.end)
    expected = expected[["customer_id", "lifecycle_stage"]].sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    counts = got["lifecycle_stage"].value_counts()
    assert counts.to_dict() == expected["lifecycle_stage"].value_counts().to_dict()
    assert {"prospect", "new", "lapsing", "inactive"} <= set(counts.index), "a 400-day shop shows most stages"


def test_incremental_events_equal_a_full_refresh(extracted_shop, tmp_path):
    settings, shop = extracted_shop
    settings = with_warehouse(settings, tmp_path)
    select = ["run", "--select", "+fct_engagement_events"]
    query = "select * from fct_engagement_events order by event_id"
    for offset in range(6, -1, -1):  # the first run builds the table, the others are incremental
        assert run_dbt(settings, select, shop.end - timedelta(days=offset)).success
    incremental = read(settings, query)
    assert run_dbt(settings, [*select, "--full-refresh"], shop.end).success
    pd.testing.assert_frame_equal(incremental, read(settings, query))
    assert incremental["is_late_arrival"].any(), "late events were re-read"


def test_rerunning_an_old_date_changes_nothing(extracted_shop, tmp_path):
    settings, shop = extracted_shop
    settings = with_warehouse(settings, tmp_path)
    old = shop.end - timedelta(days=10)
    tables = {
        "dim_customers": "customer_id",
        "fct_customer_stage_changes": "stage_change_id",
        "fct_engagement_events": "event_id",
        "seg_winback_lapsing": "customer_id",
    }

    def snapshot():
        return {name: read(settings, f"select * from {name} order by {key}") for name, key in tables.items()}

    dbt_build(settings, old, data_tests=False)  # the tables are compared; `built` ran the tests
    before = snapshot()
    dbt_build(settings, shop.end, data_tests=False)
    assert len(read(settings, "select * from fct_engagement_events")) > len(before["fct_engagement_events"])
    dbt_build(settings, old, data_tests=False)
    for name, frame in snapshot().items():
        pd.testing.assert_frame_equal(frame, before[name], obj=name)


def test_docs_generate_and_every_model_and_column_is_described(built, tmp_path):
    settings, shop = built
    page = generate_docs(settings, shop.end, tmp_path / "dbt-docs")  # what the demo writes
    target = page.parent
    assert "dim_customer_next_product" in page.read_text(), "one file that opens from disk"
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    models = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    assert models and set(models) <= set(catalog["nodes"]), "every model is in the docs catalog"
    undocumented = []
    for key, node in models.items():
        if not node["description"].strip():
            undocumented.append(node["name"])
        described = {name.lower() for name, col in node["columns"].items() if col["description"].strip()}
        for column in catalog["nodes"][key]["columns"]:
            if column.lower() not in described:
                undocumented.append(f"{node['name']}.{column}")
    assert undocumented == []
    # A unit test's name is a relation name on PostgreSQL, which takes at most 63 characters.
    long_names = [t["name"] for t in manifest["unit_tests"].values() if len(t["name"]) > 63]
    assert long_names == [], "unit test names over PostgreSQL's 63 characters"
