"""Small reads and writes against the warehouse, whichever engine (``engines``) built it.

dbt owns the models; this module only reads them (quality gates, exports, BI) and
writes Nurture's own ``audit`` schema (validation results, run records): in PostgreSQL
on that target, else in the DuckDB file (Spark's tables are read as their Parquet).
"""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pyarrow as pa

from nurture.config import Settings
from nurture.warehouse.engines import engine_for
from nurture.warehouse.owned_tables import VALIDATION_RESULTS, OwnedTable
from nurture.warehouse.transform import manifest_path


def node_relation(node: dict) -> str:
    """``"schema"."table"`` of a dbt manifest node."""
    return f'"{node["schema"]}"."{node.get("alias") or node["name"]}"'


def model_relation(settings: Settings, model: str) -> str:
    """``"schema"."table"`` of a dbt model, from the last build's manifest."""
    nodes = json.loads(manifest_path(settings).read_text())["nodes"]
    node = next(n for n in nodes.values() if n["resource_type"] == "model" and n["name"] == model)
    return node_relation(node)


def read_sql(settings: Settings, sql: str) -> pd.DataFrame:
    """Run a read-only query on the warehouse into a DataFrame."""
    return engine_for(settings).read(sql)


def read_marts(settings: Settings, sql: str) -> pa.Table:
    """A query on the marts dbt built, as an Arrow table (numeric columns keep their
    decimal type). Unlike :func:`read_sql` it never opens the DuckDB file on the other
    targets, so a step holding that file open for writing (the exports) can call it."""
    return engine_for(settings).read_marts(sql)


def mirror_schema(settings: Settings, schema: str) -> str:
    """Where the export step reads a mart in the DuckDB file (``Engine.copy_schema``)."""
    return engine_for(settings).copy_schema(schema)


def mirror_marts(settings: Settings, con: duckdb.DuckDBPyConnection, marts: list[tuple[str, str]]) -> None:
    """Copy these ``(schema, table)`` marts into ``con``, the DuckDB file the exports keep
    their state in, so the export step reads them with one code path whichever engine
    built them (a no-op on DuckDB, where they already are)."""
    engine_for(settings).copy_marts(con, marts)


def replace_rows(
    settings: Settings, table: str, columns: dict[str, str], rows: list[dict], scope: tuple[str, ...]
) -> None:
    """Write ``rows`` to the audit table ``table`` (created if missing), first deleting the
    rows that share their ``scope`` values: a retried task replaces what its earlier try wrote."""
    schema, name = table.split(".")
    engine_for(settings).replace_rows(OwnedTable(schema, name, columns, home="audit"), rows, scope)


def record_results(settings: Settings, rows: list[dict]) -> None:
    """Append validation results; a retried task replaces its own earlier rows (same run, suite, batch)."""
    engine_for(settings).replace_rows(VALIDATION_RESULTS, rows, ("run_id", "suite", "batch"))
