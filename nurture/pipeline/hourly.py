"""The hourly refresh of the time-critical audiences (abandoned carts).

What the ``nurture_hourly_carts`` DAG runs, every hour between daily runs:

1. the shop tables changed since the start of the day land in the raw zone (the day's
   partitions are replaced, as the daily run will replace them again), and erasures are
   applied again;
2. ``dbt build`` of the models tagged ``hourly`` only (the carts, the orders that recover
   them, the segment) as of the hour's end, into ``<schema>_hourly``; every other ref —
   the audience, consent, lifecycle — is deferred to the daily build, so the hour costs
   a few views and one table, not the whole project;
3. the segments tagged ``hourly`` are allocated (consent as of now, holdout, frequency
   cap counting every run), checked and published on the same timeline as the daily
   exports (``export/slot.py``): each delta is against the run just before, hourly or
   daily, so no removal is ever lost.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from nurture.config import Settings
from nurture.export.slot import RunSlot
from nurture.extract.raw_zone import utc_naive
from nurture.pipeline.steps import extract_shop, load_warehouse, transform
from nurture.warehouse.transform import NodeResult, dbt_paths

log = logging.getLogger(__name__)

HOURLY_TAG = "hourly"
HOURLY_SCHEMA_SUFFIX = "_hourly"


class NoDailyBuildError(RuntimeError):
    """The daily run has not built the warehouse yet: nothing to defer to."""


def slot_of(start: datetime) -> RunSlot:
    """The hour a data interval [start, start + 1 h) refreshes."""
    start = utc_naive(start)
    return RunSlot(start.date(), start.hour)


def _start_of_day(slot: RunSlot) -> datetime:
    return datetime.combine(slot.day, datetime.min.time())


def hourly_target(settings: Settings) -> Path:
    """The hourly build's dbt artifacts, apart from the daily build's manifest."""
    return settings.home / "dbt" / "hourly" / "target"


def extract_hour(settings: Settings, shop_db_url: str, slot: RunSlot) -> dict[str, dict[str, int]]:
    """The shop tables from the start of the day to the end of the hour."""
    return extract_shop(settings, shop_db_url, _start_of_day(slot), slot.as_of)


def transform_hour(settings: Settings, slot: RunSlot, run_id: str | None = None) -> list[NodeResult]:
    """Build the ``hourly`` models as of the end of the hour, deferring to the daily build."""
    daily = dbt_paths(settings)["target"]
    if not (daily / "manifest.json").exists():
        raise NoDailyBuildError(
            f"no daily build to refresh (no {daily / 'manifest.json'}): run nurture_daily"
        )
    load_warehouse(settings, _start_of_day(slot), slot.as_of)
    select = ["--select", f"tag:{HOURLY_TAG}"]
    return transform(
        settings,
        slot.day,
        run_id,
        build_args=[*select, "--defer", "--favor-state", "--state", str(daily)],
        extra_vars={"run_hour": slot.hour, "schema_suffix": HOURLY_SCHEMA_SUFFIX},
        target_path=hourly_target(settings),
    )


def stage_hourly_exports(settings: Settings, slot: RunSlot, run_id: str) -> list[dict]:
    """Allocate, guard, check and stage the hourly segments; returns their targets."""
    from nurture.export.config import load_export_config
    from nurture.export.segments import discover_segments
    from nurture.export.stage import stage_exports as stage

    segments = discover_segments(hourly_target(settings) / "manifest.json", also_tagged=HOURLY_TAG)
    plan = stage(settings, load_export_config(settings), slot, run_id, segments=segments)
    log.info("staged %d hourly export targets for %s; held back: %s", len(plan.targets), slot, plan.held_back)
    return plan.targets
