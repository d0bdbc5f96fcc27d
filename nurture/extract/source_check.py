"""Check the shop database and the engagement logs before the first extract.

``check_source(settings)`` inspects what the extract will read and reports, per
table, the facts (columns, how timestamps are stored, keys, rows per month, the
values the extract's rules reject) and a verdict for each finding:

- ``ok``: nothing to do;
- ``warn``: the extract runs, but some rows are quarantined, misplaced or ignored;
- ``blocker``: the extract fails, loses rows or quarantines them wholesale: fix it
  (or the setting named) first.

Counting happens in SQL on the shop database (SQLite or PostgreSQL), so a large
shop is checked without reading its rows into Python. The verdicts follow what
``nurture.extract.shop_tables`` and ``nurture.extract.event_logs`` do with the
data; the log sample is validated with the extract's own SQL.
"""

from __future__ import annotations

import re
import textwrap
import warnings
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.compute as pc
from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Numeric, String, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.types import NullType, TypeEngine

from nurture.config import Settings
from nurture.extract.event_logs import LOG_NAME, log_file_day, split_lines, validate_lines
from nurture.extract.limits import Limits
from nurture.extract.shop_tables import (
    CART_STATUSES,
    EXTRACT_ORDER,
    MAX_EPOCH,
    OPTIONAL_TABLES,
    ORDER_STATUSES,
    shop_engine,
)
from nurture.shop_schema import SHOP_TABLES

WIDTH = 80  # lines() fits an 80-column terminal or CI log
# Tables a shop may leave empty, and what follows (a rate a currency lacks is its own finding).
OPTIONAL_DATA = {
    "carts": "no cart data, so the abandoned-cart segment stays empty",
    "fx_rates": "amounts in other currencies than the reporting one would need rates",
    "marketing_spend": OPTIONAL_TABLES["marketing_spend"],
}
SHAPES = 20  # distinct timestamp text shapes looked at per column
LOG_SAMPLE_FILES = 5  # log files sampled, spread over the days
LOG_SAMPLE_LINES = 200  # lines validated per sampled file
LOG_FILE = re.compile("^" + re.escape(LOG_NAME).replace(re.escape("{day}"), r"\d{4}-\d{2}-\d{2}") + "$")
# Usual names of the three order statuses the marts know, for NURTURE_STATUS_MAP.
STATUS_SYNONYMS = {
    "paid": ("complete", "completed", "shipped", "delivered", "fulfilled", "captured", "settled"),
    "refunded": ("refund", "returned", "partially_refunded", "chargeback"),
    "cancelled": ("canceled", "void", "voided", "failed", "declined", "expired", "abandoned"),
}
TEXT_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:(?P<sep>[ T])\d{2}:\d{2}(?P<sec>:\d{2}(?:\.(?P<frac>\d+))?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?$"
)


@dataclass
class Finding:
    """One thing checked: the facts in one sentence, a verdict, and what to do about it."""

    check: str  # e.g. "columns", "timestamps updated_at", "primary key"
    verdict: str  # ok / warn / blocker
    message: str
    fix: str = ""


@dataclass
class TimestampFacts:
    column: str
    sql_type: str  # as the database declares it
    storage: str  # "text" (and other SQLite storage classes), "native" or what it is instead
    formats: dict[str, int]  # text format (e.g. "YYYY-MM-DD HH:MM:SS.ffffff") -> values
    nulls: int
    unparsed: int  # values the extract cannot read as a timestamp
    earliest: str | None  # 'YYYY-MM-DD HH:MM:SS' (UTC where the value says)
    latest: str | None


@dataclass
class MonthlyRows:
    """Rows per month of ``updated_at``, in brief."""

    first: str
    last: str
    months: int  # months with rows
    empty_months: int  # months without rows between first and last
    fewest: int
    fewest_month: str
    most: int
    most_month: str


@dataclass
class TableFindings:
    table: str
    present: bool
    rows: int | None = None
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    timestamps: list[TimestampFacts] = field(default_factory=list)
    duplicate_keys: int | None = None
    monthly: MonthlyRows | None = None
    earliest_updated_at: str | None = None
    latest_updated_at: str | None = None
    statuses: dict[str, int] = field(default_factory=dict)  # orders and carts: status -> rows
    unknown_statuses: dict[str, int] = field(default_factory=dict)
    unknown_customers: int | None = None  # orders and carts: rows whose customer is not in customers
    currencies: dict[str, int] = field(default_factory=dict)  # currency -> rows
    unknown_currencies: dict[str, int] = field(default_factory=dict)  # without FX rates
    findings: list[Finding] = field(default_factory=list)


@dataclass
class LogFindings:
    log_dir: str
    present: bool
    files: int = 0
    first_day: str | None = None
    last_day: str | None = None
    missing_days: list[str] = field(default_factory=list)  # ranges: "2025-02-03" or "a .. b"
    missing_day_count: int = 0
    other_files: int = 0  # files not named events-YYYY-MM-DD.jsonl.gz: not read
    sampled_lines: int = 0
    rejected_lines: int = 0
    rejects: dict[str, int] = field(default_factory=dict)  # "rule (field)" -> lines
    earliest_event: str | None = None  # in the sample
    findings: list[Finding] = field(default_factory=list)


@dataclass
class SourceReport:
    database: str  # the shop database URL, password hidden
    tables: list[TableFindings]
    logs: LogFindings
    suggestions: dict[str, str]  # setting name -> value
    suggestion_reasons: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)  # the database as a whole
    # The first extract must start here: a row last updated before the start is never extracted.
    extract_from: str | None = None

    def _all(self) -> list[tuple[str, Finding]]:
        found = [("shop database", f) for f in self.findings]
        found += [(t.table, f) for t in self.tables for f in t.findings]
        return found + [("logs", f) for f in self.logs.findings]

    def blockers(self) -> list[str]:
        """One sentence per blocker; non-empty means: fix these before extracting."""
        return [_sentence(where, f) for where, f in self._all() if f.verdict == "blocker"]

    def warnings(self) -> list[str]:
        return [_sentence(where, f) for where, f in self._all() if f.verdict == "warn"]

    def lines(self) -> list[str]:
        """The report as plain text, every line at most 80 characters, nothing cut."""
        out = _wrap(f"Shop database: {self.database}", "", "  ")
        for finding in self.findings:
            out += _finding_lines(finding)
        for table in self.tables:
            rows = f" ({table.rows} row{_s(table.rows)})" if table.rows is not None else ""
            out += ["", *_wrap(f"{table.table}{rows}", "", "  ")]
            for finding in table.findings:
                out += _finding_lines(finding)
        out += ["", *_wrap(f"Engagement logs: {self.logs.log_dir}", "", "  ")]
        for finding in self.logs.findings:
            out += _finding_lines(finding)
        if self.suggestions:
            out += ["", "Suggested settings:"]
            for name, value in self.suggestions.items():
                out += _wrap(f"{name}={value}", "  ", "    ")
                if reason := self.suggestion_reasons.get(name):
                    out += _wrap(reason, "    ", "    ")
        if self.extract_from:
            out += ["", *_wrap(
                f"Load the history from {self.extract_from} (the earliest updated_at): "
                f"nurture extract --start {self.extract_from} --end <tomorrow>. A row last "
                "updated before the start is never extracted.",
                "", "  ",
            )]  # fmt: skip
        blockers, warns = self.blockers(), self.warnings()
        verdict = "fix the blockers before extracting" if blockers else "ready to extract"
        result = f"Result: {len(blockers)} blocker{_s(blockers)}, {len(warns)} warning{_s(warns)}: {verdict}."
        out += ["", *_wrap(result, "", "  ")]
        return out

    def as_dict(self) -> dict:
        """Everything, JSON-serialisable (for ``--json``)."""
        data = asdict(self)
        data["blockers"] = self.blockers()
        data["warnings"] = self.warnings()
        return data


def _sentence(where: str, finding: Finding) -> str:
    return f"{where}, {finding.check}: {finding.message}" + (f"; fix: {finding.fix}" if finding.fix else "")


def _wrap(line: str, first: str, rest: str) -> list[str]:
    # Long words (paths, URLs) are broken across lines, never cut.
    return textwrap.wrap(
        line, WIDTH, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    ) or [first.rstrip()]


def _finding_lines(finding: Finding) -> list[str]:
    out = _wrap(f"{finding.check}: {finding.message}", f"  {finding.verdict:<8} ", " " * 11)
    if finding.fix:
        out += _wrap(f"fix: {finding.fix}", " " * 11, " " * 13)
    return out


# --- the shop database --------------------------------------------------------------


def check_source(settings: Settings) -> SourceReport:
    """Inspect the configured shop database and log folder; nothing is written."""
    valid = _valid_url(settings.shop_db_url)  # an invalid one is not echoed: it may hold a password
    database = make_url(settings.shop_db_url).render_as_string(hide_password=True) if valid else "(not a URL)"
    report = SourceReport(database=database, tables=[], logs=check_logs(settings), suggestions={})
    problem = _unreachable(settings.shop_db_url)
    if problem:
        report.findings.append(Finding("connection", "blocker", problem, "set NURTURE_SHOP_DB_URL"))
    else:
        engine = shop_engine(settings.shop_db_url)
        try:
            with engine.connect() as conn:
                report.tables = [_check_table(conn, name, settings) for name in EXTRACT_ORDER]
                try:
                    _check_relations(conn, report, settings.reporting_currency)
                except SQLAlchemyError as error:  # report it, keep the rest
                    conn.rollback()
                    report.findings.append(
                        Finding("checks across tables", "warn", f"stopped: {_short(error)}", "check by hand")
                    )
        except SQLAlchemyError as error:
            report.findings.append(Finding("connection", "blocker", f"cannot read it: {_short(error)}"))
        finally:
            engine.dispose()
    _suggest(report, settings)
    return report


def _valid_url(url: str) -> bool:
    try:
        make_url(url)
        return True
    except ArgumentError:
        return False


def _unreachable(url: str) -> str | None:
    """Why the database cannot be opened, or None. Never creates a SQLite file."""
    if not _valid_url(url):
        return "NURTURE_SHOP_DB_URL is not a SQLAlchemy URL (dialect+driver://user:password@host/db)"
    parsed = make_url(url)
    local = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if local and "uri" not in parsed.query and not Path(parsed.database).is_file():
        return f"no SQLite file at {parsed.database}"
    try:
        engine = shop_engine(url)
    except (ArgumentError, ImportError) as error:
        return f"cannot use this URL: {error}"
    try:
        with engine.connect():
            return None
    except SQLAlchemyError as error:
        return f"cannot connect: {_short(error)}"
    finally:
        engine.dispose()


def _short(error: Exception) -> str:
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


class _Table:
    """SQL for one live shop table on its dialect."""

    def __init__(self, conn: Connection, name: str, columns: dict[str, TypeEngine]):
        self.conn, self.columns = conn, columns
        self.dialect = conn.dialect.name
        self.quote = conn.dialect.identifier_preparer.quote
        self.name = self.quote(name)

    def one(self, sql: str, **params):
        return self.conn.execute(text(sql), params).one()

    def all(self, sql: str, **params) -> list:
        return self.conn.execute(text(sql), params).all()

    def type_name(self, column: str) -> str:
        """The column's type as the database spells it, e.g. TIMESTAMP WITH TIME ZONE."""
        try:
            return self.columns[column].compile(dialect=self.conn.dialect)
        except Exception:  # NullType and friends do not compile
            return str(self.columns[column])

    def storage(self, column: str) -> str:
        kind = self.columns[column]
        if self.dialect == "sqlite":
            return "sqlite"  # SQLite keeps a storage class per value, whatever the declared type
        if isinstance(kind, DateTime):
            return "timestamptz" if kind.timezone else "native"
        if isinstance(kind, Date):
            return "date"
        if isinstance(kind, String | NullType):
            return "text"
        return "other"

    def parsed(self, column: str) -> str:
        """The column as 'YYYY-MM-DD HH:MM:SS' text, null where the extract cannot read it."""
        c, storage = self.quote(column), self.storage(column)
        if storage == "sqlite":
            # ISO-8601 text in any form, or epoch seconds stored as a number (what the extract
            # reads); a day past the 28th must exist ('2025-02-30' does not survive '+0 days').
            return (
                f"(case when typeof({c}) in ('integer', 'real') and {c} >= 0 and {c} < {MAX_EPOCH} "
                f"then datetime({c}, 'unixepoch') "
                f"when typeof({c}) = 'text' and (substr({c}, 9, 2) < '29' "
                f"or date(substr({c}, 1, 10), '+0 days') = substr({c}, 1, 10)) then datetime({c}) end)"
            )
        if storage == "native":
            return f"to_char({c}, 'YYYY-MM-DD HH24:MI:SS')"
        if storage == "timestamptz":
            return f"to_char({c} at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
        if storage == "date":
            return f"(to_char({c}, 'YYYY-MM-DD') || ' 00:00:00')"
        if storage == "text" and self.dialect == "postgresql":
            pattern = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$"
            return (
                f"(case when {c} ~ '{pattern}' then substr(replace({c}, 'T', ' ') || ' 00:00:00', 1, 19) end)"
            )
        return "cast(null as varchar(19))"

    @property
    def fence(self) -> str:
        """Appended to a subquery so that it is computed once per row, not inlined."""
        return {"sqlite": " limit -1", "postgresql": " offset 0"}.get(self.dialect, "")


def _check_table(conn: Connection, name: str, settings: Settings) -> TableFindings:
    found = TableFindings(table=name, present=False)
    with warnings.catch_warnings():  # an unknown column type reflects as NullType, with a warning
        warnings.simplefilter("ignore")
        inspector = inspect(conn)
        if not inspector.has_table(name):
            if name in OPTIONAL_TABLES:  # the extract lands it empty: a fact, not a problem
                absent = f"not found (optional): {OPTIONAL_TABLES[name]}"
                found.findings.append(Finding("table", "ok", absent))
            else:
                why = f"the extract reads every shop table: create {name}"
                found.findings.append(Finding("table", "blocker", "missing", why))
            return found
        live = {c["name"]: c["type"] for c in inspector.get_columns(name)}
    found.present = True
    table = _Table(conn, name, live)
    try:
        found.rows = table.one(f"select count(*) from {table.name}")[0]
    except SQLAlchemyError as error:
        conn.rollback()
        found.findings.append(Finding("table", "blocker", f"cannot be read: {_short(error)}"))
        return found
    try:
        _check_columns(table, found, settings)
    except SQLAlchemyError as error:  # a check's query failed: report it, check the rest
        conn.rollback()
        found.findings.append(Finding("checks", "warn", f"stopped: {_short(error)}", "check by hand"))
    return found


def _check_columns(table: _Table, found: TableFindings, settings: Settings) -> None:
    expected, live, name = SHOP_TABLES[found.table], table.columns, found.table
    found.missing_columns = [c.name for c in expected.columns if c.name not in live]
    found.extra_columns = [c for c in live if c not in expected.c]
    found.findings.append(_columns_finding(expected, found, settings))
    types = _type_finding(expected, table)
    if types:
        found.findings.append(types)
    opened = _check_timestamps(table, found, settings.shop_opened_on)
    found.findings.append(_rows_finding(table, found))
    keys = [c.name for c in expected.primary_key.columns]
    if all(k in live for k in keys):
        found.findings.append(_key_finding(table, keys, found))
    if opened:
        found.findings.append(opened)
    if "status" in live and name in ("orders", "carts"):
        found.findings.append(_status_finding(table, found))
    if "spend_month" in live and name == "marketing_spend" and found.rows:
        found.findings.append(_month_start_finding(table))


def _columns_finding(expected, found: TableFindings, settings: Settings) -> Finding:
    declared = Limits.from_settings(settings).absent_in(found.table)
    required = [c for c in found.missing_columns if not expected.c[c].nullable]
    optional = [c for c in found.missing_columns if expected.c[c].nullable and c not in declared]
    absent = [c for c in found.missing_columns if c in declared]
    parts = []
    if required:
        parts.append(f"required column{_s(required)} {', '.join(required)} missing")
    if optional:
        parts.append(f"optional column{_s(optional)} {', '.join(optional)} missing")
    if absent:
        parts.append(f"{', '.join(absent)} absent as declared (NURTURE_ABSENT_COLUMNS): read as empty")
    if not parts:
        parts.append(f"all {len(expected.columns)} expected columns present")
    if found.extra_columns:
        parts.append(f"extra (ignored): {', '.join(found.extra_columns)}")
    if not (required or optional):
        return Finding("columns", "ok", "; ".join(parts))
    # The extract quarantines every row of a table missing a column no setting declares
    # absent (shop_tables._failure_sql: column_missing): a blocker.
    if "updated_at" in found.missing_columns:  # shop_tables.SourceSchemaError
        parts.append("without updated_at the extract cannot select rows by day: it stops")
    else:
        parts.append("the extract quarantines every row (column_missing)")
    fix = f"add {', '.join(required)} (every row needs a value)" if required else ""
    if optional:
        named = ",".join(f"{found.table}.{c}" for c in optional)
        fix += ("; " if fix else "") + f"set NURTURE_ABSENT_COLUMNS={named} (read as empty) or add them"
    return Finding("columns", "blocker", "; ".join(parts), fix)


def _s(count) -> str:
    """Plural ending for a count or a list."""
    return "" if (count if isinstance(count, int) else len(count)) == 1 else "s"


def _type_problem(expected: TypeEngine, live: TypeEngine, dialect: str) -> bool:
    """True when the live column's declared type would not hold the expected values as such."""
    sqlite = dialect == "sqlite"
    if isinstance(live, NullType):
        return not sqlite  # SQLite columns need no declared type
    if isinstance(expected, Boolean):
        return not isinstance(live, Boolean | Integer)  # SQLite keeps booleans as 0/1
    if isinstance(expected, Integer):
        return not (isinstance(live, Integer) or (isinstance(live, Numeric) and live.scale == 0))
    if isinstance(expected, Numeric):  # a float column (REAL, DOUBLE) holds amounts as read text too
        return not isinstance(live, Numeric | Float | Integer)
    if isinstance(expected, Date | DateTime):  # text is SQLite's date storage
        return not (isinstance(live, type(expected)) or (sqlite and isinstance(live, String)))
    return not isinstance(live, String)


def _whole_floats(expected: TypeEngine, table: _Table, column: str) -> bool:
    """An integer column kept as floats (pandas writes a nullable integer so) whose every
    value is whole: the extract reads each as its integer."""
    if not (isinstance(expected, Integer) and isinstance(table.columns[column], Float)):
        return False
    c = table.quote(column)
    return table.one(f"select count(*) from {table.name} where {c} <> round({c})")[0] == 0


def _type_finding(expected, table: _Table) -> Finding | None:
    wrong = [
        f"{c.name} is {table.type_name(c.name)} (expected {c.type})"
        for c in expected.columns
        if c.name in table.columns
        and not isinstance(c.type, DateTime)  # timestamps: their own finding
        and _type_problem(c.type, table.columns[c.name], table.dialect)
        and not _whole_floats(c.type, table, c.name)
    ]
    if not wrong:
        return None
    return Finding(
        "column types",
        "warn",
        "; ".join(wrong),
        "values that do not convert to the expected type are quarantined (wrong_type)",
    )


def _check_timestamps(table: _Table, found: TableFindings, opened: date) -> Finding | None:
    """Facts and a finding per DateTime column, counted in one scan of the table.

    Returns the finding on rows with a timestamp before NURTURE_SHOP_OPENED_ON.
    """
    expected = SHOP_TABLES[found.table].columns
    columns = [c for c in expected if isinstance(c.type, DateTime) and c.name in table.columns]
    if not columns:
        return None
    # Each value is parsed once, in a subquery the aggregates read (the fence keeps the
    # database from inlining the parse into every aggregate).
    inner = ", ".join(
        f"{table.quote(c.name)} as c{i}, {table.parsed(c.name)} as p{i}" for i, c in enumerate(columns)
    )
    aggregates = []
    for i in range(len(columns)):
        aggregates += [
            f"count(*) - count(c{i})",
            f"sum(case when c{i} is not null and p{i} is null then 1 else 0 end)",
            f"min(p{i})",
            f"max(p{i})",
            f"sum(case when p{i} < :opened then 1 else 0 end)",
        ]
    before_any = " or ".join(f"p{i} < :opened" for i in range(len(columns)))
    aggregates.append(f"sum(case when {before_any} then 1 else 0 end)")
    values = table.one(
        f"select {', '.join(aggregates)} from (select {inner} from {table.name}{table.fence}) s",
        opened=opened.isoformat(),
    )
    before: dict[str, int] = {}
    for i, column in enumerate(columns):
        nulls, unparsed, earliest, latest, early = values[i * 5 : i * 5 + 5]
        stats = TimestampFacts(column.name, "", "", {}, nulls, unparsed or 0, earliest, latest)
        facts, finding = _timestamp_finding(table, column, found.rows, stats)
        found.timestamps.append(facts)
        found.findings.append(finding)
        before[column.name] = early or 0
    rows = values[-1] or 0
    if not rows:
        return Finding("shop opened", "ok", f"no timestamp before {opened} (NURTURE_SHOP_OPENED_ON)")
    which = ", ".join(f"{c} {n}" for c, n in before.items() if n)
    return Finding(
        "shop opened",
        "blocker",
        f"{rows} row{_s(rows)} with a timestamp before NURTURE_SHOP_OPENED_ON={opened} ({which}) "
        "would be quarantined",
        "set NURTURE_SHOP_OPENED_ON to the earliest day (see the suggestions), or correct those rows",
    )


def _timestamp_finding(
    table: _Table, column, rows: int, facts: TimestampFacts
) -> tuple[TimestampFacts, Finding]:
    """Completes the counted facts with the type and text formats; judges them."""
    name, storage = column.name, table.storage(column.name)
    nulls, unparsed, earliest, latest = facts.nulls, facts.unparsed, facts.earliest, facts.latest
    c = table.quote(name)
    # Formats: one example per shape (length and tell-tale characters), named in Python.
    formats: dict[str, int] = {}
    kinds: set[str] = set()
    if storage in ("sqlite", "text"):
        kind = f"typeof({c})" if storage == "sqlite" else "'text'"
        shape = ", ".join(
            [kind, f"length({c})"]
            + [f"substr({c}, {at}, 1)" for at in ("11", "20", f"length({c}) - 5", f"length({c})")]
        )
        for value_kind, *_shape, values, example in table.all(
            f"select {shape}, count(*), min({c}) from {table.name} where {c} is not null "
            f"group by 1, 2, 3, 4, 5, 6 order by 7 desc limit {SHAPES}"
        ):
            label = _format_label(value_kind, str(example))
            formats[label] = formats.get(label, 0) + values
            kinds.add(value_kind)
    sql_type = facts.sql_type = table.type_name(name)
    described = {"native": "native", "timestamptz": "native", "date": "native date"}.get(storage, storage)
    if storage == "sqlite":  # a storage class per value
        described = " and ".join(sorted(kinds)) or "text"
    facts.storage, facts.formats = described, formats

    store = "store UTC as 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's SQLite format)"
    if table.dialect != "sqlite":
        store = "store UTC in a timestamp column"
    issues: list[tuple[str, str, str]] = []  # (verdict, fact, fix)
    if unparsed:
        lost = "never extracted" if name == "updated_at" else "quarantined (wrong_type)"
        verdict = "blocker" if name == "updated_at" else "warn"
        issues.append((verdict, f"their rows are {lost}", store))
    if nulls and not column.nullable:
        lost = "never extracted" if name == "updated_at" else "quarantined (missing_required)"
        issues.append(("warn", f"rows without it are {lost}", f"fill {name}"))
    # Any ISO-8601 text ('T' or space, with or without a fraction, 'Z' or an offset), epoch
    # numbers and timestamptz in any session zone are read as UTC instants by the extract.
    if storage == "text" and table.dialect == "postgresql" and name == "updated_at":
        issues.append(
            ("blocker", "PostgreSQL cannot compare text with the extract's window bounds", store)
        )  # fmt: skip

    stored = f"{sql_type}, " + (described if described.startswith("native") else f"stored as {described}")
    if formats:
        stored += ": " + ", ".join(f"{label} ({count})" for label, count in formats.items())
    parts = [stored, f"{nulls} null{_s(nulls)}" if nulls else "no nulls"]
    parts.append(f"{unparsed} do not parse" if unparsed else "all parse" if rows else "no values")
    if earliest:
        parts.append(f"{earliest} .. {latest}")
    parts += [fact for _, fact, _ in issues]
    verdict = max((v for v, _, _ in issues), key=("ok", "warn", "blocker").index, default="ok")
    fixes = "; ".join(dict.fromkeys(fix for _, _, fix in issues))  # each fix once, in order
    return facts, Finding(f"timestamps {name}", verdict, "; ".join(parts), fixes)


def _format_label(kind: str, example: str) -> str:
    """A value's storage format, e.g. 'YYYY-MM-DDTHH:MM:SSZ' or 'integer (epoch?)'."""
    if kind in ("integer", "real"):
        return f"{kind} (epoch?)"
    if kind != "text":
        return kind
    match = TEXT_TIMESTAMP.match(example)
    if not match:
        if not example.strip():
            return "empty text"
        if example.strip().isdigit():
            return "text digits (epoch?)"
        return f'other text, e.g. "{example[:30]}"'
    label = "YYYY-MM-DD"
    if match["sep"]:
        label += ("T" if match["sep"] == "T" else " ") + "HH:MM"
        if match["sec"]:
            label += ":SS" + ("." + "f" * len(match["frac"]) if match["frac"] else "")
    tz = match["tz"] or ""
    if tz == "Z":
        label += "Z"
    elif tz:
        label += "+hh:mm" if ":" in tz else "+hhmm" if len(tz) == 5 else "+hh"
    return label


def _rows_finding(table: _Table, found: TableFindings) -> Finding:
    if not found.rows and found.table in OPTIONAL_DATA:  # a shop may keep none: not a problem
        return Finding("rows", "ok", f"empty: {OPTIONAL_DATA[found.table]}")
    if not found.rows:
        return Finding("rows", "warn", "the table is empty", "nothing to extract from it yet")
    parts = [f"{found.rows} row{_s(found.rows)}"]
    stamps = {t.column: t for t in found.timestamps}
    if "updated_at" in stamps and stamps["updated_at"].earliest:
        updated = stamps["updated_at"]
        found.earliest_updated_at, found.latest_updated_at = updated.earliest, updated.latest
        parts.append(f"updated {updated.earliest} .. {updated.latest}")
        parsed = table.parsed("updated_at")
        months = table.all(
            f"select substr(p, 1, 7), count(*) from (select {parsed} as p from {table.name}{table.fence}) s "
            "where p is not null group by 1 order by 1"
        )
        monthly = _monthly(months)
        found.monthly = monthly
        gaps = f", {monthly.empty_months} empty between" if monthly.empty_months else ""
        if monthly.months == 1:
            parts.append(f"all in {monthly.first}")
        else:
            parts.append(
                f"{monthly.months} months {monthly.first} .. {monthly.last}{gaps}, {monthly.fewest} "
                f"({monthly.fewest_month}) to {monthly.most} ({monthly.most_month}) rows a month"
            )
    return Finding("rows", "ok", "; ".join(parts))


def _monthly(months: list) -> MonthlyRows:
    counts = {month: n for month, n in months}
    fewest = min(counts, key=lambda m: (counts[m], m))
    most = max(counts, key=lambda m: (counts[m], m))
    first, last = min(counts), max(counts)
    span = (int(last[:4]) - int(first[:4])) * 12 + int(last[5:7]) - int(first[5:7]) + 1
    empty = span - len(counts)
    return MonthlyRows(first, last, len(counts), empty, counts[fewest], fewest, counts[most], most)


def _key_finding(table: _Table, keys: list[str], found: TableFindings) -> Finding:
    columns = ", ".join(table.quote(k) for k in keys)
    dupes, extra = table.one(
        f"select count(*), coalesce(sum(n), 0) from (select count(*) as n from {table.name} "
        f"group by {columns} having count(*) > 1) d"
    )
    found.duplicate_keys = dupes
    label = f"primary key {', '.join(keys)}"
    if not dupes:
        return Finding(label, "ok", "unique")
    example = table.all(f"select {columns} from {table.name} group by {columns} having count(*) > 1 limit 1")
    shown = ", ".join(f"{k}={v}" for k, v in zip(keys, example[0], strict=True))
    return Finding(
        label,
        "blocker",
        f"{dupes} key{_s(dupes)} on {extra} rows, e.g. {shown}",
        "make the key unique: staging keeps one row per key (the latest updated_at), and the "
        "extract quarantines a second row with the same updated_at",
    )


def _status_finding(table: _Table, found: TableFindings) -> Finding:
    known = ORDER_STATUSES if found.table == "orders" else CART_STATUSES
    counts = table.all(
        f"select {table.quote('status')}, count(*) from {table.name} group by 1 order by 2 desc limit 50"
    )
    found.statuses = {_key(status): n for status, n in counts}
    found.unknown_statuses = {status: n for status, n in found.statuses.items() if status not in known}
    seen = ", ".join(f"{status} {n}" for status, n in found.statuses.items()) or "none"
    if not found.unknown_statuses:
        return Finding("statuses", "ok", seen)
    names = ", ".join(f"{status} ({n} row{_s(n)})" for status, n in found.unknown_statuses.items())
    mapped = "; map them with NURTURE_STATUS_MAP (see the suggestions)" if found.table == "orders" else ""
    return Finding(
        "statuses",
        "warn",
        f"{names} not one of {', '.join(known)}; all: {seen}",
        f"rows with another status are quarantined (unknown_value){mapped}",
    )


def _month_start_finding(table: _Table) -> Finding:
    """marketing_spend: a spend_month that is not the first day of a month (not_month_start)."""
    parsed = table.parsed("spend_month")
    off, example = table.one(
        f"select count(*), min(p) from (select {parsed} as p from {table.name}{table.fence}) s "
        "where substr(p, 9, 2) <> '01'"
    )
    if not off:
        return Finding("spend months", "ok", "every spend_month is the first day of its month")
    return Finding(
        "spend months",
        "warn",
        f"{off} row{_s(off)} whose spend_month is not the first day of a month, e.g. {example[:10]}",
        "these rows are quarantined (not_month_start): date each month's spend on its first day",
    )


def _key(value) -> str:
    """A grouped value as a JSON object key."""
    return "(null)" if value is None else str(value)


def _check_relations(conn: Connection, report: SourceReport, reporting_currency: str) -> None:
    """Checks across tables: customers of orders and carts, currencies without FX rates."""
    tables = {t.table: t for t in report.tables}

    def usable(name: str, *columns: str) -> bool:
        t = tables[name]
        return t.present and not any(c in t.missing_columns for c in columns)

    quote = conn.dialect.identifier_preparer.quote
    for name in ("orders", "carts"):
        if usable(name, "customer_id") and usable("customers", "customer_id"):
            orphans, customers = conn.execute(
                text(
                    f"select count(*), count(distinct o.customer_id) from {quote(name)} o "
                    "where not exists (select 1 from customers c where c.customer_id = o.customer_id)"
                )
            ).one()
            tables[name].unknown_customers = orphans
            message = "every customer_id is in customers"
            if orphans:
                message = (
                    f"{orphans} row{_s(orphans)} whose customer is not in customers "
                    f"({customers} customer_id{_s(customers)})"
                )
            tables[name].findings.append(
                Finding("customers", "warn" if orphans else "ok", message,
                        f"these {name} are quarantined (unknown_customer)" if orphans else "")
            )  # fmt: skip
    if not usable("fx_rates", "currency"):
        return
    rated = {row[0] for row in conn.execute(text("select distinct currency from fx_rates")) if row[0]}
    for name in ("products", "orders", "carts", "marketing_spend"):
        if not usable(name, "currency"):
            continue
        counts = conn.execute(
            text(f"select currency, count(*) from {quote(name)} group by currency order by 2 desc limit 50")
        ).all()
        found = tables[name]
        found.currencies = {_key(c): n for c, n in counts}
        found.unknown_currencies = {
            _key(c): n for c, n in counts if c is not None and c != reporting_currency and c not in rated
        }
        seen = ", ".join(f"{c} {n}" for c, n in found.currencies.items()) or "none"
        if not found.unknown_currencies:
            found.findings.append(Finding("currencies", "ok", f"{seen}; all known"))
            continue
        missing = ", ".join(f"{c} ({n} row{_s(n)})" for c, n in found.unknown_currencies.items())
        # Every row in currencies without rates: the extract would quarantine the whole table.
        every_row = sum(found.unknown_currencies.values()) == sum(found.currencies.values())
        fix = "add their daily rates to fx_rates; until then these rows are quarantined (unknown_currency)"
        if len(found.currencies) == 1 and not rated:
            fix = f"set NURTURE_REPORTING_CURRENCY={next(iter(found.currencies))} (one currency, no rates)"
        found.findings.append(
            Finding(
                "currencies",
                "blocker" if every_row else "warn",
                f"{missing} without rates in fx_rates (and not the reporting currency "
                f"{reporting_currency}, NURTURE_REPORTING_CURRENCY); all: {seen}",
                fix,
            )
        )


# --- the engagement logs --------------------------------------------------------------


def check_logs(settings: Settings) -> LogFindings:
    """Log folder, files per day, and a sample of lines validated by the extract's own SQL."""
    log_dir = Path(settings.log_dir)
    source = getattr(settings, "event_source", "logs")
    found = LogFindings(log_dir=str(log_dir), present=log_dir.is_dir())
    if not found.present:
        found.findings.append(_no_logs(f"no folder {log_dir}", source))
        return found
    days: dict[date, Path] = {}
    for path in log_dir.iterdir():
        if path.is_file() and LOG_FILE.match(path.name):
            try:
                days[log_file_day(path)] = path
            except ValueError:  # events-2025-13-01...: not a day
                found.other_files += 1
        else:
            found.other_files += 1
    ignored = f"; {found.other_files} other file{_s(found.other_files)} ignored" if found.other_files else ""
    if not days:
        found.findings.append(_no_logs(f"no file named events-YYYY-MM-DD.jsonl.gz{ignored}", source))
        return found
    ordered = sorted(days)
    found.files, found.first_day, found.last_day = len(days), ordered[0].isoformat(), ordered[-1].isoformat()
    missing = [
        ordered[0] + timedelta(days=i)
        for i in range((ordered[-1] - ordered[0]).days + 1)
        if ordered[0] + timedelta(days=i) not in days
    ]
    found.missing_day_count, found.missing_days = len(missing), _ranges(missing)
    summary = f"{found.files} daily files {found.first_day} .. {found.last_day}{ignored}"
    if missing:
        shown = ", ".join(found.missing_days[:5]) + (", ..." if len(found.missing_days) > 5 else "")
        found.findings.append(
            Finding(
                "files",
                "warn",
                f"{summary}; {len(missing)} day{_s(missing)} missing: {shown}",
                "the extract stops at a missing day: ship it, or an empty events-DAY.jsonl.gz for a "
                "day without events",
            )
        )
    else:
        found.findings.append(Finding("files", "ok", f"{summary}; no day missing"))
    found.findings.append(_sample_lines([days[d] for d in _spread(ordered)], found, settings))
    return found


def _no_logs(what: str, source: str) -> Finding:
    if source == "none":
        return Finding("folder", "ok", f"{what}; NURTURE_EVENT_SOURCE=none: logs are not read")
    return Finding(
        "folder",
        "warn",
        f"{what}: no engagement data",
        "for an orders-only shop set NURTURE_EVENT_SOURCE=none, else set NURTURE_LOG_DIR",
    )


def _ranges(days: list[date]) -> list[str]:
    """Consecutive days as 'first .. last'."""
    out: list[list[date]] = []
    for day in days:
        if out and day - out[-1][1] == timedelta(days=1):
            out[-1][1] = day
        else:
            out.append([day, day])
    return [a.isoformat() if a == b else f"{a} .. {b}" for a, b in out]


def _spread(days: list[date]) -> list[date]:
    if len(days) <= LOG_SAMPLE_FILES:
        return days
    step = (len(days) - 1) / (LOG_SAMPLE_FILES - 1)
    return sorted({days[round(i * step)] for i in range(LOG_SAMPLE_FILES)})


def _sample_lines(paths: list[Path], found: LogFindings, settings: Settings) -> Finding:
    # Validated as that day's run would, except the shop-opened rule, compared below.
    limits = Limits(shop_opened_on=date(1, 1, 1), max_amount=settings.max_amount)
    earliest = None
    with duckdb.connect() as con:
        for path in paths:
            try:
                lines, rejects = split_lines(path)  # bad bytes, a gzip stream cut short
            except OSError as error:  # unreadable: that day's extract would fail on it too
                key = f"unreadable file ({error.strerror or error})"
                found.rejects[key] = found.rejects.get(key, 0) + 1
                continue
            lines = lines.slice(0, LOG_SAMPLE_LINES)
            day = log_file_day(path)
            end = datetime.combine(day + timedelta(days=1), datetime.min.time())
            accepted, quarantined = validate_lines(con, lines, path.name, end, limits)
            found.sampled_lines += lines.num_rows + len(rejects)
            reasons = [(r["rule"], r["field"]) for r in rejects]
            rules, fields = quarantined.column("rule").to_pylist(), quarantined.column("field").to_pylist()
            reasons += zip(rules, fields, strict=True)
            for rule, field_name in reasons:
                key = f"{rule} ({field_name})"
                found.rejects[key] = found.rejects.get(key, 0) + 1
            first = pc.min(accepted.column("occurred_at")).as_py()
            if first is not None and (earliest is None or first < earliest):
                earliest = first
    found.rejected_lines = sum(found.rejects.values())
    found.earliest_event = earliest.isoformat(sep=" ") if earliest else None
    early = bool(earliest) and earliest.date() < settings.shop_opened_on
    facts = f"{found.sampled_lines} lines sampled from {len(paths)} file{_s(paths)}"
    if found.earliest_event:
        facts += f", earliest event {found.earliest_event}"
    if not found.rejected_lines and not early:
        return Finding("lines", "ok", f"{facts}; all valid")
    problems = [f"{n} {why}" for why, n in sorted(found.rejects.items(), key=lambda kv: -kv[1])]
    if early:
        problems.append(f"events before NURTURE_SHOP_OPENED_ON={settings.shop_opened_on}")
    share = found.rejected_lines / max(found.sampled_lines, 1)
    # The quality gate's error budget: above it (and past the free rows) a day's run is blocked.
    over = share > settings.max_quarantine_share and found.rejected_lines > settings.quarantine_free_rows
    return Finding(
        "lines",
        "blocker" if over else "warn",
        f"{facts}; rejected: {', '.join(problems)}",
        "rejected lines are quarantined"
        + (f"; {share:.0%} is above the error budget, which blocks the daily runs" if over else ""),
    )


# --- suggestions -----------------------------------------------------------------------


def _suggest(report: SourceReport, settings: Settings) -> None:
    tables = {t.table: t for t in report.tables}
    stamps = [s for t in report.tables for s in t.timestamps]
    orders = tables.get("orders")
    if orders:
        ordered = {s.column: s for s in orders.timestamps}
        stamps_first = [ordered[c].earliest for c in ("ordered_at", "updated_at") if c in ordered]
        first = next((day for day in stamps_first if day), None)  # ordered_at, else updated_at
        if first:
            report.suggestions["NURTURE_START_DATE"] = f"{first[:7]}-01"
            report.suggestion_reasons["NURTURE_START_DATE"] = (
                "the first day of the earliest month with orders: where the monthly metrics start"
            )
    earliest = [s.earliest[:10] for s in stamps if s.earliest]
    if report.logs.earliest_event:
        earliest.append(report.logs.earliest_event[:10])
    if earliest:
        day = min(earliest)
        report.suggestions["NURTURE_SHOP_OPENED_ON"] = day
        before = date.fromisoformat(day) < settings.shop_opened_on
        report.suggestion_reasons["NURTURE_SHOP_OPENED_ON"] = "the earliest timestamp's day" + (
            f": before the configured {settings.shop_opened_on}, whose earlier rows are quarantined"
            if before
            else f" (configured: {settings.shop_opened_on})"
        )
    currencies = {c for t in report.tables for c in t.currencies}
    if len(currencies) == 1 and not (tables.get("fx_rates") and tables["fx_rates"].rows):
        # One currency and no rates: it is the reporting currency.
        [only] = currencies
        report.suggestions["NURTURE_REPORTING_CURRENCY"] = only
        report.suggestion_reasons["NURTURE_REPORTING_CURRENCY"] = "the shop's only currency (no fx_rates)"
    has_logs = report.logs.files > 0
    report.suggestions["NURTURE_EVENT_SOURCE"] = "logs" if has_logs else "none"
    report.suggestion_reasons["NURTURE_EVENT_SOURCE"] = (
        "daily log files found" if has_logs else "no log files: an orders-only shop"
    )
    unknown = list(orders.unknown_statuses) if orders else []
    if unknown:
        report.suggestions["NURTURE_STATUS_MAP"] = ",".join(f"{s}={_status_guess(s)}" for s in unknown)
        report.suggestion_reasons["NURTURE_STATUS_MAP"] = (
            f"maps the shop's order statuses to {', '.join(ORDER_STATUSES)}; a guess from their names"
            + ("; replace each ? with one of them" if any(_status_guess(s) == "?" for s in unknown) else "")
        )
    optional = [(t.table, c) for t in report.tables for c in t.missing_columns]
    absent = sorted(f"{table}.{c}" for table, c in optional if SHOP_TABLES[table].c[c].nullable)
    if absent:
        report.suggestions["NURTURE_ABSENT_COLUMNS"] = ",".join(absent)
        report.suggestion_reasons["NURTURE_ABSENT_COLUMNS"] = "optional columns the shop does not have"
    updated = [t.earliest_updated_at[:10] for t in report.tables if t.earliest_updated_at]
    report.extract_from = min(updated) if updated else None


def _status_guess(status: str) -> str:
    plain = status.strip().lower()
    for target, names in STATUS_SYNONYMS.items():
        if plain == target or plain in names:
            return target
    return "?"
