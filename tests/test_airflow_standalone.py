"""`make airflow`'s Airflow, for real: `airflow standalone` comes up healthy with the
project's DAGs listed and no import errors, and stops cleanly."""

from __future__ import annotations

import socket
import time

import pytest

from nurture.config import load_settings
from nurture.local_airflow import DAG_ID, airflow_env, free_port, init_metadata, standalone

pytestmark = pytest.mark.airflow
COMPONENTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")


def wait_for(check, timeout: float = 180, every: float = 3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every)
    raise TimeoutError(f"not within {timeout}s")


def test_standalone_is_healthy_lists_the_dags_without_import_errors_and_stops(tmp_path):
    settings = load_settings(tmp_path)
    port = free_port()
    env = airflow_env(settings, api_port=port) | {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}
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

    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the API server is stopped"
