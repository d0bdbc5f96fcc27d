"""Airflow's distributed executor, for real: the CeleryExecutor with the settings of
docker-compose.yml, on 127.0.0.1.

One module fixture starts PostgreSQL as the metadata DB (a fresh database ``airflow``
on a server of its own, made by ``scripts/postgres.sh``), a private Redis as the
broker (``scripts/redis.sh install`` brings the binary), the API server, the
scheduler, the DAG processor and two ``airflow celery worker`` processes; it makes
an admin user as compose's airflow-init does (FAB auth manager), logs in, triggers
``nurture_daily`` for the last day of a tiny shop through the REST API, waits for the
run to end, records what the API says about it, and stops everything
it started before any test looks at the outcome.

It fails at once, naming what is missing, when the installed packages cannot run the
CeleryExecutor (asyncpg; a celery the Celery provider imports: 5.7 does not) or
compose's auth manager (the FAB provider).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from devkit.local_airflow import (
    DAG_ID,
    AirflowApi,
    airflow,
    airflow_env,
    airflow_services,
    celery_executor_env,
    celery_workers,
    free_port,
    init_metadata,
    redis_server,
    sandbox_connection,
)
from devkit.sandbox_api import SandboxApi
from nurture import pipeline
from nurture.config import PROJECT_ROOT, load_settings
from tests.conftest import make_shop, midnight

pytestmark = pytest.mark.airflow
WORKERS = ("worker1", "worker2")
RUN_TIMEOUT = 900  # seconds for the DAG run; it takes a few minutes on 2 busy cores


def missing_packages() -> list[str]:
    """What the installed Python packages lack for this stack (both are pinned in the lock)."""
    missing = []
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        # Airflow 3 also opens its metadata DB through an async driver: for PostgreSQL
        # asyncpg, which apache-airflow[postgres] brings.
        missing.append("asyncpg (Airflow's async driver for a PostgreSQL metadata DB)")
    try:
        import airflow.providers.celery.executors.celery_executor
    except ImportError as error:
        # celery 5.7 dropped celery.backends.database.retry, which the provider imports.
        missing.append(f"the Celery provider does not import: {error}")
    try:
        import airflow.providers.fab.auth_manager.fab_auth_manager  # noqa: F401
    except ImportError as error:
        missing.append(f"the FAB provider (compose's auth manager) does not import: {error}")
    return missing


def redis_binary() -> str:
    """redis-server, installed by the project's script when missing (as `make test` does)."""
    script = PROJECT_ROOT / "scripts" / "redis.sh"
    installed = subprocess.run([script, "install"], capture_output=True, text=True)
    if installed.returncode:
        pytest.fail(f"{script} install failed:\n{installed.stderr}")
    return installed.stdout.strip().splitlines()[-1]


@contextmanager
def metadata_database(port: int) -> Iterator[str]:
    """A PostgreSQL server of its own with a fresh database ``airflow``, made by the project's
    script (``scripts/postgres.sh`` with another data directory and port); yields
    ``user@host:port/airflow`` and removes server and data at the end.

    Not a database on the shared server of port 55432: its role may not create
    databases, and a schema there would need the search path set for three drivers.
    """
    script = PROJECT_ROOT / "scripts" / "postgres.sh"
    data = Path(tempfile.mkdtemp(prefix="nurture-celery-pg-"))
    data.chmod(0o711)  # as root the server runs as the postgres OS user: it must get in
    env = os.environ | {
        "NURTURE_PG_DIR": str(data),
        "NURTURE_PG_PORT": str(port),
        "NURTURE_PG_DATABASE": "airflow",
    }
    try:
        started = subprocess.run([script, "start"], env=env, capture_output=True, text=True)
        if started.returncode:
            pytest.fail(f"{script} start failed:\n{started.stderr}")
        url = urlsplit(started.stdout.strip().splitlines()[-1])
        yield f"{url.netloc}{url.path}"
    finally:
        subprocess.run([script, "stop"], env=env, capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def status_of(call) -> int:
    """The HTTP status a REST call ends with."""
    try:
        call()
    except urllib.error.HTTPError as error:
        return error.code
    return 200


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes_of(airflow_home: Path) -> list[int]:
    """Processes whose environment has this AIRFLOW_HOME: every Airflow process the
    fixture started and their children (tasks included). Linux's /proc."""
    marker = f"AIRFLOW_HOME={airflow_home}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:  # gone meanwhile, or not ours to read
                pass
    return found


def wait_for_run(api: AirflowApi, run_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")
        if run["state"] in ("success", "failed"):
            return run
        time.sleep(5)
    raise TimeoutError(f"DAG run {run_id} did not finish within {timeout}s")


@pytest.fixture(scope="module")
def celery_run(tmp_path_factory):
    """The run's outcome (run, task instances, worker logs) after everything has stopped."""
    if missing := missing_packages():
        pytest.fail("the installed packages cannot run the CeleryExecutor: " + "; ".join(missing))
    started = time.monotonic()
    # A tiny shop: the run's cost is Airflow's and dbt's, not the data's. 40 customers over
    # 30 days is green (with 20 the last day's log has no event and freshness blocks).
    settings, shop = make_shop(tmp_path_factory.mktemp("celery_shop"), customers=40, days=30, seed=5)
    day = shop.end
    pipeline.extract_shop(settings, settings.shop_db_url, midnight(shop.start), midnight(day))
    pipeline.extract_events(settings, midnight(shop.start), midnight(day))

    home = settings.home / "airflow"
    logs = home / "service-logs"
    logs.mkdir(parents=True)
    api_port, redis_port, pg_port = free_port(), free_port(), free_port()
    outcome: dict = {"ports": (api_port, redis_port, pg_port), "logs": logs}
    with ExitStack() as stack:
        metadata_db = stack.enter_context(metadata_database(pg_port))
        broker = stack.enter_context(redis_server(redis_binary(), redis_port, home / "redis"))
        env = airflow_env(settings, api_port=api_port, parallelism=4, calendar=(shop.start, shop.end))
        env |= celery_executor_env(metadata_db, broker, secrets.token_urlsafe(32), secrets.token_hex(16))
        # Its own CRM sandbox: the session's belongs to the modules that count its members.
        crm = stack.enter_context(SandboxApi())
        env |= {
            "AIRFLOW_CONN_NURTURE_CRM": sandbox_connection(crm.url),
            "AIRFLOW_HOME": str(home),  # its own, not the session's SQLite one
        }
        init_metadata(env, logs / "init.log")
        # What compose's airflow-init does with _AIRFLOW_WWW_USER_CREATE.
        user, password = "nurture-admin", secrets.token_urlsafe(16)
        admin = {"username": user, "password": password, "role": "Admin", "email": "admin@example.invalid"}
        names = {"firstname": "Nurture", "lastname": "Admin"}
        airflow(
            env, "users", "create", *(f"--{k}={v}" for k, v in (admin | names).items()), log=logs / "init.log"
        )
        airflow(env, "dags", "reserialize", log=logs / "reserialize.log")
        stack.enter_context(airflow_services(env, logs))
        worker_logs = stack.enter_context(celery_workers(env, logs, WORKERS, concurrency=2))
        api = AirflowApi(api_port)
        api.wait_until_healthy()
        outcome["anonymous_status"] = status_of(lambda: api.call("GET", "/dags"))
        api.login(user, password)
        api.call("PATCH", f"/dags/{DAG_ID}", {"is_paused": False})
        # A manual run at D covers the interval [D - 1 day, D): the shop's last day.
        logical_date = f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z"
        run = api.call("POST", f"/dags/{DAG_ID}/dagRuns", {"logical_date": logical_date})
        run_started = time.monotonic()
        outcome["run"] = wait_for_run(api, run["dag_run_id"], RUN_TIMEOUT)
        outcome["run_seconds"] = time.monotonic() - run_started
        outcome["task_instances"] = api.call(
            "GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances?limit=1000"
        )["task_instances"]
        outcome["running"] = processes_of(home)
    outcome["worker_logs"] = {name: log.read_text(errors="replace") for name, log in worker_logs.items()}
    outcome["seconds"] = time.monotonic() - started
    print(f"celery run: {outcome['run_seconds']:.0f}s for the DAG run, {outcome['seconds']:.0f}s in all")
    return outcome


def test_the_settings_are_the_compose_files(tmp_path):
    """What the test runs is what docker-compose.yml configures: the same executor,
    metadata DB and result backend on PostgreSQL, Redis broker and shared secrets."""
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    common = compose["x-airflow-common"]["environment"]
    password = "${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD in .env}"
    expected = celery_executor_env(
        metadata_db=f"${{AIRFLOW_DB_USER:-airflow}}:{password}@postgres/airflow",
        broker_url="redis://:@redis:6379/0",
        jwt_secret="${AIRFLOW__API_AUTH__JWT_SECRET:?set AIRFLOW__API_AUTH__JWT_SECRET in .env}",
        api_secret_key="${AIRFLOW__API__SECRET_KEY:?set AIRFLOW__API__SECRET_KEY in .env}",
    )
    assert {key: common.get(key) for key in expected} == expected
    # No other Celery setting in compose that the test would not use.
    assert {k for k in common if k.startswith("AIRFLOW__CELERY__")} <= expected.keys()
    # Workers reach the execution API on the API server's /execution/, as here.
    local = airflow_env(load_settings(tmp_path), api_port=8080)
    assert urlsplit(local["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]).path == "/execution/"
    assert urlsplit(common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]).path == "/execution/"


def test_the_api_lets_in_only_logged_in_users(celery_run):
    """Compose's FAB auth manager: no call without a login (the run was triggered after one)."""
    assert celery_run["anonymous_status"] == 401


def test_the_triggered_run_ends_green(celery_run):
    run, tis = celery_run["run"], celery_run["task_instances"]
    assert run["state"] == "success", f"see the task logs under {celery_run['logs'].parent / 'logs'}"
    assert run["run_type"] == "manual"
    assert {ti["state"] for ti in tis} == {"success"}
    assert len(tis) >= 15  # every task of the DAG, the mapped publishers one by one
    assert {ti["queue"] for ti in tis} == {"default"}


def test_tasks_ran_on_both_workers(celery_run):
    """Each task instance names the worker that ran it (its ``hostname``, as the API
    reports it), and that worker's own log shows it executing that task instance."""
    tis, worker_logs = celery_run["task_instances"], celery_run["worker_logs"]
    ran_on = {}
    for ti in tis:
        ran_on.setdefault(ti["hostname"], []).append(f"{ti['task_id']}[{ti['map_index']}]")
    assert ran_on.keys() == set(WORKERS), ran_on
    executed = {
        name: set(re.findall(r"Executing workload in Celery: .*?id=UUID\('([0-9a-f-]+)'\)", text))
        for name, text in worker_logs.items()
    }
    for ti in tis:
        assert ti["id"] in executed[ti["hostname"]], (ti["task_id"], ti["hostname"])
        if ti["try_number"] == 1:  # a retry may run on the other worker
            other = next(name for name in WORKERS if name != ti["hostname"])
            assert ti["id"] not in executed[other], (ti["task_id"], other)


def test_everything_it_started_is_stopped(celery_run):
    assert celery_run["running"], "the check sees the services while they run"
    assert processes_of(celery_run["logs"].parent) == []
    assert [port for port in celery_run["ports"] if port_in_use(port)] == []
