"""Extract the engagement logs: one gzipped JSON-lines file per day.

Python only splits the file into lines (finding bad bytes and a gzip stream
cut short); DuckDB parses and validates the JSON in SQL. Every line ends up
accepted or quarantined with its file, line number, field and rule:
lines read = lines accepted + lines quarantined.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from nurture.extract.limits import DEFAULT_LIMITS, FUTURE_TOLERANCE, Limits
from nurture.extract.raw_zone import (
    QUARANTINE_SCHEMA,
    RowsLostError,
    days_in_interval,
    utc_naive,
    write_audit,
    write_partition,
    write_quarantine,
)

LOG_NAME = "events-{day}.jsonl.gz"
EVENT_TYPES = (
    "email_sent", "email_opened", "email_clicked", "email_bounced", "unsubscribed",
    "sms_bounced", "push_token_invalid",
    "session_started", "page_viewed", "cart_updated", "push_opened", "survey_answered",
    "support_ticket_opened", "support_ticket_resolved",
)  # fmt: skip
EVENTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("customer_id", pa.int64()),
        ("occurred_at", pa.timestamp("us")),
        ("campaign", pa.string()),
        ("properties", pa.string()),
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
    ]
)


class SourceMissingError(FileNotFoundError):
    """A day's log file is not there: the source is down or late."""


@dataclass
class LogDayResult:
    day: str
    read: int
    accepted: int
    quarantined: int


def _gunzip(raw: bytes) -> tuple[bytes, bool]:
    """Decompress all gzip members; returns (data, truncated)."""
    out, rest = [], raw
    while rest:
        d = zlib.decompressobj(wbits=31)
        try:
            out.append(d.decompress(rest))
        except zlib.error:
            return b"".join(out), True
        if not d.eof:
            return b"".join(out), True
        rest = d.unused_data
    return b"".join(out), False


def split_lines(path: Path) -> tuple[pa.Table, list[dict]]:
    """Lines of a log file as (line number, text), plus rows for the quarantine."""
    data, truncated = _gunzip(path.read_bytes())
    chunks = data.split(b"\n")
    if chunks and chunks[-1] == b"":
        chunks.pop()
    rejects: list[dict] = []
    if truncated and chunks:
        # The last line of a stream cut short is incomplete: never trust it.
        rejects.append(_reject(path, len(chunks), "*", "truncated_file", chunks.pop()))
    numbers, lines = [], []
    for number, chunk in enumerate(chunks, start=1):
        try:
            lines.append(chunk.decode("utf-8"))
            numbers.append(number)
        except UnicodeDecodeError:
            rejects.append(_reject(path, number, "*", "invalid_utf8", chunk))
    table = pa.table({"source_line": pa.array(numbers, pa.int64()), "line": pa.array(lines, pa.string())})
    return table, rejects


def _reject(path: Path, number: int, field: str, rule: str, raw: bytes) -> dict:
    return {
        "source_file": path.name,
        "source_line": number,
        "field": field,
        "rule": rule,
        "raw_line": raw.decode("utf-8", errors="backslashreplace"),
    }


# Each rule names the field it checks; the first failing rule is the reason.
VALIDATE_SQL = """
with parsed as (
    select source_line, line, json_valid(line) as is_json,
        case when json_valid(line) then line::json end as j
    from lines
),
fields as (
    select *,
        j->>'event_id' as event_id,
        j->>'event_type' as event_type,
        try_cast(j->>'customer_id' as bigint) as customer_id,
        try_strptime(j->>'timestamp', ['%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%dT%H:%M:%S.%fZ']) as occurred_at,
        j->>'campaign' as campaign,
        j->'properties'->>'nps' as nps_text,
        coalesce((j->'properties')::varchar, '{}') as properties
    from parsed
),
checked as (
    select *,
        case
            when not is_json then ['*', 'malformed_json']
            when json_type(j) <> 'OBJECT' then ['*', 'not_an_object']
            when event_id is null or event_id = '' then ['event_id', 'missing_required']
            when event_type is null then ['event_type', 'missing_required']
            when event_type not in $event_types then ['event_type', 'unknown_event_type']
            when j->>'customer_id' is null then ['customer_id', 'missing_required']
            when customer_id is null then ['customer_id', 'wrong_type']
            when j->>'timestamp' is null then ['timestamp', 'missing_required']
            when occurred_at is null then ['timestamp', 'wrong_type']
            when occurred_at >= $interval_end + interval '{FUTURE_TOLERANCE}'
                then ['timestamp', 'after_interval_end']
            when occurred_at < $shop_opened_on then ['timestamp', 'before_shop_opened']
            when event_type = 'survey_answered' and nps_text is null
                then ['properties.nps', 'missing_required']
            when event_type = 'survey_answered' and try_cast(nps_text as integer) is null
                then ['properties.nps', 'wrong_type']
            when event_type = 'survey_answered' and try_cast(nps_text as integer) not between 0 and 10
                then ['properties.nps', 'out_of_range']
            when row_number() over (partition by event_id order by source_line) > 1
                then ['event_id', 'duplicate']
        end as failure
    from fields
)
select * exclude (j, nps_text) from checked order by source_line
"""


def validate_lines(
    con: duckdb.DuckDBPyConnection,
    lines: pa.Table,
    file_name: str,
    interval_end: datetime,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[pa.Table, pa.Table]:
    """Split a file's lines into accepted events and quarantined rows (SQL in DuckDB)."""
    con.register("lines", lines)
    sql = VALIDATE_SQL.replace("$event_types", str(EVENT_TYPES)).replace(
        "{FUTURE_TOLERANCE}", FUTURE_TOLERANCE
    )
    con.execute(
        f"create or replace temp table checked as {sql}",
        {"interval_end": interval_end, "shop_opened_on": limits.shop_opened_on},
    )
    params = {"file": file_name}
    accepted = con.sql(
        "select event_id, event_type, customer_id, occurred_at, campaign, properties, "
        "$file as source_file, source_line from checked where failure is null order by source_line",
        params=params,
    ).to_arrow_table()
    quarantined = con.sql(
        "select $file as source_file, source_line, failure[1] as field, failure[2] as rule, "
        "line as raw_line from checked where failure is not null order by source_line",
        params=params,
    ).to_arrow_table()
    con.unregister("lines")
    return accepted.cast(EVENTS_SCHEMA), quarantined.cast(QUARANTINE_SCHEMA)


def check_log_file(
    con: duckdb.DuckDBPyConnection, path: Path, interval_end: datetime, limits: Limits = DEFAULT_LIMITS
) -> tuple[pa.Table, pa.Table, int]:
    """Accepted events, quarantined lines and lines read for one log file.

    Raises if a line went missing: read must equal accepted + quarantined.
    """
    lines, rejects = split_lines(path)
    accepted, quarantined = validate_lines(con, lines, path.name, utc_naive(interval_end), limits)
    quarantined = pa.concat_tables([pa.Table.from_pylist(rejects, QUARANTINE_SCHEMA), quarantined])
    read = lines.num_rows + len(rejects)
    if accepted.num_rows + quarantined.num_rows != read:
        raise RowsLostError(f"{path.name}: lines read != accepted + quarantined")
    return accepted, quarantined, read


def log_file_day(path: Path) -> date:
    """The day a log file holds, from its name (events-YYYY-MM-DD.jsonl.gz)."""
    try:
        return date.fromisoformat(path.name.removeprefix("events-").removesuffix(".jsonl.gz"))
    except ValueError:
        raise ValueError(f"{path}: not a daily log file name (expected events-YYYY-MM-DD.jsonl.gz)") from None


def extract_event_logs(
    log_dir: Path | None, raw_dir: Path, start: datetime, end: datetime, limits: Limits = DEFAULT_LIMITS
) -> list[LogDayResult]:
    """Land each day's log file in the raw zone; rejected lines go to the quarantine.

    ``log_dir`` None: the shop has no event source; each day gets an empty partition
    (extracted, nothing happened), so every model reading events works and is empty.
    """
    results = []
    con = duckdb.connect()
    for day in days_in_interval(start, end):
        if log_dir is None:
            write_partition(raw_dir, "events", day, EVENTS_SCHEMA.empty_table())
            write_quarantine(raw_dir, "events", day, QUARANTINE_SCHEMA.empty_table())
            write_audit(raw_dir, "events", day, 0, 0, 0)
            results.append(LogDayResult(day.isoformat(), 0, 0, 0))
            continue
        path = log_dir / LOG_NAME.format(day=day.isoformat())
        if not path.exists():
            raise SourceMissingError(
                f"engagement log for {day} not found: {path} "
                "(is the log shipper late? re-run the day once the file is there)"
            )
        accepted, quarantined, read = check_log_file(con, path, end, limits)
        write_partition(raw_dir, "events", day, accepted)
        write_quarantine(raw_dir, "events", day, quarantined)
        write_audit(raw_dir, "events", day, read, accepted.num_rows, quarantined.num_rows)
        results.append(LogDayResult(day.isoformat(), read, accepted.num_rows, quarantined.num_rows))
    con.close()
    return results
