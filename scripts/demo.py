"""`make demo`: generate a sample shop and run the real DAG for its last 2 days.

Steps: generate the shop (SQLite + daily logs) -> load its history into the raw
zone -> run `nurture_daily` for the last 2 days through Airflow's scheduler
(a backfill: the first day builds the warehouse, the second is an incremental day
with deltas to export) -> print what landed where, ending with the retention
report's path. Everything goes under ``data/``, which the demo resets first so
every run starts from the same state.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from datetime import datetime, timedelta

from rich.console import Console

from devkit.local_airflow import airflow_env, backfill, free_port, init_metadata
from devkit.sandbox_api import SandboxApi
from nurture import pipeline
from nurture.bi.summary import build_summary, render
from nurture.cli_output import print_tables
from nurture.config import load_settings
from nurture.export.notify import notifications_path
from nurture.generate import DEFAULT_END_DATE, generate_shop
from nurture.report.build import report_path
from nurture.warehouse.transform import generate_docs

# A full build, then an incremental day: enough to see deltas (added/removed) go out;
# each further day costs about a minute and shows nothing new.
DAYS_RUN_BY_AIRFLOW = 2
CUSTOMERS = int(os.environ.get("NURTURE_DEMO_CUSTOMERS", "3000"))
# Two years, so customers can churn (a year without a purchase) and come back.
DAYS = 730

console = Console()


def main() -> None:
    started = time.perf_counter()
    settings = load_settings()
    if settings.home.exists():
        shutil.rmtree(settings.home)
    settings.home.mkdir(parents=True)

    with console.status("Generating the sample shop"):
        shop = generate_shop(
            settings.shop_db_url, settings.log_dir, customers=CUSTOMERS, days=DAYS, end=DEFAULT_END_DATE
        )
    rows = ", ".join(f"{k} {v:,}" for k, v in shop.rows.items())
    say(f"[bold]1. Shop[/] {shop.start} .. {shop.end}: {rows} ({lap()})")

    settings = replace(settings, shop_opened_on=shop.start)  # earlier timestamps are quarantined
    first_airflow_day = shop.end - timedelta(days=DAYS_RUN_BY_AIRFLOW - 1)
    start = datetime.combine(shop.start, datetime.min.time())
    end = datetime.combine(first_airflow_day, datetime.min.time())
    with console.status(f"Loading history {shop.start} .. {first_airflow_day - timedelta(days=1)}"):
        pipeline.extract_shop(settings, settings.shop_db_url, start, end)
        events = pipeline.extract_events(settings, start, end)
    say(f"[bold]2. History[/] loaded into {settings.raw_dir} (events: {events}) ({lap()})")

    # The CRM destination pushes to a sandbox audience API on 127.0.0.1, alive for the demo.
    with SandboxApi() as crm:
        env = airflow_env(settings, api_port=free_port(), calendar=(shop.start, shop.end), crm_url=crm.url)
        logs = settings.home / "airflow" / "service-logs"
        logs.mkdir(parents=True)
        with console.status("Initialising Airflow's metadata database"):
            init_metadata(env, logs / "init.log")
        what = f"Airflow: backfilling nurture_daily {first_airflow_day} .. {shop.end}"
        with console.status(what) as status:
            began = time.perf_counter()

            def progress(line: str) -> None:
                status.update(f"{what}: {line} ({time.perf_counter() - began:.0f}s)")

            runs = backfill(
                env,
                first_airflow_day,
                shop.end,
                logs,
                progress=progress,
                downstream=("nurture_exports_notify",),
            )
        audiences = {name: len(members) for name, members in sorted(crm.store.audiences.items())}
    say(f"[bold]3. Airflow[/] {len(runs)} runs of nurture_daily, all green ({lap()}; logs: {logs})")
    say(f"[bold]4. CRM sandbox[/] audiences received over the API: {audiences}")

    with console.status("Generating the dbt catalogue"):
        catalogue = generate_docs(settings, shop.end, settings.home / "dbt-docs", pipeline.dbt_vars(settings))
    say(f"[bold]5. dbt docs[/] {catalogue} (every model and column, the lineage graph; {lap()})")

    print_tables(console, render(build_summary(settings, shop.end)))
    report = report_path(settings, shop.end)
    if not report.exists():
        raise SystemExit(f"the DAG's retention_report task wrote no report at {report}")
    say(f"BI tables: {settings.home / 'bi' / 'current'} (DuckDB catalogue: bi/nurture_bi.duckdb)")
    say(f"Exports: {settings.exports_dir} (what each publish sent: {notifications_path(settings)})")
    say(f"Done in {time.perf_counter() - started:.0f}s.")
    say(f"[bold]Report:[/] {report}")


_laps = [time.perf_counter()]


def lap() -> str:
    """Seconds since the last step ended."""
    _laps.append(time.perf_counter())
    return f"{_laps[-1] - _laps[-2]:.0f}s"


def say(line: str) -> None:
    """One line, never broken by rich (a path stays copyable); the terminal wraps it."""
    console.print(line, soft_wrap=True)


if __name__ == "__main__":
    main()
