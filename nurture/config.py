"""One place for configuration: the only module that reads the environment.

Every setting has a default that works for the embedded demo (SQLite shop,
DuckDB warehouse, everything under ``./data``). :func:`load_settings` reads the
paths and data rules once per step; the functions below it read what is looked up
where it is used (the PostgreSQL warehouse, the erasure pepper, the destinations
file, the DAGs' calendar and deadlines, dbt's console level), so a test or a task
that sets a variable sees it at once. Secrets never live in the repo: the shop
database URL comes from the Airflow connection ``nurture_shop``
(``nurture.connections``) or from ``NURTURE_SHOP_DB_URL``; the PostgreSQL password
and the pepper from the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import quote

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

# Telemetry off for every tool we drive, before any of them is imported.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


@dataclass(frozen=True)
class Settings:
    """Where Nurture reads and writes. Build it with :func:`load_settings`."""

    home: Path
    shop_db_url: str
    log_dir: Path
    raw_dir: Path
    warehouse_path: Path
    exports_dir: Path
    dbt_target: str  # "duckdb" (the embedded default), "postgres" or "spark"
    # The first day of the history: the daily DAG's first run and the dbt var
    # history_start_date (the stage history and the daily metrics start on it).
    start_date: date = date(2025, 1, 1)
    # "logs": daily engagement log files in log_dir; "none": an orders-only shop (no
    # engagement data yet): each day lands an empty events partition, events freshness
    # is not checked, and engagement-based metrics and segments are empty.
    event_source: str = "logs"
    # The currency every amount is reported in: fx_rates give units of it per unit of
    # another currency (the extract and dbt's var reporting_currency both take it from here).
    reporting_currency: str = "EUR"
    # The shop's own order statuses mapped onto Nurture's (paid / refunded / cancelled),
    # e.g. NURTURE_STATUS_MAP="completed=paid,shipped=paid,returned=refunded".
    status_map: tuple[tuple[str, str], ...] = ()
    # Optional shop columns the shop does not have ("table.column"): read as empty. An
    # undeclared missing column still quarantines its table's rows (a rename is schema
    # drift, not an absence), e.g. NURTURE_ABSENT_COLUMNS="customers.push_token".
    absent_columns: tuple[str, ...] = ()
    # Data-quality limits (see expectations/README.md).
    shop_opened_on: date = date(2000, 1, 1)  # earlier timestamps are quarantined
    max_amount: float = 50_000.0  # a larger order, cart or price is absurd: quarantined
    max_quarantine_share: float = 0.05  # error budget per dataset and day: above it blocks...
    quarantine_free_rows: int = 10  # ...once more rows than this are quarantined
    # Raw and quarantine partitions older than this many days are deleted (None: keep all).
    # On DuckDB the marts read the raw zone in place: keep it longer than the history they need.
    raw_retention_days: int | None = None
    export_retention_days: int | None = None  # export copies, staged rows, journals, sync-log files
    # Warehouse rows with personal data, per family (nurture.privacy.warehouse_retention; None: keep).
    events_retention_days: int | None = None
    allocations_retention_days: int | None = None
    audit_retention_days: int | None = None
    freshness_hours: float = 12.0  # newest event must be this close to the interval end

    def dbt_env(self) -> dict[str, str]:
        """Environment variables the dbt project reads (see ``profiles.yml``)."""
        return {
            "NURTURE_RAW_DIR": str(self.raw_dir),
            "NURTURE_WAREHOUSE": str(self.warehouse_path),
            "NURTURE_DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
            # The `spark` target's local session keeps its tables and metastore here.
            "NURTURE_SPARK_DIR": spark_dir(self.warehouse_path),
        }


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def _days(name: str) -> int | None:
    """A period in days, or None when unset."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r} is not a number of days: set a whole number of at least 1")
    return int(value)


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(allowed)}: set it to one of them")
    return value


def _currency(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(
            f"NURTURE_REPORTING_CURRENCY={value!r} is not an ISO 4217 code: set it to e.g. EUR or USD"
        )
    return code


ORDER_STATUSES = ("paid", "refunded", "cancelled")


def _status_map(value: str) -> tuple[tuple[str, str], ...]:
    """``"completed=paid, shipped=paid"`` -> (("completed", "paid"), ("shipped", "paid"))."""
    pairs = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        shop_status, _, ours = (x.strip() for x in item.partition("="))
        if not shop_status or ours not in ORDER_STATUSES:
            raise ValueError(
                f"NURTURE_STATUS_MAP item {item!r}: write shop_status=ours, "
                f"ours one of {', '.join(ORDER_STATUSES)}"
            )
        pairs.append((shop_status, ours))
    return tuple(pairs)


def _absent_columns(value: str) -> tuple[str, ...]:
    """``"customers.push_token, orders.promo_code"`` -> the optional columns named, sorted."""
    from nurture.shop_schema import SHOP_TABLES

    names = set()
    for item in filter(None, (part.strip() for part in value.split(","))):
        table, _, column = item.partition(".")
        if table not in SHOP_TABLES or column not in SHOP_TABLES[table].c:
            raise ValueError(
                f"NURTURE_ABSENT_COLUMNS item {item!r}: write table.column, "
                "a column of nurture/shop_schema.py"
            )
        if not SHOP_TABLES[table].c[column].nullable:
            raise ValueError(
                f"NURTURE_ABSENT_COLUMNS item {item!r}: every {table} row needs {column}; "
                "only optional columns can be absent"
            )
        names.add(f"{table}.{column}")
    return tuple(sorted(names))


def load_settings(home: Path | None = None) -> Settings:
    """Read settings from ``NURTURE_*`` environment variables, with demo defaults.

    ``home`` overrides ``NURTURE_HOME`` (tests use a temporary one).
    """
    home = home.resolve() if home else _path("NURTURE_HOME", PROJECT_ROOT / "data")
    shop_dir = home / "shop"
    return Settings(
        home=home,
        shop_db_url=os.environ.get("NURTURE_SHOP_DB_URL", f"sqlite:///{shop_dir / 'shop.db'}"),
        log_dir=_path("NURTURE_LOG_DIR", shop_dir / "logs"),
        raw_dir=_path("NURTURE_RAW_DIR", home / "raw"),
        warehouse_path=_path("NURTURE_WAREHOUSE", home / "warehouse" / "nurture.duckdb"),
        exports_dir=_path("NURTURE_EXPORTS_DIR", home / "exports"),
        dbt_target=os.environ.get("NURTURE_DBT_TARGET", "duckdb"),
        start_date=date.fromisoformat(os.environ.get("NURTURE_START_DATE", "2025-01-01")),
        event_source=_choice("NURTURE_EVENT_SOURCE", "logs", ("logs", "none")),
        reporting_currency=_currency(os.environ.get("NURTURE_REPORTING_CURRENCY", "EUR")),
        status_map=_status_map(os.environ.get("NURTURE_STATUS_MAP", "")),
        absent_columns=_absent_columns(os.environ.get("NURTURE_ABSENT_COLUMNS", "")),
        shop_opened_on=date.fromisoformat(os.environ.get("NURTURE_SHOP_OPENED_ON", "2000-01-01")),
        max_amount=float(os.environ.get("NURTURE_MAX_AMOUNT", "50000")),
        max_quarantine_share=float(os.environ.get("NURTURE_MAX_QUARANTINE_SHARE", "0.05")),
        quarantine_free_rows=int(os.environ.get("NURTURE_QUARANTINE_FREE_ROWS", "10")),
        raw_retention_days=_days("NURTURE_RAW_RETENTION_DAYS"),
        export_retention_days=_days("NURTURE_EXPORT_RETENTION_DAYS"),
        events_retention_days=_days("NURTURE_EVENTS_RETENTION_DAYS"),
        allocations_retention_days=_days("NURTURE_ALLOCATIONS_RETENTION_DAYS"),
        audit_retention_days=_days("NURTURE_AUDIT_RETENTION_DAYS"),
        freshness_hours=float(os.environ.get("NURTURE_FRESHNESS_HOURS", "12")),
    )


# Read where used, not in Settings: set by scripts/postgres.sh or the deployment, and
# the same variables dbt's profiles.yml reads (the defaults are the script's).
def postgres_url() -> str:
    """The PostgreSQL warehouse's URL from ``NURTURE_PG_*``."""
    env = os.environ.get
    user = quote(env("NURTURE_PG_USER", "nurture"), safe="")
    password = env("NURTURE_PG_PASSWORD", "")
    auth = f"{user}:{quote(password, safe='')}" if password else user
    host, port = env("NURTURE_PG_HOST", "127.0.0.1"), env("NURTURE_PG_PORT", "55432")
    return f"postgresql://{auth}@{host}:{port}/{quote(env('NURTURE_PG_DATABASE', 'nurture'), safe='')}"


def postgres_schema() -> str:
    """The schema dbt's ``postgres`` target builds in (``NURTURE_PG_SCHEMA``)."""
    return os.environ.get("NURTURE_PG_SCHEMA", "nurture")


def postgres_raw_schema() -> str:
    """Where the raw zone is loaded on the ``postgres`` target (``NURTURE_PG_RAW_SCHEMA``)."""
    return os.environ.get("NURTURE_PG_RAW_SCHEMA", "raw")


def erasure_pepper() -> str:
    """The secret mixed into erased customers' hashes (``NURTURE_ERASURE_PEPPER``)."""
    return os.environ.get("NURTURE_ERASURE_PEPPER", "")


def destinations_file(default: Path) -> Path:
    """The destinations file (``NURTURE_DESTINATIONS``, else ``default``)."""
    return Path(os.environ.get("NURTURE_DESTINATIONS") or default)


def dbt_log_level() -> str:
    """dbt's console level (``NURTURE_DBT_LOG_LEVEL``; the CLI sets warn unless --verbose)."""
    return os.environ.get("NURTURE_DBT_LOG_LEVEL", "info")


def spark_dir(warehouse_path: Path) -> str:
    """Where the ``spark`` target's local session keeps its tables (``NURTURE_SPARK_DIR``)."""
    return os.environ.get("NURTURE_SPARK_DIR") or str(warehouse_path.parent / "spark")


def dag_calendar() -> tuple[str, str | None]:
    """The DAGs' first and (a shop with a fixed calendar, the demo's) last date, ISO text:
    ``NURTURE_START_DATE`` and ``NURTURE_END_DATE``."""
    return os.environ.get("NURTURE_START_DATE", "2025-01-01"), os.environ.get("NURTURE_END_DATE")


def environment() -> dict[str, str]:
    """The whole environment, copied: what dbt's ``env_var()`` sees when a profile is
    rendered outside dbt (``nurture.warehouse.spark.target``)."""
    return dict(os.environ)


def environment_connection(variable: str) -> str | None:
    """An Airflow connection given in the environment (``AIRFLOW_CONN_<ID>``, JSON)."""
    return os.environ.get(variable)


def deadline_hours(variable: str, default: float) -> float:
    """A DAG's deadline in hours from ``variable`` (0 turns it off)."""
    return float(os.environ.get(variable, default))
