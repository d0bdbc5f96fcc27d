"""Independent pandas implementations of warehouse rules, for tests to compare against.

Written from the definitions (README / dbt docs), straight from the shop database
and the log files, without the raw zone or dbt.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta

import pandas as pd

DEFAULTS = {
    "onboarding_days": 30,
    "loyal_min_orders": 3,
    "lapsing_k": 2,
    "lapsing_floor_days": 60,
    "churn_days": 365,
}


def _visible(frame: pd.DataFrame, run_date: date) -> pd.DataFrame:
    """Rows the warehouse can see as of run_date: written before the day after it."""
    end = pd.Timestamp(datetime.combine(run_date + timedelta(days=1), datetime.min.time()))
    return frame[pd.to_datetime(frame["updated_at"]) < end]


def lifecycle_reference(db_path: str, run_date: date, v: dict = DEFAULTS) -> pd.DataFrame:
    """One row per customer with paid-order stats and lifecycle_stage as of run_date."""
    with sqlite3.connect(db_path) as con:
        customers = _visible(pd.read_sql("select * from customers", con), run_date)
        orders = _visible(pd.read_sql("select * from orders", con), run_date)
    today = pd.Timestamp(run_date)
    orders["ordered_date"] = pd.to_datetime(orders["ordered_at"]).dt.normalize()
    paid = orders[(orders["status"] == "paid") & (orders["ordered_date"] <= today)]
    paid = paid.sort_values(["customer_id", "ordered_date", "order_id"])
    paid["gap"] = paid.groupby("customer_id")["ordered_date"].diff().dt.days
    paid["age"] = (today - paid["ordered_date"]).dt.days
    stats = paid.groupby("customer_id").agg(
        first=("ordered_date", "min"),
        last=("ordered_date", "max"),
        paid_orders=("order_id", "size"),
        paid_orders_last_365d=("age", lambda a: int((a < 365).sum())),
        median_gap=("gap", "median"),
    )
    shop_gap = stats["median_gap"].dropna().median()
    out = customers[["customer_id", "email", "first_name", "consent_email", "consent_email_at"]].merge(
        stats, left_on="customer_id", right_index=True, how="left"
    )
    out["paid_orders"] = out["paid_orders"].fillna(0).astype(int)
    out["days_since_first"] = (today - out["first"]).dt.days
    out["days_since_last"] = (today - out["last"]).dt.days
    expected = out["median_gap"].fillna(shop_gap)
    out["lapsing_after"] = (v["lapsing_k"] * expected).fillna(0).clip(lower=v["lapsing_floor_days"])

    def stage(row) -> str:
        if row.paid_orders == 0:
            return "prospect"
        if row.days_since_last >= v["churn_days"]:
            return "inactive"
        if row.days_since_first < v["onboarding_days"]:
            return "new"
        if row.days_since_last > row.lapsing_after:
            return "lapsing"
        if row.paid_orders_last_365d >= v["loyal_min_orders"]:
            return "loyal"
        return "active"

    out["lifecycle_stage"] = out.apply(stage, axis=1)
    return out


def email_suppressions(log_dir, run_date: date) -> pd.DataFrame:
    """Latest email unsubscribe and hard bounce per customer, from log files up to run_date."""
    frames = []
    for path in sorted(log_dir.glob("events-*.jsonl.gz")):
        if date.fromisoformat(path.name[7:17]) <= run_date:
            frames.append(
                pd.read_json(path, lines=True, compression="gzip", convert_dates=False, dtype=False)
            )
    events = pd.concat(frames, ignore_index=True)
    events["occurred_at"] = pd.to_datetime(events["timestamp"]).dt.tz_localize(None)
    events = events[events["occurred_at"].dt.date <= run_date]
    unsub = events[
        (events["event_type"] == "unsubscribed")
        & (events["properties"].map(lambda p: p.get("channel")) == "email")
    ]
    bounce = events[
        (events["event_type"] == "email_bounced")
        & (events["properties"].map(lambda p: p.get("bounce_type")) == "hard")
    ]
    return pd.DataFrame(
        {
            "unsubscribed_at": unsub.groupby("customer_id")["occurred_at"].max(),
            "hard_bounced_at": bounce.groupby("customer_id")["occurred_at"].max(),
        }
    )


def winback_reference(db_path: str, log_dir, run_date: date) -> pd.DataFrame:
    """The win-back audience: lapsing customers who may be emailed, as exported."""
    people = lifecycle_reference(db_path, run_date).merge(
        email_suppressions(log_dir, run_date), left_on="customer_id", right_index=True, how="left"
    )
    consent_at = pd.to_datetime(people["consent_email_at"])
    emailable = (
        people["consent_email"].astype(bool)
        & (people["unsubscribed_at"].isna() | (people["unsubscribed_at"] < consent_at))
        & people["hard_bounced_at"].isna()
    )
    chosen = people[(people["lifecycle_stage"] == "lapsing") & emailable]
    return pd.DataFrame(
        {
            "customer_id": chosen["customer_id"].astype("int64"),
            "email": chosen["email"].str.strip().str.lower(),
            "first_name": chosen["first_name"],
            "lifecycle_stage": chosen["lifecycle_stage"],
            "last_order_date": chosen["last"].dt.strftime("%Y-%m-%d"),
            "days_since_last_order": chosen["days_since_last"].astype("int64"),
            "paid_orders": chosen["paid_orders"].astype("int64"),
        }
    ).sort_values("customer_id", ignore_index=True)
