"""How the CLI prints its tables: every value whole at any width (pipes, 80-column CI logs),
or JSON for machines."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from nurture.bi.summary import Summary

EXPORT_COLUMNS = (
    "segment",
    "destination",
    "considered",
    "suppressed_no_consent",
    "suppressed_holdout",
    "suppressed_duplicate",
    "suppressed_frequency_cap",
    "included",
    "added",
    "removed",
    "changed",
)

# summary.runs' tuples, as the summary's "Airflow runs" table heads them
RUN_FIELDS = ("day", "run", "seconds", "raw_in", "marts", "checks", "exports", "rows_out")


def export_table(entries: list[dict], title: str) -> Table:
    """What each segment x destination gets (or would get): audience, suppressions, delta."""
    table = Table(title=title)
    for column in EXPORT_COLUMNS:
        header = column.replace("suppressed_", "supp. ").replace("_", " ")
        table.add_column(header, justify="left" if column in ("segment", "destination") else "right")
    for entry in entries:
        table.add_row(*(str(entry.get(c, "")) for c in EXPORT_COLUMNS))
    return table


def export_rows(entries: list[dict]) -> list[dict]:
    """The export table's rows for ``--json``: same fields, numbers as numbers."""
    return [{c: entry.get(c) for c in EXPORT_COLUMNS} for entry in entries]


def print_tables(console: Console, renderable: RenderableType) -> None:
    """Print a table, or a Group of tables and sentences, without ever cutting a cell with "…"
    or breaking a sentence's path:
    a table that fits the console's width prints as is; a wider one is stacked, one block
    of ``header: value`` lines per row (in a pipe rich assumes $COLUMNS or 80 columns)."""
    for part in renderable.renderables if isinstance(renderable, Group) else [renderable]:
        if isinstance(part, Table):
            console.print(readable(console, part))
        else:  # a sentence, often with a path: the terminal wraps it, rich never splits it
            console.print(part, soft_wrap=True)


def readable(console: Console, table: Table) -> RenderableType:
    """The table when its natural width fits the console, else :func:`stacked`."""
    for column in table.columns:
        # Never "…": should a measurement be off, a long value still wraps within its cell.
        column.overflow, column.no_wrap = "fold", False
    natural = Measurement.get(console, console.options.update_width(1_000_000), table).maximum
    return table if natural <= console.width else stacked(table)


def stacked(table: Table) -> Group:
    """The table as one block of ``header: value`` lines per row, blocks apart by a blank line."""
    headers = [_text(column.header).plain + ":" for column in table.columns]
    width = max(map(len, headers), default=0)
    parts: list[RenderableType] = [_text(table.title, "table.title")] if table.title else []
    for row in zip(*(column.cells for column in table.columns), strict=True):
        cells = zip(headers, row, strict=True)
        lines = [Text.assemble(header.ljust(width + 1), _text(cell)) for header, cell in cells]
        parts += [Text(""), Text("\n").join(lines)]
    if table.caption:
        parts += [Text(""), _text(table.caption, "table.caption")]
    return Group(*parts)


def _text(value: RenderableType, style: str = "") -> Text:
    """A header, cell or title as Text: strings are rich markup, as the table reads them."""
    if isinstance(value, Text):
        return value
    return Text.from_markup(value, style=style) if isinstance(value, str) else Text(str(value), style=style)


def print_json(data: list | dict) -> None:
    """``--json``: the JSON and nothing else on stdout (dates and decimals as strings)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def summary_json(summary: Summary) -> dict:
    """``nurture summary --json``: one list of row objects per table the summary prints,
    with the same fields (the sync log with every column it records)."""
    return {
        "run_date": summary.run_date,
        "raw_zone": [
            {"dataset": name, "accepted": rows, "quarantined": summary.quarantined_rows.get(name, 0)}
            for name, rows in summary.raw_rows.items()
        ],
        "quarantine_reasons": [
            {"dataset": dataset, "field": column, "rule": rule, "rows": rows}
            for dataset, column, rule, rows in summary.quarantine_reasons
        ],
        "checks": [
            {"suite": suite, "expectations": checked, "blocking_failed": blocking, "warnings": warned}
            for suite, (checked, blocking, warned) in summary.validation.items()
        ],
        "data_docs": summary.data_docs or None,
        "warehouse": [
            {"layer": layer, "model": name, "rows": rows}
            for layer, models in summary.warehouse_rows.items()
            for name, rows in models.items()
        ],
        "exports": [
            {"segment": name, "rows": rows, "folder": folder}
            for name, (rows, folder) in summary.exports.items()
        ],
        "sync_log": summary.sync_log,
        "runs": [dict(zip(RUN_FIELDS, row, strict=True)) for row in summary.runs],
        "erasures_pending": [
            {"destination": name, "deletes": n} for name, n in summary.erasures_pending.items()
        ],
    }
