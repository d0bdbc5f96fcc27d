"""At scale, built day by day, the warehouse still holds what one full refresh holds.

tests/test_incremental.py proves it on a small shop with every kind of late change; this
runs the same comparison on a shop fifty times its size (15,000 customers, two years), so
a partition boundary, a lookback window or a shop-wide statistic that only shows with
volume is caught. Slow (15 minutes on two cores beside another test run): kept out of CI, run by
`make test-all`.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest

from nurture import pipeline
from nurture.privacy.erasure import apply_erasures
from nurture.warehouse.queries import read_sql
from nurture.warehouse.transform import manifest_path, run_dbt
from tests.conftest import make_shop, midnight
from tests.tables import assert_same_table

pytestmark = pytest.mark.slow

CUSTOMERS, HISTORY_DAYS, DAYS = 15_000, 730, 3


def build(settings, day, *options: str) -> None:
    outcome = run_dbt(settings, ["build", "--exclude-resource-type", "test", "unit_test", *options], day)
    failed = [f"{r.node.name}: {r.message}" for r in outcome.result or [] if r.status == "error"]
    assert outcome.success, f"{day}: {failed or outcome.exception}"


def test_a_large_shop_built_day_by_day_equals_one_full_refresh(tmp_path):
    settings, generated = make_shop(tmp_path, customers=CUSTOMERS, days=HISTORY_DAYS, seed=17)
    days = [generated.end - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    history = midnight(generated.start), midnight(days[0])
    pipeline.extract_shop(settings, settings.shop_db_url, *history)
    pipeline.extract_events(settings, *history)
    build(settings, days[0] - timedelta(days=1))
    for day in days:  # what every daily run does before its build
        start, end = midnight(day), midnight(day + timedelta(days=1))
        pipeline.extract_shop(settings, settings.shop_db_url, start, end)
        pipeline.extract_events(settings, start, end)
        apply_erasures(settings)
        build(settings, day)
    nodes = json.loads(manifest_path(settings).read_text())["nodes"].values()
    models = sorted(n["name"] for n in nodes if n["resource_type"] == "model")
    incremental = {m: read_sql(settings, f'select * from "main"."{m}"') for m in models}

    full = dataclasses.replace(settings, warehouse_path=settings.home / "full.duckdb")
    build(full, days[-1], "--full-refresh")
    differences, filled = [], 0
    for name in models:
        want = read_sql(full, f'select * from "main"."{name}"')
        filled += len(want) > 1000
        try:
            assert_same_table(name, "day by day", incremental[name], want, "a full refresh")
        except AssertionError as error:
            differences.append(str(error).splitlines()[0][:600])
    assert not differences, "\n".join(differences)
    assert filled > 15, "the shop fills most models with thousands of rows"
