"""The tables Python owns (dbt owns the rest): their columns, where they live, their
migrations. The one place to add a table or a column.

A table lives in one of three homes:

- ``state``: the DuckDB file beside the warehouse (``settings.warehouse_path``) on
  every target: the exports' state and the erasure requests, which the export step
  and ``forget`` write while holding that file;
- ``audit``: where the BI tools read the run's record: PostgreSQL on that target, else
  the DuckDB file (Spark's readers see the file's tables too);
- ``model``: beside the marts, in the schema dbt builds in (the predicted values, the
  allocations' copy the uplift model reads on PostgreSQL and Spark).

Types are DuckDB's names; :func:`column_type` gives each engine's. The migration rule:
a column added after a table's first release is added to an older warehouse's table
(null in its old rows) the next time the table is written; columns are never dropped
or retyped here (a table's history stays readable).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # no duckdb at import: the DAG files reach this module while parsed
    import duckdb


@dataclass(frozen=True)
class OwnedTable:
    schema: str  # for a ``model`` table: the DuckDB target's schema (the engine names its own)
    name: str
    columns: dict[str, str]
    home: str  # "state", "audit" or "model"
    primary_key: tuple[str, ...] = ()
    partition_by: str | None = None  # Spark: one partition per value, replaced whole
    doc: str = field(default="", compare=False)

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.name}"


_TYPES = {
    "postgres": {"varchar": "text", "double": "double precision"},
    "spark": {"varchar": "string", "integer": "int", "double precision": "double"},
}


def column_type(kind: str, dialect: str) -> str:
    """``kind`` (DuckDB's name) in ``dialect`` ("duckdb", "postgres" or "spark")."""
    return _TYPES.get(dialect, {}).get(kind, kind)


def columns_ddl(table: OwnedTable, dialect: str) -> str:
    """``name type, ...`` (and the primary key) for a ``create table``."""
    parts = [f"{name} {column_type(kind, dialect)}" for name, kind in table.columns.items()]
    if table.primary_key:
        parts.append(f"primary key ({', '.join(table.primary_key)})")
    return ", ".join(parts)


def ensure_sql(table: OwnedTable, relation: str, dialect: str) -> list[str]:
    """Create ``table`` at ``relation`` (its schema too), or migrate it: every column is
    added if the table (from an older release) lacks it."""
    return [
        f"create schema if not exists {relation.rsplit('.', 1)[0]}",
        f"create table if not exists {relation} ({columns_ddl(table, dialect)})",
        *(
            f"alter table {relation} add column if not exists {name} {column_type(kind, dialect)}"
            for name, kind in table.columns.items()
        ),
    ]


def ensure(con: duckdb.DuckDBPyConnection, table: OwnedTable, relation: str | None = None) -> None:
    """Create or migrate ``table`` in a DuckDB connection (:func:`ensure_sql`)."""
    for statement in ensure_sql(table, relation or table.relation, "duckdb"):
        con.execute(statement)


ERASURE_REQUESTS = OwnedTable(
    "privacy",
    "erasure_requests",
    {"customer_hash": "varchar", "requested_at": "timestamp", "applied_at": "timestamp"},
    home="state",
    primary_key=("customer_hash",),
    doc="one row per erased customer (a peppered hash, never the id); applied_at once every layer is done",
)

ALLOCATIONS = OwnedTable(
    "exports",
    "allocations",
    {
        "run_date": "date",
        "segment": "varchar",
        "channel": "varchar",
        "customer_id": "bigint",
        "contact": "varchar",
        "is_new": "boolean",
        "status": "varchar",
        "run_hour": "integer",  # null: the daily run, else that hour's refresh (added with it)
    },
    home="state",
    doc="every run's candidates per segment and what allocation decided for each",
)

ALLOCATIONS_MIRROR = OwnedTable(
    "main",
    "export_allocations",
    {
        "run_date": "date",
        "run_hour": "integer",
        "segment": "varchar",
        "customer_id": "bigint",
        "status": "varchar",
    },
    home="model",
    partition_by="run_date",
    doc="the allocations without contacts or channels, beside the marts on PostgreSQL and Spark",
)

SYNC_LOG = OwnedTable(
    "exports",
    "sync_log",
    {
        "run_id": "varchar",
        "logical_date": "date",
        "run_hour": "integer",  # null: the daily run; else the hourly refresh of that hour
        "segment": "varchar",
        "destination": "varchar",
        # success / failed / no_connection (an HTTP destination without its connection:
        # nothing sent, the rest published) / held_back (size guard) / dry_run
        "status": "varchar",
        "considered": "bigint",
        "suppressed_no_consent": "bigint",
        "suppressed_holdout": "bigint",
        "suppressed_duplicate": "bigint",
        "suppressed_frequency_cap": "bigint",
        "included": "bigint",
        "added": "bigint",
        "removed": "bigint",
        "changed": "bigint",
        # Delivery. Rows due: the snapshot for files (written as one batch), the delta's
        # upserts and removes for an API. sent: rows acknowledged in this attempt;
        # confirmed_earlier: rows in batches an earlier, interrupted attempt had delivered
        # (the push journal skips them); failed: rows due but not delivered (a failure, or
        # no connection). On success, sent + confirmed_earlier = rows due.
        "sent": "bigint",
        "confirmed_earlier": "bigint",
        "failed": "bigint",
        "batches_sent": "bigint",
        "batches_confirmed_earlier": "bigint",
        # Requests sent again after a 429, a 5xx, or no answer (timeout, refused connection)
        "retries_429": "bigint",
        "retries_5xx": "bigint",
        "retries_timeout": "bigint",
        "duration_s": "double",
        "size_warning": "varchar",
        "recorded_at": "timestamp",
    },
    home="state",
    doc="one row per (run, segment, destination): what was considered, suppressed and delivered",
)

VALIDATION_RESULTS = OwnedTable(
    "audit",
    "validation_results",
    {
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
    },
    home="audit",
    doc="every expectation of every quality gate, per run",
)

PIPELINE_STEPS = OwnedTable(
    "audit",
    "pipeline_steps",
    {
        "run_id": "varchar",
        "logical_date": "date",
        "task_id": "varchar",
        "map_index": "integer",
        "state": "varchar",
        "try_number": "integer",
        "started_at": "timestamp",
        "ended_at": "timestamp",
        "duration_s": "double",
        "cause": "varchar",  # failed steps: source_down / validation_failed / destination_down / task_failed
    },
    home="audit",
    doc="one row per task of a run, its final try",
)

DBT_NODE_RESULTS = OwnedTable(
    "audit",
    "dbt_node_results",
    {
        "run_id": "varchar",
        "logical_date": "date",
        "node": "varchar",
        "resource_type": "varchar",
        "status": "varchar",
        "seconds": "double",
        "message": "varchar",
    },
    home="audit",
    doc="one row per dbt node of a run's build",
)

LAYERS = ("staging", "intermediate", "marts")
PIPELINE_RUNS = OwnedTable(
    "audit",
    "pipeline_runs",
    {
        "run_id": "varchar",
        "logical_date": "date",
        "started_at": "timestamp",
        "ended_at": "timestamp",
        "duration_s": "double",
        "steps": "integer",
        "steps_failed": "integer",
        "raw_rows": "bigint",
        **{f"{layer}_rows": "bigint" for layer in LAYERS},
        "dbt_seconds": "double",
        "expectations": "integer",
        "expectations_blocking_failed": "integer",
        "expectations_warned": "integer",
        "exports_succeeded": "integer",
        "exports_failed": "integer",
        "exports_held_back": "integer",
        "rows_exported": "bigint",
        "erasures_pending": "integer",  # platform deletes not yet acknowledged (erasure outbox)
        "erasures_pending_at": "varchar",  # where, e.g. "crm: 2"
        "recorded_at": "timestamp",
    },
    home="audit",
    doc="one row per run: its steps, rows per layer, checks and exports",
)

PREDICTIONS = OwnedTable(
    "main",
    "pred_customer_value",
    {
        "customer_id": "bigint",
        "run_date": "date",
        "horizon_days": "integer",
        "frequency": "integer",
        "recency_days": "integer",
        "t_days": "integer",
        "monetary_value": "double",
        "probability_alive": "double",
        "expected_purchases_horizon": "double",
        "expected_average_value": "double",
        "expected_value_horizon": "double",
    },
    home="model",
    doc="the predictions as of the run date, one row per customer, replaced whole",
)

MODEL_FIT = OwnedTable(
    "main",
    "pred_model_fit",
    {
        "run_date": "date",
        "horizon_days": "integer",
        "time_unit": "varchar",
        "customers": "integer",
        "repeat_customers": "integer",
        "bgnbd_r": "double",
        "bgnbd_alpha": "double",
        "bgnbd_a": "double",
        "bgnbd_b": "double",
        "bgnbd_log_likelihood": "double",
        "bgnbd_converged": "boolean",
        "bgnbd_at_bound": "boolean",
        "bgnbd_starts_agreeing": "integer",
        "gg_customers": "integer",
        "gg_p": "double",
        "gg_q": "double",
        "gg_v": "double",
        "gg_log_likelihood": "double",
        "gg_converged": "boolean",
        "gg_at_bound": "boolean",
        "gg_starts_agreeing": "integer",
        "frequency_value_correlation": "double",
    },
    home="model",
    partition_by="run_date",
    # It keeps its history: never dropped, only gains columns.
    doc="one row per run date: the fitted parameters and fit diagnostics",
)

OWNED_TABLES = (
    ERASURE_REQUESTS,
    ALLOCATIONS,
    ALLOCATIONS_MIRROR,
    SYNC_LOG,
    VALIDATION_RESULTS,
    PIPELINE_STEPS,
    DBT_NODE_RESULTS,
    PIPELINE_RUNS,
    PREDICTIONS,
    MODEL_FIT,
)
