"""Campaign segments on a small generated shop, checked against the shop itself.

One shop of a few hundred customers over more than a year (so some customers are
inactive), extracted over its whole range and built with ``dbt build`` as of its last
day. Every model dbt tags ``segment`` (read from the manifest, as the export does) must
have a unique key, reach only customers who consented to its channel and, when it is
promotional, leave out customers with an open support ticket. Consent and tickets are
recomputed here from the shop database and the raw log files, not from the warehouse.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest

from nurture import pipeline
from nurture.export.segments import Segment, discover_segments
from nurture.export.stage import current_consent_sql
from nurture.warehouse.transform import dbt_build, manifest_path
from tests.conftest import make_shop, midnight
from tests.reference import channel_suppressions, with_reachability

SEGMENTS = {
    "seg_abandoned_cart",
    "seg_birthday",
    "seg_cross_sell",
    "seg_nps_detractor_followup",
    "seg_post_purchase_survey",
    "seg_reactivation_inactive",
    "seg_referral_promoters",
    "seg_replenishment_reminder",
    "seg_tier_upgrade_nudge",
    "seg_vip_thanks",
    "seg_welcome_series",
    "seg_winback_lapsing",
}
CONTACT_COLUMN = {"email": "email", "sms": "phone", "push": "push_token"}
FLAGS = {"email": "is_emailable", "sms": "is_smsable", "push": "is_pushable"}
WINBACK_CONTRACT = [
    "customer_id",
    "email",
    "first_name",
    "lifecycle_stage",
    "last_order_date",
    "days_since_last_order",
    "paid_orders",
]
MIN_NON_EMPTY = 8


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(settings, run date, segments, {model: rows}) for one build as of the shop's last day."""
    with pytest.MonkeyPatch.context() as env:
        # run_dbt exports NURTURE_RAW_DIR / NURTURE_WAREHOUSE and load_settings reads them:
        # without this, a shop made after another module's dbt run would land in that
        # module's raw zone and warehouse (and ours would leak into later modules).
        env.delenv("NURTURE_RAW_DIR", raising=False)
        env.delenv("NURTURE_WAREHOUSE", raising=False)
        # 600 customers over 420 days: enough history for inactive customers (365 days
        # without a purchase) and a handful of customers in the day-exact segments.
        settings, shop = make_shop(tmp_path_factory.mktemp("segments"), customers=600, days=420, seed=11)
        assert settings.raw_dir.is_relative_to(settings.home)
        assert settings.warehouse_path.is_relative_to(settings.home)
        start, end = midnight(shop.start), midnight(shop.end + timedelta(days=1))
        pipeline.extract_shop(settings, settings.shop_db_url, start, end)
        pipeline.extract_events(settings, start, end)
        dbt_build(settings, shop.end)
    segments = discover_segments(manifest_path(settings))
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = {s.model: con.sql(f"select * from {s.model}").df() for s in segments}
        rows["dim_customer_audience"] = con.sql("select * from dim_customer_audience").df()
    return settings, shop.end, segments, rows


def read_events(log_dir, run_date: date) -> pd.DataFrame:
    frames = [
        pd.read_json(path, lines=True, compression="gzip", convert_dates=False, dtype=False)
        for path in sorted(log_dir.glob("events-*.jsonl.gz"))
        if date.fromisoformat(path.name[7:17]) <= run_date
    ]
    events = pd.concat(frames, ignore_index=True)
    events["occurred_at"] = pd.to_datetime(events["timestamp"]).dt.tz_localize(None)
    return events[events["occurred_at"].dt.date <= run_date]


def open_ticket_customers(log_dir, run_date: date) -> set[int]:
    """Customers with a ticket whose latest opening has no resolution at or after it."""
    events = read_events(log_dir, run_date)
    tickets = events[events["event_type"].isin(["support_ticket_opened", "support_ticket_resolved"])].copy()
    tickets["ticket_id"] = tickets["properties"].map(lambda p: p["ticket_id"])
    open_ids = set()
    for _, ticket in tickets.groupby("ticket_id"):
        opened = ticket.loc[ticket["event_type"] == "support_ticket_opened", "occurred_at"]
        resolved = ticket.loc[ticket["event_type"] == "support_ticket_resolved", "occurred_at"]
        if len(opened) and (resolved.empty or resolved.max() < opened.max()):
            open_ids.add(int(ticket["customer_id"].iloc[0]))
    return open_ids


def reachable_customers(db_path: str, log_dir, run_date: date) -> dict[str, set[int]]:
    """Per channel, the customers it may reach: consent and the contact field, no
    unsubscribe from the channel since the consent, no hard bounce / invalid push token."""
    with sqlite3.connect(db_path) as con:
        people = pd.read_sql("select * from customers", con)
    people = with_reachability(people, channel_suppressions(log_dir, run_date))
    return {
        channel: set(people.loc[people[flag], "customer_id"].astype(int)) for channel, flag in FLAGS.items()
    }


@pytest.fixture(scope="module")
def reference(built):
    """(reachable customers per channel, customers with an open ticket) from the shop itself."""
    settings, run_date, _, _ = built
    db_path = settings.shop_db_url.removeprefix("sqlite:///")
    return (
        reachable_customers(db_path, settings.log_dir, run_date),
        open_ticket_customers(settings.log_dir, run_date),
    )


def segments_by(built, purpose: str | None = None) -> list[Segment]:
    _, _, segments, _ = built
    return [s for s in segments if purpose is None or s.meta.get("purpose") == purpose]


def test_every_segment_is_discovered_with_complete_meta(built):
    _, _, segments, _ = built
    assert {s.model for s in segments} == SEGMENTS
    for s in segments:
        assert s.channel in CONTACT_COLUMN, s.model
        assert s.key == "customer_id", s.model
        assert s.meta.get("purpose") in ("promotional", "service"), s.model
        assert s.meta.get("description") and s.meta.get("refresh") == "daily", s.model
    assert {s.model for s in segments_by(built, "service")} == {
        "seg_nps_detractor_followup",
        "seg_post_purchase_survey",
    }


def test_each_segment_has_a_unique_key_and_its_channels_contact_field(built):
    _, _, segments, rows = built
    for s in segments:
        frame = rows[s.model]
        assert frame[s.key].notna().all(), s.model
        assert frame[s.key].is_unique, f"{s.model}: duplicate {s.key}"
        contact = CONTACT_COLUMN[s.channel]
        assert contact in frame.columns, f"{s.model}: no {contact} column for channel {s.channel}"
        assert frame[contact].notna().all(), f"{s.model}: customers without {contact}"


def test_no_customer_without_consent_for_the_segments_channel(built, reference):
    _, _, segments, rows = built
    reachable, _ = reference
    assert all(reachable.values()), "every channel has customers who allow it"
    for s in segments:
        members = set(rows[s.model][s.key].astype(int))
        outside = members - reachable[s.channel]
        assert not outside, f"{s.model} ({s.channel}) reaches customers without consent: {sorted(outside)}"


def test_every_channels_opt_outs_suppress_it_in_the_audience_and_in_current_consent(built, reference):
    """The shop has opt-outs on every channel; the audience's flags and the export's
    current-consent check (raw zone, as of now = the shop's last day) both equal the
    pandas reference for every customer."""
    settings, run_date, _, rows = built
    reachable, _ = reference
    suppressions = channel_suppressions(settings.log_dir, run_date)
    for channel in FLAGS:
        assert suppressions[f"{channel}_unsubscribed_at"].notna().sum() >= 3, f"{channel} unsubscribes"
        assert suppressions[f"{channel}_unreachable_at"].notna().sum() >= 1, f"{channel} hard failures"
    audience = rows["dim_customer_audience"]
    with duckdb.connect() as con:
        now = con.sql(current_consent_sql(settings.raw_dir)).df()
    for channel, flag in FLAGS.items():
        assert set(audience.loc[audience[flag], "customer_id"].astype(int)) == reachable[channel], flag
        assert set(now.loc[now[channel], "customer_id"].astype(int)) == reachable[channel], channel
        opted_out = set(suppressions.index[suppressions[f"{channel}_unsubscribed_at"].notna()])
        assert opted_out and not opted_out & reachable[channel], f"{channel}: no re-subscribes in this shop"


def test_promotional_segments_leave_out_customers_with_an_open_support_ticket(built, reference):
    _, _, _, rows = built
    _, open_tickets = reference
    audience = rows["dim_customer_audience"]
    flagged = set(audience.loc[audience["has_open_support_ticket"], "customer_id"].astype(int))
    assert flagged == open_tickets, "the warehouse finds the open tickets the logs show"
    assert open_tickets, "this shop has open tickets, so the check below can fail"
    for s in segments_by(built, "promotional"):
        members = set(rows[s.model][s.key].astype(int))
        assert not members & open_tickets, f"{s.model} is promotional but reaches {members & open_tickets}"


def test_most_segments_have_an_audience(built):
    _, _, segments, rows = built
    sizes = {s.model: len(rows[s.model]) for s in segments}
    non_empty = [model for model, size in sizes.items() if size]
    assert len(non_empty) >= MIN_NON_EMPTY, sizes


def test_winback_keeps_its_export_contract_first(built):
    _, _, _, rows = built
    winback = rows["seg_winback_lapsing"]
    assert list(winback.columns[: len(WINBACK_CONTRACT)]) == WINBACK_CONTRACT
    assert (winback["lifecycle_stage"] == "lapsing").all()
