"""Parse time of each DAG file, as the DAG processor pays it (goal: under 2 s).

    .venv/bin/python scripts/bench_dag_parse.py [--repeat 5]

Each measurement is a fresh process that first imports ``airflow.sdk`` (the DAG
processor has it loaded already), then times executing the DAG file with no
connections configured. Prints the median and the worst per file, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

DAGS_DIR = Path(__file__).resolve().parent.parent / "dags"
TIME_ONE = """
import runpy, sys, time
import airflow.sdk  # noqa: F401  (loaded before parsing in the DAG processor)
started = time.perf_counter()
runpy.run_path(sys.argv[1])
print(time.perf_counter() - started)
"""


def parse_seconds(path: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    done = subprocess.run(
        [sys.executable, "-c", TIME_ONE, str(path)], env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    report = {}
    for path in sorted(DAGS_DIR.glob("*.py")):
        times = [parse_seconds(path) for _ in range(args.repeat)]
        report[path.name] = {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
