"""The pandas baseline: lifecycle stage, RFM and CRR as of a date, written the way a
data engineer would without Nurture — read the raw zone, vectorised pandas, no row
loops. The same rules as ``floor.sql`` and the dbt models.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from nurture.bench.rules import RULES


def _latest(raw: Path, dataset: str, run_date: date, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """The latest version of each key among partitions up to the run date (ties: the later
    partition, as in the dbt staging)."""
    frame = pd.read_parquet(
        raw / dataset, columns=[*columns, "updated_at", "dt"], filters=[("dt", "<=", run_date.isoformat())]
    )
    frame = frame.sort_values(["updated_at", "dt"], kind="stable")
    return frame.drop_duplicates(keys, keep="last")


def run_pandas(raw: Path, run_date: date, out: Path) -> None:
    """Compute and keep the results as Parquet (beside the floor's)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in compute(raw, run_date, date.fromisoformat(RULES["history_start_date"])).items():
        frame.to_parquet(out / f"{name}.parquet", index=False)


def compute(raw: Path, run_date: date, history_start: date, rules: dict = RULES) -> dict[str, pd.DataFrame]:
    today = pd.Timestamp(run_date)
    order_columns = ["order_id", "customer_id", "ordered_at", "status", "currency", "total"]
    orders = _latest(raw, "orders", run_date, ["order_id"], order_columns)
    fx_columns = ["rate_date", "currency", "rate_to_reporting"]
    fx = _latest(raw, "fx_rates", run_date, ["rate_date", "currency"], fx_columns)
    customers = _latest(raw, "customers", run_date, ["customer_id"], ["customer_id", "signed_up_at"])

    orders["purchase_date"] = orders["ordered_at"].dt.normalize()
    paid = orders[(orders["status"] == "paid") & (orders["purchase_date"] <= today)].copy()
    paid["currency"] = paid["currency"].str.upper()
    fx["currency"] = fx["currency"].str.upper()
    fx["rate_date"] = pd.to_datetime(fx["rate_date"]).astype(paid["purchase_date"].dtype)
    paid = pd.merge_asof(
        paid.sort_values("purchase_date"), fx.sort_values("rate_date"),
        left_on="purchase_date", right_on="rate_date", by="currency",
    )  # fmt: skip
    fx_rate = paid["rate_to_reporting"].astype(float)
    rate = np.where(paid["currency"] == rules["reporting_currency"], 1.0, fx_rate)
    paid["total_reporting"] = (paid["total"].astype(float) * rate).round(2)

    days = paid.groupby(["customer_id", "purchase_date"], as_index=False).agg(
        paid_orders=("order_id", "size"), revenue=("total_reporting", "sum")
    )
    days = days.sort_values(["customer_id", "purchase_date"])
    days["gap"] = days.groupby("customer_id")["purchase_date"].diff().dt.days
    days["age"] = (today - days["purchase_date"]).dt.days
    grouped = days.groupby("customer_id")
    stats = grouped.agg(
        first=("purchase_date", "min"), last=("purchase_date", "max"), paid_orders=("paid_orders", "sum"),
        median_gap=("gap", "median"), frequency=("paid_orders", "sum"), monetary=("revenue", "sum"),
    )  # fmt: skip
    stats["paid_orders_365"] = days[days["age"] < 365].groupby("customer_id")["paid_orders"].sum()
    reactivations = days[days["gap"] > rules["churn_days"]]
    stats["reactivated"] = reactivations.groupby("customer_id")["purchase_date"].max()

    customers["signed_up_date"] = customers["signed_up_at"].dt.normalize()
    known = customers.loc[customers["signed_up_date"] <= today, ["customer_id"]]
    life = known.merge(stats, left_on="customer_id", right_index=True, how="left")
    life["paid_orders"] = life["paid_orders"].fillna(0)
    life["paid_orders_365"] = life["paid_orders_365"].fillna(0)
    since_first = (today - life["first"]).dt.days
    since_last = (today - life["last"]).dt.days
    since_reactivation = (today - life["reactivated"]).dt.days
    expected = life["median_gap"].fillna(stats["median_gap"].median())
    lapsing_after = (rules["lapsing_k"] * expected).fillna(0).clip(lower=rules["lapsing_floor_days"])
    late = (since_last > lapsing_after) | (since_last >= rules["churn_days"])
    life["lifecycle_stage"] = np.select(
        [
            life["paid_orders"] == 0,
            since_first < rules["onboarding_days"],
            since_reactivation < rules["onboarding_days"],
            (life["paid_orders_365"] >= rules["loyal_min_orders"]) & ~late,
            ~late,
            since_last < rules["churn_days"],
        ],
        ["prospect", "new", "reactivated", "loyal", "active", "lapsing"],
        "inactive",
    )

    rfm = stats[["last", "frequency", "monetary"]].copy()
    rfm["recency_days"] = (today - rfm["last"]).dt.days
    rfm["monetary"] = rfm["monetary"].round(2)
    cut = {
        c: rfm[c].quantile([0.2, 0.4, 0.6, 0.8]).to_numpy() for c in ("recency_days", "frequency", "monetary")
    }

    def above(column: str):
        return sum((rfm[column].to_numpy() > point).astype(int) for point in cut[column])

    rfm["r_score"] = 5 - above("recency_days")
    f = cut["frequency"]
    if f[0] < f[1] < f[2] < f[3]:
        rfm["f_score"] = 1 + above("frequency")
    else:
        rfm["f_score"] = np.searchsorted([2, 3, 4, 6], rfm["frequency"].to_numpy(), side="right") + 1
    rfm["m_score"] = 1 + above("monetary")

    crr = _crr(days, paid, today, pd.Timestamp(history_start), rules["churn_days"])
    return {
        "lifecycle": life[["customer_id", "lifecycle_stage"]],
        "rfm": rfm.reset_index()[
            ["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score"]
        ],
        "crr": crr,
    }


def _crr(days: pd.DataFrame, paid: pd.DataFrame, today, history_start, churn_days: int) -> pd.DataFrame:
    first = paid.sort_values(["ordered_at", "order_id"]).groupby("customer_id")["purchase_date"].first()
    buyer_days = days[["customer_id", "purchase_date"]]
    rows = []
    for month_start in pd.date_range(history_start.replace(day=1), today, freq="MS"):
        period_end = min(month_start + pd.offsets.MonthEnd(0), today)
        window = pd.Timedelta(days=churn_days)
        at_start = buyer_days[(buyer_days.purchase_date < month_start)
                              & (buyer_days.purchase_date >= month_start - window)]  # fmt: skip
        at_end = buyer_days[(buyer_days.purchase_date <= period_end)
                            & (buyer_days.purchase_date > period_end - window)]  # fmt: skip
        s, e = at_start.customer_id.nunique(), at_end.customer_id.nunique()
        n = int(((first >= month_start) & (first <= period_end)).sum())
        rows.append({"month_start": month_start.date(), "s": s, "e": e, "n": n,
                     "customer_retention_rate": (e - n) / s if s else np.nan})  # fmt: skip
    return pd.DataFrame(rows)
