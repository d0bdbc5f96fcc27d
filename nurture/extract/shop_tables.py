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

A window holds the rows whose ``updated_at`` is a UTC instant in [start, end), however
it is stored: PostgreSQL ``timestamp`` and ``timestamptz`` are compared as they are (the
session in UTC); SQLite text in any ISO-8601 form ('T' or space, with or without a
fraction, 'Z' or a +hh:mm offset) and epoch seconds stored as numbers are selected a
little wide in SQL and placed exactly in DuckDB. Every timestamp lands as naive UTC.

A table of OPTIONAL_TABLES the shop database does not have lands empty partitions (and
audit lines) for every day, as an empty table would; any other missing table is an error.

A row whose ``updated_at`` fits no window is quarantined once, by the first extract that
finds it, on that extract's last day; later extracts skip it while the quarantine holds it
for a day they do not rewrite. Those are null, and text or numbers off the shop's calendar
('yesterday', '0000-00-00', before the day before NURTURE_SHOP_OPENED_ON, from the year
3000 on); other text that does not read ('2025-13-45') is quarantined by the window it
sorts into. An updated_at that does not read is (updated_at, wrong_type), or
(updated_at, missing_required) when null.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    cast,
    create_engine,
    inspect,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, NoSuchTableError, OperationalError

from nurture.config import ORDER_STATUSES
from nurture.extract.limits import DEFAULT_LIMITS, FUTURE_TOLERANCE, Limits
from nurture.extract.raw_zone import (
    QUARANTINE,
    QUARANTINE_SCHEMA,
    days_in_interval,
    utc_naive,
    write_audit,
    write_partition,
    write_quarantine,
)
from nurture.shop_schema import SHOP_TABLES

log = logging.getLogger(__name__)

CHUNK = timedelta(days=7)
# The timestamps DuckDB reads: ISO-8601, UTC offsets below a day (the SQL's margin).
ISO_TIMESTAMP = (
    "[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?)?"
)
MAX_EPOCH = 253_402_300_800  # epoch seconds from 10000-01-01 on are no time
EPOCH = datetime(1970, 1, 1)
CALENDAR_END = datetime(3000, 1, 1)  # an updated_at from then on fits no window
TEXT_BOUND = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime on SQLite
SQLALCHEMY_LIKE = "____-__-__ __:__:__.______"  # the shape of TEXT_BOUND
SQLITE_KEY = "%Y-%m-%d %H:%M:%f"  # SQLite's own reading of a time, to the millisecond
# Customers land before orders and carts (UNKNOWN_CUSTOMER below). Known currencies come
# from the shop's fx_rates before any table is read (load_known_currencies).
EXTRACT_ORDER = ("customers", "fx_rates", "marketing_spend", "products", "orders", "order_items", "carts")
# Tables a shop database may not have, and what follows without them. Most shops keep
# their marketing spend in the ad platforms' accounts, not in the shop database: the
# extract then lands empty partitions (so staging builds, empty) instead of failing.
OPTIONAL_TABLES = {"marketing_spend": "no spend input; CAC and payback stay empty"}
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
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
    # No absurd_amount: a month's spend on a channel may well exceed NURTURE_MAX_AMOUNT.
    "marketing_spend": [
        ("spend", "negative_amount", "spend < 0"),
        ("currency", "unknown_currency", UNKNOWN_CURRENCY),
        ("spend_month", "not_month_start", "dayofmonth(spend_month) <> 1"),
    ],
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


@dataclass
class Window:
    """One window of a shop table as read, before its rows are typed and checked."""

    table: str
    rows: pa.Table  # the live table's columns as text, in key order
    # SQLite's reading of updated_at (UTC, to the millisecond) where it may differ from DuckDB's.
    reading: pa.Array
    unplaced: pa.Array  # true for a row read because its updated_at is off the shop's calendar
    exact: bool  # the database selected exactly [start, end), nothing left to place
    extra: list[str]
    missing: list[str]


def _epoch(moment: datetime) -> float:
    return (moment - EPOCH).total_seconds()


def _sqlite_time_as_text(column: str) -> str:
    """A SQLite timestamp as text; epoch seconds stored as a number as UTC text, to the microsecond."""
    micros = f"cast(round({column} * 1e6) as integer)"
    return (
        f"case when typeof({column}) in ('integer', 'real') and {column} >= 0 and {column} < {MAX_EPOCH} "
        f"then printf('%s.%06d', strftime('%Y-%m-%d %H:%M:%S', {micros} / 1000000, 'unixepoch'), "
        f"{micros} % 1000000) else cast({column} as text) end"
    )


def _sqlite_window(updated_at, reading, start: datetime, end: datetime):
    """A little more than the rows whose updated_at is in [start, end); DuckDB places them exactly.

    Indexed ranges first: a text starts with its local date, within a day of its UTC
    date, and a number is epoch seconds. Then the text's place among the bounds (how a
    text that does not read is placed), or SQLite's reading, rounded to the millisecond.
    """
    as_text, as_number = type_coerce(updated_at, String), type_coerce(updated_at, Float)
    ms = timedelta(milliseconds=1)
    near = or_(
        (as_text >= (start - timedelta(days=1)).date().isoformat())
        & (as_text < (end + timedelta(days=2)).date().isoformat()),
        (as_number >= _epoch(start) - 1) & (as_number < _epoch(end) + 1),
    )
    return (
        near
        & or_(  # cheapest first: most rows are text in SQLAlchemy's format
            (as_text >= start.strftime(TEXT_BOUND)) & (as_text < end.strftime(TEXT_BOUND)),
            (reading >= (start - ms).strftime(TEXT_BOUND)[:-3])
            & (reading <= (end + ms).strftime(TEXT_BOUND)[:-3]),
            reading.is_(None),
        )
    )


def _sqlite_selection(updated_at, quote, start: datetime, end: datetime, opened: datetime):
    """On SQLite: (SQLite's reading of updated_at, to send along; in the window; off the calendar)."""
    u = quote("updated_at")
    reading = (
        f"case when typeof({u}) in ('integer', 'real') then strftime('{SQLITE_KEY}', {u}, 'unixepoch') "
        f"when typeof({u}) = 'text' then strftime('{SQLITE_KEY}', {u}) end"
    )
    # Ranges of the updated_at index only (NULL < numbers < text < blob in SQLite). Off
    # the calendar, text sorts before the day before the opening (a timestamp there is
    # before the opening, whatever its offset) or from '3000-01-01' on (letters too).
    # Bounds that look like numbers would compare as numbers.
    number = f"typeof({u}) in ('integer', 'real')"
    nulls = f"{u} is null or " if updated_at.nullable else ""  # on NOT NULL, SQLite would scan
    text_floor = (opened.date() - timedelta(days=1)).isoformat()
    off_calendar = literal_column(
        f"({nulls}({number} and {u} < {_epoch(opened)}) "
        f"or ({number} and {u} >= {_epoch(CALENDAR_END)} and {u} <= 9e999) "
        f"or ({u} >= '' and {u} < '{text_floor}') or {u} >= '{CALENDAR_END.date().isoformat()}')"
    )
    # SQLAlchemy's format reads alike in SQLite and DuckDB: no need to send SQLite's reading.
    sent = literal_column(f"case when {u} like '{SQLALCHEMY_LIKE}' then null else {reading} end", String)
    return sent, _sqlite_window(updated_at, literal_column(reading, String), start, end), off_calendar


def read_window_as_text(
    engine,
    expected: Table,
    start: datetime,
    end: datetime,
    *,
    unplaced: bool = False,
    shop_opened_on: date = DEFAULT_LIMITS.shop_opened_on,
) -> Window:
    """The live table's rows updated in [start, end), every column as text.

    With ``unplaced``, also the rows whose updated_at is off the shop's calendar.
    """
    live = Table(expected.name, MetaData(), autoload_with=engine)
    names = [c.name for c in live.columns]
    if "updated_at" not in names:
        raise SourceSchemaError(
            f"shop table {expected.name}: column updated_at is missing (columns: {', '.join(names)}); "
            "rows cannot be extracted by data interval"
        )
    dialect, quote = engine.dialect.name, engine.dialect.identifier_preparer.quote
    updated_at, opened = live.c.updated_at, datetime.combine(shop_opened_on, time())
    columns = [cast(live.c[n], String).label(n) for n in names]
    keys = [live.c[c.name] for c in expected.primary_key.columns if c.name in live.c] or list(live.c)
    if dialect == "sqlite":  # a storage class per value: text in any form, or epoch numbers
        timestamps = [c.name for c in expected.columns if isinstance(c.type, DateTime)]
        columns = [
            literal_column(_sqlite_time_as_text(quote(n)), String).label(n) if n in timestamps else column
            for n, column in zip(names, columns, strict=True)
        ]
        reading, in_window, off_calendar = _sqlite_selection(updated_at, quote, start, end, opened)
        # '+key': sort what the index finds, rather than scan the whole table in key order.
        keys = [literal_column(f"+{quote(k.name)}") for k in keys]
    else:  # typed timestamps: the database compares them exactly
        reading = null()
        # Compare as our DateTime whatever the live column's declared type, so bounds bind alike.
        typed = type_coerce(updated_at, expected.c.updated_at.type)
        in_window = (typed >= start) & (typed < end)
        off_calendar = or_(updated_at.is_(None), typed < opened, typed >= CALENDAR_END)  # and infinity
    if start - timedelta(days=2) < opened or end + timedelta(days=2) > CALENDAR_END:
        in_window &= ~off_calendar  # left to the search for them; only a window at an edge sees any
    query = select(*columns, reading.label("sqlite_reading")).select_from(live)
    with engine.connect() as conn:
        if dialect == "postgresql":
            # timestamptz as UTC text, and naive bounds read as UTC, whatever the server's defaults.
            conn.exec_driver_sql("set time zone 'UTC'; set datestyle to 'ISO'")
        rows = conn.execute(query.where(in_window).order_by(*keys, updated_at)).all()
        found = conn.execute(query.where(off_calendar).order_by(*keys)).all() if unplaced else []
    read = rows + found
    values = list(zip(*read, strict=True)) if read else [[] for _ in range(len(names) + 1)]
    return Window(
        table=expected.name,
        rows=pa.table({n: pa.array(v, pa.string()) for n, v in zip(names, values, strict=False)}),
        reading=pa.array(values[-1], pa.string()),
        unplaced=pa.array([False] * len(rows) + [True] * len(found), pa.bool_()),
        exact=dialect != "sqlite",
        extra=[n for n in names if n not in expected.c],
        missing=[c.name for c in expected.columns if c.name not in live.c],
    )


def _integer(text: str) -> str:
    """An integer column's text as BIGINT: '34' and a float column's '34.0' read, '34.5'
    does not (a plain cast would round it)."""
    whole = f"try_cast({text} as decimal(38, 9))"
    return f"case when {whole} = trunc({whole}) then try_cast({whole} as bigint) end"


def _undeclared(window: Window, limits: Limits) -> list[str]:
    """The live table's missing columns that no setting declares absent (NURTURE_ABSENT_COLUMNS)."""
    absent = limits.absent_in(window.table)
    return [name for name in window.missing if name not in absent]


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


def _mapped_status(limits: Limits) -> str:
    """The order status in Nurture's terms: the shop's own statuses through NURTURE_STATUS_MAP
    (the raw line keeps the shop's word)."""
    whens = " ".join(f"when '{shop}' then '{ours}'" for shop, ours in limits.status_map)
    return f"case raw.status {whens} else raw.status end" if whens else "raw.status"


def load_known_currencies(con: duckdb.DuckDBPyConnection, engine, reporting_currency: str) -> None:
    """The currencies the shop has FX rates for, plus the reporting currency."""
    live = Table("fx_rates", MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        currencies = [row[0] for row in conn.execute(select(cast(live.c.currency, String)).distinct())]
    con.register("currencies", pa.table({"currency": pa.array(currencies, pa.string())}))
    con.execute(
        "create or replace temp table known_currencies as "
        f"select currency from currencies where currency is not null union select '{reporting_currency}'"
    )
    con.unregister("currencies")


def refresh_known_customers(con: duckdb.DuckDBPyConnection, raw_dir: Path) -> None:
    """Customers with an accepted row in the raw zone (this extract's included)."""
    if any((raw_dir / "customers").glob("dt=*/*.parquet")):
        source = f"read_parquet('{raw_dir / 'customers'}/dt=*/*.parquet', hive_partitioning = false)"
    else:
        source = "(select null::bigint as customer_id where false)"
    con.execute(f"create or replace temp view known_customers as select customer_id from {source}")


def define_utc_timestamp(con: duckdb.DuckDBPyConnection) -> None:
    """``utc_timestamp(text)``: an ISO-8601 timestamp as naive UTC, null when it does not read."""
    con.execute("set TimeZone = 'UTC'")  # text without an offset is UTC
    con.execute(
        "create or replace temp macro utc_timestamp(x) as coalesce("
        # SQLAlchemy's format (the generator's) first: three times faster than the regex.
        f"case when x like '{SQLALCHEMY_LIKE}' then try_strptime(x, '{TEXT_BOUND}') end, "
        f"case when regexp_full_match(x, '{ISO_TIMESTAMP}') then try_cast(x as timestamptz)::timestamp end)"
    )


def check_table(
    con: duckdb.DuckDBPyConnection,
    expected: Table,
    window: Window,
    start: datetime,
    end: datetime,
    limits: Limits,
    held: Sequence[str] = (),
) -> tuple[pa.Table, pa.Table]:
    """Place one window's rows, then split them into accepted rows (typed) and quarantined rows.

    ``held``: the raw lines the quarantine holds on days this extract does not rewrite;
    an unplaced row among them was quarantined by an earlier extract.
    """
    text = window.rows
    live_names = text.schema.names
    for name in window.missing:  # absent columns read as null; undeclared ones quarantine the row
        text = text.append_column(name, pa.nulls(text.num_rows, pa.string()))
    text = (
        text.append_column("_sqlite_reading", window.reading)
        .append_column("_unplaced", window.unplaced)
        .append_column("_read_order", pa.array(range(text.num_rows), pa.int64()))
    )
    days = list(days_in_interval(start, end))
    # A text that does not read lands on the day of the last midnight it sorts after.
    text_day = " + ".join(
        ["$first_day"]
        + [f"(updated_at >= '{datetime.combine(d, time()):{TEXT_BOUND}}')::int" for d in days[1:]]
    )
    define_utc_timestamp(con)
    con.register("source_rows", text)
    con.register("held_lines", pa.table({"raw_line": pa.array(list(held), pa.string())}))
    typed = ", ".join(
        "_updated_at as updated_at" if c.name == "updated_at"
        else f"utc_timestamp(raw.{c.name}) as {c.name}" if isinstance(c.type, DateTime)
        else f"{_mapped_status(limits)} as status" if (expected.name, c.name) == ("orders", "status")
        else f"{_integer(f'raw.{c.name}')} as {c.name}" if isinstance(c.type, Integer)
        else f"try_cast(raw.{c.name} as {duckdb_type(c)}) as {c.name}"
        for c in expected.columns
    )  # fmt: skip
    live = ", ".join(f'"{n}" := "{n}"' for n in live_names)
    # updated_at is read by DuckDB, unless SQLite read the text as another time (then
    # it is unreadable, and both selected it: they place it by its text).
    con.execute(
        f"""
        create or replace temp table checked as
        with source as (
            select *, source_rows as raw, to_json(struct_pack({live}))::varchar as raw_line,
                case when _sqlite_reading is null or abs(epoch_us(utc_timestamp(updated_at))
                    - epoch_us(try_cast(_sqlite_reading as timestamp))) <= 1000
                then utc_timestamp(updated_at) end as _updated_at
            from source_rows
        ),
        placed as (
            select *, case
                when _unplaced then $last_day
                when _updated_at is not null then _updated_at::date
                else {text_day}
            end as _day
            from source
            where case
                when _unplaced then raw_line not in (select raw_line from held_lines)
                when $exact then true
                when _updated_at is not null then _updated_at >= $start and _updated_at < $end
                else updated_at >= $start_text and updated_at < $end_text
            end
        ),
        checked_rows as (
            select row_number() over (order by _read_order) as source_line, raw_line, raw, _day, {typed}
            from placed
        )
        select *, {_failure_sql(expected, _undeclared(window, limits), limits)} as failure from checked_rows
        """,
        {
            "interval_end": end, "shop_opened_on": limits.shop_opened_on, "exact": window.exact,
            "start": start, "end": end, "start_text": start.strftime(TEXT_BOUND),
            "end_text": end.strftime(TEXT_BOUND), "first_day": days[0], "last_day": days[-1],
        },
    )  # fmt: skip
    columns = ", ".join(c.name for c in expected.columns)
    accepted = con.sql(f"select {columns} from checked where failure is null order by source_line")
    quarantined = con.sql(
        "select $file as source_file, source_line, failure[1] as field, failure[2] as rule, raw_line, "
        "_day as day from checked where failure is not null order by source_line",
        params={"file": f"shop:{expected.name}"},
    )
    result = accepted.to_arrow_table().cast(arrow_schema(expected)), quarantined.to_arrow_table()
    for name in ("source_rows", "held_lines"):
        con.unregister(name)
    return result


def held_in_quarantine(raw_dir: Path, name: str, start: datetime, end: datetime) -> list[str]:
    """The raw lines of ``name`` the quarantine holds on days outside [start, end)."""
    rewritten = {f"dt={day.isoformat()}" for day in days_in_interval(start, end)}
    files = sorted((raw_dir / QUARANTINE / name).glob("dt=*/*.parquet"))
    lines = [pq.read_table(f, columns=["raw_line"]) for f in files if f.parent.name not in rewritten]
    return pa.concat_tables(lines).column("raw_line").to_pylist() if lines else []


def shop_engine(shop_db_url: str):
    """The shop's engine; ``postgresql://`` means psycopg2, the driver installed (not psycopg)."""
    url = make_url(shop_db_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")
    return create_engine(url)


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
    engine = shop_engine(shop_db_url)
    con = duckdb.connect()
    results: list[TableDayResult] = []
    try:
        load_known_currencies(con, engine, limits.reporting_currency)
        for name in [t for t in EXTRACT_ORDER if t in (tables or EXTRACT_ORDER)]:
            expected = SHOP_TABLES[name]
            if name in OPTIONAL_TABLES and not inspect(engine).has_table(name):
                log.info("shop table %s not found: %s", name, OPTIONAL_TABLES[name])
                results += _write_days(raw_dir, name, start, end, *_no_rows(expected), [], [])
                continue
            refresh_known_customers(con, raw_dir)
            for chunk_start, chunk_end in _chunks(start, end):
                # Rows off the calendar are looked for once, with the last chunk.
                window = read_window_as_text(
                    engine,
                    expected,
                    chunk_start,
                    chunk_end,
                    unplaced=chunk_end == end,
                    shop_opened_on=limits.shop_opened_on,
                )
                held = []
                if pc.any(window.unplaced).as_py():
                    held = held_in_quarantine(raw_dir, name, start, end)
                checked = check_table(con, expected, window, chunk_start, chunk_end, limits, held)
                results += _write_days(
                    raw_dir, name, chunk_start, chunk_end, *checked, window.extra, _undeclared(window, limits)
                )
    except (OperationalError, InterfaceError, NoSuchTableError) as error:
        where = engine.url.render_as_string(hide_password=True)
        why = f"table {error} not found" if isinstance(error, NoSuchTableError) else error.orig or error
        raise SourceUnavailableError(f"shop database {where}: {why}") from error
    finally:
        con.close()
        engine.dispose()
    return results


def _no_rows(expected: Table) -> tuple[pa.Table, pa.Table]:
    """No accepted and no quarantined rows, as ``check_table`` gives them for an empty window."""
    quarantined = QUARANTINE_SCHEMA.append(pa.field("day", pa.date32()))
    return arrow_schema(expected).empty_table(), quarantined.empty_table()


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
