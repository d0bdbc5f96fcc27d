"""How well BG/NBD predicts purchases it did not see: fit on the purchases up to a
cutoff, predict each customer's purchases over the next ``horizon_days``, and compare
the total with the purchases that happened (``scripts/validate_predictions.py``).

Purchases are purchase days, as the pipeline counts them (int_customer_btyd_inputs):
two orders on one day are one purchase, and the first day is not a repeat purchase.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from nurture.predict import btyd


@dataclass(frozen=True)
class HoldoutCheck:
    cutoff: date
    horizon_days: int
    customers: int  # customers with a purchase by the cutoff
    predicted: float  # expected repeat purchase days in (cutoff, cutoff + horizon]
    actual: int  # purchase days those customers had in that period

    @property
    def error(self) -> float:
        """Relative error of the predicted total (0.05 = 5 % too many)."""
        return self.predicted / self.actual - 1


def holdout_check(purchases: pd.DataFrame, cutoff: date, horizon_days: int) -> HoldoutCheck:
    """``purchases``: customer_id and purchase_date, one row per order (days are deduplicated)."""
    days = pd.DataFrame(
        {"customer_id": purchases["customer_id"], "day": pd.to_datetime(purchases["purchase_date"])}
    ).drop_duplicates()
    end, until = pd.Timestamp(cutoff), pd.Timestamp(cutoff + timedelta(days=horizon_days))
    seen = days[days["day"] <= end].groupby("customer_id")["day"].agg(["min", "max", "count"])
    frequency = seen["count"] - 1
    recency = (seen["max"] - seen["min"]).dt.days
    age = (end - seen["min"]).dt.days
    fit = btyd.fit_bgnbd(frequency, recency, age)
    expected = btyd.bgnbd_expected_purchases(fit, horizon_days, frequency, recency, age)
    later = days[(days["day"] > end) & (days["day"] <= until) & days["customer_id"].isin(seen.index)]
    return HoldoutCheck(cutoff, horizon_days, len(seen), float(expected.sum()), len(later))
