"""`make lint` in the test suite: ruff finds nothing, and every import-linter contract
(.importlinter: the package's layers, Airflow only in the orchestration glue, no dev
helper in the pipeline) is kept, so a wrong arrow between packages fails CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SOURCES = ["nurture", "dags", "scripts", "tests"]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def test_ruff_finds_nothing():
    for command in (["check"], ["format", "--check"]):
        done = run(str(BIN / "ruff"), *command, *SOURCES)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_import_contract_is_kept():
    done = run(str(BIN / "lint-imports"), "--no-cache")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout
