"""Small reads and writes against the warehouse, on DuckDB (default) or PostgreSQL.

dbt owns the models; this module only reads them (for the quality gates) and
appends to Nurture's own ``audit`` schema (validation results).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date

import duckdb
import pandas as pd

from nurture.config import Settings
from nurture.transform import manifest_path

AUDIT_SCHEMA = "audit"
RESULTS_TABLE = "validation_results"
RESULTS_COLUMNS = {
    "run_id": "varchar",
    "logical_date": "date",
    "suite": "varchar",
    "batch": "varchar",
    "expectation": "varchar",
    "severity": "varchar",
    "success": "boolean",
    "observed": "varchar",
    "why": "varchar",
    "validated_at": "timestamp",
}


def model_relation(settings: Settings, model: str) -> str:
    """``"schema"."table"`` of a dbt model, from the last build's manifest."""
    nodes = json.loads(manifest_path(settings).read_text())["nodes"]
    node = next(n for n in nodes.values() if n["resource_type"] == "model" and n["name"] == model)
    return f'"{node["schema"]}"."{node.get("alias") or node["name"]}"'


@contextmanager
def _postgres():
    """A PostgreSQL connection that commits on success and is always closed."""
    import psycopg2

    from nurture.load_postgres import postgres_url_from_env

    conn = psycopg2.connect(postgres_url_from_env())
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def read_sql(settings: Settings, sql: str) -> pd.DataFrame:
    """Run a read-only query on the warehouse into a DataFrame."""
    if settings.dbt_target == "postgres":
        with _postgres() as conn, conn.cursor() as cur:
            cur.execute(sql)
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.sql(sql).df()


def record_results(settings: Settings, run_id: str, logical_date: date, rows: list[dict]) -> None:
    """Append validation results; a retried task replaces its own earlier rows (same run, suite, batch)."""
    columns = ", ".join(f"{name} {kind}" for name, kind in RESULTS_COLUMNS.items())
    table = f"{AUDIT_SCHEMA}.{RESULTS_TABLE}"
    keys = sorted({(r["suite"], r["batch"]) for r in rows})
    names = list(RESULTS_COLUMNS)
    values = [tuple(r[n] for n in names) for r in rows]
    placeholders = ", ".join(["%s" if settings.dbt_target == "postgres" else "?"] * len(names))
    delete = f"delete from {table} where run_id = {{p}} and suite = {{p}} and batch = {{p}}"
    insert = f"insert into {table} ({', '.join(names)}) values ({placeholders})"
    if settings.dbt_target == "postgres":
        with _postgres() as conn, conn.cursor() as cur:
            cur.execute(f"create schema if not exists {AUDIT_SCHEMA}")
            cur.execute(f"create table if not exists {table} ({columns.replace('varchar', 'text')})")
            cur.executemany(delete.format(p="%s"), [(run_id, *k) for k in keys])
            cur.executemany(insert, values)
        return
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(f"create schema if not exists {AUDIT_SCHEMA}")
        con.execute(f"create table if not exists {table} ({columns})")
        con.executemany(delete.format(p="?"), [(run_id, *k) for k in keys])
        if values:
            con.executemany(insert, values)
