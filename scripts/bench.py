"""The benchmark: a generated shop at a scale factor, the pipeline's stages as the
daily DAG runs them, and the lifecycle / RFM / CRR core against two baselines.

    .venv/bin/python scripts/bench.py --sf 1            # SF1: 100k customers, ~1M orders
    .venv/bin/python scripts/bench.py --sf 0.1 --target postgres
    .venv/bin/python scripts/bench.py --sf 1 --target spark   # needs Java 17 (scripts/java.sh)

Each stage runs in its own process (``nurture.bench.stages``): wall time, the stage's
own work (imports excluded) and peak RSS are measured per stage. Writes
``<out>/bench-sf<SF>-<target>.json`` and ``.md`` and prints the table. The shop is
generated into ``<home>`` and reused when it is already there (``--fresh`` to redo).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devkit.local_airflow import sandbox_connection  # noqa: E402
from devkit.sandbox_api import SandboxApi  # noqa: E402
from nurture.bench import report  # noqa: E402

PIPELINE = ["extract", "dbt_full_refresh", "extract_day", "dbt_incremental_day", "checks", "exports"]
CORE = ["core_pipeline", "floor", "pandas"]
# The two baselines do not depend on the target (the DuckDB run measures them).
DUCKDB_ONLY = {"floor", "pandas"}
console = Console()


def run_stage(stage: str, home: Path, params: dict, env: dict[str, str]) -> dict:
    """Run one stage in a fresh process; its report plus wall time and peak RSS (MB)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        args = [sys.executable, "-m", "nurture.bench.stages", stage, str(home), json.dumps(params)]
        process = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode:
            log = home / "bench" / f"{stage}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(err.read())
            raise SystemExit(f"stage {stage} failed (exit {process.returncode}); its log: {log}")
        result = json.loads(out.read().strip().splitlines()[-1])
    return {"wall_s": round(wall, 2), "peak_mb": round(usage.ru_maxrss / 1024, 1)} | result


def memory_gb() -> float:
    with open("/proc/meminfo") as meminfo:
        return int(meminfo.readline().split()[1]) / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", type=float, default=1.0, help="scale factor (1 = 100k customers)")
    parser.add_argument(
        "--target", choices=["duckdb", "postgres", "spark"], default="duckdb", help="dbt target"
    )
    parser.add_argument("--home", type=Path, help="data home (default: data-bench/sf<SF>)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench", help="where the reports go")
    parser.add_argument("--fresh", action="store_true", help="generate the shop again")
    parser.add_argument("--only", nargs="*", help="run only these stages (debugging)")
    args = parser.parse_args()

    home = (args.home or ROOT / "data-bench" / f"sf{args.sf:g}").resolve()
    if args.fresh and home.exists():
        shutil.rmtree(home)
    generated = (home / "shop" / "shop.db").exists()
    # Everything the pipeline builds starts afresh (unless re-running some stages);
    # the generated shop is kept.
    for folder in ("raw", "warehouse", "exports", "dbt", "gx", "bench", "runs", "alerts")[
        : 0 if args.only else None
    ]:
        shutil.rmtree(home / folder, ignore_errors=True)
    env = dict(os.environ, NURTURE_DBT_TARGET=args.target, NURTURE_HOME=str(home))
    for name in [
        k for k in env if k.startswith("NURTURE_") and k not in ("NURTURE_DBT_TARGET", "NURTURE_HOME")
    ]:
        if not name.startswith("NURTURE_PG_"):
            del env[name]  # a data path from the caller's shell must not leak in
    if args.target == "spark":
        # Local mode: the driver's heap is all the memory Spark has (DuckDB gets 4 GB).
        # Every stage is its own process, so each pays the JVM start.
        env["NURTURE_SPARK_DRIVER_MEMORY"] = "6g"
    if args.target == "postgres":
        env["NURTURE_PG_SCHEMA"] = f"bench_sf{args.sf:g}".replace(".", "_")
    params = {"sf": args.sf}

    stages = ([] if generated else ["generate"]) + PIPELINE + CORE
    if args.target != "duckdb":
        stages = [s for s in stages if s not in DUCKDB_ONLY]
    if args.only:
        stages = [s for s in stages if s in args.only]
    results: dict[str, dict] = {}
    # The CRM destination pushes to a sandbox audience API on 127.0.0.1, as in the demo.
    with (
        SandboxApi() as crm,
        Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as bar,
    ):
        env.setdefault("AIRFLOW_CONN_NURTURE_CRM", sandbox_connection(crm.url))
        for stage in stages:
            task = bar.add_task(f"SF{args.sf:g} {args.target}: {stage}")
            results[stage] = run_stage(stage, home, params, env)
            bar.update(
                task, description=f"SF{args.sf:g} {args.target}: {stage} ({results[stage]['wall_s']:.0f} s)"
            )
            bar.stop_task(task)

    result = {
        "sf": args.sf,
        "target": args.target,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb(),
        "python": platform.python_version(),
        "when": datetime.now(UTC).strftime("%Y-%m-%d"),
        "rows": results.get("generate", {}).pop("rows", None) or _shop_rows(home),
        "stages": results,
    }
    if args.target == "duckdb" and {"floor", "pandas"} & results.keys():
        result["agreement"] = report.agreement(home, home / "warehouse" / "nurture.duckdb")
    result["targets"] = report.targets(results, args.sf)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"bench-sf{args.sf:g}-{args.target}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    text = report.markdown(result)
    stem.with_suffix(".md").write_text(text)
    console.print(text)
    console.print(f"written: {stem}.json, {stem}.md")


def _shop_rows(home: Path) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(home / "shop" / "shop.db") as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type = 'table'")]
        return {t: db.execute(f'select count(*) from "{t}"').fetchone()[0] for t in sorted(tables)}


if __name__ == "__main__":
    main()
