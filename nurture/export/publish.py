"""Publish one segment to one destination from its staged rows.

Reads ``_staging/dt=<stamp>/<segment>.parquet`` (never the warehouse), maps the
destination's fields, diffs against the destination's last successful snapshot
(added / removed / changed), hands the result to the destination's writer, and
only then saves the new snapshot. A crash before the end leaves the previous
snapshot in place, so the next try computes the same delta. The target's sync-log
entry is written on success and on failure alike, with what really went out.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from nurture.connections import MissingConnectionError, http_endpoint
from nurture.export.config import Destination, ExportConfig
from nurture.export.destination_types import DESTINATION_TYPES, Send
from nurture.export.fields import FORMATS, select_list
from nurture.export.http_push import PushResult
from nurture.export.slot import RunSlot
from nurture.export.stage import read_plan, staged_path
from nurture.export.state import previous_members, save_members, write_sync_log

log = logging.getLogger(__name__)
SUPPRESSION_REASONS = ("no_consent", "holdout", "duplicate", "frequency_cap")


@dataclass(frozen=True)
class Delta:
    rows: pa.Table  # the full snapshot, mapped, ordered by key
    added: pa.Table
    removed: pa.Table  # keys only
    changed: pa.Table
    members: pa.Table  # (customer_id, row_hash) to save on success


# An ad platform's customer-match file: SHA-256 of the normalised email and E.164 phone.
HASHED_FIELDS = {
    "email_sha256": "sha256(lower(trim({email})))",
    "phone_sha256": "sha256(" + FORMATS["e164"].format(col="{phone}") + ")",
}


def _hashed_select(columns: list[str]) -> str:
    parts = []
    for name, template in HASHED_FIELDS.items():
        source = name.removesuffix("_sha256")
        expression = template.format(**{source: f'"{source}"'}) if source in columns else "null"
        parts.append(f"{expression}::varchar as {name}")
    return ", ".join(parts)


def compute_delta(staged: Path, destination: Destination, key: str, previous: Path | None) -> Delta:
    """Map the destination's fields and diff against its previous snapshot, in DuckDB.

    A removal names the key, or for a hashed audience the hashed email (no raw ids
    or PII leave for an ad platform): the snapshot keeps it as ``identity``.
    """
    hashed = DESTINATION_TYPES[destination.type].hashes_identities
    with duckdb.connect() as con:
        con.execute(f"create view staged as select * from read_parquet('{staged}')")
        columns = list(con.sql("select * from staged").columns)
        fields = _hashed_select(columns) if hashed else select_list(destination.fields, columns)
        con.execute(
            f'create table mapped as select "{key}"::bigint as __key, {fields} from staged order by 1'
        )
        identity = "email_sha256" if hashed else "null::varchar"
        con.execute(
            "create table current as select __key as customer_id, "
            f"md5(to_json(mapped)::varchar) as row_hash, {identity} as identity from mapped"
        )
        if previous:
            con.execute(f"create table previous as select * from read_parquet('{previous}')")
        else:
            con.execute("create table previous (customer_id bigint, row_hash varchar, identity varchar)")
        rows = con.sql("select * exclude (__key) from mapped order by __key").to_arrow_table()
        added = con.sql(
            "select m.* exclude (__key) from mapped m anti join previous p on p.customer_id = m.__key "
            "order by m.__key"
        ).to_arrow_table()
        changed = con.sql(
            "select m.* exclude (__key) from mapped m join current c on c.customer_id = m.__key "
            "join previous p on p.customer_id = m.__key where p.row_hash <> c.row_hash order by m.__key"
        ).to_arrow_table()
        removed_key = "identity as email_sha256" if hashed else "customer_id"
        removed = con.sql(
            f"select {removed_key} from previous anti join current using (customer_id) order by customer_id"
        ).to_arrow_table()
        members = con.sql("select * from current order by customer_id").to_arrow_table()
    return Delta(rows, added, removed, changed, members)


def _figures(progress: PushResult, due: int) -> dict:
    """The sync log's delivery figures; ``failed``: rows due that the destination did not get."""
    return {
        "sent": progress.sent_rows,
        "confirmed_earlier": progress.skipped_rows,
        "failed": due - progress.sent_rows - progress.skipped_rows,
        "batches_sent": progress.sent_batches,
        "batches_confirmed_earlier": progress.skipped_batches,
        **{f"retries_{cause}": count for cause, count in progress.retries_by_cause.items()},
    }


def _entry(
    run_id: str, slot: RunSlot, segment: str, destination: Destination, plan: dict, delta: Delta
) -> dict:
    """The target's sync-log entry before anything is sent (every figure zero)."""
    allocation = plan["allocation"].get(segment, {})
    return {
        "run_id": run_id,
        "logical_date": slot.day.isoformat(),
        "run_hour": slot.hour,
        "segment": segment,
        "destination": destination.name,
        "considered": sum(allocation.values()),
        **{f"suppressed_{reason}": allocation.get(reason, 0) for reason in SUPPRESSION_REASONS},
        "included": delta.rows.num_rows,
        "added": delta.added.num_rows,
        "removed": delta.removed.num_rows,
        "changed": delta.changed.num_rows,
        **_figures(PushResult(), 0),
        "status": "success",
        "size_warning": plan.get("size_warnings", {}).get(segment),
    }


def _manifest(entry: dict, data_interval_end: datetime, previous: Path | None, delta: Delta) -> dict:
    """What a file export's ``manifest.json`` says besides its files."""
    return {
        **{k: entry[k] for k in ("segment", "destination", "logical_date", "run_hour")},
        "data_interval_end": data_interval_end.isoformat(),
        "run_id": entry["run_id"],
        "delta_against": previous.stem.removeprefix("dt=") if previous else None,
        "columns": [{"name": f.name, "type": str(f.type)} for f in delta.rows.schema],
    }


def _record(exports_dir: Path, slot: RunSlot, entry: dict, started: float) -> dict:
    entry["duration_s"] = round(time.perf_counter() - started, 3)
    write_sync_log(exports_dir, slot, entry)
    return entry


def publish_target(
    exports_dir: Path,
    config: ExportConfig,
    segment: str,
    destination_name: str,
    run: date | RunSlot,
    run_id: str,
    data_interval_end: datetime,
    key: str = "customer_id",
    dry_run: bool = False,
    staging_root: Path | None = None,
    endpoint: tuple[str, str] | None = None,
    max_retries: int | None = None,
) -> dict:
    """Publish one segment to one destination; returns (and records) its sync-log entry.

    The entry is recorded whatever happens: on a failure it says what went out before
    it (then the error propagates). An HTTP destination without a connection is
    recorded as ``no_connection`` before anything is written, and raises
    :class:`MissingConnectionError`. ``max_retries`` overrides the destination's own.
    """
    started = time.perf_counter()
    slot = RunSlot.of(run)
    destination = config.destinations[destination_name]
    if max_retries is not None:  # the caller knows the platform failed already in this run
        destination = replace(destination, max_retries=max_retries)
    plan = read_plan(staging_root or exports_dir, slot)
    staged = staged_path(staging_root or exports_dir, slot, segment)
    previous = previous_members(exports_dir, destination.name, segment, slot)
    delta = compute_delta(staged, destination, key, previous)
    entry = _entry(run_id, slot, segment, destination, plan, delta)
    if dry_run:
        return entry | {"status": "dry_run"}
    kind = DESTINATION_TYPES[destination.type]
    due = kind.rows_due(delta)
    if kind.needs_connection and endpoint is None:
        try:
            endpoint = http_endpoint(
                destination.connection, f"Publishing {segment!r} to HTTP destination {destination.name!r}"
            )
        except MissingConnectionError:
            _record(exports_dir, slot, entry | {"status": "no_connection", "failed": due}, started)
            raise
    manifest = _manifest(entry, data_interval_end, previous, delta)
    progress = PushResult()  # filled in as rows go out, so a failure's entry is true too
    try:
        kind.send(Send(exports_dir, destination, segment, slot, delta, manifest, endpoint, progress))
    except Exception:
        _record(exports_dir, slot, entry | _figures(progress, due) | {"status": "failed"}, started)
        raise
    save_members(exports_dir, destination.name, segment, slot, delta.members)
    entry = _record(exports_dir, slot, entry | _figures(progress, due), started)
    log.info("published %s to %s: %s", segment, destination.name, entry)
    return entry
