"""How finely can Airflow run dbt? Times one day's dbt build three ways on a built shop.

    .venv/bin/python scripts/bench_dbt_granularity.py --home data --date 2025-12-31

- one ``dbt build`` (what the DAG does: one task, per-model results in the log and
  in ``audit.dbt_node_results``);
- one ``dbt build`` per layer (staging, intermediate, marts: three tasks);
- one ``dbt build -s <model>`` per model, each in a fresh process as a per-model
  Airflow task (astronomer-cosmos style) would be: measured on a sample of models
  and scaled to the whole project (Airflow's own per-task start cost comes on top).

Each variant runs in a new Python process, so dbt's start-up (imports, parsing or
reading the manifest, opening the adapter) is counted as a task would pay it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from nurture.config import load_settings
from nurture.warehouse.transform import manifest_path

ONE_BUILD = """
import sys
from datetime import date
from nurture.config import load_settings
from nurture.warehouse.transform import run_dbt
outcome = run_dbt(load_settings(), ["build", *sys.argv[2:]], date.fromisoformat(sys.argv[1]))
sys.exit(0 if outcome.success else 1)
"""


def timed_build(env: dict[str, str], day: str, *selection: str) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-c", ONE_BUILD, day, *selection]
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="NURTURE_HOME of a shop built for --date")
    parser.add_argument("--date", required=True)
    parser.add_argument("--sample", type=int, default=8, help="models timed one by one")
    args = parser.parse_args()
    env = os.environ | {"NURTURE_HOME": str(args.home.resolve())}
    settings = load_settings(args.home)
    nodes = json.loads(manifest_path(settings).read_text())["nodes"].values()
    models = sorted(n["name"] for n in nodes if n["resource_type"] == "model")

    whole = timed_build(env, args.date)
    layers = {layer: timed_build(env, args.date, "-s", f"path:models/{layer}") for layer in
              ("staging", "intermediate", "marts")}  # fmt: skip
    sample = random.Random(7).sample(models, min(args.sample, len(models)))
    per_model = [timed_build(env, args.date, "-s", model) for model in sample]
    mean = sum(per_model) / len(per_model)
    result = {
        "models": len(models),
        "one_build_s": round(whole, 1),
        "per_layer_s": {k: round(v, 1) for k, v in layers.items()},
        "per_layer_total_s": round(sum(layers.values()), 1),
        "per_model_mean_s": round(mean, 1),
        "per_model_total_estimate_s": round(mean * len(models), 1),
        "sampled_models": sample,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
