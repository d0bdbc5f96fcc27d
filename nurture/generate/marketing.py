"""The shop's monthly marketing spend per channel: the input of customer acquisition cost.

Each channel is paid for a share of the month's first-time buyers at its own cost per
buyer (varying from month to month), so the blended acquisition cost is about 30-40 EUR.
Affiliates bill in USD, converted at the month's average rate; the rest is EUR. A month's
spend is reported a few days after the month ends: months not reported by the shop's last
day are not in the table yet.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nurture.generate.calendar import ShopCalendar

# channel: (share of the month's first-time buyers, cost per buyer in EUR, billing currency)
CHANNELS = {
    "search": (0.5, 30.0, "EUR"),
    "social": (0.3, 45.0, "EUR"),
    "affiliate": (0.2, 25.0, "USD"),
}
COST_SPREAD = 0.2  # sigma of the lognormal month-to-month variation of a channel's cost
REPORT_DAYS = (3, 10)  # spend is reported this many days after its month ends: [low, high)


def make_marketing_spend(
    rng: np.random.Generator, calendar: ShopCalendar, orders: pd.DataFrame, fx_rates: pd.DataFrame
) -> pd.DataFrame:
    """One row per month of the shop's history and channel, once the month is reported."""
    first_orders = pd.to_datetime(orders.groupby("customer_id")["ordered_at"].min())
    new_buyers = first_orders.dt.to_period("M").value_counts()
    rates = fx_rates.assign(month=pd.to_datetime(fx_rates["rate_date"]).dt.to_period("M"))
    month_rate = rates.groupby(["month", "currency"])["rate_to_reporting"].mean()
    rows = []
    for month in pd.period_range(calendar.start, calendar.end, freq="M"):
        next_month = month.end_time.normalize() + pd.Timedelta(days=1)
        reported = next_month + pd.Timedelta(days=int(rng.integers(*REPORT_DAYS)))
        reported += pd.Timedelta(seconds=int(rng.integers(8 * 3600, 18 * 3600)))
        costs = rng.lognormal(0.0, COST_SPREAD, len(CHANNELS))
        if reported.date() > calendar.end:
            continue
        for (channel, (share, cost, currency)), noise in zip(CHANNELS.items(), costs, strict=True):
            spend_eur = new_buyers.get(month, 0) * share * cost * noise
            rows.append(
                {
                    "spend_month": month.start_time.date(),
                    "channel": channel,
                    "spend": round(spend_eur / month_rate[month, currency], 2),
                    "currency": currency,
                    "updated_at": reported.to_pydatetime(),
                }
            )
    columns = ["spend_month", "channel", "spend", "currency", "updated_at"]
    return pd.DataFrame(rows, columns=columns)
