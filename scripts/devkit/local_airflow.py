"""Run the project's DAGs on a local Airflow: the embedded default (SQLite metadata DB).

Used by ``make demo``, ``make airflow`` and the tests, so all three run Airflow
the same way (dev-only: see ``devkit``). Airflow's home lives under the data home (git-ignored). The
CeleryExecutor's settings (``celery_executor_env``) are docker-compose.yml's too;
``redis_server`` and ``celery_workers`` run that stack on one machine for the tests.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

from nurture.config import PROJECT_ROOT, Settings

DAG_ID = "nurture_daily"
# docker-compose.yml's auth manager, as in Airflow's official file: users and passwords in
# the metadata DB, the first admin made by airflow-init (`airflow users create`).
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
WAREHOUSE_POOL = ("nurture_warehouse", "1", "DuckDB warehouse file: one task at a time")
AIRFLOW = str(Path(sys.executable).parent / "airflow")
DEVKIT_ROOT = Path(__file__).resolve().parents[1]  # scripts/: where `import devkit` is found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def airflow_env(
    settings: Settings,
    api_port: int = 8080,
    parallelism: int = 4,
    calendar: tuple[date, date] | None = None,
    crm_url: str | None = None,
) -> dict[str, str]:
    """Environment for every Airflow process: config, the shop connection, Nurture paths.

    ``calendar`` (first, last day) bounds the DAG's schedule for a shop with a fixed calendar.
    ``crm_url`` points the ``nurture_crm`` connection at a sandbox audience API (demo, tests)
    unless ``AIRFLOW_CONN_NURTURE_CRM`` is already set.
    """
    home = Path(os.environ.get("AIRFLOW_HOME", settings.home / "airflow"))
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # The demo's shop: a SQLite file. Real shops set this connection themselves.
            "AIRFLOW_CONN_NURTURE_SHOP": json.dumps(
                {"conn_type": "sqlite", "host": settings.shop_db_url.removeprefix("sqlite:///")}
            )
            if settings.shop_db_url.startswith("sqlite:///")
            else env.get("AIRFLOW_CONN_NURTURE_SHOP", ""),
            "NURTURE_HOME": str(settings.home),
            "NURTURE_LOG_DIR": str(settings.log_dir),
            "NURTURE_RAW_DIR": str(settings.raw_dir),
            "NURTURE_WAREHOUSE": str(settings.warehouse_path),
            "NURTURE_EXPORTS_DIR": str(settings.exports_dir),
            # Task code from this checkout, the one whose dags/ is the DAGs folder: a worktree's
            # Airflow processes would otherwise import the package the venv was installed from.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])),
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "GX_ANALYTICS_ENABLED": "False",
            # `airflow standalone` starts its components as `airflow` from PATH: this venv's.
            "PATH": os.pathsep.join([str(Path(AIRFLOW).parent), env.get("PATH", "")]),
        }
    )
    if crm_url and "AIRFLOW_CONN_NURTURE_CRM" not in env:
        env["AIRFLOW_CONN_NURTURE_CRM"] = sandbox_connection(crm_url)
    if calendar:
        # The DAG may run until the day after the last day: a manual run at D
        # processes the interval [D - 1 day, D), so re-running the last day needs it.
        first, last = calendar
        env["NURTURE_START_DATE"] = first.isoformat()
        env["NURTURE_END_DATE"] = (last + timedelta(days=1)).isoformat()
        env["NURTURE_SHOP_OPENED_ON"] = first.isoformat()  # earlier timestamps are quarantined
    return env


def sandbox_connection(url: str) -> str:
    """The ``nurture_crm`` connection (Airflow's JSON form) for a sandbox audience API."""
    from devkit.sandbox_api import SANDBOX_TOKEN

    return json.dumps({"conn_type": "http", "host": url, "password": SANDBOX_TOKEN})


def airflow(env: dict[str, str], *args: str, check: bool = True, log: Path | None = None):
    """Run one Airflow CLI command; its output goes to ``log`` (or is captured)."""
    if log:
        with log.open("a") as out:
            return subprocess.run(
                [AIRFLOW, *args], env=env, stdout=out, stderr=subprocess.STDOUT, check=check
            )
    return subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, check=check)


def dags_test(env: dict[str, str], logical_date: str, log: Path, dag_id: str = DAG_ID, check: bool = True):
    """``airflow dags test`` of one run, in this process's environment plus ``env``.

    Without the deadline alerts: Airflow 3.3's ``dags test`` fails a finished run of a
    DAG that has one (it looks the alert up by its serialized form instead of its id).
    """
    env = env | {"NURTURE_DEADLINE_HOURS": "0", "NURTURE_HOURLY_DEADLINE_HOURS": "0"}
    return airflow(env, "dags", "test", dag_id, logical_date, check=check, log=log)


def init_metadata(env: dict[str, str], log: Path) -> None:
    """Create or upgrade the metadata DB and the warehouse pool (idempotent)."""
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    airflow(env, "db", "migrate", log=log)
    airflow(env, "pools", "set", *WAREHOUSE_POOL, log=log)


def _start(command: list[str], env: dict[str, str] | None, log: Path) -> subprocess.Popen:
    """A background process in its own process group (session), its output appended to ``log``."""
    with log.open("a") as out:
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(procs: list[subprocess.Popen], timeout: float = 30) -> None:
    """SIGTERM each process group, then SIGKILL what is still there after ``timeout``."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # Children that outlived their parent (a task's process) are in the same group.
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def airflow_services(
    env: dict[str, str], log_dir: Path, services=("api-server", "scheduler", "dag-processor")
) -> Iterator[None]:
    """Start Airflow's services in the background and stop them (and their children) on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    try:
        for service in services:
            procs.append(_start([AIRFLOW, service], env, log_dir / f"{service}.log"))
        yield
    finally:
        _stop(procs)


# --- The CeleryExecutor: docker-compose.yml's stack, on one machine ----------------

# Set on each Celery worker: the name its tasks report as their host (`task_hostname`).
WORKER_HOSTNAME_VAR = "NURTURE_AIRFLOW_HOSTNAME"


def celery_executor_env(
    metadata_db: str, broker_url: str, jwt_secret: str, api_secret_key: str
) -> dict[str, str]:
    """The CeleryExecutor's settings and the auth manager, the one place for them:
    docker-compose.yml's ``x-airflow-common`` environment has exactly these values (a test
    checks it), and ``tests/test_celery_executor.py`` runs the stack on 127.0.0.1 with them.

    ``metadata_db`` is ``user:password@host[:port]/database[?query]`` of a PostgreSQL
    database: the metadata DB and Celery's result backend live there. ``broker_url`` is
    the Redis broker. Every process (API server, scheduler, DAG processor, workers)
    must share the two secrets: the workers' calls to the execution API carry JWTs the
    API server checks, and the API server signs its log requests with the secret key.
    Without them each process makes up its own and a worker's calls fail with "Invalid
    auth token" (apache/airflow#49646). The execution API's URL is ``airflow_env``'s.
    """
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{metadata_db}",
        # The driver named: SQLAlchemy 2.1 defaults `postgresql://` to psycopg 3, not installed.
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{metadata_db}",
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
        "AIRFLOW__API__SECRET_KEY": api_secret_key,
    }


def task_hostname() -> str:
    """``[core] hostname_callable`` for Celery workers that share one machine.

    In docker-compose each worker is a container with a host name of its own; two
    workers on one host would report the same one. Each of ours sets
    ``NURTURE_AIRFLOW_HOSTNAME``, which its tasks record as the task instance's
    ``hostname`` (the machine's name when unset).
    """
    return os.environ.get(WORKER_HOSTNAME_VAR) or socket.getfqdn()


@contextmanager
def redis_server(server: str, port: int, work_dir: Path) -> Iterator[str]:
    """A private Redis on 127.0.0.1:``port`` without snapshots, its log in ``work_dir``.

    Yields the broker URL once the server answers; stops it on exit.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    command = [server, "--bind", "127.0.0.1", "--port", str(port), "--protected-mode", "yes"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(work_dir)]
    proc = _start(command, None, work_dir / "redis.log")
    try:
        deadline = time.monotonic() + 30
        while not _answers_ping(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: see {work_dir / 'redis.log'}")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop([proc])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def celery_workers(
    env: dict[str, str], log_dir: Path, names: tuple[str, ...], concurrency: int = 2, timeout: float = 180
) -> Iterator[dict[str, Path]]:
    """One ``airflow celery worker`` per name, each the Celery node ``<name>@127.0.0.1``
    whose tasks report ``<name>`` as their host; yields each worker's log once all are
    ready, stops them (and their tasks) on exit.

    The workers serve no logs over HTTP (that server listens on every interface):
    the task logs are files under the ``AIRFLOW_HOME`` they share with the API server.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    procs, logs = [], {}
    try:
        for name in names:
            logs[name] = log_dir / f"celery-{name}.log"
            worker_env = env | {
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.task_hostname",
                WORKER_HOSTNAME_VAR: name,
                # The callable is this dev-only module, outside the package: on the worker's path.
                "PYTHONPATH": os.pathsep.join(filter(None, [str(DEVKIT_ROOT), env.get("PYTHONPATH")])),
            }
            command = [AIRFLOW, "celery", "worker", "--celery-hostname", f"{name}@127.0.0.1"]
            command += ["--concurrency", str(concurrency), "--skip-serve-logs"]
            command += ["--pid", str(log_dir / f"celery-{name}.pid")]
            procs.append(_start(command, worker_env, logs[name]))
        deadline = time.monotonic() + timeout
        for (name, log), proc in zip(logs.items(), procs, strict=True):
            while f"{name}@127.0.0.1 ready" not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Celery worker {name} did not come up: see {log}")
                time.sleep(1)
        yield logs
    finally:
        _stop(procs, timeout=60)


@contextmanager
def standalone(env: dict[str, str], log: Path, timeout: float = 240) -> Iterator[AirflowApi]:
    """``airflow standalone`` (API server, scheduler, DAG processor, triggerer) until exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        proc = subprocess.Popen(
            [AIRFLOW, "standalone"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        api = AirflowApi(int(env["AIRFLOW__API__PORT"]))
        api.wait_until_healthy(timeout=timeout)
        yield api
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # standalone stops its children on SIGINT
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


class AirflowApi:
    """A few calls of Airflow's REST API (v2) on the local API server, as a user logged in
    with ``login`` or, without it, anonymously (all admins: the simple auth manager on
    loopback)."""

    def __init__(self, port: int) -> None:
        self.root = f"http://127.0.0.1:{port}"
        self.base = f"{self.root}/api/v2"
        self.headers = {"Content-Type": "application/json"}

    def login(self, username: str, password: str) -> None:
        """Get a JWT for the user (``/auth/token``) and send it with every later call."""
        request = urllib.request.Request(
            f"{self.root}/auth/token",
            data=json.dumps({"username": username, "password": password}).encode(),
            method="POST",
            headers=self.headers,
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.loads(response.read())["access_token"]
        self.headers = self.headers | {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: dict | None = None, attempts: int = 8) -> dict:
        """One API call; the SQLite metadata DB busy (a 503 while the services start, or a
        500 when "database is locked" while the scheduler writes: the API logs the cause, the
        response only an error id; the request's transaction was rolled back) is retried with
        a growing pause. A 500 that lasts through every attempt is raised."""
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(1, attempts + 1):
            request = urllib.request.Request(self.base + path, data=data, method=method, headers=self.headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as error:
                if error.code not in (500, 503) or attempt == attempts:
                    raise
                time.sleep(attempt)
        raise AssertionError("unreachable")

    def wait_until_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                health = self.call("GET", "/monitor/health")
                if health.get("metadatabase", {}).get("status") == "healthy":
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(2)
        raise TimeoutError(f"Airflow API server not healthy within {timeout}s: see api-server.log")

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns?limit=1000&order_by=logical_date")["dag_runs"]


def backfill(
    env: dict[str, str],
    first: date,
    last: date,
    log_dir: Path,
    dag_id: str = DAG_ID,
    timeout: float = 1800,
    progress: Callable[[str], None] | None = None,
    downstream: tuple[str, ...] = (),
) -> list[dict]:
    """Backfill the days [first, last] through the scheduler; returns the finished runs.

    All writes go through the API server (SQLite takes one writer at a time).
    Raises if any run fails or the backfill does not finish within ``timeout``.
    ``progress`` gets a line at each poll: runs done, the running day and its tasks.
    ``downstream``: asset-scheduled DAGs unpaused too; the services stay up until each
    has run and none is queued or running.
    """
    env = env | {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}  # loopback only
    airflow(env, "dags", "reserialize", log=log_dir / "reserialize.log")
    api = AirflowApi(int(env["AIRFLOW__API__PORT"]))
    with airflow_services(env, log_dir):
        api.wait_until_healthy()
        for name in (dag_id, *downstream):
            api.call("PATCH", f"/dags/{name}", {"is_paused": False})
        api.call(
            "POST",
            "/backfills",
            {
                "dag_id": dag_id,
                "from_date": f"{first.isoformat()}T00:00:00Z",
                "to_date": f"{last.isoformat()}T00:00:00Z",
                "reprocess_behavior": "completed",
                "max_active_runs": 1,
            },
        )
        expected = (last - first).days + 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = [
                r
                for r in api.dag_runs(dag_id)
                if first.isoformat() <= r["logical_date"][:10] <= last.isoformat()
            ]
            done = [r for r in runs if r["state"] in ("success", "failed")]
            if progress:
                progress(_backfill_line(api, dag_id, runs, len(done), expected))
            if len(done) >= expected:
                failed = [r["logical_date"][:10] for r in done if r["state"] == "failed"]
                if failed:
                    raise RuntimeError(
                        f"DAG runs failed for {failed}: see task logs in {env['AIRFLOW_HOME']}/logs"
                    )
                _wait_for_downstream(api, downstream, deadline)
                return runs
            time.sleep(3)
    raise TimeoutError(f"backfill {first}..{last} did not finish in {timeout}s")


def _wait_for_downstream(api: AirflowApi, dag_ids: tuple[str, ...], deadline: float) -> None:
    """Until every DAG in ``dag_ids`` has run at least once and none is queued or running."""
    while dag_ids and time.monotonic() < deadline:
        runs = {name: api.dag_runs(name) for name in dag_ids}
        if all(r and all(run["state"] in ("success", "failed") for run in r) for r in runs.values()):
            return
        time.sleep(3)
    if dag_ids:
        raise TimeoutError(f"downstream DAGs {', '.join(dag_ids)} did not finish their runs")


def _backfill_line(api: AirflowApi, dag_id: str, runs: list[dict], done: int, expected: int) -> str:
    """'2 of 3 runs done; 2025-12-31: dbt_build, validate_raw' (what is running now)."""
    line = f"{done} of {expected} runs done"
    running = [r for r in runs if r["state"] == "running"]
    if running:
        run = running[0]
        tasks = api.call("GET", f"/dags/{dag_id}/dagRuns/{quote(run['dag_run_id'], safe='')}/taskInstances")
        names = sorted(t["task_id"] for t in tasks["task_instances"] if t["state"] == "running")
        line += f"; {run['logical_date'][:10]}: {', '.join(names) or 'scheduling'}"
    return line
