"""Check the purchase predictions against a holdout: fit BG/NBD on the purchases up to a
cutoff, predict the next ``--horizon`` days, compare with what happened.

    .venv/bin/python scripts/validate_predictions.py --cdnow        # the public CDNOW sample
    .venv/bin/python scripts/validate_predictions.py --warehouse data/warehouse/nurture.duckdb

With a warehouse the cutoff is ``--horizon`` days before its last paid order; with CDNOW
it is the end of the paper's 39-week calibration period, 1997-09-30. Prints one line.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from nurture.predict.holdout import HoldoutCheck, holdout_check

CDNOW = Path(__file__).resolve().parents[1] / "tests" / "data" / "cdnow" / "CDNOW_sample.txt"
CDNOW_CUTOFF = date(1997, 9, 30)


def cdnow_purchases(path: Path = CDNOW) -> pd.DataFrame:
    """The CDNOW sample's records: customer, day (YYYYMMDD), CDs, dollars."""
    frame = pd.read_csv(path, sep=r"\s+", header=None, names=["customer_id", "id", "day", "cds", "dollars"])
    return pd.DataFrame(
        {"customer_id": frame["customer_id"], "purchase_date": pd.to_datetime(frame["day"].astype(str))}
    )


def warehouse_purchases(path: Path) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "select customer_id, ordered_date as purchase_date from fct_orders where is_paid"
        ).df()


def run(cdnow: bool, warehouse: Path | None, horizon: int) -> HoldoutCheck:
    if cdnow:
        return holdout_check(cdnow_purchases(), CDNOW_CUTOFF, horizon)
    purchases = warehouse_purchases(warehouse)
    last = pd.Timestamp(purchases["purchase_date"].max()).date()
    return holdout_check(purchases, last - timedelta(days=horizon), horizon)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--cdnow", action="store_true", help="the CDNOW sample in tests/data/cdnow")
    source.add_argument("--warehouse", type=Path, help="a DuckDB warehouse built by the pipeline")
    parser.add_argument("--horizon", type=int, default=None, help="days to predict (CDNOW: 273, else 92)")
    args = parser.parse_args()
    horizon = args.horizon or (273 if args.cdnow else 92)
    check = run(args.cdnow, args.warehouse, horizon)
    print(
        f"{check.customers:,} customers, cutoff {check.cutoff}, next {check.horizon_days} days: "
        f"predicted {check.predicted:,.0f} repeat purchase days, actual {check.actual:,} "
        f"({check.error:+.1%})"
    )


if __name__ == "__main__":
    main()
