"""Segment exports end to end: real dbt on small generated shops, three consecutive days,
files + hashed ad audience + the CRM sandbox API (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import copy
import hashlib
import itertools
import os
import re
import socket
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from devkit.local_airflow import sandbox_connection
from devkit.sandbox_api import SandboxApi
from nurture import pipeline
from nurture.bi.summary import build_summary
from nurture.export import destination_types
from nurture.export import publish as publish_module
from nurture.export.config import DEFAULT_FILE
from nurture.export.segments import discover_segments
from nurture.export.state import members_path
from nurture.privacy.erasure import forget
from nurture.warehouse.transform import manifest_path
from tests.conftest import day_interval, make_shop, midnight
from tests.reference import channel_suppressions, with_reachability

CRM_SEGMENTS = ("welcome_series", "abandoned_cart")
DATA_FILES = (
    "{segment}.csv",
    "{segment}.parquet",
    "{segment}.jsonl",
    "added.csv",
    "removed.csv",
    "changed.csv",
)


def run_day(settings, day: date, run_id: str | None = None) -> list[dict]:
    start, end = day_interval(day)
    pipeline.extract_shop(settings, settings.shop_db_url, start, end)
    pipeline.extract_events(settings, start, end)
    pipeline.transform(settings, day, data_tests=False)  # the tables only: the exports are checked
    return pipeline.export(settings, day, run_id or f"test__{day}", end).entries


def keys(path) -> set[int]:
    return set(pd.read_csv(path)["customer_id"]) if path.stat().st_size else set()


@pytest.fixture(scope="module")
def crm_sandbox():
    """This module's own CRM audience API: the session's holds what other modules on this
    worker pushed, and these tests compare the API's audiences with the exports."""
    with SandboxApi() as api, pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW_CONN_NURTURE_CRM", sandbox_connection(api.url))
        yield api


@pytest.fixture(scope="module")
def three_days(tmp_path_factory, crm_sandbox):
    settings, shop = make_shop(tmp_path_factory.mktemp("exports_shop"), customers=500, days=150, seed=21)
    days = [shop.end - timedelta(days=2 - i) for i in range(3)]
    pipeline.extract_shop(settings, settings.shop_db_url, midnight(shop.start), midnight(days[0]))
    pipeline.extract_events(settings, midnight(shop.start), midnight(days[0]))
    audiences = {}
    for day in days:
        run_day(settings, day)
        audiences[day] = copy.deepcopy(crm_sandbox.store.audiences)
    return settings, shop, days, audiences


def folder(settings, segment: str, day: date, destination_root=None):
    return (destination_root or settings.exports_dir) / segment / day.isoformat()


def test_deltas_chain_day_to_day_and_removals_are_never_lost(three_days):
    settings, _, days, _ = three_days
    segments = sorted(p.name for p in settings.exports_dir.glob("[!_]*"))
    assert len(segments) >= 10
    moved = 0
    for segment in segments:
        for before, after in itertools.pairwise(days):
            old = keys(folder(settings, segment, before) / f"{segment}.csv")
            new_folder = folder(settings, segment, after)
            new = keys(new_folder / f"{segment}.csv")
            added, removed = keys(new_folder / "added.csv"), keys(new_folder / "removed.csv")
            changed = keys(new_folder / "changed.csv")
            assert added == new - old and removed == old - new, segment
            assert changed <= new & old, segment
            moved += len(added) + len(removed)
    assert moved > 0, "three days of a living shop change some audiences"


def test_the_crm_api_holds_exactly_the_exported_members_after_each_day(three_days):
    settings, _, days, audiences = three_days
    for day in days:
        for segment in CRM_SEGMENTS:
            exported = keys(folder(settings, segment, day) / f"{segment}.csv")
            assert {int(k) for k in audiences[day].get(segment, {})} == exported, (segment, day)


def e164(phone: str) -> str:
    """A phone number as the exports normalise it before hashing: 00 as +, digits and + only."""
    return re.sub(r"[^0-9+]", "", re.sub(r"^00", "+", phone.strip()))


def assert_only_consenting_customers_exported(settings, day: date, crm_audiences: dict) -> None:
    """Every exported id (files, CRM API) and hashed email (ads) was reachable on its
    segment's channel on ``day``, by an independent pandas reading of the shop and its logs."""
    db = settings.shop_db_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as con:
        people = pd.read_sql(
            "select customer_id, email, phone, push_token, consent_email, consent_email_at, "
            "consent_sms, consent_sms_at, consent_push, consent_push_at from customers",
            con,
        )
    people = with_reachability(people, channel_suppressions(settings.log_dir, day))
    allowed_on = {c: set(people.loc[people[f"is_{c}able"], "customer_id"]) for c in ("email", "sms", "push")}
    channels = {s.name: s.channel for s in discover_segments(manifest_path(settings))}
    emailable = people[people["is_emailable"]]
    sha256 = lambda text: hashlib.sha256(text.encode()).hexdigest()  # noqa: E731
    email_hashes = {sha256(e.strip().lower()) for e in emailable["email"]}
    phone_hashes = {sha256(e164(p)) for p in emailable["phone"].dropna() if e164(p)}
    manifests = list(settings.exports_dir.glob(f"*/{day.isoformat()}/manifest.json"))
    assert manifests, f"nothing exported on {day}"
    for manifest in manifests:
        segment = manifest.parent.parent.name
        allowed = allowed_on[channels[segment]]
        assert keys(manifest.parent / f"{segment}.csv") <= allowed, (segment, channels[segment], day)
    for segment in CRM_SEGMENTS:
        assert {int(k) for k in crm_audiences.get(segment, {})} <= allowed_on["email"], (segment, day)
    # The ad platform's files: hashes only, of customers reachable by email (removed.csv
    # may name those who left).
    ads = [f for f in settings.exports_dir.glob(f"_ads/*/{day.isoformat()}/*.csv") if f.name != "removed.csv"]
    assert any(f.name == f"{f.parent.parent.name}.csv" for f in ads), f"no ads audience on {day}"
    for hashed in ads:
        frame = pd.read_csv(hashed, dtype=str)
        assert list(frame.columns) == ["email_sha256", "phone_sha256"], hashed
        values = frame.stack().dropna()
        assert values.str.fullmatch("[0-9a-f]{64}").all(), f"{hashed}: a value that is not a SHA-256 hash"
        assert set(frame["email_sha256"].dropna()) <= email_hashes, hashed
        assert set(frame["phone_sha256"].dropna()) <= phone_hashes, hashed


def test_no_customer_without_consent_is_exported_anywhere(three_days):
    settings, _, days, audiences = three_days
    for day in days:
        assert_only_consenting_customers_exported(settings, day, audiences[day])


@pytest.mark.parametrize("seed", [5, 99])
def test_no_customer_without_consent_is_exported_from_other_shops(seed, tmp_path, monkeypatch):
    """The consent property again on differently seeded shops (one day each, own CRM)."""
    settings, shop = make_shop(tmp_path, customers=250, days=120, seed=seed)
    day = shop.end
    pipeline.extract_shop(settings, settings.shop_db_url, midnight(shop.start), midnight(day))
    pipeline.extract_events(settings, midnight(shop.start), midnight(day))
    with SandboxApi() as crm:
        monkeypatch.setenv("AIRFLOW_CONN_NURTURE_CRM", sandbox_connection(crm.url))
        run_day(settings, day, f"seed-{seed}")
        assert_only_consenting_customers_exported(settings, day, crm.store.audiences)


def snapshot_bytes(settings, day: date) -> dict[str, bytes]:
    out = {}
    for segment_folder in sorted(settings.exports_dir.glob(f"*/{day.isoformat()}")):
        segment = segment_folder.parent.name
        for name in DATA_FILES:
            path = segment_folder / name.format(segment=segment)
            out[str(path)] = path.read_bytes()
    return out


def test_rerunning_a_day_gives_byte_identical_data_files(three_days):
    settings, _, days, _ = three_days
    before = snapshot_bytes(settings, days[-1])
    pipeline.export(settings, days[-1], "rerun", day_interval(days[-1])[1])
    assert snapshot_bytes(settings, days[-1]) == before


def test_a_blocking_size_guard_holds_back_a_swinging_segment_and_publishes_the_rest(
    three_days, tmp_path, monkeypatch
):
    settings, _, days, _ = three_days
    day = days[-1]
    strict = yaml.safe_load(DEFAULT_FILE.read_text())
    strict["guards"]["size_guard"] = {"max_change_share": 0.0, "min_rows": 0, "severity": "blocking"}
    (tmp_path / "destinations.yml").write_text(yaml.safe_dump(strict))
    monkeypatch.setenv("NURTURE_DESTINATIONS", str(tmp_path / "destinations.yml"))
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        sizes = con.execute(
            "select segment, run_date, count(*) filter (where status = 'included') "
            "from exports.allocations where run_date in (?, ?) group by all",
            [days[-2], day],
        ).fetchall()
    by_day = {(segment, run_date): n for segment, run_date, n in sizes}
    swinging = {s for s, d in by_day if d == day and by_day[(s, day)] != by_day.get((s, days[-2]), 0)}
    assert swinging, "some segment's size changes from one day to the next"
    assert {s for s, _ in by_day if (s, days[-2]) in by_day} == {s for s, _ in by_day}, "all seen both days"
    manifests = {
        path.parent.parent.name: path.read_bytes()
        for path in settings.exports_dir.glob(f"*/{day}/manifest.json")
    }
    before = snapshot_bytes(settings, day)

    entries = pipeline.export(settings, day, "guarded", day_interval(day)[1]).entries

    assert {e["segment"] for e in entries}.isdisjoint(swinging), "nothing of a held-back segment is sent"
    assert snapshot_bytes(settings, day) == before
    for segment, manifest in manifests.items():
        now = (settings.exports_dir / segment / str(day) / "manifest.json").read_bytes()
        assert (now == manifest) == (segment in swinging), segment
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        held = con.execute(
            "select segment from exports.sync_log where run_id = 'guarded' and status = 'held_back'"
        ).fetchall()
    assert {s for (s,) in held} == swinging


def test_a_crash_mid_export_leaves_the_previous_export_and_the_rerun_completes(three_days, monkeypatch):
    settings, _, days, _ = three_days
    day, segment = days[-1], "winback_lapsing"
    target = folder(settings, segment, day)
    before = snapshot_bytes(settings, day)
    manifest_before = (target / "manifest.json").read_bytes()
    real_write = destination_types._write
    calls = []

    def crash_on_third_file(path, table, fmt):
        if f"{segment}/.{day}" in str(path):
            calls.append(path)
            if len(calls) == 3:
                raise OSError("disk full")
        real_write(path, table, fmt)

    monkeypatch.setattr(destination_types, "_write", crash_on_third_file)
    outcome = pipeline.export(settings, day, "crashed", day_interval(day)[1])
    assert outcome.failed and all(f.startswith(f"{segment} -> ") for f in outcome.failed), outcome.failed
    # What a reader sees is the previous export, whole.
    assert (target / "manifest.json").read_bytes() == manifest_before
    assert snapshot_bytes(settings, day) == before

    # A crash after the files but before the snapshot is saved: the next run's delta is the same.
    monkeypatch.setattr(destination_types, "_write", real_write)
    monkeypatch.setattr(publish_module, "save_members", lambda *a: (_ for _ in ()).throw(OSError("killed")))
    assert pipeline.export(settings, day, "crashed-again", day_interval(day)[1]).failed
    monkeypatch.undo()
    assert pipeline.export(settings, day, "recovered", day_interval(day)[1]).error() is None
    assert snapshot_bytes(settings, day) == before
    assert members_path(settings.exports_dir, "files", segment, day).exists()
    assert not list(target.parent.glob(".*")), "no temporary folders left"


def test_a_consent_withdrawn_since_wins_when_an_earlier_day_is_rerun(three_days):
    settings, _, days, _ = three_days
    first = folder(settings, "winback_lapsing", days[0]) / "winback_lapsing.csv"
    customer_id = int(pd.read_csv(first)["customer_id"].iloc[-1])
    stamp = f"{days[-1]} 18:00:00.000000"
    with sqlite3.connect(settings.shop_db_url.removeprefix("sqlite:///")) as con:
        withdraw = "update customers set consent_email = 0, consent_email_at = ?, updated_at = ?"
        con.execute(f"{withdraw} where customer_id = ?", (stamp, stamp, customer_id))
    pipeline.extract_shop(settings, settings.shop_db_url, *day_interval(days[-1]))  # the change lands
    run_day(settings, days[0], "rerun-after-withdrawal")
    assert customer_id not in keys(first)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        [(status,)] = con.execute(
            "select status from exports.allocations where run_date = ? and segment = ? and customer_id = ?",
            [days[0], "winback_lapsing", customer_id],
        ).fetchall()
    assert status == "no_consent", "as of that day they had consented; now they have not"


def test_the_cli_export_without_a_crm_connection_says_so_in_one_sentence_and_publishes_the_rest(three_days):
    """The README's command as a new user runs it: no CRM connection, an 80-column terminal."""
    settings, _, days, _ = three_days
    done = subprocess.run(
        [sys.executable, "-m", "nurture.cli", "export", "--date", str(days[-1])],
        env={"NURTURE_HOME": str(settings.home), "PATH": "/usr/bin:/bin", "COLUMNS": "80"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    said = " ".join(done.stdout.split())  # rich wraps at 80 columns
    assert "were not sent to 'crm'" in said and "AIRFLOW_CONN_NURTURE_CRM" in said, said
    assert all(segment in said.split("were not sent")[0] for segment in CRM_SEGMENTS), said
    assert "Traceback" not in done.stdout + done.stderr and "…" not in done.stdout
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        statuses = dict(
            con.execute(
                "select destination, list(distinct status) from exports.sync_log where run_id = ? group by 1",
                [f"cli__{days[-1]}"],
            ).fetchall()
        )
    assert statuses == {"files": ["success"], "ads": ["success"], "crm": ["no_connection"]}


def traces(settings, customer_id: int, email: str) -> list:
    """Every file and warehouse table under the data home that still names the customer."""
    email_hash = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    found = []
    parquet: dict[Path, list[str]] = {}  # files of one dataset share a schema: one query each
    for path in settings.home.rglob("*"):
        if not path.is_file() or settings.log_dir in path.parents or path.name == "shop.db":
            continue  # the shop itself is the source system, not ours
        if path.suffix == ".parquet":
            parquet.setdefault(path.parent.parent, []).append(str(path))
        elif path.suffix in (".csv", ".jsonl", ".json", ".html", ".log"):
            text = path.read_text(errors="replace")
            if path.suffix == ".csv" and text.startswith("customer_id,"):
                found += [path for line in text.splitlines()[1:] if line.split(",")[0] == str(customer_id)]
            if email in text or email_hash in text:
                found.append(path)
    with duckdb.connect() as con:
        for files in parquet.values():
            source = (
                f"read_parquet({files}, union_by_name = true, filename = true, hive_partitioning = false)"
            )
            # Every row as text (the whole row cast to a string), searched in SQL; and its customer_id.
            named = f"contains(r::varchar, '{email}') or contains(r::varchar, '{email_hash}')"
            if "customer_id" in con.sql(f"select * from {source}").columns:
                named += f" or customer_id::varchar = '{customer_id}'"
            found += [
                f for (f,) in con.execute(f"select filename from {source} as r where {named}").fetchall()
            ]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        keyed = con.execute(
            "select table_schema, table_name from information_schema.columns where column_name = ?",
            ["customer_id"],
        ).fetchall()
        for schema, table in keyed:
            query = f'select count(*) from "{schema}"."{table}" where customer_id = ?'
            found += [f"{schema}.{table}"] * con.execute(query, [customer_id]).fetchall()[0][0]
    return sorted(set(map(str, found)))


def test_an_erased_customer_leaves_no_trace_right_after_forget_whatever_the_platform_does(
    three_days, crm_sandbox, monkeypatch
):
    """Runs last: it erases two customers of this module's shop while the CRM platform has no
    connection, then while it is down, then when it is back."""
    settings, _, days, _ = three_days
    winback = pd.read_csv(folder(settings, "winback_lapsing", days[-1]) / "winback_lapsing.csv")
    person = winback.iloc[0]
    customer_id, email = int(person["customer_id"]), person["email"]
    # A second person the CRM platform holds: erasure must reach the platform too.
    crm_member = sorted(crm_sandbox.store.audiences["welcome_series"])[0]
    connection = os.environ["AIRFLOW_CONN_NURTURE_CRM"]

    # No CRM connection (the CLI's default): every local copy goes at once, the delete waits.
    monkeypatch.delenv("AIRFLOW_CONN_NURTURE_CRM")
    outcome = forget(settings, {customer_id, int(crm_member)})
    assert outcome.new_requests == 2 and outcome.queued == {"crm": 2}
    assert traces(settings, customer_id, email) == []
    assert outcome.delivery.pending == {"crm": 2}
    assert "AIRFLOW_CONN_NURTURE_CRM" in outcome.delivery.sentence()
    # Pending where: the summary and the run record say so.
    assert build_summary(settings, days[-1]).erasures_pending == {"crm": 2}
    record = pipeline.record_run(settings, days[-1], "erasure-pending")
    assert (record["erasures_pending"], record["erasures_pending_at"]) == (2, "crm: 2")
    assert crm_member not in crm_sandbox.store.deleted

    # The platform down (nothing listens on its port): the shop still has them, the next run
    # re-extracts and drops them again, every other destination publishes, the delete waits.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        down = connection.replace(crm_sandbox.url.rsplit(":", 1)[1], str(closed.getsockname()[1]))
    monkeypatch.setenv("AIRFLOW_CONN_NURTURE_CRM", down)
    start, end = day_interval(days[-1])
    pipeline.extract_shop(settings, settings.shop_db_url, start, end)
    pipeline.apply_erasures(settings)
    pipeline.transform(settings, days[-1])
    outcome = pipeline.export(settings, days[-1], "erasure-platform-down", end)
    assert {e["destination"] for e in outcome.entries} >= {"files", "ads"}
    assert outcome.erasures.pending == {"crm": 2} and outcome.erasures.failed
    assert traces(settings, customer_id, email) == []

    # Back up: the next export delivers the queued deletes, once.
    monkeypatch.setenv("AIRFLOW_CONN_NURTURE_CRM", connection)
    outcome = pipeline.export(settings, days[-1], "erasure-platform-back", day_interval(days[-1])[1])
    assert outcome.error() is None
    assert outcome.erasures.acknowledged == {"crm": 2} and outcome.erasures.pending == {}
    assert crm_member in crm_sandbox.store.deleted
    assert all(crm_member not in audience for audience in crm_sandbox.store.audiences.values())
    assert not list((settings.exports_dir / "_state" / "erasure_outbox").glob("*/*.json"))
    assert traces(settings, customer_id, email) == []
