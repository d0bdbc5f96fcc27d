"""Comparing tables built twice (two engines, or incremental against full refresh):
the same rows in any order, numbers as floats within 1e-9 relative, times as naive UTC."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal

import pandas as pd


def normalized(value):
    """One value as the comparison sees it: numbers as float, times as naive UTC, nulls as None."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal) or hasattr(value, "dtype"):
        if str(getattr(value, "dtype", "")) == "bool":
            return bool(value)
        return float(value)
    if isinstance(value, pd.Timestamp):
        value = value.tz_convert("UTC").tz_localize(None) if value.tzinfo else value
        return value.to_pydatetime()
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):  # DuckDB's dates reach pandas as midnight timestamps
        return datetime(value.year, value.month, value.day)
    return value


def sorted_rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    rows = [tuple(normalized(v) for v in row) for row in frame[columns].itertuples(index=False)]
    return sorted(rows, key=lambda row: tuple((v is None, str(v) if isinstance(v, str) else v) for v in row))


def same_value(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def assert_same_table(
    name: str, engine: str, got: pd.DataFrame, want: pd.DataFrame, reference: str = "DuckDB"
) -> None:
    """``got`` (built on ``engine``) holds the rows of ``want`` (built by ``reference``).
    Columns are compared by name: Spark puts a table's partition column last."""
    assert sorted(got.columns) == sorted(want.columns), f"{name} on {engine}: columns differ"
    columns = list(want.columns)
    got_rows, want_rows = sorted_rows(got, columns), sorted_rows(want, columns)
    assert len(got_rows) == len(want_rows), (
        f"{name}: {len(got_rows)} rows on {engine}, {len(want_rows)} on {reference}"
    )
    differences = [
        (row[0], column, value, other)
        for row, other_row in zip(got_rows, want_rows, strict=True)
        for column, value, other in zip(columns, row, other_row, strict=True)
        if not same_value(value, other)
    ]
    assert not differences, (
        f"{name}: (first column, column, {engine}, {reference}) differ: {differences[:10]}"
    )
