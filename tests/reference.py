"""Independent pandas implementations of warehouse rules, for tests to compare against.

Written from the definitions (README / dbt docs), straight from the shop database
and the log files, without the raw zone or dbt.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import date, datetime, timedelta
from statistics import NormalDist

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


def stage_of(
    paid_orders, paid_orders_last_365d, since_first, since_last, since_reactivation, lapsing_after, v=DEFAULTS
) -> str:
    """The lifecycle rules in precedence order (README: lifecycle stages)."""
    if paid_orders == 0:
        return "prospect"
    if since_first < v["onboarding_days"]:
        return "new"
    if since_reactivation is not None and since_reactivation < v["onboarding_days"]:
        return "reactivated"
    late = since_last > lapsing_after or since_last >= v["churn_days"]
    if paid_orders_last_365d >= v["loyal_min_orders"] and not late:
        return "loyal"
    if not late:
        return "active"
    return "lapsing" if since_last < v["churn_days"] else "inactive"


def stages_from_purchases(customers: pd.DataFrame, purchases: pd.DataFrame, run_date: date, v=DEFAULTS):
    """Stage per customer as of run_date from purchase days.

    ``customers``: customer_id, signed_up_date; ``purchases``: customer_id, purchase_date,
    paid_orders (one row per customer per purchase day).
    """
    today = pd.Timestamp(run_date)
    known = customers[pd.to_datetime(customers["signed_up_date"]) <= today]
    days = purchases[pd.to_datetime(purchases["purchase_date"]) <= today].copy()
    days["purchase_date"] = pd.to_datetime(days["purchase_date"])
    days = days.sort_values(["customer_id", "purchase_date"])
    days["gap"] = days.groupby("customer_id")["purchase_date"].diff().dt.days
    days["age"] = (today - days["purchase_date"]).dt.days
    days["reactivation"] = days["gap"] > v["churn_days"]
    stats = days.groupby("customer_id").agg(
        first=("purchase_date", "min"),
        last=("purchase_date", "max"),
        paid_orders=("paid_orders", "sum"),
        paid_orders_last_365d=("paid_orders", lambda s: int(s[days.loc[s.index, "age"] < 365].sum())),
        median_gap=("gap", "median"),
    )
    stats["last_reactivation"] = days[days["reactivation"]].groupby("customer_id")["purchase_date"].max()
    shop_gap = stats["median_gap"].dropna().median()
    out = known.merge(stats, left_on="customer_id", right_index=True, how="left")
    out["paid_orders"] = out["paid_orders"].fillna(0).astype(int)
    out["paid_orders_last_365d"] = out["paid_orders_last_365d"].fillna(0).astype(int)
    out["days_since_first"] = (today - out["first"]).dt.days
    out["days_since_last"] = (today - out["last"]).dt.days
    out["days_since_reactivation"] = (today - out["last_reactivation"]).dt.days
    expected = out["median_gap"].fillna(shop_gap)
    out["lapsing_after"] = (v["lapsing_k"] * expected).fillna(0).clip(lower=v["lapsing_floor_days"])
    out["lifecycle_stage"] = [
        stage_of(
            r.paid_orders,
            r.paid_orders_last_365d,
            r.days_since_first,
            r.days_since_last,
            None if pd.isna(r.days_since_reactivation) else r.days_since_reactivation,
            r.lapsing_after,
            v,
        )
        for r in out.itertuples()
    ]
    return out


def lifecycle_reference(db_path: str, run_date: date, v: dict = DEFAULTS) -> pd.DataFrame:
    """One row per customer with purchase stats and lifecycle_stage as of run_date (UTC days)."""
    with sqlite3.connect(db_path) as con:
        customers = _visible(pd.read_sql("select * from customers", con), run_date)
        orders = _visible(pd.read_sql("select * from orders", con), run_date)
    orders["purchase_date"] = pd.to_datetime(orders["ordered_at"]).dt.normalize()
    paid = orders[orders["status"] == "paid"]
    purchases = paid.groupby(["customer_id", "purchase_date"]).size().rename("paid_orders").reset_index()
    customers = customers.assign(signed_up_date=pd.to_datetime(customers["signed_up_at"]).dt.normalize())
    return stages_from_purchases(customers, purchases, run_date, v)


def log_events(log_dir, run_date: date) -> pd.DataFrame:
    """Events that occurred on or before run_date, from the log files up to run_date."""
    frames = [
        pd.read_json(path, lines=True, compression="gzip", convert_dates=False, dtype=False)
        for path in sorted(log_dir.glob("events-*.jsonl.gz"))
        if date.fromisoformat(path.name[7:17]) <= run_date
    ]
    events = pd.concat(frames, ignore_index=True)
    events["occurred_at"] = pd.to_datetime(events["timestamp"]).dt.tz_localize(None)
    return events[events["occurred_at"].dt.date <= run_date]


# The channels, each with its address column on the customer row.
ADDRESS = {"email": "email", "sms": "phone", "push": "push_token"}


def channel_suppressions(log_dir, run_date: date) -> pd.DataFrame:
    """Per customer (index) and channel: the latest unsubscribe from the channel
    (``<channel>_unsubscribed_at``) and the latest failure that ends it for good
    (``<channel>_unreachable_at``: a hard email or SMS bounce, an invalid push token),
    from the log files up to run_date."""
    events = log_events(log_dir, run_date)
    kind = events["event_type"]
    channel = events["properties"].map(lambda p: p.get("channel"))
    hard = events["properties"].map(lambda p: p.get("bounce_type")) == "hard"
    unreachable = {
        "email": (kind == "email_bounced") & hard,
        "sms": (kind == "sms_bounced") & hard,
        "push": kind == "push_token_invalid",
    }
    columns = {}
    for name in ADDRESS:
        unsubscribed = (kind == "unsubscribed") & (channel == name)
        columns[f"{name}_unsubscribed_at"] = events[unsubscribed].groupby("customer_id")["occurred_at"].max()
        columns[f"{name}_unreachable_at"] = (
            events[unreachable[name]].groupby("customer_id")["occurred_at"].max()
        )
    return pd.DataFrame(columns)


def with_reachability(people: pd.DataFrame, suppressions: pd.DataFrame) -> pd.DataFrame:
    """``people`` (shop customer rows) with is_emailable, is_smsable, is_pushable: the
    channel's consent and address, no unsubscribe from it at or after the consent was last
    given, and no hard bounce / invalid token ever (README, docs block channel_reachability)."""
    out = people.merge(suppressions, left_on="customer_id", right_index=True, how="left")
    flag = {"email": "is_emailable", "sms": "is_smsable", "push": "is_pushable"}
    for name, address in ADDRESS.items():
        consent_at = pd.to_datetime(out[f"consent_{name}_at"])
        unsubscribed_at = pd.to_datetime(out[f"{name}_unsubscribed_at"])
        out[flag[name]] = (
            out[f"consent_{name}"].fillna(False).astype(bool)
            & out[address].notna()
            & (unsubscribed_at.isna() | (unsubscribed_at < consent_at))
            & out[f"{name}_unreachable_at"].isna()
        )
    return out


def open_ticket_customers(log_dir, run_date: date) -> set[int]:
    """Customers with a support ticket whose latest opening has no resolution at or after it."""
    events = log_events(log_dir, run_date)
    tickets = events[events["event_type"].isin(["support_ticket_opened", "support_ticket_resolved"])].copy()
    tickets["ticket_id"] = tickets["properties"].map(lambda p: p["ticket_id"])
    open_ids = set()
    for _, ticket in tickets.groupby("ticket_id"):
        opened = ticket.loc[ticket["event_type"] == "support_ticket_opened", "occurred_at"]
        resolved = ticket.loc[ticket["event_type"] == "support_ticket_resolved", "occurred_at"]
        if len(opened) and (resolved.empty or resolved.max() < opened.max()):
            open_ids.add(int(ticket["customer_id"].iloc[0]))
    return open_ids


def winback_reference(db_path: str, log_dir, run_date: date) -> pd.DataFrame:
    """The win-back audience as exported (its first seven columns): lapsing customers who
    may be emailed and have no open support ticket (a promotional segment)."""
    people = with_reachability(
        lifecycle_reference(db_path, run_date), channel_suppressions(log_dir, run_date)
    )
    emailable = people["is_emailable"]
    no_open_ticket = ~people["customer_id"].isin(open_ticket_customers(log_dir, run_date))
    chosen = people[(people["lifecycle_stage"] == "lapsing") & emailable & no_open_ticket]
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


def paid_orders_reference(db_path: str, run_date: date) -> pd.DataFrame:
    """Paid orders visible on run_date, one row each: customer_id, order_id, purchase_date (UTC day)."""
    with sqlite3.connect(db_path) as con:
        orders = _visible(pd.read_sql("select * from orders", con), run_date)
    orders["purchase_date"] = pd.to_datetime(orders["ordered_at"]).dt.normalize()
    paid = orders[(orders["status"] == "paid") & (orders["purchase_date"] <= pd.Timestamp(run_date))]
    return paid[["customer_id", "order_id", "purchase_date"]].reset_index(drop=True)


def monthly_retention_reference(
    db_path: str, run_date: date, history_start: date, churn_days: int = DEFAULTS["churn_days"]
) -> pd.DataFrame:
    """CRR and repeat purchase rate per month (rpt_monthly_retention's definitions, UTC days).

    Per month from history_start's month to run_date's (the last one ending on run_date):
    S = customers with a paid order in the churn_days days before the month's first day,
    E = ... in the churn_days days up to and including the period's last day,
    N = customers whose first paid order is in the period, CRR = (E - N) / S;
    repeat purchase rate = share of the period's buyers with more than one paid order
    up to the period's end.
    """
    paid = paid_orders_reference(db_path, run_date)
    first = paid.groupby("customer_id")["purchase_date"].min()
    today, day = pd.Timestamp(run_date), pd.Timedelta(days=1)

    def customers_between(lo, hi) -> set:
        """Customers with a paid order from day lo to day hi, both included."""
        days = paid["purchase_date"]
        return set(paid.loc[(days >= lo) & (days <= hi), "customer_id"])

    rows = []
    for month_start in pd.date_range(pd.Timestamp(history_start).replace(day=1), today, freq="MS"):
        period_end = min(month_start + pd.offsets.MonthEnd(0), today)
        start = customers_between(month_start - churn_days * day, month_start - day)
        end = customers_between(period_end - (churn_days - 1) * day, period_end)
        new = int(((first >= month_start) & (first <= period_end)).sum())
        buyers = customers_between(month_start, period_end)
        orders_to_date = paid[paid["purchase_date"] <= period_end].groupby("customer_id").size()
        repeat = int((orders_to_date.reindex(sorted(buyers)) > 1).sum())
        rows.append(
            {
                "month_start_date": month_start.date(),
                "period_end_date": period_end.date(),
                "customers_at_start": len(start),
                "customers_at_end": len(end),
                "new_customers": new,
                "customer_retention_rate": (len(end) - new) / len(start) if start else float("nan"),
                "buyers": len(buyers),
                "repeat_buyers": repeat,
                "repeat_purchase_rate": repeat / len(buyers) if buyers else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def wilson_interval(successes: int, trials: int, z: float) -> tuple[float, float]:
    """Wilson's score interval, in its textbook form (the SQL uses another arrangement)."""
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return (centre - spread) / (1 + z * z / trials), (centre + spread) / (1 + z * z / trials)


def newcombe_interval(x1: int, n1: int, x0: int, n0: int) -> tuple[float, float]:
    """95 % interval of x1/n1 - x0/n0 by Newcombe's hybrid score method (1998, method 10)."""
    z = NormalDist().inv_cdf(0.975)
    (l1, u1), (l0, u0) = wilson_interval(x1, n1, z), wilson_interval(x0, n0, z)
    p1, p0 = x1 / n1, x0 / n0
    return p1 - p0 - math.hypot(p1 - l1, u0 - p0), p1 - p0 + math.hypot(u1 - p1, p0 - l0)


def _power(difference: float, rate: float, treated: float, holdout: float, z: float) -> float:
    """Power of the two-sided test of a difference of rates (its far tail, below 1e-5, left out)."""
    standard_error = math.sqrt(rate * (1 - rate) * (1 / treated + 1 / holdout))
    return NormalDist().cdf(difference / standard_error - z)


def _bisect(increasing, target: float, lo: float, hi: float) -> float:
    """The x in [lo, hi] where an increasing function reaches target."""
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if increasing(mid) < target else (lo, mid)
    return (lo + hi) / 2


def min_detectable_uplift(rate: float, entrants: float, holdout_share: float, power: float = 0.8) -> float:
    """The difference of rates detected with ``power`` at 5 % (two-sided), by solving the
    power equation numerically (the SQL uses the closed form)."""
    z = NormalDist().inv_cdf(0.975)
    treated, holdout = entrants * (1 - holdout_share), entrants * holdout_share
    return _bisect(lambda d: _power(d, rate, treated, holdout, z), power, 0.0, 10.0)


def entrants_to_detect(rate: float, effect: float, holdout_share: float, power: float = 0.8) -> float:
    """Entrants needed to detect ``effect`` with ``power`` at 5 % (two-sided), numerically."""
    z = NormalDist().inv_cdf(0.975)
    return math.exp(
        _bisect(
            lambda log_n: _power(
                effect, rate, math.exp(log_n) * (1 - holdout_share), math.exp(log_n) * holdout_share, z
            ),
            power,
            -10.0,
            40.0,
        )
    )


def acquisition_cost_reference(
    db_path: str, run_date: date, history_start: date, paid_orders: pd.DataFrame, margin_share: float
) -> pd.DataFrame:
    """CAC and payback per month with spend (rpt_monthly_acquisition_cost's definitions),
    from the shop database's marketing_spend and fx_rates and ``paid_orders``
    (customer_id, purchase_date, total_reporting; every paid order up to run_date)."""
    with sqlite3.connect(db_path) as con:
        spend = _visible(pd.read_sql("select * from marketing_spend", con), run_date)
        rates = _visible(pd.read_sql("select * from fx_rates", con), run_date)
    rates["month"] = pd.to_datetime(rates["rate_date"]).dt.to_period("M")
    rates["rate_date"] = pd.to_datetime(rates["rate_date"])
    monthly = rates.groupby(["currency", "month"])["rate_to_reporting"].mean()

    def rate(currency: str, month: pd.Timestamp) -> float:
        if currency == "EUR":
            return 1.0
        if (currency, month.to_period("M")) in monthly.index:
            return monthly[(currency, month.to_period("M"))]
        before = rates[(rates["currency"] == currency) & (rates["rate_date"] < month)]
        return before.sort_values("rate_date")["rate_to_reporting"].iloc[-1] if len(before) else math.nan

    spend["month"] = pd.to_datetime(spend["spend_month"])
    spend["spend_reporting"] = [
        round(float(s) * rate(c, m), 2)
        for s, c, m in zip(spend["spend"], spend["currency"], spend["month"], strict=True)
    ]
    orders = paid_orders.assign(month=pd.to_datetime(paid_orders["purchase_date"]).dt.to_period("M"))
    first = orders.groupby("customer_id")["month"].min().rename("cohort")
    orders = orders.join(first, on="customer_id")
    run_month = pd.Timestamp(run_date).to_period("M")
    rows = []
    for month, spent in spend.groupby("month")["spend_reporting"].sum().items():
        period = month.to_period("M")
        if not pd.Timestamp(history_start).to_period("M") <= period <= run_month:
            continue
        cohort = orders[orders["cohort"] == period]
        size = cohort["customer_id"].nunique()
        cac = spent / size if size else math.nan
        payback, margin = None, math.nan
        for k in range((run_month - period).n + 1):
            margin = margin_share * cohort.loc[cohort["month"] <= period + k, "total_reporting"].sum() / size
            if payback is None and margin >= cac:
                payback = k
        rows.append(
            {
                "month_start_date": month.date(),
                "spend_reporting": spent,
                "new_customers": size,
                "cac_reporting": cac,
                "months_observed": (run_month - period).n,
                "margin_per_customer_to_date": margin,
                "payback_months": payback,
            }
        )
    return pd.DataFrame(rows)
