"""Shared fixtures: small generated shops in temporary data homes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from nurture.config import Settings, load_settings
from nurture.generate import GeneratedShop, generate_shop

SMALL_END = date(2025, 6, 30)

# An xdist worker's __main__ has no __file__: pyspark.sql.connect (imported by Great
# Expectations) takes that for a doctest run and exits the worker.
if not hasattr(sys.modules["__main__"], "__file__"):
    sys.modules["__main__"].__file__ = "<pytest-xdist worker>"

# Airflow reads its home when first imported: give the test session its own.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="nurture-test-airflow-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# A few hundred customers can be quiet for a whole night: judge freshness by the day.
os.environ["NURTURE_FRESHNESS_HOURS"] = "24"
# Child processes import what this one does: this checkout's package (not the one the
# venv was installed from, when testing a git worktree) and the dev-only helpers
# (scripts/devkit/, on this process's path through pytest's `pythonpath`), which the test
# modules some children import use.
_ROOT = Path(__file__).resolve().parents[1]
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(_ROOT), str(_ROOT / "scripts"), os.environ.get("PYTHONPATH")])
)


# The slowest modules, slowest first (docs/test-durations.md): with `make test`'s workers
# (pytest-xdist, a module per worker at a time) the long ones start first instead of last.
SLOWEST_FIRST = [
    "test_pipeline_airflow.py", "test_engines.py", "test_exports.py", "test_celery_executor.py",
    "test_hourly_refresh.py", "test_incremental.py", "test_report.py", "test_quality_gates.py",
    "test_shops_from_other_tools.py", "test_privacy_under_faults.py", "test_warehouse.py", "test_cdnow.py",
    "test_metrics.py", "test_segments.py", "test_bench_baselines.py", "test_airflow_standalone.py",
    "test_orders_only.py",
]  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: in-module order kept


# Generated shops by (customers, days, seed), made once per test process: a shop is the
# same for the same arguments, so a test's copy is as good as its own generation.
_SHOPS: dict[tuple[int, int, int], GeneratedShop] = {}
_SHOP_CACHE = Path(tempfile.mkdtemp(prefix="nurture-test-shops-"))


def make_shop(
    home: Path, *, customers: int = 400, days: int = 180, seed: int = 7
) -> tuple[Settings, GeneratedShop]:
    """A generated shop in ``home`` (its SQLite file and logs copied from this process's cache)."""
    settings = load_settings(home)
    key = (customers, days, seed)
    if key not in _SHOPS:
        folder = _SHOP_CACHE / "-".join(map(str, key))
        _SHOPS[key] = generate_shop(
            f"sqlite:///{folder / 'shop.db'}", folder / "logs", seed=seed, customers=customers, days=days,
            end=SMALL_END,
        )  # fmt: skip
    cached = _SHOPS[key]
    target = Path(settings.shop_db_url.removeprefix("sqlite:///"))
    assert settings.shop_db_url.startswith("sqlite:///"), "make_shop writes a SQLite shop"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached.shop_db_url.removeprefix("sqlite:///"), target)
    shutil.rmtree(settings.log_dir, ignore_errors=True)  # as the generator does
    shutil.copytree(cached.log_dir, settings.log_dir)
    return settings, replace(cached, shop_db_url=settings.shop_db_url, log_dir=settings.log_dir)


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def day_interval(day: date) -> tuple[datetime, datetime]:
    return midnight(day), midnight(day + timedelta(days=1))


def land_customers(shop_db_url: str, raw_dir: Path, shop: GeneratedShop, until: date) -> None:
    """Extract the customers who signed up before ``until``: the history a daily run builds on
    (an order is quarantined unless the raw zone knows its customer)."""
    from nurture.extract.shop_tables import extract_shop_tables

    extract_shop_tables(shop_db_url, raw_dir, midnight(shop.start), midnight(until), tables=["customers"])


@pytest.fixture(scope="session", autouse=True)
def crm_sandbox():
    """The CRM destination's audience API: a real server on 127.0.0.1 for the whole session."""
    from devkit.local_airflow import sandbox_connection
    from devkit.sandbox_api import SandboxApi

    with SandboxApi() as api:
        os.environ["AIRFLOW_CONN_NURTURE_CRM"] = sandbox_connection(api.url)
        yield api
        del os.environ["AIRFLOW_CONN_NURTURE_CRM"]


@pytest.fixture(scope="session")
def small_shop(tmp_path_factory) -> tuple[Settings, GeneratedShop]:
    """A small generated shop (read-only for tests: copy before writing into its home)."""
    return make_shop(tmp_path_factory.mktemp("small_shop"))


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The warehouse URL; a local server is started (idempotently) by the project's script."""
    import psycopg2

    from nurture.config import PROJECT_ROOT
    from nurture.config import postgres_url as postgres_url_from_env

    if os.environ.get("NURTURE_PG_HOST", "127.0.0.1") in ("127.0.0.1", "localhost"):
        script = PROJECT_ROOT / "scripts" / "postgres.sh"
        started = subprocess.run([script, "start"], capture_output=True, text=True)
        if started.returncode:
            pytest.fail(f"{script} start failed:\n{started.stderr}")
    url = postgres_url_from_env()
    try:
        psycopg2.connect(url).close()
    except psycopg2.OperationalError as error:
        pytest.fail(f"no PostgreSQL at {url} (run scripts/postgres.sh start, as `make test` does): {error}")
    return url


@contextmanager
def fresh_pg_schemas(pg_url: str, *kinds: str) -> Iterator[dict[str, str]]:
    """A schema name per kind, unique to this run (reruns and parallel runs never collide),
    each dropped at the end."""
    import psycopg2

    suffix = uuid.uuid4().hex[:10]
    names = {kind: f"test_{kind}_{suffix}" for kind in kinds}
    yield names
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        for name in names.values():
            cur.execute(f'drop schema if exists "{name}" cascade')
    conn.close()
