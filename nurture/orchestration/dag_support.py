"""What Nurture's DAG files share, the one module of the glue they import: the pool, the
schedule bounds, retries and the task callbacks (``run_log``, ``alerts``), deadlines,
and the wrappers that turn a step's exception into what Airflow should do (fail at
once, skip) or add a publish's asset event. A task body is one call of a
``nurture.pipeline`` step, through one of these wrappers when it needs one. Light
imports only: DAG files import this at parse time (the pipeline inside task bodies).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetAlias, AsyncCallback, DeadlineAlert, DeadlineReference

from nurture.config import dag_calendar, deadline_hours
from nurture.orchestration.alerts import on_deadline_missed, on_task_failure
from nurture.orchestration.run_log import on_failure, on_success

# What the DAG files import; the task callbacks (each step's outcome kept, a final
# failure alerted) are re-exported from run_log and alerts.
__all__ = [
    "END_DATE",
    "EXPORTS_ALIAS",
    "SCHEDULE_DEFAULTS",
    "START_DATE",
    "WAREHOUSE_POOL",
    "asset_events",
    "deadline",
    "default_args",
    "fail_on_failed_steps",
    "no_retry_without_connection",
    "on_failure",
    "on_success",
    "on_task_failure",
    "publish_with_asset_event",
    "quality_gate",
    "skip_without_daily_build",
]

# Tasks that open the DuckDB warehouse file, or write the shop's raw partitions
# (which both DAGs land), take the one slot of this pool.
WAREHOUSE_POOL = "nurture_warehouse"
# Every published (segment, destination) is an asset event on
# nurture://exports/<destination>/<segment>: downstream DAGs can schedule on it.
EXPORTS_ALIAS = AssetAlias("nurture_exports")
# A shop with a fixed calendar (the demo's) sets the DAGs' last date, so the
# scheduler never starts runs for days that have no data.
_first, _last = dag_calendar()
START_DATE = pendulum.parse(_first, tz="UTC")
END_DATE = pendulum.parse(_last, tz="UTC") if _last else None


# Both DAGs: the shop's calendar, no catch-up (a missed run is re-run or backfilled on
# purpose), one run at a time so runs stay in order.
SCHEDULE_DEFAULTS = {"start_date": START_DATE, "end_date": END_DATE, "catchup": False, "max_active_runs": 1}


def default_args(**overrides) -> dict:
    """Retries with exponential backoff; an owner; callbacks given by each DAG."""
    return {
        "owner": "nurture",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=15),
    } | overrides


def deadline(name: str, env_var: str, default_hours: float) -> DeadlineAlert | None:
    """Alert (``deadline_missed``) when a run is not done this long after it was queued.

    ``env_var`` (hours) overrides the default; 0 turns it off: Airflow 3.3's
    ``airflow dags test`` cannot run a DAG with a deadline (``scripts/devkit/local_airflow.py``
    ``dags_test``).
    """
    hours = deadline_hours(env_var, default_hours)
    if hours <= 0:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=hours),
        callback=AsyncCallback(on_deadline_missed, kwargs={"hours": hours}),
        name=name,
    )


def quality_gate(step, *args):
    """Run a step whose quality gate may fail: bad data fails the task at once (no retries)."""
    from airflow.sdk.exceptions import AirflowFailException

    from nurture.quality.gate import QualityGateError

    try:
        return step(*args)
    except QualityGateError as error:
        raise AirflowFailException(str(error)) from error


def no_retry_without_connection(step, *args):
    """Run a publishing step: a missing connection fails the target at once (retrying
    cannot define it), as do platform deletes pending only for want of connections; a
    platform error is retried as usual."""
    from airflow.sdk.exceptions import AirflowFailException

    from nurture.connections import MissingConnectionError
    from nurture.pipeline import ErasuresNeedConnectionsError

    try:
        return step(*args)
    except (MissingConnectionError, ErasuresNeedConnectionsError) as error:
        raise AirflowFailException(str(error)) from error


def publish_with_asset_event(step, target: dict, *args) -> dict:
    """A mapped publish task: one segment to one destination (``step(target, *args)``,
    through ``no_retry_without_connection``), labelled ``segment -> destination`` in the
    UI, with an asset event on ``nurture://exports/<destination>/<segment>`` carrying the
    counts (included, added, removed; no contacts)."""
    from airflow.sdk import Asset, get_current_context

    context = get_current_context()
    context["export_target"] = f"{target['segment']} -> {target['destination']}"
    entry = no_retry_without_connection(step, target, *args)
    uri = f"nurture://exports/{target['destination']}/{target['segment']}"
    context["outlet_events"][EXPORTS_ALIAS].add(
        Asset(uri), extra={k: entry[k] for k in ("included", "added", "removed")}
    )
    return entry


def fail_on_failed_steps(step, *args):
    """Run a DAG's last task (it records the run): when a step of the run failed it fails
    at once, so the run ends failed rather than green."""
    from airflow.sdk.exceptions import AirflowFailException

    from nurture.bi.run_record import RunFailedError
    from nurture.pipeline import StepsFailedError

    try:
        return step(*args)
    except (RunFailedError, StepsFailedError) as error:
        raise AirflowFailException(str(error)) from error


def skip_without_daily_build(step, *args):
    """Run an hourly build: skipped (not failed) until a daily run has built the warehouse."""
    from airflow.sdk.exceptions import AirflowSkipException

    from nurture.pipeline import NoDailyBuildError

    try:
        return step(*args)
    except NoDailyBuildError as error:
        raise AirflowSkipException(str(error)) from error


def asset_events(triggering_asset_events) -> list[dict]:
    """The asset events that triggered a run, as plain dicts (uri, extra, source DAG and run,
    timestamp)."""
    return [
        {
            "uri": getattr(asset, "uri", str(asset)),
            "extra": dict(event.extra or {}),
            "source_dag_id": event.source_dag_id,
            "source_run_id": event.source_run_id,
            "timestamp": str(event.timestamp),
        }
        for asset, asset_events in (triggering_asset_events or {}).items()
        for event in asset_events
    ]
