"""Privacy and delivery under faults, tested the way an adversary would.

One shop, run day by day, whose every segment (email, SMS and push) also goes to a
CRM bulk-audience API: a real server on 127.0.0.1 that answers 429s, 500s and 503s,
refuses a token mid-push (401), and goes away with erasures pending. Meanwhile
customers who are being exported withdraw on every channel in every way the docs
describe: an unsubscribe event, a hard bounce / invalid token, an opt-out that arrives
a day late, consent withdrawn in the shop; one re-subscribes; two ask to be forgotten.

After every run: nobody who opted out of a channel is in a file or the CRM for it
(an independent pandas reading of the shop and its logs agrees), every destination
that is up published, and the sync log's figures equal what the server saw.
"""

from __future__ import annotations

import gzip
import json
import socket
import sqlite3
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from devkit.local_airflow import sandbox_connection
from devkit.sandbox_api import SandboxApi
from nurture import pipeline
from nurture.export.config import DEFAULT_FILE
from nurture.export.segments import discover_segments
from nurture.extract.event_logs import LOG_NAME
from nurture.privacy.erasure import forget
from nurture.warehouse.transform import manifest_path
from tests.conftest import day_interval, make_shop, midnight
from tests.reference import channel_suppressions, with_reachability

CHANNELS = ("email", "sms", "push")
SHOP_TIME = "%Y-%m-%d %H:%M:%S.000000"  # how the shop's SQLite file writes a timestamp
# The event that ends a channel for good, as the platforms report it.
HARD_FAILURE = {
    "email": ("email_bounced", {"bounce_type": "hard"}),
    "sms": ("sms_bounced", {"bounce_type": "hard"}),
    "push": ("push_token_invalid", {}),
}


def add_events(settings, day: date, events: list[dict]) -> None:
    """Append lines to the day's log file as one more gzip member (log shippers do that)."""
    path = settings.log_dir / LOG_NAME.format(day=day.isoformat())
    with gzip.open(path, "ab") as out:
        out.write("".join(json.dumps(e) + "\n" for e in events).encode())


def event(kind: str, customer_id: int, at: datetime, properties: dict) -> dict:
    return {
        "event_id": f"ev_adversary_{kind}_{customer_id}_{at:%Y%m%d%H%M}",
        "event_type": kind,
        "customer_id": customer_id,
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "campaign": None,
        "properties": properties,
    }


def update_customer(settings, customer_id: int, at: datetime, **columns) -> None:
    """Change a shop row as the shop would: new values and a new updated_at."""
    stamp = at.strftime(SHOP_TIME)
    sets = ", ".join(f"{c} = ?" for c in columns)
    with sqlite3.connect(settings.shop_db_url.removeprefix("sqlite:///")) as con:
        con.execute(
            f"update customers set {sets}, updated_at = ? where customer_id = ?",
            [*columns.values(), stamp, customer_id],
        )


def exported(settings, day: date, channels: dict[str, str]) -> dict[str, set[int]]:
    """Customer ids in the files destination's full export of the day, per channel."""
    out = {c: set() for c in CHANNELS}
    for manifest in settings.exports_dir.glob(f"*/{day.isoformat()}/manifest.json"):
        segment = manifest.parent.parent.name
        csv = manifest.parent / f"{segment}.csv"
        if csv.stat().st_size:
            out[channels[segment]] |= set(pd.read_csv(csv)["customer_id"])
    return out


def in_crm(api: SandboxApi, channels: dict[str, str]) -> dict[str, set[int]]:
    out = {c: set() for c in CHANNELS}
    for segment, members in api.store.audiences.items():
        out[channels[segment]] |= {int(k) for k in members}
    return out


def reachable(settings, day: date) -> dict[str, set[int]]:
    """Who may be messaged on each channel on ``day``: an independent pandas reading."""
    with sqlite3.connect(settings.shop_db_url.removeprefix("sqlite:///")) as con:
        people = pd.read_sql("select * from customers", con)
    people = with_reachability(people, channel_suppressions(settings.log_dir, day))
    return {c: set(people.loc[people[f"is_{c}able"], "customer_id"]) for c in CHANNELS}


def export_day(settings, api: SandboxApi, day: date, run_id: str, extract: bool = True):
    """One daily run's steps, with the server's requests of its export attempt."""
    start, end = day_interval(day)
    if extract:
        pipeline.extract_shop(settings, settings.shop_db_url, start, end)
        pipeline.extract_events(settings, start, end)
        pipeline.apply_erasures(settings)
        pipeline.transform(settings, day, data_tests=False)  # the audiences are what is attacked
    seen = len(api.store.requests)
    outcome = pipeline.export(settings, day, run_id, end)
    return outcome, api.store.requests[seen:]


def sync_log(settings, run_id: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute("select * from exports.sync_log where run_id = ?", [run_id]).df()


def assert_sync_log_tells_what_the_server_saw(settings, run_id: str, requests: list[dict]) -> None:
    """Per CRM target: rows sent and retries by cause equal the server's own count."""
    log = sync_log(settings, run_id).set_index("segment")
    crm = log[log["destination"] == "crm"]
    batches = [r for r in requests if r.get("segment")]
    for segment, entry in crm.iterrows():
        mine = [r for r in batches if r["segment"] == segment]
        received = sum(len(r.get("members", [])) for r in mine if r.get("answer") == 200)
        assert entry["sent"] == received, (run_id, segment, entry["sent"], received)
        assert entry["retries_429"] == sum(r.get("answer") == 429 for r in mine), (run_id, segment)
        assert entry["retries_5xx"] == sum(r.get("answer") in (500, 502, 503) for r in mine), (
            run_id,
            segment,
        )
        hung = sum(r.get("answer") == "hang" for r in mine)
        assert entry["retries_timeout"] >= hung, (run_id, segment)


def give_sms_birthdays(settings, day: date, n: int) -> None:
    """The adversary's first move: birthdays in a few days for customers reachable by SMS,
    so the (small) SMS audience has members to attack."""
    reachable_by_sms = reachable(settings, day)["sms"]
    birthday = (day + timedelta(days=5)).replace(year=1990).isoformat()
    with sqlite3.connect(settings.shop_db_url.removeprefix("sqlite:///")) as con:
        known = {
            c for (c,) in con.execute("select customer_id from customers where signed_up_at < ?", [str(day)])
        }
        chosen = sorted(reachable_by_sms & known)[:n]
        con.executemany(
            "update customers set birthday = ? where customer_id = ?", [(birthday, c) for c in chosen]
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The shop, a CRM that receives every segment, and the customers' channels."""
    home = tmp_path_factory.mktemp("faults")
    settings, shop = make_shop(home, customers=900, days=200, seed=13)
    config = yaml.safe_load(DEFAULT_FILE.read_text())
    config["default_destinations"] = ["files", "crm"]  # the SMS and push segments too
    config["destinations"]["crm"] |= {"batch_size": 5, "max_retries": 1}  # pushes of many batches
    destinations = Path(home) / "destinations.yml"
    destinations.write_text(yaml.safe_dump(config))
    days = [shop.end - timedelta(days=3 - i) for i in range(4)]
    give_sms_birthdays(settings, days[0], 10)
    pipeline.extract_shop(settings, settings.shop_db_url, midnight(shop.start), midnight(days[0]))
    pipeline.extract_events(settings, midnight(shop.start), midnight(days[0]))
    with SandboxApi() as api, pytest.MonkeyPatch.context() as env:
        env.setenv("NURTURE_DESTINATIONS", str(destinations))
        env.setenv("AIRFLOW_CONN_NURTURE_CRM", sandbox_connection(api.url))
        outcome, _ = export_day(settings, api, days[0], "baseline")
        assert outcome.error() is None
        channels = {s.name: s.channel for s in discover_segments(manifest_path(settings))}
        yield settings, api, days, channels, env


def test_opt_outs_on_every_channel_hold_through_faults_erasures_and_resumes(world):
    settings, api, days, channels, env = world
    before = exported(settings, days[0], channels)
    victims = pick_victims(before, per_channel=5)
    opted_out: dict[str, dict[int, date]] = {c: {} for c in CHANNELS}  # customer -> effective day

    # Day 1: every way of opting out, on every channel; the CRM answers 429, 500 and 503
    # (timeouts and a process killed mid-push: tests/test_sync_log.py).
    day = days[1]
    for channel in CHANNELS:
        unsub, failed, in_shop, late = victims[channel][:4]
        at = datetime.combine(day, time(8))
        kind, properties = HARD_FAILURE[channel]
        add_events(settings, day, [
            event("unsubscribed", unsub, at, {"channel": channel}),
            event(kind, failed, at + timedelta(hours=1), properties),
        ])  # fmt: skip
        update_customer(settings, in_shop, at, **{f"consent_{channel}": 0})
        # Occurs late on day 1, arrives in day 2's file: it counts from the day it is known.
        add_events(settings, days[2], [
            event("unsubscribed", late, datetime.combine(day, time(23, 30)), {"channel": channel}),
        ])  # fmt: skip
        opted_out[channel] |= {unsub: day, failed: day, in_shop: day, late: days[2]}
    api.store.fail_next(429, None, 500, None, 503)  # each retried once, on different batches
    outcome, requests = export_day(settings, api, day, "day1")
    assert outcome.error() is None, outcome.error()
    assert_sync_log_tells_what_the_server_saw(settings, "day1", requests)
    assert_opted_out_nowhere(settings, api, day, channels, opted_out)

    # Day 2: the SMS unsubscriber re-subscribes in the shop; two customers ask to be
    # forgotten while the CRM is down (nothing listens on its port).
    day = days[2]
    resubscriber, at = victims["sms"][0], datetime.combine(day, time(10))
    update_customer(settings, resubscriber, at, consent_sms=1, consent_sms_at=at.strftime(SHOP_TIME))
    del opted_out["sms"][resubscriber]
    erased = {victims["email"][4], victims["push"][4]}
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{closed.getsockname()[1]}"
    env.setenv("AIRFLOW_CONN_NURTURE_CRM", sandbox_connection(down))
    forgotten = forget(settings, erased)
    assert forgotten.delivery.pending == {"crm": 2}
    assert_no_local_trace(settings, erased)
    outcome, _ = export_day(settings, api, day, "day2-crm-down")
    assert outcome.failed and all(" -> crm: " in f for f in outcome.failed), outcome.failed
    down = sync_log(settings, "day2-crm-down")
    assert set(down.loc[down["destination"] != "crm", "status"]) == {"success"}, "the others published"
    crm = down[down["destination"] == "crm"]
    assert set(crm.loc[crm["sent"] + crm["confirmed_earlier"] + crm["failed"] > 0, "status"]) == {"failed"}
    assert crm["failed"].sum() > 0, "the day's opt-outs are removals due at the CRM"
    # The first failing push spent its retries; each later one tried the platform once.
    tried = crm.loc[crm["status"] == "failed"].sort_values("duration_s", ascending=False)
    retries = tried["retries_timeout"].tolist()
    assert len(retries) > 1 and retries[0] > 0 and retries[1:] == [0] * (len(retries) - 1), retries
    assert outcome.erasures.pending == {"crm": 2}
    assert_no_local_trace(settings, erased)
    assert_opted_out_nowhere(settings, None, day, channels, opted_out, erased)
    # Back up: the same day again catches the CRM up and delivers the deletes.
    env.setenv("AIRFLOW_CONN_NURTURE_CRM", sandbox_connection(api.url))
    outcome, requests = export_day(settings, api, day, "day2-crm-back", extract=False)
    assert outcome.error() is None, outcome.error()
    assert outcome.erasures.acknowledged == {"crm": 2}
    assert {str(c) for c in erased} <= api.store.deleted
    assert_sync_log_tells_what_the_server_saw(settings, "day2-crm-back", requests)
    assert_opted_out_nowhere(settings, api, day, channels, opted_out, erased)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        [(smsable,)] = con.execute(
            "select is_smsable from dim_customers where customer_id = ?", [resubscriber]
        ).fetchall()
    assert smsable, "a re-subscribe after an opt-out makes the channel reachable again"

    # Day 3: the token is refused (401) mid-push; the next attempt resumes after the
    # batches the platform had taken, and says so.
    day = days[3]
    api.store.fail_segment("cross_sell", after_batches=1, status=401)
    outcome, requests = export_day(settings, api, day, "day3-refused")
    assert len(outcome.failed) == 1 and " -> crm: " in outcome.failed[0], outcome.failed
    assert_sync_log_tells_what_the_server_saw(settings, "day3-refused", requests)
    outcome, requests = export_day(settings, api, day, "day3-resumed", extract=False)
    assert outcome.error() is None, outcome.error()
    assert_sync_log_tells_what_the_server_saw(settings, "day3-resumed", requests)
    refused = sync_log(settings, "day3-refused").query("status == 'failed'").set_index("segment")
    resumed = sync_log(settings, "day3-resumed").set_index("segment")
    assert refused["sent"].sum() > 0, "the 401 came after some batches"
    for segment, entry in refused.iterrows():
        crm = resumed[resumed["destination"] == "crm"].loc[segment]
        assert crm["confirmed_earlier"] == entry["sent"], segment
    assert_opted_out_nowhere(settings, api, day, channels, opted_out, erased)


def pick_victims(exported: dict[str, set[int]], per_channel: int) -> dict[str, list[int]]:
    """Customers exported on each channel, none of them picked for two channels."""
    taken: set[int] = set()
    victims = {}
    for channel in CHANNELS:
        free = sorted(exported[channel] - taken)
        assert len(free) >= per_channel, f"too few {channel} members to attack: {len(free)}"
        victims[channel] = free[:per_channel]
        taken |= set(victims[channel])
    return victims


def assert_opted_out_nowhere(settings, api, day, channels, opted_out, erased=frozenset()) -> None:
    files, crm = exported(settings, day, channels), (in_crm(api, channels) if api else None)
    allowed = reachable(settings, day)
    for channel in CHANNELS:
        gone = {c for c, since in opted_out[channel].items() if since <= day} | set(erased)
        assert files[channel] & gone == set(), (day, channel, "files")
        assert files[channel] <= allowed[channel], (day, channel, "files vs the reference")
        if crm is not None:
            assert crm[channel] & gone == set(), (day, channel, "crm")
            assert crm[channel] <= allowed[channel], (day, channel, "crm vs the reference")


def assert_no_local_trace(settings, customer_ids: set[int]) -> None:
    """No Parquet file or warehouse table under the data home holds these customers."""
    ids = ", ".join(map(str, sorted(customer_ids)))
    folders: dict[Path, list[str]] = {}  # files of one dataset share a schema: one query each
    for path in settings.home.rglob("*.parquet"):
        if "customer_id" in pq.read_schema(path).names:
            folders.setdefault(path.parent.parent, []).append(str(path))
    found = []
    with duckdb.connect() as con:
        for files in folders.values():
            source = (
                f"read_parquet({files}, union_by_name = true, filename = true, hive_partitioning = false)"
            )
            query = f"select distinct filename from {source} where customer_id in ({ids})"
            found += [f for (f,) in con.execute(query).fetchall()]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        query = "select table_schema, table_name from information_schema.columns where column_name = ?"
        keyed = con.execute(query, ["customer_id"]).fetchall()
        for schema, table in keyed:
            query = f'select count(*) from "{schema}"."{table}" where customer_id in ({ids})'
            found += [f"{schema}.{table}"] * bool(con.execute(query).fetchall()[0][0])
    assert found == []
