"""What Nurture's DAG files share: the pool, the schedule bounds, retries and alerts,
deadlines, and the quality-gate wrapper. Light imports only: DAG files import this
at parse time.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import AssetAlias, AsyncCallback, DeadlineAlert, DeadlineReference

from nurture.orchestration.alerts import on_deadline_missed

# Tasks that open the DuckDB warehouse file, or write the shop's raw partitions
# (which both DAGs land), take the one slot of this pool.
WAREHOUSE_POOL = "nurture_warehouse"
# Every published (segment, destination) is an asset event on
# nurture://exports/<destination>/<segment>: downstream DAGs can schedule on it.
EXPORTS_ALIAS = AssetAlias("nurture_exports")
START_DATE = pendulum.parse(os.environ.get("NURTURE_START_DATE", "2025-01-01"), tz="UTC")
# A shop with a fixed calendar (the demo's) sets the DAGs' last date, so the
# scheduler never starts runs for days that have no data.
END_DATE = (
    pendulum.parse(os.environ["NURTURE_END_DATE"], tz="UTC") if "NURTURE_END_DATE" in os.environ else None
)


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
    hours = float(os.environ.get(env_var, default_hours))
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
    cannot define it); a platform error is retried as usual."""
    from airflow.sdk.exceptions import AirflowFailException

    from nurture.connections import MissingConnectionError

    try:
        return step(*args)
    except MissingConnectionError as error:
        raise AirflowFailException(str(error)) from error
