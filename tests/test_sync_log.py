"""The sync log tells what a destination really got: each target published to the sandbox
audience API (a real HTTP server on 127.0.0.1) under faults, its entry compared with what
the server itself received and answered; and a destination without a connection."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, datetime
from functools import partial
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from devkit.sandbox_api import SandboxApi
from nurture.bi.summary import build_summary, render
from nurture.config import Settings, load_settings
from nurture.connections import MissingConnectionError
from nurture.export import destination_types, publish
from nurture.export.allocation import Guards
from nurture.export.config import Destination, ExportConfig, FieldMap, SizeGuard
from nurture.export.http_push import PushError, push_batches
from nurture.export.state import read_sync_log, state_dir
from nurture.export.sync_log import ADDED_COLUMNS, COLUMNS, record_sync_log
from nurture.report import data as report_data
from tests.test_http_push import server_view

DAY = date(2025, 12, 31)
RUN_ID = "sync-log-test"
SEGMENT = "winback_lapsing"
TOKEN = "test-token"
MEMBERS = 11  # in batches of 3: four upsert batches, the last one of two rows
CRM = Destination(
    name="crm", type="http", connection="nurture_crm", batch_size=3, max_retries=2,
    fields=(FieldMap("external_id", "customer_id"), FieldMap("email", "email")),
)  # fmt: skip
CONFIG = ExportConfig(guards=Guards(), size_guard=SizeGuard(), destinations={"crm": CRM})
FIGURES = ("sent", "confirmed_earlier", "failed", "batches_sent", "batches_confirmed_earlier",
           "retries_429", "retries_5xx", "retries_timeout")  # fmt: skip
NO_RETRIES = {"429": 0, "5xx": 0, "timeout": 0}


def stage(settings: Settings) -> None:
    """What stage_exports would leave for one segment: its plan and its frozen rows."""
    folder = settings.exports_dir / "_staging" / f"dt={DAY}"
    folder.mkdir(parents=True)
    plan = {"run_id": RUN_ID, "targets": [{"segment": SEGMENT, "destination": "crm"}],
            "allocation": {SEGMENT: {"included": MEMBERS, "holdout": 1}}, "held_back": {}}  # fmt: skip
    (folder / "plan.json").write_text(json.dumps(plan))
    ids = list(range(1, MEMBERS + 1))
    rows = {"customer_id": ids, "email": [f"c{i}@example.com" for i in ids]}
    pq.write_table(pa.table(rows), folder / f"{SEGMENT}.parquet")


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    """A home with one staged segment; pushes retry quickly and time out after 0.5 s."""
    settings = load_settings(tmp_path)
    settings.warehouse_path.parent.mkdir(parents=True)
    stage(settings)
    monkeypatch.setattr(
        destination_types, "push_batches", partial(push_batches, base_delay=0.01, timeout=0.5)
    )
    return settings


def publish_crm(exports_dir: Path, url: str | None) -> dict:
    """Publish the segment to the CRM (``url`` None: resolve the connection as a run does)."""
    endpoint = (url, TOKEN) if url else None
    end = datetime(2026, 1, 1)
    return publish.publish_target(exports_dir, CONFIG, SEGMENT, "crm", DAY, RUN_ID, end, endpoint=endpoint)


def recorded(settings: Settings) -> dict:
    """The target's row in exports.sync_log, loaded from its entry as the DAG does."""
    record_sync_log(settings, DAY, RUN_ID)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        cursor = con.execute("select * from exports.sync_log where run_id = ?", [RUN_ID])
        names = [column[0] for column in cursor.description]
        [row] = cursor.fetchall()
    return dict(zip(names, row, strict=True))


def retries(entry: dict) -> dict[str, int]:
    return {cause: entry[f"retries_{cause}"] for cause in NO_RETRIES}


@pytest.mark.parametrize(
    "faults",
    # (None: a normal answer; a batch may be retried twice)
    [(429, 500, None, 429, 503), ("hang", None, "hang"), (500, "hang", None, 429)],
    ids=["429-and-5xx", "timeouts", "mixed"],
)
def test_the_entry_counts_what_the_server_received_and_each_retry_by_its_cause(settings, faults):
    with SandboxApi(TOKEN, hang_seconds=2) as api:
        api.store.fail_next(*faults)
        publish_crm(settings.exports_dir, api.url)
        seen = server_view(api.store.requests)
        audience = api.store.audiences[SEGMENT]
    entry = recorded(settings)
    assert entry["status"] == "success"
    assert (entry["sent"], entry["batches_sent"]) == (seen["rows"], seen["batches"]) == (MEMBERS, 4)
    assert retries(entry) == seen["retries"]
    assert sum(seen["retries"].values()) == len(faults) - faults.count(None)
    assert (entry["confirmed_earlier"], entry["batches_confirmed_earlier"], entry["failed"]) == (0, 0, 0)
    assert len(audience) == MEMBERS


def test_a_failed_push_records_what_went_out_and_the_resume_what_was_confirmed_earlier(settings):
    with SandboxApi(TOKEN) as api:
        api.store.fail_next(None, 429, 500, 500)  # batch 1 lands, batch 2 fails after 2 retries
        with pytest.raises(PushError):
            publish_crm(settings.exports_dir, api.url)
        failed_attempt = server_view(api.store.requests)
        [failed] = read_sync_log(settings.exports_dir, DAY)
        after_failure = len(api.store.requests)

        resumed = publish_crm(settings.exports_dir, api.url)  # the task's retry: same run
        resumed_attempt = server_view(api.store.requests[after_failure:])
        audience = api.store.audiences[SEGMENT]

    assert failed["status"] == "failed"
    assert (failed["sent"], failed["batches_sent"]) == (failed_attempt["rows"], 1) == (3, 1)
    assert retries(failed) == failed_attempt["retries"] == {"429": 1, "5xx": 1, "timeout": 0}
    assert failed["failed"] == MEMBERS - 3 and failed["confirmed_earlier"] == 0

    entry = recorded(settings)
    assert entry["status"] == "success"
    assert {k: resumed[k] for k in FIGURES} == {k: entry[k] for k in FIGURES}, "returned as recorded"
    assert (entry["sent"], entry["batches_sent"]) == (resumed_attempt["rows"], resumed_attempt["batches"])
    earlier = (failed_attempt["rows"], failed_attempt["batches"])
    assert (entry["confirmed_earlier"], entry["batches_confirmed_earlier"]) == earlier
    assert retries(entry) == resumed_attempt["retries"] == NO_RETRIES
    assert entry["sent"] + entry["confirmed_earlier"] == MEMBERS == len(audience)


KILLED_PUBLISH = """
import sys
from pathlib import Path
from tests.test_sync_log import publish_crm
publish_crm(Path(sys.argv[1]), sys.argv[2])
"""


def test_a_push_killed_mid_batch_is_resumed_and_the_entry_counts_the_killed_attempt(settings):
    root = Path(__file__).parents[1]
    with SandboxApi(TOKEN, hang_seconds=60) as api:
        api.store.fail_next(None, None, "hang")  # two batches land, the third hangs: kill then
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_PUBLISH, str(settings.exports_dir), api.url], cwd=root
        )
        deadline = time.monotonic() + 60
        while len(api.store.requests) < 3 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        child.kill()
        child.wait()
        assert len(api.store.requests) == 3, "the child reached the third batch"
        killed = server_view(api.store.requests[:2])
        assert read_sync_log(settings.exports_dir, DAY) == [], "a killed task writes no entry"

        publish_crm(settings.exports_dir, api.url)
        resumed_attempt = server_view(api.store.requests[3:])
        audience = api.store.audiences[SEGMENT]

    entry = recorded(settings)
    assert entry["status"] == "success"
    assert (entry["confirmed_earlier"], entry["batches_confirmed_earlier"]) == (killed["rows"], 2) == (6, 2)
    assert (entry["sent"], entry["batches_sent"]) == (resumed_attempt["rows"], resumed_attempt["batches"])
    assert entry["sent"] == MEMBERS - 6 and entry["failed"] == 0
    assert retries(entry) == resumed_attempt["retries"] == NO_RETRIES
    assert len(audience) == MEMBERS


def test_without_a_connection_the_target_is_recorded_as_no_connection_and_nothing_else(settings, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NURTURE_CRM", raising=False)
    with pytest.raises(MissingConnectionError) as raised:
        publish_crm(settings.exports_dir, None)
    error = raised.value
    assert isinstance(error, LookupError)
    assert (error.conn_id, error.variable) == ("nurture_crm", "AIRFLOW_CONN_NURTURE_CRM")
    assert f"Publishing '{SEGMENT}' to HTTP destination 'crm' needs the Airflow connection" in str(error)
    assert "AIRFLOW_CONN_NURTURE_CRM" in str(error) and "\n" not in str(error)

    entry = recorded(settings)
    assert entry["status"] == "no_connection"
    assert (entry["sent"], entry["failed"], entry["included"]) == (0, MEMBERS, MEMBERS)
    state = state_dir(settings.exports_dir)
    assert not (state / "push").exists() and not (state / "members").exists(), "nothing else saved"


def test_summary_and_report_show_the_figures_in_80_columns(settings):
    with SandboxApi(TOKEN) as api:
        api.store.fail_next(429, None, "hang", None, 502)
        publish_crm(settings.exports_dir, api.url)
    entry = recorded(settings)
    summary = build_summary(settings, DAY)
    console = Console(width=80, record=True)
    console.print(render(summary))
    text = console.export_text()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    [audience, delivery] = [line.split() for line in text.splitlines() if line.startswith(SEGMENT)]
    assert audience == [SEGMENT, "crm", "success", "11", "11", "0", "1"]
    assert delivery == [SEGMENT, "crm", "11", "0", "0", "4", "1", "1", "1"]

    # The report reads the BI snapshot's copy of the table.
    snapshot = settings.home / "bi-snapshot"
    snapshot.mkdir()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        con.execute(f"copy exports.sync_log to '{snapshot / 'exports__sync_log.parquet'}' (format parquet)")
    [row] = report_data.load(snapshot)["sync"].to_dict("records")
    assert {k: row[k] for k in (*FIGURES, "status")} == {k: entry[k] for k in (*FIGURES, "status")}


def test_an_older_sync_log_gains_the_new_columns_and_its_rows_still_show(settings):
    # The table as the hourly refresh left it (with run_hour), before the delivery figures.
    old_columns = {c: t for c, t in COLUMNS.items() if c == "run_hour" or c not in ADDED_COLUMNS}
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema exports")
        con.execute(
            f"create table exports.sync_log ({', '.join(f'{c} {t}' for c, t in old_columns.items())})"
        )
        con.execute(
            "insert into exports.sync_log (run_id, logical_date, segment, destination, status, sent) "
            "values ('before', ?, 'birthday', 'crm', 'success', 7)",
            [DAY],
        )
    summary = build_summary(settings, DAY)  # before any new entry: new figures blank
    assert [(r["segment"], r["sent"], r.get("retries_429")) for r in summary.sync_log] == [
        ("birthday", 7, None)
    ]
    with SandboxApi(TOKEN) as api:
        publish_crm(settings.exports_dir, api.url)
    assert recorded(settings)["batches_sent"] == 4
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        [old] = con.execute("select * from exports.sync_log where run_id = 'before'").df().to_dict("records")
    assert old["sent"] == 7 and pd.isna(old["batches_sent"]) and pd.isna(old["retries_timeout"])
