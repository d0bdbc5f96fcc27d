"""Nurture: generate a sample shop, run pipeline steps, summarise.

\b
Examples:
  nurture generate --customers 2000 --days 365 --seed 42
  nurture extract --start 2025-01-01 --end 2025-12-25
  nurture run --date 2025-12-25
  nurture summary --date 2025-12-25
  nurture validate data/shop/logs
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from nurture.config import load_settings

app = typer.Typer(
    help=__doc__, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_show_locals=False
)
console = Console()

DateOpt = Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="A day, YYYY-MM-DD (UTC).")]


def _day(value: datetime) -> date:
    return value.date()


@app.callback()
def configure_logging(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )


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


@app.command()
def run(day: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Logical date.")]) -> None:
    """Run one day end to end without Airflow, in the DAG's order: extract, erasures, check,
    dbt build, predict, check, export, BI snapshot and report, retention.

    Example: nurture run --date 2025-12-31
    """
    from nurture import pipeline

    settings = load_settings()
    start, end = day, day + timedelta(days=1)
    with console.status(f"running {_day(day)}"):
        outcome = pipeline.run_day(settings, settings.shop_db_url, start, end, f"cli__{_day(day)}")
    _print_outcome(outcome, f"Exports for {_day(day)}")


def _print_outcome(outcome, title: str) -> None:
    """The exports table, a sentence per skipped or failed destination; exit 1 on a failure."""
    console.print(_export_table(outcome.entries, title))
    for warning in outcome.warnings():
        console.print(f"[yellow]skipped:[/] {warning}")
    if error := outcome.error():
        raise error


def _export_table(entries: list[dict], title: str):
    from rich.table import Table

    table = Table(title=title)
    columns = (
        "segment",
        "destination",
        "considered",
        "suppressed_no_consent",
        "suppressed_holdout",
        "suppressed_duplicate",
        "suppressed_frequency_cap",
        "included",
        "added",
        "removed",
        "changed",
    )
    for column in columns:
        justify = "left" if column in ("segment", "destination") else "right"
        # fold, never "…": the table is read in pipes and 80-column CI logs too
        header = column.replace("suppressed_", "supp. ").replace("_", " ")
        table.add_column(header, justify=justify, overflow="fold")
    for e in entries:
        table.add_row(*(str(e.get(c, "")) for c in columns))
    return table


@app.command()
def export(
    day: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Logical date.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, publish nothing.")] = False,
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
        _print_outcome(outcome, f"Exports for {_day(day)}")
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
    console.print(_export_table(entries, f"Dry run for {_day(day)}: nothing was sent or written"))
    for segment, why in plan.held_back.items():
        console.print(f"[yellow]held back by the size guard:[/] {segment}: {why}")


@app.command()
def summary(
    day: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Logical date.")],
) -> None:
    """Print rows per layer, segment sizes and where the exports are."""
    from nurture.summary import build_summary, render

    console.print(render(build_summary(load_settings(), _day(day))))


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


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Log files or folders of events-YYYY-MM-DD.jsonl.gz.")],
) -> None:
    """Check engagement log files without running the pipeline; print what would be quarantined.

    Exit code 0 when every line is accepted, 1 when some would be quarantined.
    Example: nurture validate data/shop/logs/events-2025-12-31.jsonl.gz
    """
    import duckdb
    from rich.table import Table

    from nurture.config import load_settings
    from nurture.extract.event_logs import check_log_file, log_file_day
    from nurture.extract.limits import Limits

    files = sorted(f for p in paths for f in ([p] if p.is_file() else p.glob("events-*.jsonl.gz")))
    if not files:
        raise FileNotFoundError(f"no log files in {', '.join(map(str, paths))}")
    summary = Table(title="Log files")
    for column in ("file", "read", "accepted", "quarantined"):
        summary.add_column(column, justify="left" if column == "file" else "right")
    problems = Table(title="Quarantined lines (first 20)")
    for column in ("file", "line", "field", "rule", "raw line"):
        problems.add_column(column, overflow="fold")
    shown = quarantined_total = 0
    limits = Limits.from_settings(load_settings())
    with duckdb.connect() as con:
        for path in files:
            end = datetime.combine(log_file_day(path) + timedelta(days=1), datetime.min.time())
            accepted, quarantined, read = check_log_file(con, path, end, limits)
            summary.add_row(path.name, f"{read:,}", f"{accepted.num_rows:,}", f"{quarantined.num_rows:,}")
            quarantined_total += quarantined.num_rows
            for row in quarantined.to_pylist()[: max(0, 20 - shown)]:
                problems.add_row(
                    row["source_file"],
                    str(row["source_line"]),
                    row["field"],
                    row["rule"],
                    row["raw_line"][:80],
                )
                shown += 1
    console.print(summary)
    if quarantined_total:
        console.print(problems)
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
    from nurture.erasure import forget as erase

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
    from nurture.privacy import purge_expired

    removed = purge_expired(load_settings().raw_dir, keep_days, _day(as_of))
    console.print(f"removed {len(removed):,} partitions older than {keep_days} days before {_day(as_of)}")


def main() -> None:
    """Entry point: known failures print one clear line and exit with code 2."""
    from nurture.extract.event_logs import SourceMissingError
    from nurture.extract.shop_tables import SourceSchemaError
    from nurture.pipeline import DestinationsFailedError
    from nurture.quality.gate import QualityGateError
    from nurture.transform import DbtBuildError

    try:
        app()
    except (
        SourceMissingError,
        SourceSchemaError,
        QualityGateError,
        DbtBuildError,
        DestinationsFailedError,
        FileNotFoundError,
    ) as error:
        console.print(f"[red]error:[/] {error}")
        sys.exit(2)


if __name__ == "__main__":
    main()
