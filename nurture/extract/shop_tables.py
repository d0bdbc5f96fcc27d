"""Extract the shop's tables incrementally: the rows whose ``updated_at`` falls
in the run's data interval [start, end), each one accepted or quarantined.

The window comes from the run, not from a stored "last seen" watermark, so
re-running any past day (or a backfill) reproduces that day's partition.

Rows are read as text from the live table (whatever columns it has today) and
checked in DuckDB against our schema and the rules below, so a wrong type, a
renamed column or an absurd amount is quarantined with its field and rule, not
crashed on. Rows read = rows accepted + rows quarantined, per table and day.

A long window (a history load) is read a week at a time, so memory holds one week
of a table, not the whole history; a row's quarantine line is its position in its
week's key order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    cast,
    create_engine,
    select,
    type_coerce,
)
from sqlalchemy.exc import InterfaceError, NoSuchTableError, OperationalError

from nurture.extract.limits import DEFAULT_LIMITS, FUTURE_TOLERANCE, Limits
from nurture.extract.raw_zone import (
    days_in_interval,
    utc_naive,
    write_audit,
    write_partition,
    write_quarantine,
)
from nurture.shop_schema import REPORTING_CURRENCY, SHOP_TABLES

CHUNK = timedelta(days=7)
EXTRACT_ORDER = ("customers", "fx_rates", "products", "orders", "order_items", "carts")
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
ORDER_STATUSES = ("paid", "refunded", "cancelled")
CART_STATUSES = ("open", "converted", "abandoned")

# Rules beyond types and required fields: (field, rule, SQL that is true for a bad row).
# A customer is known once the raw zone holds an accepted row of theirs (customers
# land before orders and carts in every extract): an order never reaches the
# warehouse without its customer, even when the customer row was quarantined.
# Load the history (``nurture extract``) before the first daily run. A currency is
# known if the shop has FX rates for it, or it is the reporting currency.
UNKNOWN_CUSTOMER = "customer_id not in (select customer_id from known_customers)"
UNKNOWN_CURRENCY = "currency not in (select currency from known_currencies)"
TABLE_RULES: dict[str, list[tuple[str, str, str]]] = {
    "customers": [("email", "invalid_email", f"not regexp_full_match(email, '{EMAIL_PATTERN}')")],
    "products": [
        ("price", "negative_amount", "price < 0"),
        ("price", "absurd_amount", "price > $max_amount"),
        ("currency", "unknown_currency", UNKNOWN_CURRENCY),
    ],
    "orders": [
        ("status", "unknown_value", f"status not in {ORDER_STATUSES}"),
        ("subtotal", "negative_amount", "subtotal < 0"),
        ("discount", "negative_amount", "discount < 0"),
        ("total", "negative_amount", "total < 0"),
        ("total", "absurd_amount", "total > $max_amount"),
        ("currency", "unknown_currency", UNKNOWN_CURRENCY),
        ("customer_id", "unknown_customer", UNKNOWN_CUSTOMER),
    ],
    "order_items": [
        ("quantity", "not_positive", "quantity <= 0"),
        ("unit_price", "negative_amount", "unit_price < 0"),
        ("unit_price", "absurd_amount", "unit_price > $max_amount"),
    ],
    "carts": [
        ("status", "unknown_value", f"status not in {CART_STATUSES}"),
        ("value", "negative_amount", "value < 0"),
        ("value", "absurd_amount", "value > $max_amount"),
        ("currency", "unknown_currency", UNKNOWN_CURRENCY),
        ("customer_id", "unknown_customer", UNKNOWN_CUSTOMER),
    ],
    "fx_rates": [("rate_to_reporting", "not_positive", "rate_to_reporting <= 0")],
}


class SourceSchemaError(RuntimeError):
    """The source table cannot be extracted incrementally (no ``updated_at``)."""


class SourceUnavailableError(ConnectionError):
    """The shop database cannot be reached or read (down, wrong URL, missing table)."""


@dataclass
class TableDayResult:
    table: str
    day: str
    read: int
    accepted: int
    quarantined: int


def arrow_type(column) -> pa.DataType:
    kind = column.type
    if isinstance(kind, Boolean):
        return pa.bool_()
    if isinstance(kind, Integer):
        return pa.int64()
    if isinstance(kind, DateTime):
        return pa.timestamp("us")
    if isinstance(kind, Date):
        return pa.date32()
    if isinstance(kind, Numeric):
        return pa.decimal128(kind.precision, kind.scale)
    return pa.string()


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema([(c.name, arrow_type(c)) for c in table.columns])


def duckdb_type(column) -> str:
    kind = arrow_type(column)
    if pa.types.is_decimal(kind):
        return f"decimal({kind.precision}, {kind.scale})"
    return {pa.bool_(): "boolean", pa.int64(): "bigint", pa.timestamp("us"): "timestamp",
            pa.date32(): "date"}.get(kind, "varchar")  # fmt: skip


def read_window_as_text(engine, expected: Table, start: datetime, end: datetime):
    """The live table's rows updated in [start, end), every column as text.

    Returns (rows, extra columns, missing columns) against our schema.
    """
    live = Table(expected.name, MetaData(), autoload_with=engine)
    names = [c.name for c in live.columns]
    if "updated_at" not in names:
        raise SourceSchemaError(
            f"shop table {expected.name}: column updated_at is missing (columns: {', '.join(names)}); "
            "rows cannot be extracted by data interval"
        )
    # Compare as our DateTime whatever the live column's declared type, so bounds bind alike.
    updated_at = type_coerce(live.c.updated_at, expected.c.updated_at.type)
    keys = [live.c[c.name] for c in expected.primary_key.columns if c.name in live.c] or list(live.c)
    stmt = (
        select(*[cast(live.c[n], String).label(n) for n in names])
        .where(updated_at >= start, updated_at < end)
        .order_by(*keys, updated_at)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    text = pa.table({n: pa.array(col, pa.string()) for n, col in zip(names, columns, strict=True)})
    extra = [n for n in names if n not in expected.c]
    missing = [c.name for c in expected.columns if c.name not in live.c]
    return text, extra, missing


def _failure_sql(expected: Table, missing: list[str], limits: Limits) -> str:
    """A ``case`` giving [field, rule] for the first check a row fails, else null."""
    whens = [f"when true then ['{name}', 'column_missing']" for name in missing[:1]]
    for column in expected.columns:
        name = column.name
        if not column.nullable:
            whens.append(f"when raw.{name} is null then ['{name}', 'missing_required']")
        whens.append(f"when raw.{name} is not null and {name} is null then ['{name}', 'wrong_type']")
        if isinstance(column.type, DateTime | Date):
            whens.append(
                f"when {name} >= $interval_end + interval '{FUTURE_TOLERANCE}' "
                f"then ['{name}', 'after_interval_end']"
            )
        if isinstance(column.type, DateTime):  # not birthdays
            whens.append(f"when {name} < $shop_opened_on then ['{name}', 'before_shop_opened']")
    for field, rule, bad in TABLE_RULES.get(expected.name, []):
        bad = bad.replace("$max_amount", repr(limits.max_amount))
        whens.append(f"when {bad} then ['{field}', '{rule}']")
    keys = ", ".join(c.name for c in expected.primary_key.columns)
    whens.append(
        f"when row_number() over (partition by {keys}, updated_at order by source_line) > 1 "
        f"then ['{keys}', 'duplicate']"
    )
    return "case " + " ".join(whens) + " end"


def load_known_currencies(con: duckdb.DuckDBPyConnection, engine) -> None:
    """The currencies the shop has FX rates for, plus the reporting currency."""
    live = Table("fx_rates", MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        currencies = [row[0] for row in conn.execute(select(cast(live.c.currency, String)).distinct())]
    con.register("currencies", pa.table({"currency": pa.array(currencies, pa.string())}))
    con.execute(
        "create or replace temp table known_currencies as "
        f"select currency from currencies where currency is not null union select '{REPORTING_CURRENCY}'"
    )
    con.unregister("currencies")


def refresh_known_customers(con: duckdb.DuckDBPyConnection, raw_dir: Path) -> None:
    """Customers with an accepted row in the raw zone (this extract's included)."""
    if any((raw_dir / "customers").glob("dt=*/*.parquet")):
        source = f"read_parquet('{raw_dir / 'customers'}/dt=*/*.parquet', hive_partitioning = false)"
    else:
        source = "(select null::bigint as customer_id where false)"
    con.execute(f"create or replace temp view known_customers as select customer_id from {source}")


def check_table(
    con: duckdb.DuckDBPyConnection,
    expected: Table,
    text: pa.Table,
    missing: list[str],
    end: datetime,
    limits: Limits,
) -> tuple[pa.Table, pa.Table]:
    """Split one table's window into accepted rows (typed) and quarantined rows."""
    live_names = text.schema.names
    for name in missing:  # absent columns read as null; the row is quarantined for them
        text = text.append_column(name, pa.nulls(text.num_rows, pa.string()))
    # Position in the window's key order: the row's "line" in quarantine reports.
    text = text.append_column("source_line", pa.array(range(1, text.num_rows + 1), pa.int64()))
    con.register("source_rows", text)
    typed = ", ".join(f"try_cast(raw.{c.name} as {duckdb_type(c)}) as {c.name}" for c in expected.columns)
    live = ", ".join(f'"{n}" := "{n}"' for n in live_names)
    con.execute(
        f"""
        create or replace temp table checked as
        with numbered as (
            select source_line, to_json(struct_pack({live}))::varchar as raw_line, source_rows as raw
            from source_rows
        ),
        checked_rows as (
            select source_line, raw_line, raw, {typed} from numbered
        )
        select *, {_failure_sql(expected, missing, limits)} as failure from checked_rows
        """,
        {"interval_end": end, "shop_opened_on": limits.shop_opened_on},
    )
    columns = ", ".join(c.name for c in expected.columns)
    accepted = con.sql(f"select {columns} from checked where failure is null order by source_line")
    quarantined = con.sql(
        "select $file as source_file, source_line, failure[1] as field, failure[2] as rule, raw_line, "
        "try_cast(raw.updated_at as timestamp)::date as day from checked where failure is not null "
        "order by source_line",
        params={"file": f"shop:{expected.name}"},
    )
    result = accepted.to_arrow_table().cast(arrow_schema(expected)), quarantined.to_arrow_table()
    con.unregister("source_rows")
    return result


def extract_shop_tables(
    shop_db_url: str,
    raw_dir: Path,
    start: datetime,
    end: datetime,
    tables: list[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> list[TableDayResult]:
    """Land each table's changed rows as one Parquet partition per day, bad rows in the quarantine."""
    start, end = utc_naive(start), utc_naive(end)
    raw_dir = Path(raw_dir)
    engine = create_engine(shop_db_url)
    con = duckdb.connect()
    results: list[TableDayResult] = []
    try:
        load_known_currencies(con, engine)
        for name in [t for t in EXTRACT_ORDER if t in (tables or EXTRACT_ORDER)]:
            expected = SHOP_TABLES[name]
            refresh_known_customers(con, raw_dir)
            for chunk_start, chunk_end in _chunks(start, end):
                text, extra, missing = read_window_as_text(engine, expected, chunk_start, chunk_end)
                accepted, quarantined = check_table(con, expected, text, missing, chunk_end, limits)
                results += _write_days(
                    raw_dir, name, chunk_start, chunk_end, accepted, quarantined, extra, missing
                )
    except (OperationalError, InterfaceError, NoSuchTableError) as error:
        where = engine.url.render_as_string(hide_password=True)
        why = f"table {error} not found" if isinstance(error, NoSuchTableError) else error.orig or error
        raise SourceUnavailableError(f"shop database {where}: {why}") from error
    finally:
        con.close()
        engine.dispose()
    return results


def _chunks(start: datetime, end: datetime):
    """[start, end) in consecutive windows of at most CHUNK, split at midnight."""
    while start < end:
        day_start = datetime.combine(start.date(), datetime.min.time())
        chunk_end = min(end, day_start + CHUNK)
        yield start, chunk_end
        start = chunk_end


def _write_days(raw_dir, name, start, end, accepted, quarantined, extra, missing) -> list[TableDayResult]:
    accepted_day = accepted.column("updated_at").cast(pa.date32())
    quarantined_day = quarantined.column("day")
    results = []
    for day in days_in_interval(start, end):
        good = accepted.filter(pc.equal(accepted_day, pa.scalar(day, pa.date32())))
        bad = quarantined.filter(pc.equal(quarantined_day, pa.scalar(day, pa.date32())))
        write_partition(raw_dir, name, day, good)
        write_quarantine(raw_dir, name, day, bad)
        read = good.num_rows + bad.num_rows
        write_audit(raw_dir, name, day, read, good.num_rows, bad.num_rows, extra, missing)
        results.append(TableDayResult(name, day.isoformat(), read, good.num_rows, bad.num_rows))
    # Every row read belongs to exactly one day of the window.
    total_read = sum(r.read for r in results)
    if total_read != accepted.num_rows + quarantined.num_rows:
        raise AssertionError(f"shop table {name}: rows fell outside the window's days")
    return results
