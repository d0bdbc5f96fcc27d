"""Small reads and writes against the warehouse, on DuckDB (default), PostgreSQL or Spark.

dbt owns the models; this module only reads them (quality gates, exports, BI) and
writes Nurture's own ``audit`` schema (validation results, run records): in PostgreSQL
on that target, else in the DuckDB file (Spark's tables are read as their Parquet).
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import duckdb
import pandas as pd
import pyarrow as pa

from nurture.config import Settings
from nurture.warehouse.transform import manifest_path

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


def node_relation(node: dict) -> str:
    """``"schema"."table"`` of a dbt manifest node."""
    return f'"{node["schema"]}"."{node.get("alias") or node["name"]}"'


def model_relation(settings: Settings, model: str) -> str:
    """``"schema"."table"`` of a dbt model, from the last build's manifest."""
    nodes = json.loads(manifest_path(settings).read_text())["nodes"]
    node = next(n for n in nodes.values() if n["resource_type"] == "model" and n["name"] == model)
    return node_relation(node)


@contextmanager
def postgres_connection():
    """A PostgreSQL connection that commits on success and is always closed."""
    import psycopg2

    from nurture.warehouse.load_postgres import postgres_url_from_env

    conn = psycopg2.connect(postgres_url_from_env())
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def read_sql(settings: Settings, sql: str) -> pd.DataFrame:
    """Run a read-only query on the warehouse into a DataFrame."""
    if settings.dbt_target == "postgres":
        with postgres_connection() as conn, conn.cursor() as cur:
            cur.execute(sql)
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    if settings.dbt_target == "spark":
        with _spark_reader(settings) as con:
            return con.sql(sql).df()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.sql(sql).df()


@contextmanager
def _spark_reader(settings: Settings, own_tables: bool = True):
    """On the Spark target: an in-memory DuckDB with views over the Spark tables' Parquet
    and (``own_tables``) over Nurture's own tables in the DuckDB file (audit, exports), so
    the same SQL reads both. A name in both (a mirrored mart) is Spark's."""
    from nurture.warehouse.spark import attach_tables

    with duckdb.connect() as con:
        spark_tables = set(attach_tables(settings, con))
        if own_tables and settings.warehouse_path.exists():
            con.execute(f"attach '{settings.warehouse_path}' as nurture_file (read_only)")
            listed = "select table_schema, table_name from information_schema.tables"
            listed += " where table_catalog = 'nurture_file'"
            for schema, table in con.execute(listed).fetchall():
                if f"{schema}.{table}" not in spark_tables:
                    con.execute(f'create schema if not exists "{schema}"')
                    con.execute(
                        f'create view "{schema}"."{table}" as select * from nurture_file."{schema}"."{table}"'
                    )
        yield con


def read_marts(settings: Settings, sql: str) -> pa.Table:
    """A query on the marts dbt built, as an Arrow table (numeric columns keep their
    decimal type). Unlike :func:`read_sql` it never opens the DuckDB file on the other
    targets, so a step holding that file open for writing (the exports) can call it."""
    if settings.dbt_target == "spark":
        with _spark_reader(settings, own_tables=False) as con:
            return con.sql(sql).to_arrow_table()
    return pa.Table.from_pandas(read_sql(settings, sql), preserve_index=False)


def mirror_schema(settings: Settings, schema: str) -> str:
    """Where the export step reads a mart in the DuckDB file: the mart's own schema on
    DuckDB; on the other targets its copy's schema ``<target>_<schema>`` (the file's
    catalog is named after the file, ``nurture``, and a schema of that name would make
    ``"nurture"."seg_…"`` ambiguous in DuckDB SQL)."""
    return schema if settings.dbt_target == "duckdb" else f"{settings.dbt_target}_{schema}"


def mirror_marts(settings: Settings, con: duckdb.DuckDBPyConnection, marts: list[tuple[str, str]]) -> None:
    """On the PostgreSQL and Spark targets, copy these ``(schema, table)`` marts into
    ``con`` (the DuckDB warehouse the exports keep their state in), in
    :func:`mirror_schema`, so the export step reads them with one code path whichever
    engine built them. A no-op on DuckDB, where they already are."""
    if settings.dbt_target == "duckdb":
        return
    for schema, table in marts:
        rows = read_marts(settings, f'select * from "{schema}"."{table}"')
        copy = mirror_schema(settings, schema)
        con.execute(f'create schema if not exists "{copy}"')
        con.register("mirrored", rows)
        con.execute(f'create or replace table "{copy}"."{table}" as select * from mirrored')
        con.unregister("mirrored")


def replace_rows(
    settings: Settings, table: str, columns: dict[str, str], rows: list[dict], scope: tuple[str, ...]
) -> None:
    """Write ``rows`` to ``table`` (created if missing), first deleting the rows that share
    their ``scope`` values: a retried task replaces what its earlier try wrote."""
    schema = table.split(".")[0]
    postgres = settings.dbt_target == "postgres"
    p = "%s" if postgres else "?"
    definition = ", ".join(f"{name} {kind}" for name, kind in columns.items())
    if postgres:
        definition = definition.replace("varchar", "text").replace("double", "double precision")
    names = list(columns)
    # A table from an older release gains the columns added since.
    add_columns = [f"alter table {table} add column if not exists {part}" for part in definition.split(", ")]
    scopes = sorted({tuple(r[c] for c in scope) for r in rows}, key=str)
    delete = f"delete from {table} where " + " and ".join(f"{c} = {p}" for c in scope)
    insert = f"insert into {table} ({', '.join(names)}) values ({', '.join([p] * len(names))})"
    values = [tuple(r.get(n) for n in names) for r in rows]
    if postgres:
        with postgres_connection() as conn, conn.cursor() as cur:
            cur.execute(f"create schema if not exists {schema}")
            cur.execute(f"create table if not exists {table} ({definition})")
            for statement in add_columns:
                cur.execute(statement)
            cur.executemany(delete, scopes)
            cur.executemany(insert, values)
        return
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(f"create schema if not exists {schema}")
        con.execute(f"create table if not exists {table} ({definition})")
        for statement in add_columns:
            con.execute(statement)
        if values:
            con.executemany(delete, scopes)
            con.executemany(insert, values)


def record_results(settings: Settings, rows: list[dict]) -> None:
    """Append validation results; a retried task replaces its own earlier rows (same run, suite, batch)."""
    table = f"{AUDIT_SCHEMA}.{RESULTS_TABLE}"
    replace_rows(settings, table, RESULTS_COLUMNS, rows, ("run_id", "suite", "batch"))
