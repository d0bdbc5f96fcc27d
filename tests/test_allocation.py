"""The allocation step on a hand-made warehouse: consent, holdout, duplicates and the
frequency cap, day after day."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta

import duckdb
import pytest

from nurture.export.allocation import ALLOCATIONS, Guards, allocate
from nurture.export.config import SizeGuard
from nurture.export.segments import Segment
from nurture.export.slot import RunSlot, latest_before
from nurture.export.stage import size_swing
from nurture.export.suppression import REQUESTS, customer_hash

DAY = date(2025, 6, 1)
CUSTOMERS = range(1, 401)


def segment(name: str, channel: str = "email") -> Segment:
    return Segment(model=f"seg_{name}", schema="main", key="customer_id", channel=channel, description="")


SEGMENTS = [segment("first"), segment("second"), segment("third"), segment("texts", "sms")]


@pytest.fixture
def warehouse():
    con = duckdb.connect()
    con.execute(
        """create table dim_customer_audience as
        select i as customer_id, 'Customer' || i || '@Example.com ' as email, '+44 7700 ' || i as phone,
            null as push_token, i % 10 <> 0 as is_emailable, true as is_smsable, false as is_pushable
        from range(1, 401) as t(i)"""
    )
    for s in SEGMENTS:
        con.execute(f"create table {s.model} as select i as customer_id from range(1, 401) as t(i)")
    yield con
    con.close()


def statuses(con, day: date, segment_name: str) -> dict[int, str]:
    query = f"select customer_id, status from {ALLOCATIONS} where run_date = ? and segment = ?"
    return dict(con.execute(query, [day, segment_name]).fetchall())


def in_holdout(customer_id: int, guards: Guards) -> bool:
    digest = hashlib.md5(f"{guards.holdout_seed}:{customer_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 10_000 < guards.holdout_share * 10_000


def test_no_consent_and_holdout_are_never_included_and_the_holdout_is_stable(warehouse):
    guards = Guards(max_messages=10)
    days = [DAY + timedelta(days=i) for i in range(3)]
    for day in days:
        allocate(warehouse, SEGMENTS, "dim_customer_audience", day, guards)
    holdout = {c for c in CUSTOMERS if in_holdout(c, guards)}
    assert 0.02 < len(holdout) / len(CUSTOMERS) < 0.09
    for day in days:
        first = statuses(warehouse, day, "first")
        assert {c for c, s in first.items() if s == "no_consent"} == {c for c in CUSTOMERS if c % 10 == 0}
        assert {c for c, s in first.items() if s == "holdout"} == holdout - {
            c for c in CUSTOMERS if c % 10 == 0
        }
        # SMS consent is given to everyone here: only the holdout stays out.
        assert {c for c, s in statuses(warehouse, day, "texts").items() if s != "included"} == holdout


def test_the_frequency_cap_gives_messages_in_priority_order_and_rolls_over_the_window(warehouse):
    guards = Guards(max_messages=2, window_days=7, priority=("third", "first", "second", "texts"))
    allocate(warehouse, SEGMENTS, "dim_customer_audience", DAY, guards)
    eligible = [c for c in CUSTOMERS if c % 10 and not in_holdout(c, guards)]
    day1 = {name: statuses(warehouse, DAY, name) for name in ("first", "second", "third", "texts")}
    for c in eligible:
        assert (day1["third"][c], day1["first"][c]) == ("included", "included"), "the two most important"
        assert (day1["second"][c], day1["texts"][c]) == ("frequency_cap", "frequency_cap")

    # The next day nothing changed: members stay, and no new message fits in the window.
    allocate(warehouse, SEGMENTS, "dim_customer_audience", DAY + timedelta(days=1), guards)
    day2 = statuses(warehouse, DAY + timedelta(days=1), "second")
    assert all(day2[c] == "frequency_cap" for c in eligible)
    assert all(statuses(warehouse, DAY + timedelta(days=1), "third")[c] == "included" for c in eligible)

    # A week on, day 1's messages are out of the window: the waiting segments get their turn.
    later = DAY + timedelta(days=7)
    allocate(warehouse, SEGMENTS, "dim_customer_audience", later, guards)
    assert all(statuses(warehouse, later, "second")[c] == "included" for c in eligible)
    new_in_window = warehouse.execute(
        f"""select customer_id, count(*) from {ALLOCATIONS}
        where status = 'included' and is_new and run_date > ? - 7 and run_date <= ? group by 1""",
        [later, later],
    ).fetchall()
    assert max(n for _, n in new_in_window) <= guards.max_messages


def test_an_hourly_refresh_sits_between_daily_runs_and_counts_against_the_cap(warehouse):
    first, second, third = SEGMENTS[:3]
    guards = Guards(holdout_share=0, max_messages=2, priority=("first", "second", "third"))
    consenting = {c for c in CUSTOMERS if c % 10}
    # Day 1: "first" has customers 1-100 (2 messages each with "second"), the rest get 1.
    warehouse.execute("delete from seg_first where customer_id > 100")
    allocate(warehouse, [first, second], "dim_customer_audience", DAY, guards)
    # Day 2, 14:00: customers 101-200 join "first" (their 2nd message in the window).
    day, hour = DAY + timedelta(days=1), RunSlot(DAY + timedelta(days=1), 14)
    warehouse.execute("insert into seg_first select i from range(101, 201) as t(i)")
    allocate(warehouse, [first], "dim_customer_audience", hour, guards)
    hourly = dict(
        warehouse.execute(
            f"select customer_id, is_new from {ALLOCATIONS} where run_hour = 14 and status = 'included'"
        ).fetchall()
    )
    assert {c for c, new in hourly.items() if new} == set(range(101, 201)) & consenting
    assert {c for c, new in hourly.items() if not new} == set(range(1, 101)) & consenting

    # Day 2's daily run comes after its hour: who joined at 14:00 is no new entry, and the
    # 14:00 message counts in the window, so "third" fits only for customers 201-400.
    allocate(warehouse, [first, second, third], "dim_customer_audience", day, guards)
    new_entries = warehouse.execute(
        f"select segment, count(*) from {ALLOCATIONS} where run_date = ? and run_hour is null "
        "and is_new and status = 'included' group by 1",
        [day],
    ).fetchall()
    assert new_entries == [("third", len(set(range(201, 401)) & consenting))]
    capped = {c for c, s in statuses(warehouse, day, "third").items() if s == "frequency_cap"}
    assert capped == set(range(1, 201)) & consenting
    assert allocate(warehouse, [first], "dim_customer_audience", hour, guards) == {
        ("first", "included"): len(hourly), ("first", "no_consent"): 20,
    }, "re-running the hour replaces only its own rows"  # fmt: skip


def test_run_slots_order_the_daily_run_after_its_hours():
    day = date(2025, 6, 1)
    stamps = ["2025-06-01T23", "2025-06-01", "2025-05-31", "2025-06-01T00", "2025-06-02T00"]
    ordered = sorted(stamps, key=lambda s: RunSlot.parse(s).order)
    assert ordered == ["2025-05-31", "2025-06-01T00", "2025-06-01T23", "2025-06-01", "2025-06-02T00"]
    assert latest_before(stamps, RunSlot(day)) == "2025-06-01T23"
    assert latest_before(stamps, RunSlot(day, 0)) == "2025-05-31"
    assert latest_before(stamps, RunSlot(date(2025, 5, 31))) is None
    assert RunSlot(day, 14).as_of == datetime(2025, 6, 1, 15) and RunSlot(day).as_of == datetime(2025, 6, 2)
    with pytest.raises(ValueError, match="run stamp"):
        RunSlot.parse("2025-06-01T5")


def test_duplicates_by_normalised_email_and_erased_customers_are_dropped(warehouse):
    warehouse.execute(
        "update dim_customer_audience set email = ' customer1@example.COM' where customer_id = 3"
    )
    warehouse.execute("insert into seg_first values (5)")  # the same customer twice
    warehouse.execute("create schema if not exists exports")
    guards = Guards(holdout_share=0, max_messages=10)
    allocate(warehouse, SEGMENTS, "dim_customer_audience", DAY, guards)
    warehouse.execute(f"insert into {REQUESTS} values (?, now(), null)", [customer_hash(7)])
    allocate(warehouse, SEGMENTS, "dim_customer_audience", DAY, guards)  # re-running a day replaces it
    rows = warehouse.execute(
        f"select customer_id, status from {ALLOCATIONS} where run_date = ? and segment = 'first' "
        "order by customer_id, status",
        [DAY],
    ).fetchall()
    assert (3, "duplicate") in rows and (1, "included") in rows, "same email as customer 1"
    assert rows.count((5, "included")) == 1 and (5, "duplicate") in rows
    assert (7, "no_consent") in rows, "on the erasure (suppression) list"
    assert len(rows) == len(CUSTOMERS) + 1


def test_the_size_guard_trips_on_a_large_swing_only():
    guard = SizeGuard(max_change_share=0.5, min_rows=50)
    assert size_swing(400, None, guard) is None, "a first run has nothing to compare with"
    assert size_swing(130, 100, guard) is None, "a small swing"
    assert size_swing(60, 100, guard) is None, "a big share of a small number of rows"
    assert size_swing(1000, 400, guard) == "400 -> 1000 rows (150% change, limit 50%)"
    assert size_swing(100, 400, guard) == "400 -> 100 rows (75% change, limit 50%)"
