"""One shop written three ways other tools write shops runs end to end with settings only.

The generated shop's rows are copied into: a SQLite file written with the ``sqlite3``
module (hand-written DDL, timestamps as ``2025-01-01T10:00:00Z`` text); a SQLite file
written by pandas ``to_sql`` (timestamps with the shop's ``+01:00``/``+02:00`` offset,
booleans as integers, and the shop's own order status ``completed`` for ``paid``); and a
schema on the project's PostgreSQL server (``timestamptz`` columns read by a session whose
time zone is Asia/Kolkata). For each, as a user would: ``check-source`` names what is
particular to it and nothing else, its suggested settings are taken as they are, the history
is extracted and the last day runs every step. The three warehouses are then the same table
for table: a timestamp's form never moves a row, an order or an audience member.

Time: about 40 s per shop (history extract, one daily run), two minutes in all.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import duckdb
import pandas as pd
import pytest
from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric

from nurture import pipeline
from nurture.config import load_settings
from nurture.extract.source_check import SourceReport, check_source
from nurture.shop_schema import SHOP_TABLES
from tests.conftest import fresh_pg_schemas, make_shop, midnight
from tests.tables import assert_same_table

TOOLS = ("sqlite3", "pandas", "postgresql")
SHOP_ZONE = "Europe/Berlin"
# Every table dbt and the prediction step built: what a timestamp's form could move.
BUILT = "select table_name from duckdb_tables() where schema_name = 'main' order by 1"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The generated shop and its rows, as the generator wrote them (SQLAlchemy's text form)."""
    settings, shop = make_shop(tmp_path_factory.mktemp("generated"), customers=150, days=60, seed=5)
    with closing(sqlite3.connect(settings.shop_db_url.removeprefix("sqlite:///"))) as con:
        rows = {name: pd.read_sql(f"select * from {name}", con) for name in SHOP_TABLES}
    return settings, shop, rows


def timestamp_columns(table: str) -> list[str]:
    return [c.name for c in SHOP_TABLES[table].columns if isinstance(c.type, DateTime)]


def create_table(table, types: dict[type, str], name: str) -> str:
    """A shop table's DDL as a tool writes it: each column the type of the first class in
    ``types`` its type is an instance of, else text; the schema's primary key."""

    def declared(column) -> str:
        return next((kind for cls, kind in types.items() if isinstance(column.type, cls)), "text")

    columns = ", ".join(f"{c.name} {declared(c)}" for c in table.columns)
    keys = ", ".join(c.name for c in table.primary_key.columns)
    return f"create table {name} ({columns}, primary key ({keys}))"


def write_with_sqlite3(rows: dict[str, pd.DataFrame], path: Path) -> str:
    """Hand-written DDL with SQLite's own type names, timestamps as 'T' and 'Z' text, no fraction."""
    sqlite_type = {Boolean: "integer", Integer: "integer", Numeric: "real"}
    with closing(sqlite3.connect(path)) as con:
        for name, table in SHOP_TABLES.items():
            con.execute(create_table(table, sqlite_type, name))
            frame = rows[name].copy()
            for column in timestamp_columns(name):
                assert frame[column].str.endswith(".000000").all()  # nothing lost without the fraction
                frame[column] = frame[column].str.slice(0, 19).str.replace(" ", "T") + "Z"
            marks = ", ".join("?" * len(frame.columns))
            values = [tuple(None if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)]
            con.executemany(f"insert into {name} values ({marks})", values)
        con.commit()
    return f"sqlite:///{path}"


def write_with_pandas(rows: dict[str, pd.DataFrame], path: Path) -> str:
    """``DataFrame.to_sql`` of frames holding the shop's local times and its own status word."""
    with closing(sqlite3.connect(path)) as con:
        for name, table in SHOP_TABLES.items():
            frame = rows[name].copy()
            for column in timestamp_columns(name):
                utc = pd.to_datetime(frame[column], format="ISO8601").dt.tz_localize("UTC")
                frame[column] = utc.dt.tz_convert(SHOP_ZONE)  # written as '... 06:22:57+01:00'
            for column in (c.name for c in table.columns if isinstance(c.type, Boolean)):
                frame[column] = frame[column].astype(bool)
            if name == "orders":
                frame["status"] = frame["status"].replace({"paid": "completed"})
            frame.to_sql(name, con, index=False)
        assert con.execute("select updated_at from orders limit 1").fetchone()[0][-6:] in ("+01:00", "+02:00")
    return f"sqlite:///{path}"


def write_to_postgresql(rows: dict[str, pd.DataFrame], pg_url: str, schema: str) -> str:
    """Typed tables (timestamptz, numeric, boolean, date) in a schema of the project's server."""
    import psycopg2
    from psycopg2.extras import execute_values

    pg_type = {DateTime: "timestamptz", Date: "date", Boolean: "boolean", Integer: "integer"}
    pg_type[Numeric] = "numeric(18, 8)"
    with closing(psycopg2.connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute(f'create schema "{schema}"')
        for name, table in SHOP_TABLES.items():
            cur.execute(create_table(table, pg_type, f'"{schema}".{name}'))
            frame = rows[name].copy()
            for column in timestamp_columns(name):
                frame[column] = frame[column] + "+00"
            booleans = {c.name for c in table.columns if isinstance(c.type, Boolean)}
            values = [
                tuple(
                    None if pd.isna(v) else bool(v) if c in booleans else v
                    for c, v in zip(frame.columns, row, strict=True)
                )
                for row in frame.itertuples(index=False)
            ]
            execute_values(cur, f'insert into "{schema}".{name} values %s', values)
        conn.commit()
    # Sessions of this server show India's time: the extract and the check must not care.
    options = quote(f"-c search_path={schema} -c timezone=Asia/Kolkata", safe="")
    return f"{pg_url}?options={options}"


@pytest.fixture(scope="module")
def shop_urls(generated, tmp_path_factory, request):
    _, _, rows = generated
    folder = tmp_path_factory.mktemp("written")
    urls = {
        "sqlite3": write_with_sqlite3(rows, folder / "sqlite3.db"),
        "pandas": write_with_pandas(rows, folder / "pandas.db"),
    }
    pg_url = request.getfixturevalue("pg_url")
    with fresh_pg_schemas(pg_url, "shop") as schemas:
        urls["postgresql"] = write_to_postgresql(rows, pg_url, schemas["shop"])
        yield urls


@pytest.fixture(scope="module")
def runs(generated, shop_urls, tmp_path_factory):
    """Each shop as a user plugs it in: check, take the suggested settings, load, run the last day."""
    generated_settings, shop, _ = generated
    done = {}
    for tool in TOOLS:
        home = tmp_path_factory.mktemp(tool)
        with pytest.MonkeyPatch.context() as env:
            env.setenv("NURTURE_SHOP_DB_URL", shop_urls[tool])
            env.setenv("NURTURE_LOG_DIR", str(generated_settings.log_dir))
            report = check_source(load_settings(home))
            for name, value in report.suggestions.items():
                env.setenv(name, value)
            settings = load_settings(home)
            start, last = midnight(pd.Timestamp(report.extract_from).date()), midnight(shop.end)
            history = pipeline.extract_shop(settings, settings.shop_db_url, start, last)
            history["events"] = pipeline.extract_events(settings, start, last)
            pipeline.check_something_accepted(settings, history, start, last)
            outcome = pipeline.run_day(settings, settings.shop_db_url, last, last + timedelta(days=1), tool)
        done[tool] = settings, report, history, outcome
    return done


def flagged(report: SourceReport) -> dict[tuple[str, str], str]:
    found = {(t.table, f.check): f.verdict for t in report.tables for f in t.findings if f.verdict != "ok"}
    found |= {("shop database", f.check): f.verdict for f in report.findings if f.verdict != "ok"}
    return found | {("logs", f.check): f.verdict for f in report.logs.findings if f.verdict != "ok"}


def stamps(report: SourceReport, table: str, column: str):
    found = next(t for t in report.tables if t.table == table)
    return next(s for s in found.timestamps if s.column == column)


def formats(report: SourceReport, table: str, column: str) -> dict[str, int]:
    return stamps(report, table, column).formats


def test_check_source_names_what_is_particular_to_each_shop_and_nothing_else(runs, generated):
    _, shop, rows = generated
    paid = int((rows["orders"]["status"] == "paid").sum())
    reports = {tool: runs[tool][1] for tool in TOOLS}
    assert flagged(reports["sqlite3"]) == {}
    assert flagged(reports["postgresql"]) == {}
    assert flagged(reports["pandas"]) == {("orders", "statuses"): "warn"}
    assert reports["pandas"].suggestions.pop("NURTURE_STATUS_MAP") == "completed=paid"
    assert f"completed ({paid} rows)" in next(
        f.message for t in reports["pandas"].tables for f in t.findings if f.check == "statuses"
    )
    # Whatever the form, the same settings follow from the same history.
    suggested = [reports[tool].suggestions for tool in TOOLS]
    assert suggested[0] == suggested[1] == suggested[2]
    assert reports["sqlite3"].suggestions["NURTURE_START_DATE"] == shop.start.replace(day=1).isoformat()
    assert reports["sqlite3"].suggestions["NURTURE_EVENT_SOURCE"] == "logs"
    orders = len(rows["orders"])
    assert formats(reports["sqlite3"], "orders", "updated_at") == {"YYYY-MM-DDTHH:MM:SSZ": orders}
    assert formats(reports["pandas"], "orders", "updated_at") == {"YYYY-MM-DD HH:MM:SS+hh:mm": orders}
    stamp = stamps(reports["postgresql"], "orders", "updated_at")
    assert (stamp.sql_type, stamp.storage) == ("TIMESTAMP WITH TIME ZONE", "native")
    assert stamp.nulls == stamp.unparsed == 0
    assert stamp.earliest == rows["orders"]["updated_at"].min()[:19]  # as UTC, not Kolkata's time
    assert {t.table: t.rows for t in reports["postgresql"].tables} == {n: len(f) for n, f in rows.items()}


def test_every_row_is_accepted_whatever_its_form(runs, generated):
    """The history (every day before the last, which the daily run reads) lands whole."""
    _, shop, rows = generated
    for tool in TOOLS:
        history = runs[tool][2]
        for name, frame in rows.items():
            before_last_day = int((frame["updated_at"] < shop.end.isoformat()).sum())
            counts = history[name]
            assert (counts["read"], counts["quarantined"]) == (before_last_day, 0), (tool, name, counts)


def test_each_shop_runs_every_step(runs, generated):
    _, shop, _ = generated
    for tool in TOOLS:
        settings, _, _, outcome = runs[tool]
        assert outcome.error() is None, (tool, outcome.warnings())
        assert outcome.entries, tool
        assert (settings.home / "reports" / f"retention-report-{shop.end}.html").exists(), tool


def test_the_three_warehouses_are_the_same_and_true_to_the_shop(runs, generated):
    """Every table the run built (staging to segments and predictions) and every customer it
    exported, alike from the three shops; and the instants are the shop's own."""
    _, _, rows = generated
    frames = {}
    for tool in TOOLS:
        with duckdb.connect(str(runs[tool][0].warehouse_path), read_only=True) as con:
            tables = [t for (t,) in con.execute(BUILT).fetchall()] + ["exports.allocations"]
            frames[tool] = {name: con.execute(f"select * from {name}").df() for name in tables}
    built = frames["sqlite3"]
    assert {"dim_customers", "int_customer_daily_stages", "seg_welcome_series"} <= set(built)
    assert len(built["exports.allocations"]) > 50 and len(built["fct_orders"]) > 100
    for tool in ("pandas", "postgresql"):
        assert sorted(frames[tool]) == sorted(built)
        for name, frame in frames[tool].items():
            assert_same_table(name, tool, frame, built[name], reference="sqlite3")
    orders = built["fct_orders"].set_index("order_id")["ordered_at"].sort_index()
    source = rows["orders"].set_index("order_id")["ordered_at"]
    assert orders.dt.strftime("%Y-%m-%d %H:%M:%S.%f").tolist() == source.loc[orders.index].tolist()
