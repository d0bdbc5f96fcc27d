"""`make lint` in the test suite: ruff finds nothing, and every import-linter contract
(.importlinter: the package's layers, Airflow only in the orchestration glue, no dev
helper in the pipeline) is kept, so a wrong arrow between packages fails CI. The dev
helpers (scripts/devkit/) stay out of what is shipped: nothing under nurture/ or dags/
imports them, and the package discovery takes nurture/ only. Two rules of the house
that no import contract can say: only nurture/config.py reads the environment, and only
the engines (nurture/warehouse/engines/) branch on the dbt target."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from setuptools import find_packages

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


def test_nothing_shipped_imports_the_devkit():
    """The package and the DAG files (what the Airflow image holds) never import the dev helpers."""
    offenders = []
    for path in sorted([*(ROOT / "nurture").rglob("*.py"), *(ROOT / "dags").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(name == "devkit" or name.startswith("devkit.") for name in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"shipped code imports the dev-only scripts/devkit: {offenders}"


def test_only_the_package_is_shipped():
    """pyproject.toml's package discovery finds nurture and its subpackages, not scripts/devkit."""
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = find_packages(str(ROOT), include=find["include"], exclude=find.get("exclude", ()))
    assert packages and all(p == "nurture" or p.startswith("nurture.") for p in packages), packages
    assert (ROOT / "scripts" / "devkit" / "__init__.py").is_file()


def _lines(pattern: str, skip: tuple[str, ...]) -> list[str]:
    """``file:line`` of every line of the package matching ``pattern``, outside ``skip``."""
    found = []
    for path in sorted((ROOT / "nurture").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name.startswith(skip):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(pattern, line):
                found.append(f"{name}:{number}")
    return found


def test_only_config_reads_the_environment():
    """One place reads the environment (nurture/config.py); the others may set it for a
    tool they run (dbt's variables), not read it."""
    reads = r"os\.getenv|os\.environ\.get|os\.environ\[[^\]]+\](?!\s*=)|\{\*\*os\.environ|in os\.environ"
    assert _lines(reads, ("nurture/config.py",)) == []


def test_only_the_engines_branch_on_the_target():
    """DuckDB, PostgreSQL and Spark differ inside nurture/warehouse/engines/ only."""
    branches = r"dbt_target\s*(==|!=|in\b)|target\s*==\s*[\"'](duckdb|postgres|spark)"
    assert _lines(branches, ("nurture/warehouse/engines/",)) == []
