"""The uplift interval's SQL (dbt macros, plain arithmetic) against an independent Python
implementation and Newcombe's published figures, on fixed cases: 0 of n, n of n, tiny
groups, and a rate near 0 against one near 1; and the detectable-uplift macros (closed
form) against the power equation solved numerically. Run on DuckDB and on PostgreSQL."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from nurture.config import load_settings
from nurture.warehouse.transform import run_dbt
from tests.reference import entrants_to_detect, min_detectable_uplift, newcombe_interval

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


# (base rate, entrants, holdout share, effect): rates near 0, 1/2 and 1, tiny and large
# windows, a 5 % and a 50 % holdout.
POWER_CASES = [
    (0.3, 1000, 0.1, 0.02),
    (0.01, 50, 0.05, 0.005),
    (0.5, 100000, 0.5, 0.001),
    (0.99, 12, 0.2, 0.3),
    (0.08, 300, 0.05, 0.02),
]


def compiled(tmp_path_factory, inline: str) -> str:
    """An inline query compiled by dbt: the project's macros rendered for the engine."""
    settings = load_settings(tmp_path_factory.mktemp("macros"))
    outcome = run_dbt(settings, ["compile", "--inline", inline], date(2025, 12, 31))
    assert outcome.success, outcome.exception
    return outcome.result.results[0].node.compiled_code


@pytest.fixture(scope="module")
def interval_sql(tmp_path_factory) -> str:
    """The interval macros compiled into one query over the cases."""
    values = ", ".join(str(case) for case in CASES)
    bounds = ", ".join(
        f"{{{{ newcombe_difference_bound('x1', 'n1', 'x0', 'n0', '{b}') }}}} as {b}" for b in ("low", "high")
    )
    return compiled(
        tmp_path_factory, f"select x1, n1, x0, n0, {bounds} from (values {values}) as cases (x1, n1, x0, n0)"
    )


@pytest.fixture(scope="module")
def power_sql(tmp_path_factory) -> str:
    """The detectable-uplift macros compiled into one query over the cases."""
    values = ", ".join(str(case) for case in POWER_CASES)
    return compiled(
        tmp_path_factory,
        "select p, n, h, d, {{ min_detectable_uplift('p', 'n', 'h') }} as mde,"
        " {{ entrants_to_detect('p', 'd', 'h') }} as needed"
        f" from (values {values}) as cases (p, n, h, d)",
    )


def check(rows) -> None:
    assert len(rows) == len(CASES)
    for x1, n1, x0, n0, low, high in rows:
        case = (x1, n1, x0, n0)
        want = newcombe_interval(*case)
        assert (float(low), float(high)) == pytest.approx(want, abs=1e-6), case
        if published := CASES[case]:
            assert (float(low), float(high)) == pytest.approx(published, abs=5e-5), case
        assert -1 <= float(low) < x1 / n1 - x0 / n0 < float(high) <= 1 or x1 / n1 - x0 / n0 in (-1, 1), case


def duckdb_rows(sql: str) -> list[tuple]:
    with duckdb.connect() as con:
        return con.execute(sql).fetchall()


def postgresql_rows(sql: str, url: str) -> list[tuple]:
    import psycopg2

    with psycopg2.connect(url) as con, con.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_the_sql_interval_equals_newcombes_on_duckdb(interval_sql):
    check(duckdb_rows(interval_sql))


def test_the_sql_interval_equals_newcombes_on_postgresql(interval_sql, pg_url):
    check(postgresql_rows(interval_sql, pg_url))


def check_power(rows) -> None:
    assert len(rows) == len(POWER_CASES)
    for p, n, h, d, mde, needed in rows:
        case = (float(p), int(n), float(h), float(d))
        assert float(mde) == pytest.approx(min_detectable_uplift(*case[:3]), rel=1e-6), case
        assert float(needed) == pytest.approx(entrants_to_detect(case[0], case[3], case[2]), rel=1e-6), case


def test_the_sql_detectable_uplift_solves_the_power_equation_on_duckdb(power_sql):
    check_power(duckdb_rows(power_sql))


def test_the_sql_detectable_uplift_solves_the_power_equation_on_postgresql(power_sql, pg_url):
    check_power(postgresql_rows(power_sql, pg_url))
