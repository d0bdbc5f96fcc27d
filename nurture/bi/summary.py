"""A short summary of what the pipeline holds: rows per layer, segment sizes, paths."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from nurture.config import Settings
from nurture.export import erasure_outbox
from nurture.export.publish import SUPPRESSION_REASONS
from nurture.quality.gate import data_docs_index

LAYERS = (
    ("stg_", "staging"),
    ("int_", "intermediate"),
    ("fct_", "marts"),
    ("dim_", "marts"),
    ("seg_", "segments"),
)


@dataclass
class Summary:
    run_date: date
    raw_rows: dict[str, int] = field(default_factory=dict)
    quarantined_rows: dict[str, int] = field(default_factory=dict)
    warehouse_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    exports: dict[str, tuple[int, str]] = field(default_factory=dict)  # segment -> (rows, folder)
    exports_dir: str = ""
    quarantine_reasons: list[tuple[str, str, str, int]] = field(
        default_factory=list
    )  # dataset, field, rule, rows
    # suite -> (expectations run, blocking failures, warnings) for the run date's latest run
    validation: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    data_docs: str = ""
    # exports.sync_log's rows (as dicts, every column) of the day's latest daily run
    sync_log: list[dict] = field(default_factory=list)
    # The latest Airflow runs up to the date, from audit.pipeline_runs (see nurture.bi.run_record)
    runs: list[tuple] = field(default_factory=list)
    # Platform deletes of erased customers not yet acknowledged, per destination
    erasures_pending: dict[str, int] = field(default_factory=dict)


def _count_parquet(con, folder) -> int:
    files = sorted(folder.glob("dt=*/*.parquet"))
    if not files:
        return 0
    return con.execute("select count(*) from read_parquet(?)", [[str(f) for f in files]]).fetchone()[0]


def build_summary(settings: Settings, run_date: date) -> Summary:
    summary = Summary(run_date)
    con = duckdb.connect()
    if settings.raw_dir.exists():
        for folder in sorted(
            p for p in settings.raw_dir.iterdir() if p.is_dir() and not p.name.startswith("_")
        ):
            summary.raw_rows[folder.name] = _count_parquet(con, folder)
        quarantine = settings.raw_dir / "_quarantine"
        for folder in sorted(quarantine.iterdir()) if quarantine.exists() else []:
            summary.quarantined_rows[folder.name] = _count_parquet(con, folder)
            files = sorted(str(f) for f in folder.glob("dt=*/*.parquet"))
            if files:
                summary.quarantine_reasons += [
                    (folder.name, *row)
                    for row in con.execute(
                        "select field, rule, count(*) from read_parquet(?) "
                        "group by all order by 3 desc, 1, 2",
                        [files],
                    ).fetchall()
                ]
    con.close()
    if settings.warehouse_path.exists():
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as wh:
            relations = wh.execute(
                "select table_schema, table_name from information_schema.tables order by table_name"
            ).fetchall()
            for schema, name in relations:
                layer = next((label for prefix, label in LAYERS if name.startswith(prefix)), None)
                if layer:
                    rows = wh.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
                    summary.warehouse_rows.setdefault(layer, {})[name] = rows
            if ("audit", "validation_results") in relations:
                summary.validation = _validation(wh, run_date)
            if ("exports", "sync_log") in relations:
                summary.sync_log = _sync_log(wh, run_date)
            if ("audit", "pipeline_runs") in relations:
                summary.runs = wh.execute(
                    """
                    select logical_date, case when steps_failed > 0 then 'failed' else 'ok' end,
                        round(duration_s), raw_rows, marts_rows, expectations,
                        exports_succeeded || '/' || (exports_succeeded + exports_failed), rows_exported
                    from audit.pipeline_runs where logical_date <= ?
                    qualify row_number() over (partition by logical_date order by recorded_at desc) = 1
                    order by logical_date desc limit 10
                    """,
                    [run_date],
                ).fetchall()
    index = data_docs_index(settings)
    summary.data_docs = str(index) if index.exists() else ""
    summary.exports_dir = str(settings.exports_dir)
    for segment_dir in sorted(settings.exports_dir.glob("[!_]*")) if settings.exports_dir.exists() else []:
        day_dir = segment_dir / run_date.isoformat()
        manifest = day_dir / "manifest.json"
        if manifest.exists():
            files = json.loads(manifest.read_text())["files"]
            rows = next(f["rows"] for f in files if f["path"].startswith(f"{segment_dir.name}."))
            summary.exports[segment_dir.name] = (rows, str(day_dir))
    summary.erasures_pending = erasure_outbox.pending(settings)
    return summary


def _sync_log(wh, run_date: date) -> list[dict]:
    """The day's latest daily run's rows; every column, so a sync log recorded before a
    column existed still shows (that figure blank)."""
    cursor = wh.execute(
        """
        select * from exports.sync_log
        where logical_date = ? and run_id = (  -- the day's latest daily run
            select run_id from exports.sync_log where logical_date = ? and run_hour is null
            order by recorded_at desc limit 1)
        order by segment, destination
        """,
        [run_date, run_date],
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _validation(wh, run_date: date) -> dict[str, tuple[int, int, int]]:
    """Per suite, the latest results for the run date: (checked, blocking failures, warnings)."""
    rows = wh.execute(
        """
        with latest as (
            select *, max(validated_at) over (partition by suite, batch) as newest
            from audit.validation_results where logical_date = ?
        )
        select suite, count(*),
            count(*) filter (where not success and severity = 'critical'),
            count(*) filter (where not success and severity <> 'critical')
        from latest where validated_at = newest group by suite order by suite
        """,
        [run_date],
    ).fetchall()
    return {suite: (checked, blocking, warned) for suite, checked, blocking, warned in rows}


def render(summary: Summary):
    """Rich tables for the terminal."""
    from rich.console import Group
    from rich.table import Table

    raw = Table(title="Raw zone (rows)")
    raw.add_column("dataset")
    raw.add_column("accepted", justify="right")
    raw.add_column("quarantined", justify="right")
    for name, rows in summary.raw_rows.items():
        raw.add_row(name, f"{rows:,}", f"{summary.quarantined_rows.get(name, 0):,}")
    wh = Table(title=f"Warehouse as of {summary.run_date} (rows)")
    wh.add_column("layer")
    wh.add_column("model")
    wh.add_column("rows", justify="right")
    for layer, models in summary.warehouse_rows.items():
        for name, rows in models.items():
            wh.add_row(layer, name, f"{rows:,}")
    ex = Table(title=f"Exports for {summary.run_date}")
    ex.add_column("segment")
    ex.add_column("rows", justify="right")
    ex.add_column("folder (under the exports folder)")
    for name, (rows, folder) in summary.exports.items():
        ex.add_row(name, f"{rows:,}", str(Path(folder).relative_to(summary.exports_dir)))
    reasons = Table(title="Quarantine reasons (all days)")
    for column in ("dataset", "field", "rule"):
        reasons.add_column(column)
    reasons.add_column("rows", justify="right")
    for dataset, column, rule, rows in summary.quarantine_reasons[:15]:
        reasons.add_row(dataset, column, rule, f"{rows:,}")
    checks = Table(title=f"Data-quality checks for {summary.run_date}")
    checks.add_column("suite")
    checks.add_column("expectations", justify="right")
    checks.add_column("blocking failed", justify="right")
    checks.add_column("warnings", justify="right")
    for suite, (checked, blocking, warned) in summary.validation.items():
        checks.add_row(
            suite,
            str(checked),
            f"[red]{blocking}[/]" if blocking else "0",
            f"[yellow]{warned}[/]" if warned else "0",
        )
    audience, delivery = _sync_tables(summary)
    runs = Table(title="Airflow runs (audit.pipeline_runs, latest first)")
    for column in ("day", "run", "seconds", "raw in", "marts", "checks", "exports", "rows out"):
        runs.add_column(column, justify="left" if column in ("day", "state") else "right", no_wrap=True)
    for row in summary.runs:
        runs.add_row(
            *("" if v is None else f"{v:,.0f}" if isinstance(v, int | float) else str(v) for v in row)
        )
    # Paths as sentences of their own, printed whole (never split inside a table cell).
    docs = [f"Data docs: {summary.data_docs}"] if summary.data_docs else []
    folders = [f"Exports folder: {summary.exports_dir}"] if summary.exports else []
    parts = [raw] + ([reasons] if summary.quarantine_reasons else []) + [checks, *docs, wh, ex, *folders]
    parts += [audience, delivery]
    parts += [runs] if summary.runs else []
    if summary.erasures_pending:
        where = ", ".join(f"{name}: {n}" for name, n in summary.erasures_pending.items())
        parts.append(f"[yellow]Erasures pending at platforms[/] ({where}): every run retries them.")
    return Group(*parts)


# The sync log in two tables that each fit an 80-column terminal (see _sync_figures).
SYNC_AUDIENCE = ("status", "included", "added", "removed", "suppressed")
SYNC_DELIVERY = ("sent", "earlier", "failed", "batches", "429", "5xx", "timeout")
# Said under the audiences table when a status occurs.
STATUS_NOTES = {
    "failed": "the destination failed part-way (sent: what it got)",
    "no_connection": "the destination's Airflow connection is not set, nothing was sent",
    "held_back": "held back by the size guard",
}
DELIVERY_CAPTION = (
    "Rows sent in this attempt, confirmed earlier (delivered by an interrupted attempt, not "
    "sent again) and failed (due, not delivered); batches sent (+ confirmed earlier); "
    "requests retried after a 429, a 5xx or a timeout."
)


def _sync_figures(row: dict) -> dict:
    """A sync-log row under the summary's headers (None: not recorded, e.g. a held-back
    segment, or a figure older rows lack)."""
    suppressed = [row.get(f"suppressed_{reason}") for reason in SUPPRESSION_REASONS]
    batches, earlier = row.get("batches_sent"), row.get("batches_confirmed_earlier")
    return {
        "status": row["status"],
        "included": row["included"],
        "added": row["added"],
        "removed": row["removed"],
        "suppressed": None if None in suppressed else sum(suppressed),
        "sent": row["sent"],
        "earlier": row.get("confirmed_earlier"),
        "failed": row["failed"],
        "batches": f"{batches}+{earlier}" if earlier else batches,
        "429": row.get("retries_429"),
        "5xx": row.get("retries_5xx"),
        "timeout": row.get("retries_timeout"),
    }


def _cell(value) -> str:
    return "" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def _sync_tables(summary: Summary):
    """Who each segment x destination got, then how it was delivered (rich tables)."""
    from rich import box
    from rich.table import Table

    statuses = {row["status"] for row in summary.sync_log}
    notes = "; ".join(f"{status}: {note}" for status, note in STATUS_NOTES.items() if status in statuses)
    tables = []
    for title, headers, caption in (
        ("Sync log for {}: audiences (every segment x destination)", SYNC_AUDIENCE, notes or None),
        ("Sync log for {}: delivery", SYNC_DELIVERY, DELIVERY_CAPTION),
    ):
        table = Table(
            title=title.format(summary.run_date), caption=caption, caption_justify="left",
            box=box.SIMPLE_HEAD, show_edge=False, padding=0,
        )  # fmt: skip
        # fold, never "…": segment names must stay whole in 80 columns
        table.add_column("segment", overflow="fold")
        table.add_column("to", overflow="fold")
        for header in headers:
            table.add_column(header, justify="left" if header == "status" else "right", overflow="fold")
        for row in summary.sync_log:
            figures = _sync_figures(row)
            table.add_row(row["segment"], row["destination"], *(_cell(figures[h]) for h in headers))
        tables.append(table)
    return tables
