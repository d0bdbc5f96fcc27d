"""The DAGs' task callbacks: each task's outcome (state, start, duration, try, the
cause of a failure) as a small JSON file under ``<home>/runs/<run_id>/`` (tasks on any
worker, no warehouse lock), which the run's last task loads into
``audit.pipeline_steps`` (``nurture.bi.run_record``); a failure also alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from nurture.bi.run_record import steps_dir
from nurture.config import Settings


def write_step(settings: Settings, context, state: str, cause: str | None = None) -> None:
    """One task's outcome, from an Airflow callback's context, as a JSON file."""
    from nurture.extract.raw_zone import utc_naive

    ti = context["ti"]
    ended = datetime.now(UTC)
    started = ti.start_date or ended
    map_index = getattr(ti, "map_index", -1)
    step = {
        "run_id": ti.run_id,
        "logical_date": context["data_interval_start"].date().isoformat(),
        "task_id": ti.task_id,
        "map_index": map_index,
        "state": state,
        "try_number": ti.try_number,
        "started_at": utc_naive(started).isoformat(),
        "ended_at": utc_naive(ended).isoformat(),
        "duration_s": round((ended - started).total_seconds(), 3),
        "cause": cause,
    }
    folder = steps_dir(settings, ti.run_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{ti.task_id}.{map_index}.json").write_text(json.dumps(step) + "\n")


def on_success(context) -> None:
    from nurture.config import load_settings

    write_step(load_settings(), context, "success")


def on_failure(context) -> None:
    """Alert, and keep the failed step for the run record."""
    from nurture.config import load_settings
    from nurture.orchestration.alerts import cause_of, on_task_failure

    cause = cause_of(context.get("exception"))
    if cause == "run_failed":
        return  # the failed step has alerted already
    on_task_failure(context)
    write_step(load_settings(), context, "failed", cause)
