"""One benchmark stage per process, so each stage's peak memory is its own.

    python -m nurture.bench.stages <stage> <home> '<params json>'

prints one JSON line: ``compute_s`` (the stage's own work, after imports) and what
the stage reports. ``scripts/bench.py`` starts these and measures wall time and
peak RSS around them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from nurture.config import Settings, load_settings

# The benchmark's shop: a year plus the day the incremental run processes.
END = date(2025, 12, 31)
DAYS = 366
CUSTOMERS_PER_SF = 100_000
# How often customers buy: about ten orders per customer-year (SF1: ~1M orders).
ACTIVITY = 10.0


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def history_start() -> date:
    return END - timedelta(days=DAYS - 1)


def generate(settings: Settings, params: dict) -> dict:
    from nurture.generate import generate_shop

    customers = round(CUSTOMERS_PER_SF * params["sf"])
    shop = generate_shop(
        settings.shop_db_url, settings.log_dir, seed=params.get("seed", 42), customers=customers,
        days=DAYS, end=END, activity=params.get("activity", ACTIVITY),
    )  # fmt: skip
    return {"rows": shop.rows}


def year() -> tuple[datetime, datetime]:
    """The history before the last day: loaded as one interval (how the demo loads history)."""
    return midnight(history_start()), midnight(END)


def last_day() -> tuple[datetime, datetime]:
    return midnight(END), midnight(END + timedelta(days=1))


def _extract(settings: Settings, start: datetime, end: datetime) -> dict:
    from nurture import pipeline

    shop = pipeline.extract_shop(settings, settings.shop_db_url, start, end)
    events = pipeline.extract_events(settings, start, end)
    return {"accepted": sum(t["accepted"] for t in shop.values()) + events["accepted"]}


def extract(settings: Settings, params: dict) -> dict:
    return _extract(settings, *year())


def dbt_full_refresh(settings: Settings, params: dict) -> dict:
    """``dbt build --full-refresh`` as of the day before the last, then predict."""
    return _build(settings, year(), full_refresh=True)


def extract_day(settings: Settings, params: dict) -> dict:
    return _extract(settings, *last_day())


def dbt_incremental_day(settings: Settings, params: dict) -> dict:
    """The daily run's ``dbt build`` for the last day (incremental models append it), then predict."""
    return _build(settings, last_day(), full_refresh=False)


def _build(settings: Settings, interval: tuple[datetime, datetime], full_refresh: bool) -> dict:
    """Load the interval (PostgreSQL target; a no-op on DuckDB) and build as of its last day."""
    from nurture import pipeline
    from nurture.warehouse.transform import dbt_build

    run_date = (interval[1] - timedelta(days=1)).date()
    pipeline.load_warehouse(settings, *interval)
    build_args = ["--full-refresh"] if full_refresh else []
    results = dbt_build(settings, run_date, build_args=build_args, extra_vars=pipeline.dbt_vars(settings))
    pipeline.predict(settings, run_date)
    slowest = sorted(results, key=lambda r: -r.seconds)[:5]
    tests = sorted(r.seconds for r in results if r.resource_type in ("test", "unit_test"))
    return {
        "nodes": len(results),
        "node_seconds": round(sum(r.seconds for r in results), 2),
        # Where an engine's fixed cost per statement shows: hundreds of small tests.
        "test_seconds": round(sum(tests), 2),
        "median_test_s": tests[len(tests) // 2] if tests else None,
        "slowest": {r.name: r.seconds for r in slowest},
    }


def checks(settings: Settings, params: dict) -> dict:
    from nurture import pipeline

    raw = pipeline.validate_raw(settings, *last_day(), "bench")
    marts = pipeline.validate_marts(settings, END, "bench")
    return {"expectations": raw["expectations"] + marts["expectations"]}


def exports(settings: Settings, params: dict) -> dict:
    from nurture import pipeline

    outcome = pipeline.export(settings, END, "bench", last_day()[1])
    if error := outcome.error():
        raise error
    return {"targets": len(outcome.entries), "rows": sum(e["included"] for e in outcome.entries)}


def core_pipeline(settings: Settings, params: dict) -> dict:
    """The pipeline's own lifecycle / RFM / CRR models (with everything they read) as the
    daily run builds them (incremental models keep their state), tests left out: the
    like-for-like with the baselines, which compute the same from the raw zone."""
    from nurture import pipeline
    from nurture.warehouse.transform import run_dbt

    select = ["--select", "+int_customer_lifecycle +dim_customer_rfm +rpt_monthly_retention"]
    started = time.perf_counter()
    outcome = run_dbt(settings, ["run", *select], END, extra_vars=pipeline.dbt_vars(settings))
    wall = time.perf_counter() - started
    if not outcome.success:
        raise RuntimeError(f"dbt run failed: {outcome.exception}")
    nodes = outcome.result or []
    slowest = sorted(nodes, key=lambda r: -(r.execution_time or 0))[:5]
    return {
        "dbt_wall_s": round(wall, 2),
        "node_seconds": round(sum(r.execution_time or 0 for r in nodes), 2),
        "slowest": {r.node.name: round(r.execution_time or 0, 2) for r in slowest},
    }


def floor(settings: Settings, params: dict) -> dict:
    from nurture.bench.floor import run_floor

    run_floor(settings.raw_dir, END, results_dir(settings.home, "floor"))
    return {}


def pandas(settings: Settings, params: dict) -> dict:
    from nurture.bench.pandas_baseline import run_pandas

    run_pandas(settings.raw_dir, END, results_dir(settings.home, "pandas"))
    return {}


def results_dir(home: Path, baseline: str) -> Path:
    """Where a baseline leaves its results for the comparison with the marts."""
    return home / "bench" / baseline


STAGES: dict[str, Callable[[Settings, dict], dict]] = {
    "generate": generate,
    "extract": extract,
    "dbt_full_refresh": dbt_full_refresh,
    "extract_day": extract_day,
    "dbt_incremental_day": dbt_incremental_day,
    "checks": checks,
    "exports": exports,
    "core_pipeline": core_pipeline,
    "floor": floor,
    "pandas": pandas,
}


# Loaded before the clock starts: process start-up is reported apart from the work.
PRELOAD = {
    "floor": ["duckdb"],
    "pandas": ["pandas", "pyarrow.parquet", "nurture.bench.pandas_baseline"],
    "core_pipeline": ["dbt.cli.main", "nurture.warehouse.transform"],
}


def main() -> None:
    import importlib

    stage, home, params = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    for module in PRELOAD.get(stage, []):
        importlib.import_module(module)
    settings = load_settings(home)
    started = time.perf_counter()
    report = STAGES[stage](settings, params)
    report["compute_s"] = round(time.perf_counter() - started, 3)
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
