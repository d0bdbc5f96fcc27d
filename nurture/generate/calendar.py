"""The generated shop's fixed calendar: it ends on a fixed date by default.

Times are kept as float days since the shop opened (``t``); helpers turn them
into numpy datetimes. A fixed end date keeps the demo's outputs stable from one
day to the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

DEFAULT_END_DATE = date(2025, 12, 31)
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class ShopCalendar:
    start: date  # first day the shop is open (UTC)
    days: int

    @classmethod
    def ending(cls, end: date, days: int) -> ShopCalendar:
        return cls(start=end - timedelta(days=days - 1), days=days)

    @property
    def end(self) -> date:
        """Last day with data (inclusive)."""
        return self.start + timedelta(days=self.days - 1)

    def to_datetime(self, t: np.ndarray) -> np.ndarray:
        """Float days since opening -> ``datetime64[s]`` (UTC)."""
        origin = np.datetime64(self.start, "s")
        return origin + np.round(np.asarray(t) * SECONDS_PER_DAY).astype("timedelta64[s]")

    def weekday(self, t: np.ndarray) -> np.ndarray:
        """Weekday (Monday = 0) of each time."""
        return (np.floor(t).astype(np.int64) + self.start.weekday()) % 7
