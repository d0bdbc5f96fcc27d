"""The benchmark's verdict: do the baselines compute what the pipeline computes, how do
their times compare, and which targets (issues 8 and 19) hold. JSON for machines, Markdown
for the README."""

from __future__ import annotations

from pathlib import Path

import duckdb

GB = 1024.0


def agreement(home: Path, warehouse: Path) -> dict[str, dict[str, int]]:
    """Rows where each baseline disagrees with the pipeline's marts (0 everywhere: same results).
    A row missing on either side counts as a disagreement."""
    from nurture.bench.stages import results_dir

    checks = {
        "lifecycle": (
            "select customer_id, lifecycle_stage from dim_customers",
            "customer_id",
            ["lifecycle_stage"],
        ),
        "rfm": (
            "select customer_id, recency_days, frequency, monetary, r_score, f_score, m_score "
            "from dim_customer_rfm",
            "customer_id",
            ["recency_days", "frequency", "monetary", "r_score", "f_score", "m_score"],
        ),
        "crr": (
            "select month_start_date as month_start, customer_retention_rate from rpt_monthly_retention",
            "month_start",
            ["customer_retention_rate"],
        ),
    }
    out: dict[str, dict[str, int]] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for baseline in ("floor", "pandas"):
            folder = results_dir(home, baseline)
            if not folder.exists():
                continue
            out[baseline] = {}
            for name, (query, key, columns) in checks.items():
                differs = " or ".join(
                    f"(p.{c} is distinct from b.{c} and not (abs(p.{c} - b.{c}) < 1e-6))"
                    if name != "lifecycle"
                    else f"p.{c} is distinct from b.{c}"
                    for c in columns
                )
                [(n,)] = con.execute(f"""
                    with p as ({query}),
                    b as (select * from read_parquet('{folder / name}.parquet'))
                    select count(*) from p full join b using ({key}) where {differs}
                """).fetchall()
                out[baseline][name] = n
    return out


def targets(stages: dict[str, dict], sf: float) -> list[dict]:
    """The issue's targets, each with the measured value and whether it holds."""

    def wall(name):
        return stages.get(name, {}).get("wall_s")

    def peak(name):
        return stages.get(name, {}).get("peak_mb")

    rows = []
    full = wall("dbt_full_refresh")
    if full is not None and wall("exports") is not None:
        total = full + wall("exports")
        peak_gb = max(peak("dbt_full_refresh"), peak("exports")) / GB
        rows.append(_target(f"SF{sf:g} dbt full refresh + exports < 10 min", f"{total / 60:.1f} min",
                            total < 600, sf >= 10))  # fmt: skip
        rows.append(_target(f"SF{sf:g} full refresh peak memory < 6 GB", f"{peak_gb:.1f} GB",
                            peak_gb < 6, sf >= 10))  # fmt: skip
    if full and wall("dbt_incremental_day") is not None:
        share = wall("dbt_incremental_day") / full
        rows.append(_target("incremental day < 10 % of the full refresh", f"{share:.0%}", share < 0.10, True))
    core = stages.get("core_pipeline", {}).get("compute_s")
    floor = stages.get("floor", {}).get("compute_s")
    pandas = stages.get("pandas", {}).get("compute_s")
    if core and floor:
        rows.append(_target("lifecycle/RFM/CRR within 2x of the DuckDB floor", f"{core / floor:.1f}x",
                            core / floor <= 2, True))  # fmt: skip
    if core and pandas:
        need = 3 if sf >= 10 else 1
        rows.append(_target(f"faster than pandas ({need}x or more at SF{sf:g})", f"{pandas / core:.1f}x",
                            pandas / core >= need, True))  # fmt: skip
        if sf >= 10:
            ratio = peak("core_pipeline") / peak("pandas")
            rows.append(_target("less than half of pandas' peak memory", f"{ratio:.0%}", ratio < 0.5, True))
    return rows


def _target(name: str, measured: str, holds: bool, applies: bool) -> dict:
    return {"target": name, "measured": measured, "holds": holds if applies else None}


def markdown(result: dict) -> str:
    lines = [f"### SF{result['sf']:g} on {result['target']} ({result['cores']} cores, "
             f"{result['memory_gb']:.0f} GB) — {result['when']}", ""]  # fmt: skip
    rows = result.get("rows", {})
    if rows:
        lines += ["Shop: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()), ""]
    lines += ["| stage | wall s | work s | peak MB | notes |", "| --- | ---: | ---: | ---: | --- |"]
    for name, stage in result["stages"].items():
        notes = ", ".join(f"{k} {v}" for k, v in stage.items() if k not in {"wall_s", "compute_s", "peak_mb",
                                                                             "rows", "slowest"})  # fmt: skip
        if "slowest" in stage:
            notes += "; slowest: " + ", ".join(f"{k} {v:.1f}s" for k, v in list(stage["slowest"].items())[:3])
        work, peak = stage.get("compute_s", 0), stage["peak_mb"]
        lines.append(f"| {name} | {stage['wall_s']:.1f} | {work:.1f} | {peak:,.0f} | {notes} |")
    if result.get("agreement"):
        lines += ["", "Rows where a baseline differs from the pipeline's marts (0 = same results): "
                  + "; ".join(f"{b}: " + ", ".join(f"{k} {v}" for k, v in a.items())
                              for b, a in result["agreement"].items())]  # fmt: skip
    if result.get("targets"):
        lines += ["", "| target | measured | holds |", "| --- | --- | --- |"]
        for t in result["targets"]:
            verdict = {True: "yes", False: "**no**", None: "n/a at this scale"}[t["holds"]]
            lines.append(f"| {t['target']} | {t['measured']} | {verdict} |")
    return "\n".join(lines) + "\n"
