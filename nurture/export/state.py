"""What the export remembers between runs, as files beside the exports.

``<exports>/_state/members/<destination>/<segment>/dt=<stamp>.parquet`` holds the
keys (and a hash of each row) a destination received at a run (``slot.py``: a
day, or an hour of a day for the hourly refresh); it is written
only after the destination took the whole export, so the next delta is computed
against what the destination really has and a removal is never lost.
``_state/sync_log/dt=<stamp>/`` holds one JSON line per segment and destination,
loaded into the warehouse table ``exports.sync_log`` by the DAG.
Publishing tasks touch only these files, never the warehouse, so they can run in
parallel.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nurture.atomic import replace_file
from nurture.export.slot import RunSlot, latest_before

# identity: what a removal is sent as when it is not the key (a hashed email for ad platforms)
MEMBERS_SCHEMA = pa.schema(
    [("customer_id", pa.int64()), ("row_hash", pa.string()), ("identity", pa.string())]
)


def state_dir(exports_dir: Path) -> Path:
    return exports_dir / "_state"


def members_path(exports_dir: Path, destination: str, segment: str, run: date | RunSlot) -> Path:
    stamp = RunSlot.of(run).stamp
    return state_dir(exports_dir) / "members" / destination / segment / f"dt={stamp}.parquet"


def save_members(
    exports_dir: Path, destination: str, segment: str, run: date | RunSlot, members: pa.Table
) -> None:
    path = members_path(exports_dir, destination, segment, run)
    replace_file(path, lambda tmp: pq.write_table(members.cast(MEMBERS_SCHEMA), tmp))


def previous_members(exports_dir: Path, destination: str, segment: str, run: date | RunSlot) -> Path | None:
    """The snapshot of the latest run before ``run`` on the timeline (None: the first export)."""
    folder = members_path(exports_dir, destination, segment, run).parent
    stamps = [p.stem.removeprefix("dt=") for p in folder.glob("dt=*.parquet")]
    previous = latest_before(stamps, RunSlot.of(run))
    return folder / f"dt={previous}.parquet" if previous else None


def sync_log_path(exports_dir: Path, run: date | RunSlot, segment: str, destination: str) -> Path:
    stamp = RunSlot.of(run).stamp
    return state_dir(exports_dir) / "sync_log" / f"dt={stamp}" / f"{segment}__{destination}.json"


def write_sync_log(exports_dir: Path, run: date | RunSlot, entry: dict) -> None:
    path = sync_log_path(exports_dir, run, entry["segment"], entry["destination"])
    replace_file(path, lambda tmp: tmp.write_text(json.dumps(entry, sort_keys=True, default=str) + "\n"))


def read_sync_log(exports_dir: Path, run: date | RunSlot) -> list[dict]:
    folder = state_dir(exports_dir) / "sync_log" / f"dt={RunSlot.of(run).stamp}"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
