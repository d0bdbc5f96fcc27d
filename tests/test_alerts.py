"""Alerts name the cause of a failure, and a broken webhook never loses one."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from devkit.local_airflow import free_port
from nurture.export.http_push import PushError
from nurture.extract.event_logs import extract_event_logs
from nurture.extract.shop_tables import SourceUnavailableError, extract_shop_tables
from nurture.orchestration.alerts import Alert, cause_of, send
from nurture.quality.gate import QualityGateError

START, END = datetime(2025, 6, 1), datetime(2025, 6, 2)


def test_an_unreachable_shop_database_is_source_down_with_the_password_masked(tmp_path):
    port = free_port()  # nothing listens there
    url = f"postgresql+psycopg2://nurture:s3cret@127.0.0.1:{port}/shop"
    with pytest.raises(SourceUnavailableError) as error:
        extract_shop_tables(url, tmp_path / "raw", START, END)
    assert f"nurture:***@127.0.0.1:{port}/shop" in str(error.value)
    assert "s3cret" not in str(error.value) and "***" in str(error.value)
    assert cause_of(error.value) == "source_down"


def test_a_shop_database_without_its_tables_is_source_down(tmp_path):
    with pytest.raises(SourceUnavailableError, match="table fx_rates not found"):
        extract_shop_tables(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path / "raw", START, END)


def test_a_missing_log_file_is_source_down(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        extract_event_logs(tmp_path, tmp_path / "raw", START, END)
    assert cause_of(error.value) == "source_down"


def test_causes_are_found_through_the_exception_chain():
    class AirflowFailException(Exception):  # what the DAG wraps a quality gate failure in
        pass

    try:
        try:
            raise QualityGateError([])
        except QualityGateError as gate:
            raise AirflowFailException("1 blocking expectation failed") from gate
    except AirflowFailException as wrapped:
        assert cause_of(wrapped) == "validation_failed"
    assert cause_of(PushError("HTTP 503")) == "destination_down"
    assert cause_of(ValueError("anything else")) == "task_failed"
    assert cause_of(None) == "task_failed"


def test_an_alert_is_kept_when_the_webhook_is_down(tmp_path, monkeypatch):
    monkeypatch.setenv("NURTURE_HOME", str(tmp_path))
    hook = {"conn_type": "http", "host": f"http://127.0.0.1:{free_port()}/hook"}  # nobody listens
    monkeypatch.setenv("AIRFLOW_CONN_NURTURE_ALERTS", json.dumps(hook))
    send(Alert("source_down", "nurture_daily", "run-1", "extract.shop_tables", "connection refused", "now"))
    [kept] = [json.loads(line) for line in (tmp_path / "alerts" / "alerts.jsonl").read_text().splitlines()]
    assert kept["cause"] == "source_down" and kept["task_id"] == "extract.shop_tables"
