"""The uplift interval's SQL (dbt macros, plain arithmetic) against an independent Python
implementation and Newcombe's published figures, on fixed cases: 0 of n, n of n, tiny
groups, and a rate near 0 against one near 1. Run on DuckDB and on PostgreSQL."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from nurture.config import load_settings
from nurture.transform import run_dbt
from tests.reference import newcombe_interval

# (x1, n1, x0, n0) and, where Newcombe (1998, table II, method 10) publishes it, the interval.
CASES = {
    (56, 70, 48, 80): (0.0524, 0.3339),
    (9, 10, 3, 10): (0.1705, 0.8090),
    (6, 7, 2, 7): (0.0582, 0.8062),
    (5, 56, 0, 29): (-0.0381, 0.1926),
    (0, 10, 0, 20): (-0.1611, 0.2775),
    (0, 10, 0, 10): (-0.2775, 0.2775),
    (10, 10, 0, 20): (0.6791, 1.0000),
    (10, 10, 0, 10): (0.6075, 1.0000),
    (0, 4, 0, 2): None,  # the cross_sell day: Wald read [0, 0]
    (4, 4, 1, 1): None,  # Wald read [0, 0] here too
    (0, 1, 1, 1): None,
    (1, 2, 0, 3): None,
    (3, 500, 497, 500): None,
}


@pytest.fixture(scope="module")
def interval_sql(tmp_path_factory) -> str:
    """The macros compiled by dbt into one query over the cases."""
    settings = load_settings(tmp_path_factory.mktemp("intervals"))
    values = ", ".join(str(case) for case in CASES)
    bounds = ", ".join(
        f"{{{{ newcombe_difference_bound('x1', 'n1', 'x0', 'n0', '{b}') }}}} as {b}" for b in ("low", "high")
    )
    inline = f"select x1, n1, x0, n0, {bounds} from (values {values}) as cases (x1, n1, x0, n0)"
    outcome = run_dbt(settings, ["compile", "--inline", inline], date(2025, 12, 31))
    assert outcome.success, outcome.exception
    return outcome.result.results[0].node.compiled_code


def check(rows) -> None:
    assert len(rows) == len(CASES)
    for x1, n1, x0, n0, low, high in rows:
        case = (x1, n1, x0, n0)
        want = newcombe_interval(*case)
        assert (float(low), float(high)) == pytest.approx(want, abs=1e-6), case
        if published := CASES[case]:
            assert (float(low), float(high)) == pytest.approx(published, abs=5e-5), case
        assert -1 <= float(low) < x1 / n1 - x0 / n0 < float(high) <= 1 or x1 / n1 - x0 / n0 in (-1, 1), case


def test_the_sql_interval_equals_newcombes_on_duckdb(interval_sql):
    with duckdb.connect() as con:
        check(con.execute(interval_sql).fetchall())


def test_the_sql_interval_equals_newcombes_on_postgresql(interval_sql, pg_url):
    import psycopg2

    with psycopg2.connect(pg_url) as con, con.cursor() as cur:
        cur.execute(interval_sql)
        check(cur.fetchall())
