"""Limits the row checks at extract apply: what counts as too early, too late or absurd."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# Clock skew allowed past the data interval's end before a timestamp counts as "from the future".
FUTURE_TOLERANCE = "1 hour"


@dataclass(frozen=True)
class Limits:
    shop_opened_on: date = date(2000, 1, 1)  # a timestamp before it is quarantined
    max_amount: float = 50_000.0  # a larger order total, cart value or price is quarantined
    reporting_currency: str = "EUR"  # needs no exchange rate
    status_map: tuple[tuple[str, str], ...] = ()  # the shop's order statuses -> paid/refunded/cancelled
    absent_columns: tuple[str, ...] = ()  # "table.column": optional columns the shop lacks, read as null

    @classmethod
    def from_settings(cls, settings) -> Limits:
        return cls(
            shop_opened_on=settings.shop_opened_on,
            max_amount=settings.max_amount,
            reporting_currency=settings.reporting_currency,
            status_map=settings.status_map,
            absent_columns=settings.absent_columns,
        )

    def absent_in(self, table: str) -> set[str]:
        return {c.partition(".")[2] for c in self.absent_columns if c.partition(".")[0] == table}


DEFAULT_LIMITS = Limits()
