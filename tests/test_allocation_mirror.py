"""The export state's allocations mirrored into the PostgreSQL warehouse: equal to the
DuckDB state after every sync, only changed run dates copied, purged runs dropped at
once, no contact copied (Spark's mirror is built and compared in test_engines); and
warehouse retention on the PostgreSQL target."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import duckdb
import psycopg2
import pytest

from nurture.bi.run_record import STEP_COLUMNS, STEPS_TABLE
from nurture.config import load_settings
from nurture.export.allocation import ALLOCATIONS, ensure_tables
from nurture.export.allocation_mirror import MIRROR, mirror_allocations
from nurture.privacy.warehouse_retention import purge_warehouse_rows
from nurture.warehouse.owned_tables import SYNC_LOG, ensure
from nurture.warehouse.queries import replace_rows
from tests.conftest import fresh_pg_schemas

DAYS = [date(2025, 3, d) for d in (1, 2, 3, 4)]
COLUMNS = "run_date, run_hour, segment, customer_id, status"


@pytest.fixture
def settings(tmp_path, pg_url, monkeypatch):
    with fresh_pg_schemas(pg_url, "dbt") as schemas:
        monkeypatch.setenv("NURTURE_PG_SCHEMA", schemas["dbt"])
        on = replace(load_settings(tmp_path), dbt_target="postgres")
        on.warehouse_path.parent.mkdir(parents=True)
        with duckdb.connect(str(on.warehouse_path)) as con:
            ensure_tables(con)
            for day in DAYS:
                allocate(con, day, statuses=("included", "holdout", "no_consent"))
        yield on, schemas["dbt"]


def allocate(con, day: date, statuses: tuple[str, ...], run_hour: int | None = None) -> None:
    """A run's allocation: customers 1..30 in two segments (which sort apart by bytes and by
    a language's collation), statuses in turn."""
    run = "run_date = ? and run_hour is not distinct from ?"
    con.execute(f"delete from {ALLOCATIONS} where {run}", [day, run_hour])
    con.execute(
        f"""insert into {ALLOCATIONS}
        select ?, segment, 'email', i, 'c' || i || '@example.com', true, (?)[1 + i % {len(statuses)}], ?
        from range(1, 31) as t(i), (values ('seg_ab'), ('seg_a_c')) as s(segment)""",
        [day, list(statuses), run_hour],
    )


def state(on) -> list[tuple]:
    with duckdb.connect(str(on.warehouse_path), read_only=True) as con:
        return con.sql(f"select {COLUMNS} from {ALLOCATIONS} order by 1, 2 nulls first, 3, 4, 5").fetchall()


def mirror(pg_url: str, schema: str) -> list[tuple]:
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(f'select {COLUMNS} from "{schema}".{MIRROR} order by 1, 2 nulls first, 3, 4, 5')
        rows = cur.fetchall()
    conn.close()
    return rows


def test_the_mirror_equals_the_state_and_copies_only_what_changed(settings, pg_url):
    on, schema = settings
    assert mirror_allocations(on) == len(state(on)) == 4 * 60
    assert mirror(pg_url, schema) == state(on)
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
            [schema, MIRROR],
        )
        assert sorted(c for (c,) in cur.fetchall()) == sorted(COLUMNS.split(", ")), "no contact, no channel"
    conn.close()
    assert mirror_allocations(on) == 0, "nothing changed, nothing copied"

    # A re-run of one day (other statuses) and an hourly refresh on another: those dates only.
    with duckdb.connect(str(on.warehouse_path)) as con:
        allocate(con, DAYS[1], statuses=("frequency_cap", "duplicate"))
        allocate(con, DAYS[3], statuses=("included",), run_hour=14)
    assert mirror_allocations(on) == 60 + 120
    assert mirror(pg_url, schema) == state(on)


def test_retention_drops_the_mirrors_old_runs_with_the_state(settings, pg_url):
    on, schema = settings
    mirror_allocations(on)
    kept = replace(on, allocations_retention_days=7)
    deleted = purge_warehouse_rows(kept, date(2025, 3, 10), 7)  # cut-off 3 March
    assert deleted[ALLOCATIONS] == deleted[MIRROR] == 2 * 60, deleted
    assert {row[0] for row in mirror(pg_url, schema)} == {DAYS[2], DAYS[3]}
    assert mirror(pg_url, schema) == state(on)


def test_audit_retention_deletes_old_rows_on_postgresql(settings, pg_url):
    """On the PostgreSQL target the run record lives there: its retention deletes there
    (rows dated long before any other test's, so a shared server's rows are untouched)."""
    on, _ = settings
    run_id = f"retention-{uuid.uuid4().hex}"
    rows = [
        {"run_id": run_id, "logical_date": day, "task_id": "t", "map_index": -1, "state": "success"}
        for day in (date(1980, 1, 1), date(1989, 6, 1))
    ]
    replace_rows(on, STEPS_TABLE, STEP_COLUMNS, rows, scope=("run_id", "logical_date"))
    kept = replace(on, audit_retention_days=1461)  # as of 1990-01-01: cut-off 1986-01-01
    deleted = purge_warehouse_rows(kept, date(1990, 1, 1), 7)
    assert deleted[STEPS_TABLE] == 1, deleted
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(f"select logical_date from {STEPS_TABLE} where run_id = %s", [run_id])
        assert cur.fetchall() == [(date(1989, 6, 1),)]
        cur.execute(f"delete from {STEPS_TABLE} where run_id = %s", [run_id])
    conn.close()


def test_audit_retention_deletes_the_sync_log_in_the_state_file_on_postgresql(settings):
    """The sync log is export state: in the DuckDB file on every target, so its retention
    deletes there, not in PostgreSQL (where it would find no table and delete nothing)."""
    on, _ = settings
    with duckdb.connect(str(on.warehouse_path)) as con:
        ensure(con, SYNC_LOG)
        con.executemany(
            f"insert into {SYNC_LOG.relation} (run_id, logical_date, segment, destination, status) "
            "values (?, ?, 'birthday', 'crm', 'success')",
            [("old", date(2025, 1, 1)), ("new", date(2025, 3, 9))],
        )
    deleted = purge_warehouse_rows(replace(on, audit_retention_days=30), date(2025, 3, 10), 7)
    assert deleted[SYNC_LOG.relation] == 1, deleted
    with duckdb.connect(str(on.warehouse_path), read_only=True) as con:
        assert con.execute(f"select run_id from {SYNC_LOG.relation}").fetchall() == [("new",)]
