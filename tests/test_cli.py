"""The command line as a user runs it: sizes printed, clear errors, meaningful exit codes."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from types import SimpleNamespace

from rich.console import Console
from typer.testing import CliRunner

from nurture import cli
from nurture.bi import summary
from nurture.cli_output import EXPORT_COLUMNS, export_table, print_tables
from nurture.export.publish import SUPPRESSION_REASONS


def nurture(home, *args: str, columns: int = 200) -> subprocess.CompletedProcess:
    """The command as a user runs it, its output into a pipe."""
    return subprocess.run(
        [sys.executable, "-m", "nurture.cli", *args],
        env={"NURTURE_HOME": str(home), "PATH": "/usr/bin:/bin", "COLUMNS": str(columns)},
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
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert "events-2026-02-01.jsonl.gz" in line and "re-run the day" in line
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


# The error boundary and the tables, in process (typer's CliRunner): fast, no pipeline run.

runner = CliRunner()


def invoke(home, *args: str):
    return runner.invoke(cli.app, list(args), env={"NURTURE_HOME": str(home), "COLUMNS": "80"})


def test_a_failure_is_one_line_on_stderr_and_its_traceback_goes_to_the_log_file(tmp_path):
    done = invoke(tmp_path, "run", "--date", "2025-01-01")  # no shop, no warehouse: fails at once
    assert done.exit_code == 1
    log = tmp_path / "logs" / "nurture-cli.log"
    [line] = done.stderr.splitlines()
    assert line.startswith("error: shop database sqlite:///") and "nurture generate" in line, line
    assert line.endswith(f"(traceback in {log})")
    assert "Traceback" not in done.stdout + done.stderr
    assert "Traceback (most recent call last)" in log.read_text()
    assert "nurture run --date 2025-01-01" in log.read_text()

    debug = invoke(tmp_path, "--debug", "run", "--date", "2025-01-01")
    assert debug.exit_code == 1
    assert "Traceback (most recent call last)" in debug.stderr and "SourceUnavailableError" in debug.stderr
    assert debug.stderr.splitlines()[-1] == line
    assert log.read_text().count("nurture --debug run --date 2025-01-01\n") == 1  # appended


def test_an_unexpected_failure_is_named_by_its_type_and_points_to_debug(tmp_path, monkeypatch):
    def broken(settings, day):
        raise ValueError("no such thing\non two lines")

    monkeypatch.setattr(summary, "build_summary", broken)
    done = invoke(tmp_path, "summary", "--date", "2025-01-01")
    assert done.exit_code == 1
    log = tmp_path / "logs" / "nurture-cli.log"
    assert done.stderr.splitlines() == [
        f"error: ValueError: no such thing; on two lines — run again with --debug for the traceback "
        f"(also in {log})"
    ]


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, monkeypatch):
    def interrupted(settings, day):
        raise KeyboardInterrupt

    monkeypatch.setattr(summary, "build_summary", interrupted)
    done = invoke(tmp_path, "summary", "--date", "2025-01-01")
    assert done.exit_code == 130
    assert len(done.stderr.splitlines()) == 1 and "interrupted" in done.stderr


def test_an_unreadable_date_is_a_usage_error(tmp_path):
    done = invoke(tmp_path, "summary", "--date", "2025-13-01")
    assert done.exit_code == 2
    assert "does not match the formats" in done.stderr
    assert not (tmp_path / "logs").exists()


LONG_ROWS = [
    {"segment": "replenishment_reminder", "destination": "crm_audience_api", "considered": 123456}
    | {f"suppressed_{reason}": 10_000 + i for i, reason in enumerate(SUPPRESSION_REASONS)}
    | {"included": 99_999, "added": 1_234, "removed": 5_678, "changed": 42},
    {"segment": "winback_lapsing", "destination": "files", "considered": 7, "included": 7, "added": 7},
]


def test_a_wide_table_at_80_columns_is_stacked_never_cut():
    out = io.StringIO()
    print_tables(Console(file=out, width=80), export_table(LONG_ROWS, "Dry run for 2025-12-31"))
    text = out.getvalue()
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    assert ["segment:", "replenishment_reminder"] in [line.split() for line in text.splitlines()]
    for header in ("supp. no consent", "supp. frequency cap", "removed", "changed"):
        assert f"{header}:" in text
    for value in ("replenishment_reminder", "crm_audience_api", "123456", "10003", "5678"):
        assert value in text

    wide = io.StringIO()  # a terminal wide enough keeps the table
    print_tables(Console(file=wide, width=200), export_table(LONG_ROWS, "Dry run for 2025-12-31"))
    assert "┃ segment " in wide.getvalue() and "supp. frequency cap" in wide.getvalue()


def dry_run_of(monkeypatch, rows: list[dict]) -> None:
    """`export --dry-run` with the staging and publishing faked: the rows a built warehouse gives."""
    from nurture.export import config, publish, stage

    plan = SimpleNamespace(targets=rows, held_back={"big_spenders": "300% more than yesterday"})
    monkeypatch.setattr(config, "load_export_config", lambda settings: None)
    monkeypatch.setattr(stage, "stage_exports", lambda *args, **kwargs: plan)

    def publish_target(exports_dir, config, segment, destination, *args, **kwargs) -> dict:
        return next(r for r in rows if (r["segment"], r["destination"]) == (segment, destination))

    monkeypatch.setattr(publish, "publish_target", publish_target)


def test_export_dry_run_prints_whole_values_at_80_columns_or_json(tmp_path, monkeypatch):
    dry_run_of(monkeypatch, LONG_ROWS)
    monkeypatch.setattr(cli, "console", Console(width=80))  # the width a pipe with COLUMNS=80 gets
    done = invoke(tmp_path, "export", "--date", "2025-12-31", "--dry-run")
    assert done.exit_code == 0, done.stderr
    assert "…" not in done.stdout and "replenishment_reminder" in done.stdout
    assert "held back by the size guard: big_spenders" in done.stdout

    done = invoke(tmp_path, "export", "--date", "2025-12-31", "--dry-run", "--json")
    assert done.exit_code == 0, done.stderr
    rows = json.loads(done.stdout)  # nothing else on stdout
    assert rows == [{c: row.get(c) for c in EXPORT_COLUMNS} for row in LONG_ROWS]
    assert "big_spenders" in done.stderr


def test_summary_in_a_pipe_at_80_columns_keeps_every_value_whole_and_says_it_in_json(tmp_path):
    for segment, rows in (("replenishment_reminder", 1234), ("winback_lapsing", 56)):
        folder = tmp_path / "exports" / segment / "2025-06-30"
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(
            json.dumps({"files": [{"path": f"{segment}.csv", "rows": rows}]})
        )
    done = nurture(tmp_path, "summary", "--date", "2025-06-30", columns=80)
    assert done.returncode == 0, done.stderr
    exports = tmp_path / "exports"
    lines = done.stdout.splitlines()
    # Tables fit 80 columns (stacked when wider); a path is a line of its own, never split
    # (the terminal wraps it; copied, it is whole).
    assert "…" not in done.stdout
    said = f"Exports folder: {exports}"
    assert said in lines and [line for line in lines if len(line) > 80] == [said] * (len(said) > 80)
    [row] = [line for line in lines if "replenishment_reminder/2025-06-30" in line]
    cells = [cell.strip() for cell in row.split("│")[1:4]]
    assert cells == ["replenishment_reminder", "1,234", "replenishment_reminder/2025-06-30"]
    folder = exports / "replenishment_reminder" / "2025-06-30"

    done = nurture(tmp_path, "summary", "--date", "2025-06-30", "--json", columns=80)
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    assert said["run_date"] == "2025-06-30"
    assert said["exports"] == [
        {"segment": "replenishment_reminder", "rows": 1234, "folder": str(folder)},
        {
            "segment": "winback_lapsing",
            "rows": 56,
            "folder": str(folder.parents[1] / "winback_lapsing/2025-06-30"),
        },
    ]


def test_an_extract_that_quarantines_everything_fails_and_names_the_setting(tmp_path):
    """An older shop than NURTURE_SHOP_OPENED_ON says lands nothing: that is not a success."""
    generated = nurture(tmp_path, "generate", "--customers", "40", "--days", "5", "--end-date", "2025-06-30")
    assert generated.returncode == 0
    done = subprocess.run(
        [sys.executable, "-m", "nurture.cli", "extract", "--start", "2025-06-26", "--end", "2025-07-01"],
        env={"NURTURE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "80",
             "NURTURE_SHOP_OPENED_ON": "2025-07-01"},
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "was quarantined" in line and "before_shop_opened" in line
    assert "set NURTURE_SHOP_OPENED_ON (now 2025-07-01)" in line


def test_check_source_reads_a_shop_before_anything_is_extracted(tmp_path):
    assert nurture(tmp_path, "generate", "--customers", "60", "--days", "10").returncode == 0
    done = nurture(tmp_path, "check-source", columns=80)
    assert done.returncode == 0, done.stderr
    assert "Result: 0 blockers" in done.stdout and "NURTURE_EVENT_SOURCE=logs" in done.stdout
    assert max(map(len, done.stdout.splitlines())) <= 80 and "…" not in done.stdout
    assert not (tmp_path / "raw").exists(), "nothing extracted"
    import sqlite3

    with sqlite3.connect(tmp_path / "shop" / "shop.db") as con:  # a column gone: a blocker
        con.execute("alter table products drop column category")
    done = nurture(tmp_path, "check-source", columns=80)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: 1 blocker(s)") and "category" in line
