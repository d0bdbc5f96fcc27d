"""The Great Expectations gates through the real DAG (`airflow dags test`): a blocking
failure publishes no export; a warning is recorded and the run goes on."""

from __future__ import annotations

import gzip
import json
import sqlite3
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest

from devkit.local_airflow import airflow_env, dags_test, free_port, init_metadata
from nurture import pipeline
from nurture.config import load_settings
from nurture.extract.event_logs import LOG_NAME, extract_event_logs
from nurture.quality.checks import check_raw
from nurture.quality.gate import QualityGateError, data_docs_index
from tests.conftest import day_interval, make_shop, midnight

pytestmark = pytest.mark.airflow


class AlertHook:
    """An incoming-webhook receiver on 127.0.0.1 that keeps what it is sent."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture(scope="module")
def alert_hook():
    hook = AlertHook()
    yield hook
    hook.server.shutdown()


@pytest.fixture(scope="module")
def gated_shop(tmp_path_factory, alert_hook):
    """A shop whose raw zone holds history up to two days before its last day."""
    settings, shop = make_shop(tmp_path_factory.mktemp("gated_shop"), customers=300, days=150, seed=11)
    # Days well before the other Airflow tests' dates: they share the metadata DB.
    warned_day = shop.end - timedelta(days=9)
    blocked_day = warned_day + timedelta(days=1)
    pipeline.extract_shop(settings, settings.shop_db_url, midnight(shop.start), midnight(warned_day))
    pipeline.extract_events(settings, midnight(shop.start), midnight(warned_day))
    env = airflow_env(settings, api_port=free_port(), calendar=(shop.start, shop.end))
    env["AIRFLOW_CONN_NURTURE_ALERTS"] = json.dumps({"conn_type": "http", "host": alert_hook.url})
    (settings.home / "service-logs").mkdir()
    init_metadata(env, settings.home / "service-logs" / "init.log")
    return settings, env, warned_day, blocked_day


def run_day(settings, env, day):
    """``dags test`` for the interval [day, day + 1): a manual run at day + 1."""
    log = settings.home / "service-logs" / f"dags-test-{day}.log"
    done = dags_test(env, (day + timedelta(days=1)).isoformat(), log, check=False)
    return done.returncode, log.read_text()


def run_record(settings, day) -> dict:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        frame = con.execute("select * from audit.pipeline_runs where logical_date = ?", [day]).df()
    assert len(frame) == 1, f"one run record for {day}"
    return frame.iloc[0].to_dict()


def results(settings, day):
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(
            "select suite, expectation, severity, success from audit.validation_results "
            "where logical_date = ? order by all",
            [day],
        ).fetchall()


def test_a_warning_is_recorded_and_the_exports_still_go_out(gated_shop):
    settings, env, day, _ = gated_shop
    stamp = f"{day} 09:00:00.000000"
    with sqlite3.connect(settings.shop_db_url.removeprefix("sqlite:///")) as con:
        con.execute("alter table customers add column loyalty_opt_in integer")  # schema drift
        # Two bad orders: under the error budget's free rows, so quarantined without blocking.
        con.executemany(
            "insert into orders values (?, ?, ?, 'paid', 'EUR', 10, 0, ?, null, ?)",
            [(990001, 1, stamp, -10, stamp), (990002, 999_999, stamp, 10, stamp)],
        )
        good_orders = {
            row[0]
            for row in con.execute(
                "select order_id from orders where updated_at >= ? and updated_at < ? and order_id < 990001",
                (str(day), str(day + timedelta(days=1))),
            )
        }
    code, log = run_day(settings, env, day)
    assert code == 0, log[-3000:]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        in_mart = {row[0] for row in con.execute("select order_id from fct_orders").fetchall()}
    assert good_orders and good_orders <= in_mart, "no good row lost"
    assert not {990001, 990002} & in_mart, "no bad row reaches a mart"
    assert (
        "raw_extract_audit",
        "expect_column_values_to_be_null(extra_columns)",
        "warning",
        False,
    ) in results(settings, day)
    assert "data-quality warning: raw_extract_audit" in log
    assert (settings.exports_dir / "winback_lapsing" / day.isoformat() / "manifest.json").exists()
    checked = {suite for suite, *_ in results(settings, day)}
    assert {"raw_events", "raw_orders", "mart_dim_customers", "export_segment"} <= checked
    index = data_docs_index(settings)
    assert index.exists() and "raw_extract_audit" in index.read_text()

    # The run record: every step, rows per layer, the check and sync summaries.
    record = run_record(settings, day)
    assert record["steps_failed"] == 0 and record["steps"] >= 12
    assert record["raw_rows"] > 0 and record["staging_rows"] > 0 and record["marts_rows"] > 0
    assert record["expectations"] == len(results(settings, day)) and record["expectations_warned"] >= 1
    assert record["exports_succeeded"] > 0 and record["exports_failed"] == 0
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        steps = dict(
            con.execute(
                "select task_id, state from audit.pipeline_steps where logical_date = ?", [day]
            ).fetchall()
        )
        dbt = con.execute(
            "select count(*), count(*) filter (where resource_type = 'model') from audit.dbt_node_results "
            "where logical_date = ?",
            [day],
        ).fetchall()[0]
    assert steps["transform.dbt_build"] == "success" and steps["export.publish"] == "success"
    assert dbt[1] > 30 and dbt[0] > dbt[1], "every model and its tests"


def test_a_blocking_failure_stops_the_run_and_publishes_no_export(gated_shop):
    settings, env, _, day = gated_shop
    # Over the error budget: a quarter of the day's log lines are garbage.
    path = settings.log_dir / LOG_NAME.format(day=day.isoformat())
    lines = gzip.decompress(path.read_bytes()).splitlines()
    path.write_bytes(gzip.compress(b"\n".join(lines + [b"{not json"] * (len(lines) // 3)) + b"\n"))
    code, log = run_day(settings, env, day)
    assert code != 0
    assert "blocking expectation(s) failed" in log
    assert "raw_extract_audit" in log and "over_error_budget" in log
    assert not list(settings.exports_dir.glob(f"*/{day.isoformat()}")), "no export for a blocked run"
    failed = [r for r in results(settings, day) if not r[3]]
    budget = ("raw_extract_audit", "expect_column_values_to_be_in_set(over_error_budget)", "critical", False)
    assert budget in failed


def test_a_failed_run_alerts_with_its_cause_and_is_still_recorded(gated_shop, alert_hook):
    """Runs after the blocked day: the alert went to the file and to the webhook."""
    settings, _, _, day = gated_shop
    alerts = [
        json.loads(line) for line in (settings.home / "alerts" / "alerts.jsonl").read_text().splitlines()
    ]
    blocked = [a for a in alerts if a["task_id"] == "extract.validate_raw"]
    assert [a["cause"] for a in blocked] == ["validation_failed"], alerts
    assert "over_error_budget" in blocked[0]["message"]
    sent = [a for a in alert_hook.received if a["task_id"] == "extract.validate_raw"]
    assert sent and sent[0]["text"].startswith(
        "[nurture] validation_failed in nurture_daily.extract.validate_raw"
    )
    record = run_record(settings, day)
    assert record["steps_failed"] == 1 and record["expectations_blocking_failed"] >= 1
    assert record["exports_succeeded"] in (0, None)


def test_a_stale_log_blocks_and_an_old_day_rerun_does_not_look_stale(small_shop, tmp_path):
    """Freshness is judged against the run's data interval, never the wall clock."""
    source, shop = small_shop
    settings = load_settings(tmp_path)
    old_day = shop.start + timedelta(days=30)  # months before "now": a backfill
    extract_event_logs(source.log_dir, settings.raw_dir, *day_interval(old_day))
    check_raw(settings, *day_interval(old_day), run_id="backfill__old_day")

    # The shipper re-sent the day before's events under today's name: nothing is new.
    stale_day = old_day + timedelta(days=1)
    logs = tmp_path / "logs"
    logs.mkdir()
    yesterday = (source.log_dir / LOG_NAME.format(day=old_day.isoformat())).read_bytes()
    (logs / LOG_NAME.format(day=stale_day.isoformat())).write_bytes(yesterday)
    extract_event_logs(logs, settings.raw_dir, *day_interval(stale_day))
    with pytest.raises(QualityGateError, match=r"raw_freshness .*events_staleness_hours"):
        check_raw(settings, *day_interval(stale_day), run_id="scheduled__stale_day")
