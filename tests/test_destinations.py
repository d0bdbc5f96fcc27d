"""Destination configuration and file destinations beyond a local folder."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nurture.config import load_settings
from nurture.export.config import Destination, ExportConfigError, FieldMap, load_export_config
from nurture.export.destination_types import write_to
from nurture.export.publish import compute_delta


def test_the_shipped_destinations_file_loads_and_bad_entries_name_the_file(tmp_path):
    config = load_export_config(load_settings(tmp_path))
    assert {"files", "ads", "crm"} <= set(config.destinations)
    assert config.destinations["crm"].connection == "nurture_crm", "secrets come from an Airflow connection"
    assert str(tmp_path) in config.destinations["files"].url
    broken = tmp_path / "destinations.yml"
    broken.write_text("destinations:\n  crm:\n    type: http\n")
    with pytest.raises(ExportConfigError, match=rf"{broken}: destination 'crm': an http destination needs"):
        load_export_config(load_settings(tmp_path), broken)


def test_an_fsspec_url_gets_the_files_and_the_manifest_last(tmp_path):
    staged = tmp_path / "staged.parquet"
    rows = {
        "customer_id": [3, 1, 2],
        "email": [" A@X.com", "b@x.com", "c@x.com"],
        "phone": ["0044 1", None, "+44 (2)"],
    }
    pq.write_table(pa.table(rows), staged)
    fields = (FieldMap("external_id", "customer_id"), FieldMap("email", "email", "lower"),
              FieldMap("phone", "phone", "e164"), FieldMap("points", "points_balance"))  # fmt: skip
    destination = Destination(name="bucket", type="files", url="memory://nurture-test", fields=fields)
    delta = compute_delta(staged, destination, "customer_id", None)
    assert delta.rows.to_pylist() == [
        {"external_id": 1, "email": "b@x.com", "phone": None, "points": None},
        {"external_id": 2, "email": "c@x.com", "phone": "+442", "points": None},
        {"external_id": 3, "email": "a@x.com", "phone": "+441", "points": None},
    ]
    write_to(
        destination.url, "winback", date(2025, 12, 31), delta, ("csv", "parquet"), {"segment": "winback"}
    )
    fs = fsspec.filesystem("memory")
    folder = "/nurture-test/winback/2025-12-31"
    manifest = json.loads(fs.cat(f"{folder}/manifest.json"))
    for entry in manifest["files"]:
        assert hashlib.sha256(fs.cat(f"{folder}/{entry['path']}")).hexdigest() == entry["sha256"]
    assert {e["path"] for e in manifest["files"]} == {
        "winback.csv",
        "winback.parquet",
        "added.csv",
        "removed.csv",
        "changed.csv",
    }
