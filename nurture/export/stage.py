"""Stage a run's exports: allocate, check, and freeze each segment's rows to Parquet.

This is the one export step that opens the warehouse. It allocates every
segment's candidates (``allocation.py``), keeps the included rows, applies the
audience-size guard, runs the export suite on exactly the rows that will be
published, and writes ``<exports>/_staging/dt=<stamp>/<segment>.parquet`` plus
``plan.json`` (the segment × destination targets, and each segment's allocation
counts). The publishing tasks then read only those files. A run is a day, or an
hour of a day for the hourly refresh (``slot.py``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from datetime import date
from functools import partial
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from nurture.atomic import replace_file
from nurture.config import Settings
from nurture.export.allocation import ALLOCATIONS, CHANNELS, allocate
from nurture.export.config import ExportConfig, SizeGuard
from nurture.export.segments import Segment, discover_segments
from nurture.export.slot import ORDER_SQL, RunSlot, order_value, this_run_sql
from nurture.warehouse.queries import mirror_marts, mirror_schema, model_relation
from nurture.warehouse.transform import manifest_path

log = logging.getLogger(__name__)
AUDIENCE = "dim_customer_audience"  # consent, addresses and suppressions per customer


@dataclass
class Plan:
    slot: RunSlot
    targets: list[dict] = field(default_factory=list)  # {"segment", "destination"}
    allocation: dict[str, dict[str, int]] = field(default_factory=dict)  # segment -> status -> rows
    held_back: dict[str, str] = field(default_factory=dict)  # segment -> why (size guard)
    size_warnings: dict[str, str] = field(default_factory=dict)


def staging_dir(exports_dir: Path, run: date | RunSlot) -> Path:
    return exports_dir / "_staging" / f"dt={RunSlot.of(run).stamp}"


def staged_path(exports_dir: Path, run: date | RunSlot, segment: str) -> Path:
    return staging_dir(exports_dir, run) / f"{segment}.parquet"


def _included_sql(segment: Segment, slot: RunSlot) -> str:
    return f"""
        select s.* from {segment.relation} as s
        semi join (select * from {ALLOCATIONS} where {this_run_sql(slot)}) as a
            on a.customer_id = s."{segment.key}" and a.segment = '{segment.name}'
            and a.status = 'included'
        order by s."{segment.key}"
    """


def _check_frame(con, segment: Segment, audience: str, slot: RunSlot) -> pd.DataFrame:
    """The included rows as the export suite sees them: key, channel consent, address."""
    consent, address, _ = CHANNELS[segment.channel]
    contact = f"a.{address}"
    return con.sql(f"""
        select s."{segment.key}" as customer_id, coalesce(a.{consent}, false) as has_channel_consent,
            {contact} as contact,
            count(*) over () * 1.0 / (select count(*) from {audience}) as audience_share
        from ({_included_sql(segment, slot)}) as s
        left join {audience} as a on a.customer_id = s."{segment.key}"
        order by 1
    """).df()


def _size_change(con, segment: Segment, slot: RunSlot) -> tuple[int, int | None]:
    """(rows included at this run, rows included at the segment's previous run or None)."""
    query = f"""
        with runs as (
            select {ORDER_SQL} as run_order, status from {ALLOCATIONS} where segment = ?
        ),
        previous as (select max(run_order) as run_order from runs where run_order < ?)
        select count(*) filter (where run_order = ?),
            case when (select run_order from previous) is not null
                then count(*) filter (where run_order = (select run_order from previous)) end
        from runs where status = 'included'
    """
    now = order_value(slot)
    [(today, before)] = con.execute(query, [segment.name, now, now]).fetchall()
    return today, before


def size_swing(today: int, before: int | None, guard: SizeGuard) -> str | None:
    """Why a segment's size swing trips the guard (None if it does not, or on a first run)."""
    if before is None or abs(today - before) <= guard.min_rows:
        return None
    change = abs(today - before) / max(before, 1)
    if change <= guard.max_change_share:
        return None
    return f"{before} -> {today} rows ({change:.0%} change, limit {guard.max_change_share:.0%})"


# Per channel: the address column of the shop's customer row, and the raw event that
# ends the channel for good (the dbt docs block channel_reachability; the same rule as
# the channel_reachable macro behind dim_customers.is_<channel>able).
CONSENT_CHANNELS = {
    "email": ("email", "event_type = 'email_bounced' and properties::json->>'bounce_type' = 'hard'"),
    "sms": ("phone", "event_type = 'sms_bounced' and properties::json->>'bounce_type' = 'hard'"),
    "push": ("push_token", "event_type = 'push_token_invalid'"),
}
OPT_OUT_EVENTS = ("unsubscribed", "email_bounced", "sms_bounced", "push_token_invalid")


def current_consent_sql(raw_dir: Path) -> str | None:
    """Consent per channel as the raw zone knows it now, whatever the run date: the latest
    customer row (consent and the channel's address), then that channel's opt-outs among
    all events landed so far: no unsubscribe since the consent was last given, and no
    hard bounce (email, SMS) or invalid push token, ever. Columns customer_id, email,
    sms, push; never null for a customer of the raw zone."""
    customers, events = raw_dir / "customers", raw_dir / "events"
    if not any(customers.glob("dt=*/*.parquet")):
        return None
    kinds = ("unsubscribed_at", "unreachable_at")
    nothing = [f"null::timestamp as {channel}_{kind}" for channel in CONSENT_CHANNELS for kind in kinds]
    signals = f"select null::bigint as customer_id, {', '.join(nothing)} where false"
    if any(events.glob("dt=*/*.parquet")):
        per_channel = [
            f"max(occurred_at) filter (where event_type = 'unsubscribed' "
            f"and properties::json->>'channel' = '{channel}') as {channel}_unsubscribed_at, "
            f"max(occurred_at) filter (where {unreachable}) as {channel}_unreachable_at"
            for channel, (_, unreachable) in CONSENT_CHANNELS.items()
        ]
        signals = f"""
            select customer_id, {", ".join(per_channel)}
            from read_parquet('{events}/dt=*/*.parquet', hive_partitioning = false)
            where event_type in {OPT_OUT_EVENTS}
            group by customer_id"""
    flags = ", ".join(
        f"""coalesce(latest.consent_{channel} and latest.{address} is not null
                and {channel}_unreachable_at is null
                and ({channel}_unsubscribed_at is null
                    or {channel}_unsubscribed_at < latest.consent_{channel}_at), false) as {channel}"""
        for channel, (address, _) in CONSENT_CHANNELS.items()
    )
    return f"""
        with latest as (
            select * from read_parquet('{customers}/dt=*/*.parquet', hive_partitioning = false)
            qualify row_number() over (partition by customer_id order by updated_at desc) = 1
        ),
        signals as ({signals})
        select latest.customer_id, {flags}
        from latest left join signals using (customer_id)
    """


def stage_exports(
    settings: Settings,
    config: ExportConfig,
    run: date | RunSlot,
    run_id: str,
    dry_run: bool = False,
    staging_root: Path | None = None,
    segments: list[Segment] | None = None,
) -> Plan:
    """Allocate, guard, check and stage every segment; returns the plan for the publishers.

    ``dry_run`` allocates inside a transaction that is rolled back and stages under
    ``staging_root`` (a scratch folder), so nothing the pipeline keeps changes.
    ``segments`` defaults to every segment of the daily build (the hourly refresh
    passes its own); the audience is always the daily build's.
    """
    root = staging_root or settings.exports_dir
    from nurture.quality.checks import check_export_frames

    slot = RunSlot.of(run)
    segments = discover_segments(manifest_path(settings)) if segments is None else segments
    audience_schema = model_relation(settings, "dim_customer_audience").split(".")[0].strip('"')
    plan = Plan(slot)
    frames = {}
    with duckdb.connect(str(settings.warehouse_path)) as con:
        # On PostgreSQL / Spark: read the marts from the DuckDB file's copies.
        mirror_marts(settings, con, [(s.schema, s.model) for s in segments] + [(audience_schema, AUDIENCE)])
        segments = [replace(s, schema=mirror_schema(settings, s.schema)) for s in segments]
        audience = f'"{mirror_schema(settings, audience_schema)}"."{AUDIENCE}"'
        con.begin()
        consent_now = current_consent_sql(settings.raw_dir)
        if consent_now:
            con.execute(f"create temp view current_consent as {consent_now}")
        current = "current_consent" if consent_now else None
        counts = allocate(con, segments, audience, slot, config.guards, current)
        for (segment, status), rows in sorted(counts.items()):
            plan.allocation.setdefault(segment, {})[status] = rows
        for segment in segments:
            guard = config.size_guard_for(segment.name, segment.meta)
            if why := size_swing(*_size_change(con, segment, slot), guard):
                target = plan.held_back if guard.severity == "blocking" else plan.size_warnings
                target[segment.name] = why
                log.warning("audience size guard (%s): %s %s", guard.severity, segment.name, why)
            if segment.name in plan.held_back:
                continue
            frames[segment.model] = _check_frame(con, segment, audience, slot)
            staged = con.sql(_included_sql(segment, slot)).to_arrow_table()
            replace_file(staged_path(root, slot, segment.name), partial(pq.write_table, staged))
            plan.targets += [
                {"segment": segment.name, "destination": d.name}
                for d in config.destinations_for(segment.meta)
            ]
        if dry_run:
            con.rollback()
        else:
            con.commit()
    if not dry_run:
        check_export_frames(settings, frames, slot.day, run_id)  # raises on a blocking failure
    body = {
        "run_date": slot.day.isoformat(),
        "run_hour": slot.hour,
        "run_id": run_id,
        "targets": plan.targets,
        "allocation": plan.allocation,
        "held_back": plan.held_back,
        "size_warnings": plan.size_warnings,
    }
    path = staging_dir(root, slot) / "plan.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    return plan


def read_plan(exports_dir: Path, run: date | RunSlot) -> dict:
    return json.loads((staging_dir(exports_dir, run) / "plan.json").read_text())
