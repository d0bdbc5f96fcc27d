"""The DAG tasks' steps: one call per task of ``dags/``.

Named ``<DAG>_<task id>``. Each loads the settings in the task's process (the shop from
the ``nurture_shop`` connection when defined) and takes what Airflow gives the task:
the data interval [start, end) and the run id, so each task body is one call. The
exceptions say what Airflow should do: ``nurture.orchestration.dag_support`` turns
them into failing at once or skipping; nothing here imports Airflow.
"""

from __future__ import annotations

from datetime import datetime

from nurture.config import Settings
from nurture.export.erasure_outbox import PlatformDeletesPendingError
from nurture.pipeline.hourly import extract_hour, slot_of, stage_hourly_exports, transform_hour
from nurture.pipeline.steps import (
    apply_erasures,
    apply_retention,
    deliver_erasures,
    extract_events,
    extract_shop,
    load_warehouse,
    predict,
    publish,
    publish_bi,
    record_exports,
    record_run,
    report,
    stage_exports,
    transform,
    validate_marts,
    validate_raw,
)
from nurture.warehouse.transform import NodeResult


class ErasuresNeedConnectionsError(PlatformDeletesPendingError):
    """Platform deletes are pending only for want of connections: a retry cannot define one."""


class StepsFailedError(RuntimeError):
    """Steps of an hourly run failed: its last task fails too, so the run ends failed."""


def _settings() -> Settings:
    from nurture.config import load_settings

    return load_settings()


def _statuses(results: list[NodeResult]) -> dict[str, int]:
    from collections import Counter

    return dict(Counter(r.status for r in results))


def _shop_db_url(settings: Settings) -> str:
    from nurture.connections import shop_db_url

    return shop_db_url(settings)


def daily_shop_tables(start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    settings = _settings()
    return extract_shop(settings, _shop_db_url(settings), start, end)


def daily_event_logs(start: datetime, end: datetime) -> dict[str, int]:
    return extract_events(_settings(), start, end)


def daily_apply_erasures() -> dict[str, int]:
    return apply_erasures(_settings())


def daily_validate_raw(start: datetime, end: datetime, run_id: str) -> dict[str, int]:
    return validate_raw(_settings(), start, end, run_id)


def daily_load_warehouse(start: datetime, end: datetime) -> dict[str, int]:
    return load_warehouse(_settings(), start, end)


def daily_dbt_build(start: datetime, run_id: str) -> dict[str, int]:
    """``transform`` as of the interval's day; nodes by status."""
    return _statuses(transform(_settings(), start.date(), run_id))


def daily_predict_value(start: datetime) -> int:
    return predict(_settings(), start.date())


def daily_validate_marts(start: datetime, run_id: str) -> dict[str, int]:
    return validate_marts(_settings(), start.date(), run_id)


def daily_stage_exports(start: datetime, run_id: str) -> list[dict]:
    return stage_exports(_settings(), start.date(), run_id)


def daily_publish(target: dict, start: datetime, end: datetime, run_id: str) -> dict:
    return publish(_settings(), target, start.date(), run_id, end)


def daily_deliver_erasures() -> dict[str, int]:
    """``deliver_erasures``; raises while any platform delete is pending
    (``ErasuresNeedConnectionsError`` when only connections are missing)."""
    delivery = deliver_erasures(_settings())
    if delivery.failed:
        unconfigured_only = set(delivery.errors) <= delivery.unconfigured
        error = ErasuresNeedConnectionsError if unconfigured_only else PlatformDeletesPendingError
        raise error(delivery.sentence())
    return delivery.acknowledged


def daily_record_sync_log(start: datetime, run_id: str) -> dict[str, int]:
    return record_exports(_settings(), start.date(), run_id)


def daily_publish_bi(start: datetime) -> dict[str, int]:
    return publish_bi(_settings(), start.date())


def daily_retention_report(start: datetime) -> str:
    return report(_settings(), start.date())


def daily_apply_retention(start: datetime) -> int:
    return apply_retention(_settings(), start.date())


def daily_record_run(start: datetime, run_id: str) -> dict:
    """``record_run``; raises ``RunFailedError`` after recording a run with a failed step
    (the DAG's only leaf: without it such a run would end green)."""
    from nurture.bi.run_record import RunFailedError

    record = record_run(_settings(), start.date(), run_id)
    if record["steps_failed"]:
        raise RunFailedError(f"{record['steps_failed']} step(s) failed: see audit.pipeline_steps")
    return record


def hourly_shop_tables(start: datetime) -> dict[str, dict[str, int]]:
    settings = _settings()
    return extract_hour(settings, _shop_db_url(settings), slot_of(start))


def hourly_apply_erasures() -> dict[str, int]:
    return apply_erasures(_settings())


def hourly_dbt_build(start: datetime, run_id: str) -> dict[str, int]:
    """``transform_hour``; raises ``NoDailyBuildError`` before the first daily build."""
    return _statuses(transform_hour(_settings(), slot_of(start), run_id))


def hourly_stage_exports(start: datetime, run_id: str) -> list[dict]:
    return stage_hourly_exports(_settings(), slot_of(start), run_id)


def hourly_publish(target: dict, start: datetime, end: datetime, run_id: str) -> dict:
    return publish(_settings(), target, slot_of(start), run_id, end)


def hourly_record_sync_log(start: datetime, run_id: str) -> dict[str, int]:
    """Every destination's outcome into exports.sync_log, the steps into
    audit.pipeline_steps; raises ``StepsFailedError`` when a step failed."""
    from nurture.bi.run_record import record_steps

    settings = _settings()
    counts = record_exports(settings, slot_of(start), run_id)
    failed = [s["task_id"] for s in record_steps(settings, run_id) if s["state"] == "failed"]
    if failed:
        raise StepsFailedError(f"step(s) failed: {', '.join(sorted(set(failed)))}")
    return counts


def exports_notify_record_published(events: list[dict]) -> int:
    """One line per export event (``nurture.export.notify``)."""
    from nurture.export.notify import record_published

    return record_published(_settings(), events)
