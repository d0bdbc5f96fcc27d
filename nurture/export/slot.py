"""Which run an export belongs to: a day (the daily run) or an hour of a day (the hourly refresh).

The daily run of day D and the hourly refreshes of D's hours feed the same
destinations, so they share one timeline per segment and destination: every delta
is computed against the run just before it on that timeline. A daily run comes
after every hour of its day (it sees the whole day and the day's full audience),
and before the first hour of the next day.

Stamps name a run in paths: ``2025-12-31`` for the daily run, ``2025-12-31T14`` for
the refresh of the hour 14:00-15:00. Order runs by :attr:`RunSlot.order`, never by
sorting stamps as text (``2025-12-31`` sorts before ``2025-12-31T14`` but runs after it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:T(\d{2}))?$")
HOURS = 24


@dataclass(frozen=True)
class RunSlot:
    day: date
    hour: int | None = None  # None: the daily run

    def __post_init__(self) -> None:
        if self.hour is not None and not 0 <= self.hour < HOURS:
            raise ValueError(f"hour must be 0..23, got {self.hour}")

    @classmethod
    def of(cls, value: date | RunSlot) -> RunSlot:
        """A plain date means the daily run of that day."""
        return value if isinstance(value, RunSlot) else cls(value)

    @classmethod
    def parse(cls, stamp: str) -> RunSlot:
        match = STAMP.match(stamp)
        if not match:
            raise ValueError(f"not a run stamp (YYYY-MM-DD or YYYY-MM-DDTHH): {stamp!r}")
        day, hour = match.groups()
        return cls(date.fromisoformat(day), int(hour) if hour else None)

    @property
    def stamp(self) -> str:
        return self.day.isoformat() if self.hour is None else f"{self.day.isoformat()}T{self.hour:02d}"

    @property
    def order(self) -> tuple[date, int]:
        """Sort key on the shared timeline: the daily run after the day's 24 hours."""
        return (self.day, HOURS if self.hour is None else self.hour)

    @property
    def as_of(self) -> datetime:
        """The end of the data the run sees (UTC, naive): its data interval's end."""
        start = datetime.combine(self.day, time())
        return start + (timedelta(days=1) if self.hour is None else timedelta(hours=self.hour + 1))

    def __str__(self) -> str:
        return self.stamp


def latest_before(stamps: list[str], slot: RunSlot) -> str | None:
    """The stamp of the last run before ``slot`` on the timeline (None: there is none)."""
    earlier = [s for s in stamps if STAMP.match(s) and RunSlot.parse(s).order < slot.order]
    return max(earlier, key=lambda s: RunSlot.parse(s).order) if earlier else None


def this_run_sql(slot: RunSlot) -> str:
    """SQL: the rows of this run in a table with (run_date date, run_hour integer) columns."""
    hour = "null" if slot.hour is None else str(slot.hour)
    return f"run_date = date '{slot.day.isoformat()}' and run_hour is not distinct from {hour}"


# SQL for the same order over a table with (run_date date, run_hour integer) columns.
ORDER_SQL = "(run_date - date '2000-01-01') * 25 + coalesce(run_hour, 24)"


def order_value(slot: RunSlot) -> int:
    """:attr:`RunSlot.order` as the integer :data:`ORDER_SQL` computes."""
    day, hour = slot.order
    return (day - date(2000, 1, 1)).days * 25 + hour
