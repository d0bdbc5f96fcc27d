"""Run the hand-written DuckDB floor (``floor.sql``) and keep its results as Parquet."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from nurture.bench.rules import RULES

RESULTS = ("lifecycle", "rfm", "crr")


def run_floor(raw_dir: Path, run_date: date, out: Path) -> None:
    sql = (Path(__file__).parent / "floor.sql").read_text()
    sql = sql.format(
        raw=raw_dir, run_date=run_date.isoformat(), history_start=RULES["history_start_date"], **RULES
    )
    out.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute(sql)
        for name in RESULTS:
            con.execute(f"copy {name} to '{out / name}.parquet' (format parquet)")
