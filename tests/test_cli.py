"""The command line as a user runs it: sizes printed, clear errors, meaningful exit codes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys


def nurture(home, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nurture.cli", *args],
        env={"NURTURE_HOME": str(home), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        capture_output=True,
        text=True,
    )


def test_generate_says_what_it_made_and_where(tmp_path):
    done = nurture(tmp_path, "generate", "--customers", "150", "--days", "30", "--seed", "1")
    assert done.returncode == 0, done.stderr
    assert "customers 150" in done.stdout
    assert "(30 files)" in done.stdout
    assert (tmp_path / "shop" / "shop.db").exists()


def test_a_day_without_its_log_file_fails_with_a_clear_message(tmp_path):
    assert nurture(tmp_path, "generate", "--customers", "50", "--days", "10").returncode == 0
    done = nurture(tmp_path, "run", "--date", "2026-02-01")
    assert done.returncode == 2
    assert "events-2026-02-01.jsonl.gz" in done.stdout
    assert "re-run the day" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_validate_reports_bad_lines_with_file_line_field_and_rule(tmp_path):
    assert nurture(tmp_path, "generate", "--customers", "50", "--days", "5").returncode == 0
    logs = tmp_path / "shop" / "logs"
    good = nurture(tmp_path, "validate", str(logs))
    assert good.returncode == 0, good.stdout
    assert "quarantined" in good.stdout and "Quarantined lines" not in good.stdout

    path = sorted(logs.iterdir())[-1]
    lines = gzip.decompress(path.read_bytes()).splitlines()
    bad = json.loads(lines[0]) | {"event_id": "bad-1", "event_type": "teleported"}
    path.write_bytes(gzip.compress(b"\n".join([*lines, json.dumps(bad).encode(), b"{oops"]) + b"\n"))
    done = nurture(tmp_path, "validate", str(path))
    assert done.returncode == 1
    assert "unknown_event_type" in done.stdout and "malformed_json" in done.stdout
    assert f"{len(lines) + 1}" in done.stdout and f"{len(lines) + 2}" in done.stdout  # line numbers
    assert path.name in done.stdout
