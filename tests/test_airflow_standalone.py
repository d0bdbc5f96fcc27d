"""`make airflow`'s Airflow, for real: `airflow standalone` comes up healthy with the
project's DAGs listed and no import errors, a run past its deadline raises
`deadline_missed` (through the triggerer), and it stops cleanly."""

from __future__ import annotations

import json
import socket
import time

import pytest

from devkit.local_airflow import DAG_ID, airflow_env, free_port, init_metadata, standalone
from nurture.config import load_settings

pytestmark = pytest.mark.airflow
COMPONENTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")


def wait_for(check, timeout: float = 180, every: float = 3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every)
    raise TimeoutError(f"not within {timeout}s")


def deadline_alerts(settings) -> list[dict]:
    path = settings.home / "alerts" / "alerts.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [a for a in map(json.loads, lines) if a["cause"] == "deadline_missed"]


def test_standalone_is_healthy_lists_the_dags_without_import_errors_and_stops(tmp_path):
    settings = load_settings(tmp_path)
    port = free_port()
    env = airflow_env(settings, api_port=port) | {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "NURTURE_DEADLINE_HOURS": "0.0005",  # 1.8 s: a run left queued (the DAG is paused) misses it
    }
    log = tmp_path / "airflow" / "service-logs" / "standalone.log"
    init_metadata(env, log.with_name("init.log"))

    with standalone(env, log) as api:

        def all_healthy():
            health = api.call("GET", "/monitor/health")
            return all(health.get(c, {}).get("status") == "healthy" for c in COMPONENTS) and health

        assert wait_for(all_healthy), log.read_text()[-2000:]
        dags = wait_for(lambda: {d["dag_id"] for d in api.call("GET", "/dags")["dags"]} or None)
        assert DAG_ID in dags
        assert api.call("GET", "/importErrors")["total_entries"] == 0
        dag = api.call("GET", f"/dags/{DAG_ID}/details")
        assert {t["name"] for t in dag["tags"]} >= {"nurture", "daily"} and dag["max_active_runs"] == 1

        run = api.call("POST", f"/dags/{DAG_ID}/dagRuns", {"logical_date": "2025-01-02T00:00:00Z"})
        # Its alert (a scheduled run the scheduler queued meanwhile may miss its deadline too).
        ours = lambda: [a for a in deadline_alerts(settings) if a["run_id"] == run["dag_run_id"]]  # noqa: E731
        alerts = wait_for(ours, timeout=120)
        assert alerts[0]["dag_id"] == DAG_ID, alerts

    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the API server is stopped"
