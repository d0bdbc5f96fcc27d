"""Destination types, registered by name: what ``type:`` in destinations.yml may say.

A type says which rows a target is due (the whole snapshot, or the delta), whether it
needs an HTTP connection (an Airflow connection or ``NURTURE_CONN_*``), and how one
segment's rows go out. A new kind of destination is one class here, registered with
``@register("name")``: the destinations file's check, the publisher and the erasure
outbox find it by name.

- ``files``: the snapshot in each configured format, the delta as CSV and a
  ``manifest.json``, swapped in as one folder (any fsspec URL);
- ``hashed_audience``: the same as CSV with hashed identifiers, for ad platforms;
- ``http``: the delta (upserts, then removes) in batches to an audience API, resumed
  from a journal after a failure; the platform also receives erasure deletes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import duckdb
import pyarrow as pa

from nurture.atomic import new_work_folder, swap_folder
from nurture.export.http_push import Journal, PushResult, push_batches
from nurture.export.slot import RunSlot
from nurture.export.state import state_dir

if TYPE_CHECKING:
    from nurture.export.config import Destination
    from nurture.export.publish import Delta

FILE_FORMATS = {"csv": "(format csv, header true)", "parquet": "(format parquet)", "jsonl": "(format json)"}


@dataclass
class Send:
    """One segment's rows for one destination, and where to count what went out."""

    exports_dir: Path
    destination: Destination
    segment: str
    slot: RunSlot
    delta: Delta
    manifest: dict
    endpoint: tuple[str, str] | None  # (base URL, token) for a type that needs a connection
    progress: PushResult  # filled in as rows go out, so a failure's sync-log entry is true


DESTINATION_TYPES: dict[str, DestinationType] = {}


def register(name: str):
    """Register a destination type under ``name`` (the ``type:`` of destinations.yml)."""

    def add(cls: type[DestinationType]) -> type[DestinationType]:
        DESTINATION_TYPES[name] = cls()
        return cls

    return add


class DestinationType:
    """The base: a type that writes the whole snapshot, once, with no connection."""

    needs_connection: ClassVar[bool] = False  # an HTTP endpoint from a connection
    receives_deletes: ClassVar[bool] = False  # erased customers are deleted there by API
    hashes_identities: ClassVar[bool] = False  # hashed email and phone instead of the fields

    def rows_due(self, delta: Delta) -> int:
        return delta.rows.num_rows

    def send(self, send: Send) -> None:
        raise NotImplementedError


@register("files")
class Files(DestinationType):
    """Files: one write of the whole snapshot (one batch, no retries)."""

    def formats(self, destination: Destination) -> tuple[str, ...]:
        return destination.formats

    def manifest(self, manifest: dict) -> dict:
        return manifest

    def send(self, send: Send) -> None:
        write_to(
            send.destination.url,
            send.segment,
            send.slot,
            send.delta,
            self.formats(send.destination),
            self.manifest(send.manifest),
        )
        send.progress.sent_rows = send.delta.rows.num_rows
        send.progress.sent_batches = 1 if send.delta.rows.num_rows else 0


@register("hashed_audience")
class HashedAudience(Files):
    """A hashed ad audience: the files type as CSV, its manifest saying the hashing."""

    hashes_identities = True

    def formats(self, destination: Destination) -> tuple[str, ...]:
        return ("csv",)

    def manifest(self, manifest: dict) -> dict:
        return manifest | {"hashing": "sha256"}


@register("http")
class HttpApi(DestinationType):
    """An HTTP audience API: upserts then removes in batches, resumed from the journal."""

    needs_connection = True
    receives_deletes = True

    def rows_due(self, delta: Delta) -> int:
        return delta.added.num_rows + delta.changed.num_rows + delta.removed.num_rows

    def send(self, send: Send) -> None:
        delta, destination = send.delta, send.destination
        upserts = pa.concat_tables([delta.added, delta.changed]).to_pylist()
        removes = [{"external_id": r["customer_id"]} for r in delta.removed.to_pylist()]
        size = destination.batch_size
        batches = [("upsert", upserts[i : i + size]) for i in range(0, len(upserts), size)]
        batches += [("remove", removes[i : i + size]) for i in range(0, len(removes), size)]
        journal = Journal(
            state_dir(send.exports_dir) / "push" / destination.name / send.segment / f"{send.slot}.log"
        )
        base_url, token = send.endpoint
        push_batches(
            base_url, token, send.segment, batches, journal, destination.name, send.slot.stamp,
            max_retries=destination.max_retries, result=send.progress,
        )  # fmt: skip


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write(path: Path, table: pa.Table, fmt: str) -> None:
    with duckdb.connect() as con:
        con.register("data", table)
        con.execute(f"copy data to '{path}' {FILE_FORMATS[fmt]}")
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def write_files(folder: Path, segment: str, delta: Delta, formats, manifest: dict) -> list[dict]:
    """The snapshot in each format, the delta as CSV and ``manifest.json``, swapped in as one folder.

    Everything is written into a hidden sibling folder, then renamed over the old
    one: a reader sees the previous export or the new one, never a mix, and a crash
    leaves only a hidden folder behind (removed by the next run).
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    for leftover in folder.parent.glob(f".{folder.name}.*"):
        shutil.rmtree(leftover)
    work = new_work_folder(folder)
    parts = [(f"{segment}.{fmt}", delta.rows, fmt) for fmt in formats]
    parts += [
        (f"{name}.csv", table, "csv")
        for name, table in (("added", delta.added), ("removed", delta.removed), ("changed", delta.changed))
    ]
    files = []
    for name, table, fmt in parts:
        _write(work / name, table, fmt)
        files.append({"path": name, "format": fmt, "rows": table.num_rows, "sha256": sha256_of(work / name)})
    (work / "manifest.json").write_text(
        json.dumps(manifest | {"files": files}, indent=2, sort_keys=True) + "\n"
    )
    swap_folder(work, folder)
    return files


def write_to(url: str, segment: str, run: date | RunSlot, delta: Delta, formats, manifest: dict) -> None:
    """Write an export under ``<url>/<segment>/<stamp>/``: a local folder, or any fsspec URL.

    Locally the folder is swapped in whole. An object store has no atomic rename:
    the files are built locally, uploaded, and ``manifest.json`` goes last (removed
    first), so a reader that trusts only a folder with a manifest never sees a mix.
    """
    stamp = RunSlot.of(run).stamp
    if "://" not in url or url.startswith("file://"):
        write_files(
            Path(url.removeprefix("file://")) / segment / stamp,
            segment,
            delta,
            formats,
            manifest,
        )
        return
    import tempfile

    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    remote = f"{root.rstrip('/')}/{segment}/{stamp}"
    with tempfile.TemporaryDirectory(prefix="nurture-export-") as scratch:
        local = Path(scratch) / stamp
        files = write_files(local, segment, delta, formats, manifest)
        if fs.exists(f"{remote}/manifest.json"):
            fs.rm(f"{remote}/manifest.json")
        fs.makedirs(remote, exist_ok=True)
        for entry in files:
            fs.put_file(str(local / entry["path"]), f"{remote}/{entry['path']}")
        fs.put_file(str(local / "manifest.json"), f"{remote}/manifest.json")
