"""Opt-outs on every channel reach the export: the allocation's current-consent check.

A tiny shop goes through the real extract: its customers table (SQLite) and one day's
engagement log land in the raw zone, the log with an SMS STOP, a push unsubscribe, an
SMS hard bounce, an invalid push token and an SMS soft bounce, each from a different
customer. Two customers then change their consent in the shop: one re-subscribes to SMS
after unsubscribing, one consents to push again, with a new device token, after its
token was reported invalid. The warehouse audience is an old date's, from before any
opt-out (everyone reachable everywhere), as when a past day is re-run: only the check
of consent as the raw zone knows it now (``stage.current_consent_sql``) can keep the
opted-out customers out, and it must keep each out of exactly the channel they left.
"""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime, timedelta

import duckdb
import pandas as pd
import pytest
from sqlalchemy import update

from nurture.export.allocation import ALLOCATIONS, Guards, allocate
from nurture.export.segments import Segment
from nurture.export.stage import current_consent_sql
from nurture.extract.event_logs import LOG_NAME, extract_event_logs
from nurture.extract.shop_tables import extract_shop_tables
from nurture.generate.writers import reset_database, write_table
from nurture.shop_schema import SHOP_TABLES
from tests.conftest import day_interval

SIGNED_UP = datetime(2025, 5, 1, 9)
OPT_OUT_DAY = date(2025, 6, 3)
CHANGE_DAY = date(2025, 6, 5)
RUN_DATE = date(2025, 6, 2)  # an old date re-run: its audience predates every opt-out
CUSTOMERS = range(1, 9)
# customer: (event_type, properties) on OPT_OUT_DAY
OPT_OUTS = {
    2: ("unsubscribed", {"channel": "sms"}),
    3: ("unsubscribed", {"channel": "push"}),
    4: ("sms_bounced", {"bounce_type": "hard"}),
    5: ("push_token_invalid", {}),
    6: ("sms_bounced", {"bounce_type": "soft"}),
    7: ("unsubscribed", {"channel": "sms"}),  # re-subscribes on CHANGE_DAY
    8: ("push_token_invalid", {}),  # consents again with a new token on CHANGE_DAY
}
SEGMENTS = [
    Segment(model=f"seg_{channel}", schema="main", key="customer_id", channel=channel, description="")
    for channel in ("email", "sms", "push")
]


def customer_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": list(CUSTOMERS),
            "signed_up_at": SIGNED_UP,
            "email": [f"c{i}@example.com" for i in CUSTOMERS],
            "phone": [f"+4917000000{i}" for i in CUSTOMERS],
            "push_token": [f"tok_{i:016x}" for i in CUSTOMERS],
            "first_name": "Ada",
            "birthday": None,
            "country": "DE",
            "time_zone": "Europe/Berlin",
            **{f"consent_{c}": True for c in ("email", "sms", "push")},
            **{f"consent_{c}_at": SIGNED_UP for c in ("email", "sms", "push")},
            "updated_at": SIGNED_UP,
        }
    )


def write_log(log_dir, day: date) -> None:
    lines = [
        {
            "event_id": f"ev_optout_{customer}",
            "event_type": event_type,
            "customer_id": customer,
            "timestamp": f"{day.isoformat()}T{10 + customer:02d}:00:00Z",
            "campaign": None,
            "properties": properties,
        }
        for customer, (event_type, properties) in OPT_OUTS.items()
    ]
    log_dir.mkdir(parents=True, exist_ok=True)
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    (log_dir / LOG_NAME.format(day=day.isoformat())).write_bytes(gzip.compress(body))


@pytest.fixture
def raw_dir(tmp_path):
    """The raw zone after the opt-outs and the two consent changes, through the extract."""
    shop_url, raw = f"sqlite:///{tmp_path / 'shop.db'}", tmp_path / "raw"
    engine = reset_database(shop_url)
    customers = SHOP_TABLES["customers"]
    write_table(engine, customers, customer_rows())
    extract_shop_tables(shop_url, raw, *day_interval(SIGNED_UP.date()), tables=["customers"])

    write_log(tmp_path / "logs", OPT_OUT_DAY)
    [landed] = extract_event_logs(tmp_path / "logs", raw, *day_interval(OPT_OUT_DAY))
    assert (landed.accepted, landed.quarantined) == (len(OPT_OUTS), 0), "the extract takes every opt-out"

    changed_at = datetime.combine(CHANGE_DAY, datetime.min.time()) + timedelta(hours=8)
    with engine.begin() as con:
        con.execute(
            update(customers)
            .where(customers.c.customer_id == 7)
            .values(consent_sms_at=changed_at, updated_at=changed_at)
        )
        con.execute(
            update(customers)
            .where(customers.c.customer_id == 8)
            .values(push_token="tok_new", consent_push_at=changed_at, updated_at=changed_at)
        )
    engine.dispose()
    extract_shop_tables(shop_url, raw, *day_interval(CHANGE_DAY), tables=["customers"])
    return raw


@pytest.fixture
def warehouse():
    """The old date's audience (everyone reachable on every channel) and its segments."""
    con = duckdb.connect()
    con.execute(
        """create table dim_customer_audience as
        select i as customer_id, 'c' || i || '@example.com' as email, '+4917000000' || i as phone,
            'tok_' || i as push_token, true as is_emailable, true as is_smsable, true as is_pushable
        from range(1, 9) as t(i)"""
    )
    for s in SEGMENTS:
        con.execute(f"create table {s.model} as select i as customer_id from range(1, 9) as t(i)")
    yield con
    con.close()


def excluded(con, channel: str) -> set[int]:
    rows = con.execute(
        f"select customer_id, status from {ALLOCATIONS} where run_date = ? and segment = ?",
        [RUN_DATE, channel],
    ).fetchall()
    assert len(rows) == len(CUSTOMERS), channel
    return {customer for customer, status in rows if status != "included"}


def test_current_consent_drops_exactly_the_channel_each_customer_left(raw_dir):
    with duckdb.connect() as con:
        now = con.sql(current_consent_sql(raw_dir)).df().set_index("customer_id").sort_index()
    assert now.notna().all().all(), "a customer of the raw zone has a yes or a no on every channel"
    assert set(now.index[~now["email"]]) == set(), "no email opt-out here"
    assert set(now.index[~now["sms"]]) == {2, 4}, "the STOP and the hard bounce; not the soft one, not 7"
    assert set(now.index[~now["push"]]) == {3, 5, 8}, "the unsubscribe and both invalid tokens"


def test_allocation_keeps_sms_and_push_opt_outs_out_of_exactly_their_channel(raw_dir, warehouse):
    guards = Guards(holdout_share=0, max_messages=10)
    allocate(warehouse, SEGMENTS, "dim_customer_audience", RUN_DATE, guards)
    assert all(not excluded(warehouse, s.channel) for s in SEGMENTS), "the old audience alone lets all in"

    warehouse.execute(f"create temp view current_consent as {current_consent_sql(raw_dir)}")
    allocate(warehouse, SEGMENTS, "dim_customer_audience", RUN_DATE, guards, "current_consent")
    assert excluded(warehouse, "email") == set()
    assert excluded(warehouse, "sms") == {2, 4}, "7 re-subscribed to SMS after its STOP"
    assert excluded(warehouse, "push") == {3, 5, 8}, "a new token does not lift an invalid one"
    reasons = warehouse.execute(f"select distinct status from {ALLOCATIONS} where status <> 'included'")
    assert reasons.fetchall() == [("no_consent",)]


def test_an_unsubscribe_is_lifted_only_by_consent_given_after_it(tmp_path, raw_dir):
    """Customer 2 consents to SMS again: at the moment of its STOP it stays out, a second
    later it is back in; its email and push never changed."""
    stop = datetime.combine(OPT_OUT_DAY, datetime.min.time()) + timedelta(hours=12)  # write_log's time
    engine = reset_database(f"sqlite:///{tmp_path / 'again.db'}")
    rows = customer_rows().query("customer_id == 2")
    flags = {}
    for day, consent_at in ((date(2025, 6, 6), stop), (date(2025, 6, 7), stop + timedelta(seconds=1))):
        updated = datetime.combine(day, datetime.min.time()) + timedelta(hours=8)
        with engine.begin() as con:
            con.execute(SHOP_TABLES["customers"].delete())
        write_table(
            engine, SHOP_TABLES["customers"], rows.assign(consent_sms_at=consent_at, updated_at=updated)
        )
        extract_shop_tables(str(engine.url), raw_dir, *day_interval(day), tables=["customers"])
        with duckdb.connect() as con:
            now = con.sql(current_consent_sql(raw_dir)).df().set_index("customer_id")
        flags[consent_at] = tuple(now.loc[2, ["email", "sms", "push"]])
    engine.dispose()
    assert flags == {stop: (True, False, True), stop + timedelta(seconds=1): (True, True, True)}
