"""The allocation step: every segment's candidates, judged once per run, before any
destination sees them.

For each (segment, customer) it decides ``included`` or the first reason not to:

1. ``no_consent`` — may not be reached on the segment's channel: no consent,
   unsubscribed from it, hard bounced or an invalid push token
   (``dim_customer_audience``, and as the raw zone knows it now:
   ``stage.current_consent_sql``), no address for the channel, or on the erasure
   suppression list;
2. ``holdout`` — in the global holdout group: a stable hash of the customer id with
   a fixed seed, the same customers run after run, never messaged (uplift baseline);
3. ``duplicate`` — the same customer, or the same normalised email / phone, twice in
   a segment (the lowest customer id stays);
4. ``frequency_cap`` — a *new* entry (not in the segment at the previous run) is a
   message; at most ``max_messages`` new entries per customer per rolling
   ``window_days``, given out in segment priority order. Members who stay in a
   segment keep their place and use no new message.

The result is kept per run in ``exports.allocations`` (``run_hour`` is null for the
daily run, the hour for an hourly refresh; see ``slot.py`` for their order):
re-running a run replaces its rows and reads only earlier runs, so it gives the
same answer. Hourly refreshes count against the frequency cap like daily runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb

from nurture.export.segments import Segment
from nurture.export.slot import ORDER_SQL, RunSlot, order_value, this_run_sql
from nurture.export.suppression import REQUESTS, hash_sql
from nurture.warehouse import owned_tables
from nurture.warehouse.owned_tables import ensure

ALLOCATIONS = owned_tables.ALLOCATIONS.relation
STATUSES = ("included", "no_consent", "holdout", "duplicate", "frequency_cap")
# Per channel: the consent flag and the address column in dim_customer_audience, and
# how an address is normalised to find duplicates.
CHANNELS = {
    "email": ("is_emailable", "email", "lower(trim(a.email))"),
    "sms": ("is_smsable", "phone", r"regexp_replace(a.phone, '[^0-9+]', '', 'g')"),
    "push": ("is_pushable", "push_token", "a.push_token"),
}


@dataclass(frozen=True)
class Guards:
    holdout_share: float = 0.05
    holdout_seed: str = "nurture-holdout-v1"
    max_messages: int = 3
    window_days: int = 7
    priority: tuple[str, ...] = field(default_factory=tuple)  # segment names, most important first


def holdout_bucket_sql(seed: str, column: str = "customer_id") -> str:
    """A customer's bucket in 0..9999 from md5(seed:customer_id): stable across runs and engines."""
    return f"(('0x' || substr(md5('{seed}:' || {column}::varchar), 1, 8))::bigint % 10000)"


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    ensure(con, owned_tables.ALLOCATIONS)
    ensure(con, owned_tables.ERASURE_REQUESTS)


def _candidates_sql(segments: list[Segment], guards: Guards) -> str:
    order = {name: i for i, name in enumerate(guards.priority)}
    parts = []
    for rank, s in enumerate(sorted(segments, key=lambda s: (order.get(s.name, len(order)), s.name))):
        parts.append(
            f"select '{s.name}' as segment, '{s.channel}' as channel, {rank} as priority, "
            f'"{s.key}"::bigint as customer_id from {s.relation}'
        )
    return " union all ".join(parts)


def allocate(
    con: duckdb.DuckDBPyConnection,
    segments: list[Segment],
    audience: str,
    run: date | RunSlot,
    guards: Guards,
    current_consent: str | None = None,
) -> dict[tuple[str, str], int]:
    """Allocate the run's candidates into ``exports.allocations`` (a date: the daily run).

    Returns the row counts by (segment, status). ``current_consent`` (customer_id,
    email, sms, push) is consent as known *now*: a re-run of an old date never
    includes someone who withdrew consent since (see ``stage.current_consent_sql``).
    """
    ensure_tables(con)
    slot = RunSlot.of(run)
    this_run = this_run_sql(slot)
    consent = "case c.channel " + " ".join(f"when '{k}' then a.{v[0]}" for k, v in CHANNELS.items()) + " end"
    contact = "case c.channel " + " ".join(f"when '{k}' then {v[2]}" for k, v in CHANNELS.items()) + " end"
    holdout = holdout_bucket_sql(guards.holdout_seed, "c.customer_id")
    current, current_join = "null", ""
    if current_consent:
        current = (
            "case c.channel when 'email' then now.email when 'sms' then now.sms when 'push' then now.push end"
        )
        current_join = f"left join {current_consent} as now on now.customer_id = c.customer_id"
    con.execute(f"delete from {ALLOCATIONS} where {this_run}")
    con.execute(
        f"""
        insert into {ALLOCATIONS} by name
        with candidates as ({_candidates_sql(segments, guards)}),
        runs as (select *, {ORDER_SQL} as run_order from {ALLOCATIONS}),
        latest as (
            select segment, max(run_order) as run_order from runs where run_order < $run_order
            group by segment
        ),
        previous as (  -- each segment's members at its latest earlier run
            select segment, customer_id from runs join latest using (segment, run_order)
            where status = 'included'
        ),
        judged as (
            select c.*, {contact} as contact,
                (previous.customer_id is null) as is_new,
                case
                    when coalesce({consent}, false) = false or {contact} is null
                        or coalesce({current}, true) = false
                        or {hash_sql("c.customer_id")} in (select customer_hash from {REQUESTS})
                        then 'no_consent'
                    when {holdout} < $holdout_bp then 'holdout'
                end as reason
            from candidates as c
            left join {audience} as a on a.customer_id = c.customer_id
            {current_join}
            left join previous on previous.segment = c.segment and previous.customer_id = c.customer_id
        ),
        first_of_customer as (  -- the same customer twice: one row goes on
            select *, row_number() over (partition by segment, customer_id) = 1 as is_first
            from judged
        ),
        deduped as (  -- then one customer per address: the lowest id keeps it
            select * exclude (is_first), coalesce(reason, case
                when not is_first then 'duplicate'
                when row_number() over (partition by segment, contact, is_first order by customer_id) > 1
                    then 'duplicate' end) as reason_before_cap
            from first_of_customer
        ),
        history as (  -- new entries (messages) in the window's earlier runs
            select customer_id, count(*) as sent from runs
            where status = 'included' and is_new
                and run_date > $run_date - $window_days and run_order < $run_order
            group by customer_id
        ),
        capped as (
            select d.*,
                case when d.reason_before_cap is null and d.is_new then
                    coalesce(h.sent, 0) + row_number() over (
                        partition by d.customer_id, (d.reason_before_cap is null and d.is_new)
                        order by d.priority, d.segment)
                end as message_number
            from deduped as d left join history as h using (customer_id)
        )
        select $run_date as run_date, $run_hour::integer as run_hour, segment, channel, customer_id, contact,
            is_new,
            coalesce(
                reason_before_cap,
                case when message_number > $max_messages then 'frequency_cap' end,
                'included'
            ) as status
        from capped
        order by segment, customer_id
        """,
        {
            "run_date": slot.day,
            "run_hour": slot.hour,
            "run_order": order_value(slot),
            "holdout_bp": round(guards.holdout_share * 10_000),
            "window_days": guards.window_days,
            "max_messages": guards.max_messages,
        },
    )
    rows = con.execute(
        f"select segment, status, count(*) from {ALLOCATIONS} where {this_run} group by all"
    ).fetchall()
    return {(segment, status): n for segment, status, n in rows}
