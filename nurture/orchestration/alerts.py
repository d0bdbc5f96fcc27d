"""Alerts: a failed task or a late run, said once, clearly, where people look.

Every alert is logged at ERROR, appended to ``<home>/alerts/alerts.jsonl`` (one
JSON object a line, for the run report and for tests) and, when the Airflow
connection ``nurture_alerts`` exists, POSTed as JSON to its host (a Slack /
Teams / PagerDuty-style incoming webhook; the password, if any, is sent as a
bearer token). A webhook that is down never hides the alert: it is logged.

The cause is named for the common cases, so the first line of the alert says
what to do:

- ``source_down``: the shop database or a day's log file cannot be read;
- ``validation_failed``: a blocking data-quality expectation failed;
- ``destination_down``: a marketing platform or export target refused or timed out;
- ``task_failed``: anything else (see the task log).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)
ALERTS_CONN_ID = "nurture_alerts"
WEBHOOK_TIMEOUT_SECONDS = 10

# Exception class names (anywhere in the cause chain) -> cause. Names, not imports:
# a callback must not load the pipeline's heavy modules to say what went wrong.
CAUSES = {
    "SourceMissingError": "source_down",
    "SourceUnavailableError": "source_down",
    "SourceSchemaError": "source_down",
    "QualityGateError": "validation_failed",
    "PushError": "destination_down",
    "MissingConnectionError": "destination_down",
    "PlatformDeletesPendingError": "destination_down",
    "ExportConfigError": "destination_down",
    "RunFailedError": "run_failed",
}
ADVICE = {
    "source_down": "the source could not be read: check the shop database / log shipper, then clear the task",
    "validation_failed": "bad data stopped the run before any export: see the failed expectations below",
    "destination_down": "a destination failed; the other destinations went out. It is retried; "
    "clear the publish task once the platform is back",
    "task_failed": "see the task log",
    "deadline_missed": "the run has not finished in time: look for a long or stuck task",
    "run_failed": "a step failed (alerted on its own)",
}


@dataclass(frozen=True)
class Alert:
    cause: str
    dag_id: str
    run_id: str
    task_id: str
    message: str
    at: str

    @property
    def text(self) -> str:
        where = f"{self.dag_id}.{self.task_id}" if self.task_id else self.dag_id
        return f"[nurture] {self.cause} in {where} ({self.run_id}): {ADVICE[self.cause]}\n{self.message}"


def cause_of(error: BaseException | None) -> str:
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        for klass in type(error).__mro__:
            if klass.__name__ in CAUSES:
                return CAUSES[klass.__name__]
        error = error.__cause__ or error.__context__
    return "task_failed"


def alerts_path() -> Path:
    from nurture.config import load_settings

    return load_settings().home / "alerts" / "alerts.jsonl"


def _webhook() -> tuple[str, str] | None:
    try:
        from nurture.connections import http_endpoint

        return http_endpoint(ALERTS_CONN_ID, needed_by="The alerts webhook")
    except LookupError:
        return None


def send(alert: Alert) -> None:
    log.error("%s", alert.text)
    path = alerts_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(json.dumps(asdict(alert), sort_keys=True) + "\n")
    if hook := _webhook():
        import requests

        url, token = hook
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = requests.post(
                url,
                json={"text": alert.text, **asdict(alert)},
                headers=headers,
                timeout=WEBHOOK_TIMEOUT_SECONDS,
            )
            response.raise_for_status()
        except requests.RequestException as error:
            log.error("alert webhook %s failed: %s", url, error)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def on_task_failure(context) -> None:
    """Airflow ``on_failure_callback``: one alert per failed task try that will not be retried."""
    ti = context["ti"]
    error = context.get("exception")
    send(
        Alert(
            cause=cause_of(error),
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id + (f"[{ti.map_index}]" if getattr(ti, "map_index", -1) >= 0 else ""),
            message=str(error or "failed")[:2000],
            at=_now(),
        )
    )


async def on_deadline_missed(context: dict | None = None, hours: float | None = None, **kwargs) -> None:
    """Airflow ``DeadlineAlert`` callback (run by the triggerer): the run is late.
    ``hours``: the deadline it missed, passed by the DAG."""
    import asyncio

    dag_run = (context or {}).get("dag_run") or {}
    get = dag_run.get if isinstance(dag_run, dict) else lambda k, d="": getattr(dag_run, k, d)
    alert = Alert(
        cause="deadline_missed",
        dag_id=str(get("dag_id", "") or kwargs.get("dag_id", "")),
        # The triggerer passes the run as the REST API shows it: dag_run_id, not run_id.
        run_id=str(get("run_id", "") or get("dag_run_id", "")),
        task_id="",
        message=f"not finished {hours:g} h after it was queued" if hours else "past its deadline",
        at=_now(),
    )
    await asyncio.to_thread(send, alert)
