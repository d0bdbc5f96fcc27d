"""Run the dbt project in-process (no subprocess start-up) for one logical date."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from nurture.config import DBT_PROJECT_DIR, Settings, dbt_log_level, environment
from nurture.warehouse.engines import engine_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeResult:
    """One model, test or seed as dbt reported it."""

    name: str
    resource_type: str
    status: str
    seconds: float
    message: str | None


class DbtBuildError(RuntimeError):
    """dbt failed; the message names every node that errored or failed."""

    def __init__(self, message: str, results: list[NodeResult]):
        super().__init__(message)
        self.results = results


def dbt_paths(settings: Settings) -> dict[str, Path]:
    """dbt writes its target and logs under the data home, never into the source tree."""
    return {"target": settings.home / "dbt" / "target", "logs": settings.home / "dbt" / "logs"}


def manifest_path(settings: Settings) -> Path:
    return dbt_paths(settings)["target"] / "manifest.json"


class BeforeHistoryStartError(ValueError):
    """A run date before the first day of the history: nothing to build."""


def project_vars(settings: Settings) -> dict[str, str]:
    """The dbt vars the pipeline's settings decide: one place for each setting, so nobody
    edits dbt_project.yml to onboard a shop. The run date is not one of them: it goes in
    NURTURE_RUN_DATE (see the run_date() macro), so that vars stay the same from day to
    day and dbt reuses its parse of the project. (The pipeline adds the exports' holdout
    share: ``nurture.pipeline.dbt_vars``.)"""
    return {
        "history_start_date": settings.start_date.isoformat(),
        "reporting_currency": settings.reporting_currency,
    }


def run_dbt(
    settings: Settings,
    command: list[str],
    run_date: date,
    target: str | None = None,
    extra_vars: dict | None = None,
    target_path: Path | None = None,
):
    """Invoke dbt with the project's paths, vars and ``run_date``; returns dbt's result.

    ``target_path`` keeps another build's artifacts (the hourly refresh's) apart from
    the daily build's manifest, which the exports read.
    """
    from dbt.cli.main import dbtRunner  # heavy import, only when dbt runs

    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    paths = dbt_paths(settings)
    args = [
        *command,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target_path or paths["target"]),
        "--log-path", str(paths["logs"]),
        "--vars", json.dumps(project_vars(settings) | (extra_vars or {})),
        "--no-use-colors",
        # The console's level (the CLI sets warn); dbt.log in the log path keeps every line.
        "--log-level", dbt_log_level(),
    ]  # fmt: skip
    target = target or settings.dbt_target
    args += ["--target", target]
    engine_for(settings, target).before_dbt()
    # dbt reads its paths from the environment: set them for this call only, so
    # settings never leak into later calls (or load_settings) in the same process.
    env = settings.dbt_env() | {"NURTURE_RUN_DATE": run_date.isoformat()}
    before = environment()
    saved = {name: before.get(name) for name in env}
    os.environ.update(env)
    try:
        return dbtRunner().invoke(args)
    finally:
        _release_duckdb()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _release_duckdb() -> None:
    """dbt-duckdb keeps its database open for the whole process; close it so later
    steps in the same process (the CLI's ``run``, tests) can open the file."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    if DuckDBConnectionManager._ENV is not None:
        DuckDBConnectionManager._ENV.close()
        DuckDBConnectionManager._ENV = None


def generate_docs(settings: Settings, run_date: date, out_dir: Path, extra_vars: dict | None = None) -> Path:
    """The dbt catalogue (every model and column, the lineage graph) as one file that
    opens from disk: ``dbt docs generate --static`` into ``out_dir``; returns its path.
    ``extra_vars``: the build's (``pipeline.dbt_vars``), so the catalogue shows its values."""
    command = ["docs", "generate", "--static"]
    outcome = run_dbt(settings, command, run_date, extra_vars=extra_vars, target_path=out_dir)
    if not outcome.success:
        raise DbtBuildError(f"dbt docs generate failed: {outcome.exception}", [])
    return out_dir / "static_index.html"


def dbt_build(
    settings: Settings,
    run_date: date,
    target: str | None = None,
    build_args: list[str] = (),
    unit_tests: bool = False,
    data_tests: bool = True,
    **options,
) -> list[NodeResult]:
    """``dbt build`` for ``run_date``; raises :class:`DbtBuildError` naming failed nodes.

    Models, seeds and data tests: what a production run needs. dbt's unit tests check
    the models' logic on fixed rows, not the day's data, so they run in CI (``make
    test``, ``unit_tests=True``), not every day. ``data_tests=False`` builds the models
    alone: for test fixtures that only need the tables (the data tests run wherever a
    test checks them: the engines test, the real DAG runs); no production run passes it.
    ``build_args`` (a selection, deferral) and ``options`` (see :func:`run_dbt`) serve
    the hourly refresh.
    """
    if run_date < settings.start_date:
        raise BeforeHistoryStartError(
            f"run date {run_date} is before the history start {settings.start_date} (NURTURE_START_DATE): "
            "run a later date, or set NURTURE_START_DATE to the shop's first day"
        )
    skipped = ([] if unit_tests else ["unit_test"]) + ([] if data_tests else ["test"])
    skip = ["--exclude-resource-type", *skipped] if skipped else []
    outcome = run_dbt(settings, ["build", *build_args, *skip], run_date, target, **options)
    results = [
        NodeResult(
            name=r.node.name,
            resource_type=str(r.node.resource_type),
            status=str(r.status),
            seconds=round(r.execution_time or 0.0, 3),
            message=r.message,
        )
        for r in (outcome.result or [])
    ]
    for r in results:
        log.info("dbt %-6s %-45s %-7s %6.2fs", r.resource_type, r.name, r.status, r.seconds)
    failed = [r for r in results if r.status in ("error", "fail")]
    if failed or not outcome.success:
        detail = "; ".join(f"{r.resource_type} {r.name}: {r.message}" for r in failed)
        raise DbtBuildError(
            f"dbt build for {run_date} failed: {detail or outcome.exception}. "
            f"Full log: {dbt_paths(settings)['logs'] / 'dbt.log'}",
            results,
        )
    return results
