"""Nurture: generate a sample shop, run pipeline steps, summarise.

\b
Examples:
  nurture generate --customers 2000 --days 365 --seed 42
  nurture extract --start 2025-01-01 --end 2025-12-25
  nurture run --date 2025-12-25
  nurture summary --date 2025-12-25
  nurture validate data/shop/logs

A failure prints one line on stderr (what failed, where, what to do) and exits 1; the
traceback goes to <data home>/logs/nurture-cli.log, and to the terminal with --debug.
Commands that print tables take --json for machines.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from nurture.cli_output import export_rows, export_table, print_json, print_tables, summary_json
from nurture.config import load_settings

console = Console()
# One line per failure, never wrapped: a log reader or a grep finds the whole sentence.
err_console = Console(stderr=True, soft_wrap=True, highlight=False)

# What to do, for failures whose message says what failed but not what to do about it.
HINTS = {
    "SourceUnavailableError": "check NURTURE_SHOP_DB_URL (the demo shop: `nurture generate`), then run again",
    "SourceSchemaError": "fix the shop table or the extract's schema, then run the day again",
    "QualityGateError": "fix the data or the expectation (see the Data Docs), then run the day again",
    "ExportConfigError": "fix the export configuration, then run again",
}


def log_file() -> Path:
    return load_settings().home / "logs" / "nurture-cli.log"


class ErrorBoundary(TyperGroup):
    """Every command runs inside this: a failure becomes one line on stderr and exit code 1
    (130 for Ctrl-C); its traceback goes to the log file, and to stderr with --debug.
    Usage errors and typer.Exit pass through (typer prints them; a usage error exits 2)."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        ctx.meta["nurture.argv"] = list(args)  # for the log file
        return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):  # usage errors, typer.Exit(1)
            raise
        except KeyboardInterrupt:
            err_console.print(Text.assemble(("error:", "red"), " interrupted (Ctrl-C)"))
            raise typer.Exit(130) from None
        except Exception as error:
            if ctx.params.get("debug"):
                sys.stderr.write("".join(traceback.format_exception(error)))
            err_console.print(Text.assemble(("error:", "red"), " ", failure_line(error, _log(ctx, error))))
            raise typer.Exit(1) from None


def failure_line(error: Exception, log: Path | None) -> str:
    """The project's exceptions carry whole sentences (what failed, where, often what to do):
    they are said as they are; anything else is named by its type."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    message = "; ".join(lines).replace(":; ", ": ")  # a quality gate lists its failures, one a line
    # A missing file is said in a sentence too ("no log files in …", "dbt manifest not found …").
    ours = type(error).__module__.startswith("nurture") or isinstance(error, FileNotFoundError)
    if not ours:
        message = f"{type(error).__name__}: {message}" if message else type(error).__name__
    if hint := HINTS.get(type(error).__name__):
        message += f" — {hint}"
    if ours and log:
        return f"{message} (traceback in {log})"
    return f"{message} — run again with --debug for the traceback" + (f" (also in {log})" if log else "")


def _log(ctx: typer.Context, error: Exception) -> Path | None:
    """Append the command line and traceback to the log file; None if it cannot be written
    (a broken setting or a read-only home must not hide the failure being reported)."""
    try:
        path = log_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as log:
            command = " ".join(["nurture", *ctx.meta.get("nurture.argv", [])])
            log.write(f"{datetime.now().isoformat(timespec='seconds')} {command}\n")
            log.write("".join(traceback.format_exception(error)) + "\n")
        return path
    except Exception:
        return None


app = typer.Typer(
    cls=ErrorBoundary,
    help=__doc__,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
)

DateOpt = Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="A day, YYYY-MM-DD (UTC).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the rows as JSON (and nothing else on stdout).")]


def _day(value: datetime) -> date:
    return value.date()


@app.callback()
def configure_logging(
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="On a failure, print the full traceback.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    # dbt's line per node is for the log file (dbt.log) and Airflow's task log; a person at
    # the terminal gets the summary, and dbt's warnings and errors.
    os.environ.setdefault("NURTURE_DBT_LOG_LEVEL", "info" if verbose else "warn")


@app.command()
def generate(
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 2_000,
    days: Annotated[int, typer.Option(help="Days of history, ending on --end-date.")] = 365,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same shop.")] = 42,
    end_date: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last day (default 2025-12-31).")
    ] = None,
) -> None:
    """Generate a sample shop: database (SQLite by default) and daily event logs.

    Example: nurture generate --customers 100000 --days 365
    """
    from nurture.generate import DEFAULT_END_DATE, generate_shop

    settings = load_settings()
    started = time.perf_counter()
    with console.status("generating") as status:
        shop = generate_shop(
            settings.shop_db_url,
            settings.log_dir,
            seed=seed,
            customers=customers,
            days=days,
            end=_day(end_date) if end_date else DEFAULT_END_DATE,
            progress=lambda step: status.update(f"generating {step}"),
        )
    sizes = ", ".join(f"{name} {rows:,}" for name, rows in shop.rows.items())
    console.print(
        f"Generated shop {shop.start} .. {shop.end} in {time.perf_counter() - started:.1f}s: {sizes}"
    )
    console.print(f"  database: {shop.shop_db_url}\n  logs:     {shop.log_dir} ({shop.log_files} files)")


@app.command()
def extract(start: DateOpt, end: DateOpt) -> None:
    """Extract shop tables and event logs for the days [start, end) into the raw zone.

    Example (initial history load): nurture extract --start 2025-01-01 --end 2025-12-25
    """
    from nurture import pipeline

    settings = load_settings()
    with console.status(f"extracting {_day(start)} .. {_day(end)}"):
        shop = pipeline.extract_shop(settings, settings.shop_db_url, start, end)
        events = pipeline.extract_events(settings, start, end)
    console.print(f"Extracted [{_day(start)}, {_day(end)}): shop rows {shop}, events {events}")
    pipeline.check_something_accepted(settings, shop | {"events": events}, start, end)


@app.command()
def run(
    day: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Logical date.")],
    as_json: JsonOpt = False,
) -> None:
    """Run one day end to end without Airflow, in the DAG's order: extract, erasures, check,
    dbt build, predict, check, export, BI snapshot and report, retention.

    Example: nurture run --date 2025-12-31
    """
    from nurture import pipeline

    settings = load_settings()
    start, end = day, day + timedelta(days=1)
    with console.status(f"running {_day(day)}"):
        outcome = pipeline.run_day(settings, settings.shop_db_url, start, end, f"cli__{_day(day)}")
    _print_outcome(outcome, f"Exports for {_day(day)}", as_json)


def _print_outcome(outcome, title: str, as_json: bool) -> None:
    """The exports table, a sentence per skipped or failed destination; exit 1 on a failure
    (the error boundary says the sentence)."""
    if as_json:
        print_json(export_rows(outcome.entries))
    else:
        print_tables(console, export_table(outcome.entries, title))
    for warning in outcome.warnings():
        (err_console if as_json else console).print(f"[yellow]skipped:[/] {warning}")
    if error := outcome.error():
        raise error


@app.command()
def export(
    day: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Logical date.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, publish nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Export every segment to its destinations from the built warehouse.

    With --dry-run: print what each destination would get (added, removed, changed)
    and what the guards would suppress, without sending or writing anything.
    Example: nurture export --date 2025-12-31 --dry-run
    """
    import tempfile

    from nurture import pipeline
    from nurture.export.config import load_export_config
    from nurture.export.publish import publish_target
    from nurture.export.stage import stage_exports

    settings = load_settings()
    end = day + timedelta(days=1)
    if not dry_run:
        outcome = pipeline.export(settings, _day(day), f"cli__{_day(day)}", end)
        _print_outcome(outcome, f"Exports for {_day(day)}", as_json)
        return
    config = load_export_config(settings)
    with tempfile.TemporaryDirectory(prefix="nurture-dry-run-") as scratch:
        plan = stage_exports(settings, config, _day(day), "dry_run", dry_run=True, staging_root=Path(scratch))
        entries = [
            publish_target(
                settings.exports_dir,
                config,
                t["segment"],
                t["destination"],
                _day(day),
                "dry_run",
                end,
                dry_run=True,
                staging_root=Path(scratch),
            )
            for t in plan.targets
        ]
    if as_json:
        print_json(export_rows(entries))
    else:
        print_tables(console, export_table(entries, f"Dry run for {_day(day)}: nothing was sent or written"))
    for segment, why in plan.held_back.items():
        (err_console if as_json else console).print(
            f"[yellow]held back by the size guard:[/] {segment}: {why}"
        )


@app.command()
def summary(
    day: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Logical date.")],
    as_json: JsonOpt = False,
) -> None:
    """Print rows per layer, segment sizes and where the exports are.

    With --json: one list of row objects per table.
    """
    from nurture.bi.summary import build_summary, render

    summary = build_summary(load_settings(), _day(day))
    if as_json:
        print_json(summary_json(summary))
    else:
        print_tables(console, render(summary))


@app.command()
def report(
    day: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Logical date.")],
    publish: Annotated[bool, typer.Option(help="Publish a fresh BI snapshot first.")] = True,
) -> None:
    """Write the retention report (static HTML, charts inlined, opens offline).

    Example: nurture report --date 2025-12-31
    """
    from nurture import pipeline

    settings = load_settings()
    if publish:
        with console.status("publishing the BI tables"):
            rows = pipeline.publish_bi(settings, _day(day))
        console.print(f"BI snapshot: {len(rows)} tables in {settings.home / 'bi' / 'current'}")
    with console.status("drawing the report"):
        path = pipeline.report(settings, _day(day))
    console.print(f"Report: {path}")


@app.command("check-source")
def check_source(as_json: JsonOpt = False) -> None:
    """Inspect the configured shop database and log folder before extracting anything:
    per table what is fine and what to fix, then the settings to use.

    Exit code 0 when nothing blocks an extract, 1 when something does.
    Example: NURTURE_SHOP_DB_URL=sqlite:///shop.db nurture check-source
    """
    from nurture.extract.source_check import check_source as inspect

    settings = load_settings()
    with console.status(f"inspecting {settings.shop_db_url.split('@')[-1]} and {settings.log_dir}"):
        report = inspect(settings)
    if as_json:
        print_json(report.as_dict())
    else:
        for line in report.lines():
            console.print(Text(line))
    if blockers := report.blockers():
        err_console.print(Text.assemble(("error:", "red"), f" {len(blockers)} blocker(s): {blockers[0]}"))
        raise typer.Exit(1)


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Log files or folders of events-YYYY-MM-DD.jsonl.gz.")],
    as_json: JsonOpt = False,
) -> None:
    """Check engagement log files without running the pipeline; print what would be quarantined.

    Exit code 0 when every line is accepted, 1 when some would be quarantined.
    With --json: {"files": [...], "quarantined_lines": [...]} (every quarantined line).
    Example: nurture validate data/shop/logs/events-2025-12-31.jsonl.gz
    """
    import duckdb
    from rich.console import Group
    from rich.table import Table

    from nurture.extract.event_logs import check_log_file, log_file_day
    from nurture.extract.limits import Limits

    files = sorted(f for p in paths for f in ([p] if p.is_file() else p.glob("events-*.jsonl.gz")))
    if not files:
        raise FileNotFoundError(f"no log files in {', '.join(map(str, paths))}")
    checked, problems = [], []
    limits = Limits.from_settings(load_settings())
    with duckdb.connect() as con:
        for path in files:
            end = datetime.combine(log_file_day(path) + timedelta(days=1), datetime.min.time())
            accepted, quarantined, read = check_log_file(con, path, end, limits)
            checked.append(
                {
                    "file": path.name,
                    "read": read,
                    "accepted": accepted.num_rows,
                    "quarantined": quarantined.num_rows,
                }
            )
            problems += [
                {k: row[k] for k in ("source_file", "source_line", "field", "rule", "raw_line")}
                for row in quarantined.to_pylist()
            ]
    if as_json:
        print_json({"files": checked, "quarantined_lines": problems})
    else:
        summary = Table(title="Log files")
        for column in ("file", "read", "accepted", "quarantined"):
            summary.add_column(column, justify="left" if column == "file" else "right")
        for row in checked:
            summary.add_row(row["file"], *(f"{row[c]:,}" for c in ("read", "accepted", "quarantined")))
        lines = Table(title="Quarantined lines (first 20)")
        for column in ("file", "line", "field", "rule", "raw line"):
            lines.add_column(column)
        for row in problems[:20]:
            # Text, not markup: a raw line may hold brackets
            lines.add_row(
                row["source_file"],
                str(row["source_line"]),
                row["field"],
                row["rule"],
                Text(row["raw_line"][:80]),
            )
        print_tables(console, Group(summary, *([lines] if problems else [])))
    if problems:
        raise typer.Exit(1)


@app.command()
def forget(
    customer_ids: Annotated[list[int], typer.Option("--customer-id", help="Customer to erase (repeatable).")],
) -> None:
    """Erase customers now from every local copy: raw zone, quarantine, warehouse tables,
    staged and exported files, member snapshots and BI snapshots. Deletes at the
    marketing platforms that received them are queued and tried at once; a platform
    that is down or not configured keeps them pending, and every run retries them.
    Every run also applies the request again, so re-extracted data never brings them back.

    Example: nurture forget --customer-id 42 --customer-id 43
    """
    from nurture.privacy.erasure import forget as erase

    outcome = erase(load_settings(), set(customer_ids))
    console.print(f"{outcome.new_requests} new erasure request(s)")
    for place, rows in sorted(outcome.removed.items()):
        if rows:
            console.print(f"{place}: {rows:,} rows removed")
    for destination, n in sorted(outcome.delivery.acknowledged.items()):
        console.print(f"platform {destination}: {n:,} deletes acknowledged")
    if pending := outcome.delivery.sentence():
        console.print(f"[yellow]pending:[/] {pending}")


@app.command()
def purge(
    keep_days: Annotated[int, typer.Option(help="Retention period in days.")],
    as_of: DateOpt,
) -> None:
    """Delete raw and quarantine partitions older than the retention period, as of a date.

    Example: nurture purge --keep-days 730 --as-of 2025-12-31
    """
    from nurture.privacy.files import purge_expired

    removed = purge_expired(load_settings().raw_dir, keep_days, _day(as_of))
    console.print(f"removed {len(removed):,} partitions older than {keep_days} days before {_day(as_of)}")


def main() -> None:
    """Entry point (``nurture``); failures are handled by :class:`ErrorBoundary`."""
    app()


if __name__ == "__main__":
    main()
