"""Run a Great Expectations suite on a batch and act on its severities.

Suites are JSON files in ``expectations/`` (kept in the repository, reviewed
like code). Each run loads them into a file-backed GX context under
``<home>/gx``, validates through a checkpoint (which stores the result and
updates the Data Docs site) and returns one :class:`CheckResult` per
expectation. A failed ``critical`` expectation is *blocking*: the caller raises
:class:`QualityGateError`; a failed ``warning`` is reported and the run goes on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pandas as pd

from nurture.config import PROJECT_ROOT, Settings

SUITES_DIR = PROJECT_ROOT / "expectations"
DATA_SOURCE = "nurture"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    suite: str
    batch: str  # what was validated, e.g. "events 2025-12-30" or "seg_winback_lapsing"
    expectation: str  # type and column, e.g. "expect_column_values_to_not_be_null(customer_id)"
    severity: str  # critical (blocking) / warning / info
    success: bool
    observed: str  # what GX saw: observed value or unexpected count
    why: str


@dataclass
class SuiteOutcome:
    suite: str
    batch: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def blocking_failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success and r.severity == "critical"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success and r.severity != "critical"]


class QualityGateError(RuntimeError):
    """A blocking expectation failed: nothing downstream (exports included) may run."""

    def __init__(self, outcomes: list[SuiteOutcome]):
        failed = [f for o in outcomes for f in o.blocking_failures]
        lines = [f"  {f.suite} [{f.batch}] {f.expectation}: {f.observed} ({f.why})" for f in failed]
        super().__init__(f"{len(failed)} blocking expectation(s) failed:\n" + "\n".join(lines))
        self.failures = failed


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.json"))


@cache
def _context(gx_dir: Path):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=gx_dir.parent)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _checkpoint(context, suite_name: str):
    """The suite (re-read from its file every run) wired to a dataframe asset and a checkpoint."""
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite

    body = json.loads((SUITES_DIR / f"{suite_name}.json").read_text())
    suite = context.suites.add_or_update(ExpectationSuite(**body))
    source = context.data_sources.add_or_update_pandas(DATA_SOURCE)
    try:
        asset = source.get_asset(suite_name)
    except LookupError:
        asset = source.add_dataframe_asset(suite_name)
    try:
        batch = asset.get_batch_definition("whole")
    except KeyError:
        batch = asset.add_batch_definition_whole_dataframe("whole")
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
    )
    return context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=suite_name,
            validation_definitions=[validation],
            # No Data Docs action: the docs re-render every stored result, so a gate
            # builds them once after all its batches (``build_data_docs``), not per batch.
            actions=[],
            # Counts, never sample values: results are kept, and may not hold a person's
            # data after they are erased. The quarantine names the offending rows.
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 0},
        )
    )


def _observed(result: dict) -> str:
    if "observed_value" in result:
        return f"observed {result['observed_value']}"
    if "unexpected_count" in result:
        return f"{result['unexpected_count']} unexpected of {result.get('element_count')}"
    return "no data"


def validate(
    settings: Settings,
    suite_name: str,
    batch: str,
    frame: pd.DataFrame,
    run_name: str,
    parameters: dict | None = None,
) -> SuiteOutcome:
    """Validate ``frame`` against ``expectations/<suite_name>.json``; stores the result and Data Docs."""
    from great_expectations.core.run_identifier import RunIdentifier

    context = _context(data_docs_root(settings))
    checkpoint = _checkpoint(context, suite_name)
    run_id = RunIdentifier(run_name=f"{run_name} {batch}", run_time=datetime.now(UTC))
    result = checkpoint.run(
        batch_parameters={"dataframe": frame}, expectation_parameters=parameters or {}, run_id=run_id
    )
    outcome = SuiteOutcome(suite_name, batch)
    for suite_result in result.run_results.values():
        for r in suite_result.results:
            config = r.expectation_config
            column = config.kwargs.get("column") or ",".join(config.kwargs.get("column_list", []))
            outcome.results.append(
                CheckResult(
                    suite=suite_name,
                    batch=batch,
                    expectation=f"{config.type}({column})" if column else config.type,
                    severity=str(getattr(config.severity, "value", config.severity)),
                    success=bool(r.success) and not r.exception_info.get("raised_exception", False),
                    observed=_observed(r.result or {}),
                    why=(config.meta or {}).get("why", ""),
                )
            )
    for w in outcome.warnings:
        log.warning("data-quality warning: %s [%s] %s: %s", w.suite, w.batch, w.expectation, w.observed)
    return outcome


def build_data_docs(settings: Settings) -> None:
    """Render the Data Docs once for everything validated so far."""
    _context(data_docs_root(settings)).build_data_docs()


def data_docs_root(settings: Settings) -> Path:
    """The GX project folder (state, results and Data Docs): ``<home>/gx``."""
    root = settings.home / "gx"
    root.mkdir(parents=True, exist_ok=True)
    return root


def data_docs_index(settings: Settings) -> Path:
    return data_docs_root(settings) / "uncommitted" / "data_docs" / "local_site" / "index.html"


def enforce(outcomes: list[SuiteOutcome]) -> None:
    """Raise if any blocking expectation failed (after the results were recorded)."""
    if any(o.blocking_failures for o in outcomes):
        raise QualityGateError(outcomes)
