"""The command line as a user runs it: sizes printed, clear errors, meaningful exit codes."""

from __future__ import annotations

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
