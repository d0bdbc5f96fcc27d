"""File exports: a segment's CSV snapshot plus ``manifest.json``, published atomically.

Files are written under a temporary name in the target folder and renamed into
place, so a reader never sees a partial file. The manifest is written last: its
presence says the export is complete. Rows are ordered by the segment key, so
the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from nurture.export.segments import Segment


@dataclass(frozen=True)
class ExportResult:
    segment: str
    rows: int
    data_file: Path
    manifest: Path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def publish(tmp: Path, final: Path) -> None:
    """fsync then rename: the file appears whole or not at all."""
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, final)


def export_segment_csv(
    con: duckdb.DuckDBPyConnection,
    segment: Segment,
    exports_dir: Path,
    run_date: date,
    run_id: str,
    data_interval_end: datetime,
) -> ExportResult:
    """Write ``exports/<segment>/<date>/<segment>.csv`` and its manifest."""
    folder = exports_dir / segment.name / run_date.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    data_file = folder / f"{segment.name}.csv"
    manifest_file = folder / "manifest.json"
    # No manifest means "not complete": withdraw it before the data changes.
    manifest_file.unlink(missing_ok=True)
    tmp = folder / f".{data_file.name}.{uuid.uuid4().hex}.tmp"
    relation = f'"{segment.schema}"."{segment.model}"'
    query = f'select * from {relation} order by "{segment.key}"'
    con.execute(f"copy ({query}) to '{tmp}' (format csv, header true)")
    publish(tmp, data_file)
    columns = [(row[0], row[1]) for row in con.execute(f"describe {relation}").fetchall()]
    rows = con.execute(f"select count(*) from {relation}").fetchone()[0]
    manifest = {
        "segment": segment.name,
        "model": segment.model,
        "channel": segment.channel,
        "logical_date": run_date.isoformat(),
        "data_interval_end": data_interval_end.isoformat(),
        "run_id": run_id,
        "files": [{"path": data_file.name, "format": "csv", "rows": rows, "sha256": sha256_of(data_file)}],
        "columns": [{"name": name, "type": kind} for name, kind in columns],
    }
    tmp_manifest = folder / f".manifest.json.{uuid.uuid4().hex}.tmp"
    tmp_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    publish(tmp_manifest, manifest_file)
    return ExportResult(segment.name, rows, data_file, manifest_file)


def export_all(
    warehouse: Path,
    segments: list[Segment],
    exports_dir: Path,
    run_date: date,
    run_id: str,
    data_interval_end: datetime,
) -> list[ExportResult]:
    """Export every segment from the warehouse (opened read-only)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [
            export_segment_csv(con, s, exports_dir, run_date, run_id, data_interval_end) for s in segments
        ]
