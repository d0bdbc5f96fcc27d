"""What each run did, in warehouse tables a BI tool can chart.

- ``audit.pipeline_steps``: one row per task of a run (state, start, duration,
  try), written by the DAG's task callbacks (``nurture.orchestration.run_log``) as
  small JSON files under ``<home>/runs/<run_id>/`` (tasks on any worker, no
  warehouse lock) and loaded by the run's last task;
- ``audit.dbt_node_results``: every model, test and seed of the run's
  ``dbt build`` with its status and seconds, failures included;
- ``audit.pipeline_runs``: one row per run: duration, steps failed, rows per
  layer (raw rows accepted for the day, staging, intermediate and mart rows
  after the build), the validation summary and the sync summary.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path

from nurture.config import Settings
from nurture.warehouse.owned_tables import DBT_NODE_RESULTS, LAYERS, PIPELINE_RUNS, PIPELINE_STEPS

log = logging.getLogger(__name__)
STEPS_TABLE, STEP_COLUMNS = PIPELINE_STEPS.relation, PIPELINE_STEPS.columns
RUNS_TABLE, RUN_COLUMNS = PIPELINE_RUNS.relation, PIPELINE_RUNS.columns
DBT_TABLE, DBT_COLUMNS = DBT_NODE_RESULTS.relation, DBT_NODE_RESULTS.columns


class RunFailedError(RuntimeError):
    """A step of the run failed: the run is recorded, then marked failed (its leaf task
    would otherwise make Airflow call the run a success)."""


def steps_dir(settings: Settings, run_id: str) -> Path:
    return settings.home / "runs" / run_id.replace("/", "_")


def record_dbt_results(settings: Settings, run_id: str, run_date: date, results) -> None:
    rows = [
        {"run_id": run_id, "logical_date": run_date, "node": r.name, "resource_type": r.resource_type,
         "status": r.status, "seconds": r.seconds, "message": (r.message or "")[:500]}
        for r in results
    ]  # fmt: skip
    from nurture.warehouse.queries import replace_rows

    replace_rows(settings, DBT_TABLE, DBT_COLUMNS, rows, ("run_id",))


def layer_rows(settings: Settings) -> dict[str, int]:
    """Rows in every model of each layer (from the last build's manifest)."""
    from nurture.warehouse.queries import node_relation, read_sql
    from nurture.warehouse.transform import manifest_path

    path = manifest_path(settings)
    if not path.exists():
        return {}
    nodes = json.loads(path.read_text())["nodes"].values()
    counts = []
    for node in nodes:
        layer = node["fqn"][1] if len(node["fqn"]) > 2 else None
        if node["resource_type"] == "model" and layer in LAYERS:
            counts.append(f"select '{layer}' as layer, count(*) as n from {node_relation(node)}")
    if not counts:
        return {}
    frame = read_sql(settings, f"select layer, sum(n) as n from ({' union all '.join(counts)}) group by 1")
    return {layer: int(n) for layer, n in frame.itertuples(index=False)}


def _raw_rows(settings: Settings, run_date: date) -> int | None:
    """Rows accepted into the raw zone for the day, all datasets (the extract audit)."""
    import duckdb

    files = sorted(settings.raw_dir.glob(f"_audit/*/dt={run_date.isoformat()}/*.parquet"))
    if not files:
        return None
    with duckdb.connect() as con:
        query = "select sum(rows_accepted) from read_parquet(?, hive_partitioning = false)"
        return int(con.execute(query, [[str(f) for f in files]]).fetchall()[0][0])


def _summaries(settings: Settings, run_id: str) -> dict[str, int | float]:
    from nurture.warehouse.queries import read_sql

    quoted = run_id.replace("'", "''")
    out: dict[str, int | float] = {}
    queries = {
        "validation": f"""select count(*) as expectations,
                count(*) filter (where not success and severity = 'critical') as expectations_blocking_failed,
                count(*) filter (where not success and severity <> 'critical') as expectations_warned
            from audit.validation_results where run_id = '{quoted}'""",
        "sync": f"""select count(*) filter (where status = 'success') as exports_succeeded,
                count(*) filter (where status in ('failed', 'no_connection')) as exports_failed,
                count(*) filter (where status = 'held_back') as exports_held_back,
                coalesce(sum(included) filter (where status = 'success'), 0) as rows_exported
            from exports.sync_log where run_id = '{quoted}'""",
        "dbt": f"select coalesce(sum(seconds), 0) as dbt_seconds from {DBT_TABLE} where run_id = '{quoted}'",
    }
    for name, sql in queries.items():
        try:
            out |= read_sql(settings, sql).iloc[0].to_dict()
        except Exception as error:  # that part of the run never happened (table not made yet)
            log.info("run record: no %s summary (%s)", name, str(error).splitlines()[0])
    return out


def _erasures_pending(settings: Settings) -> dict[str, int | str | None]:
    from nurture.export.erasure_outbox import pending

    where = pending(settings)
    return {
        "erasures_pending": sum(where.values()),
        "erasures_pending_at": ", ".join(f"{name}: {n}" for name, n in where.items()) or None,
    }


def record_steps(settings: Settings, run_id: str) -> list[dict]:
    """Load the run's step files into ``audit.pipeline_steps``; returns the steps."""
    from nurture.warehouse.queries import replace_rows

    steps = [json.loads(p.read_text()) for p in sorted(steps_dir(settings, run_id).glob("*.json"))]
    for step in steps:
        for key in ("started_at", "ended_at"):
            step[key] = datetime.fromisoformat(step[key])
    replace_rows(settings, STEPS_TABLE, STEP_COLUMNS, steps, ("run_id",))
    return steps


def record_run(settings: Settings, run_date: date, run_id: str) -> dict:
    """Load the run's step files and write its one-row record; returns the record."""
    from nurture.warehouse.queries import replace_rows

    steps = record_steps(settings, run_id)
    now = datetime.now(UTC).replace(tzinfo=None)
    started = min((s["started_at"] for s in steps), default=now)
    layers = layer_rows(settings)
    record = {
        "run_id": run_id,
        "logical_date": run_date,
        "started_at": started,
        "ended_at": now,
        "duration_s": round((now - started).total_seconds(), 3),
        "steps": len(steps),
        "steps_failed": sum(s["state"] == "failed" for s in steps),
        "raw_rows": _raw_rows(settings, run_date),
        **{f"{layer}_rows": layers.get(layer) for layer in LAYERS},
        **{k: None for k in RUN_COLUMNS if k.startswith(("expectations", "exports_", "rows_", "dbt_"))},
        **_summaries(settings, run_id),
        **_erasures_pending(settings),
        "recorded_at": now,
    }
    record = {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
    replace_rows(settings, RUNS_TABLE, RUN_COLUMNS, [record], ("run_id",))
    log.info("run record: %s", record)
    return record
