"""Erasure at the platforms: an outbox of user deletes, retried until acknowledged.

``nurture forget`` erases every local copy at once (``erasure.py``); deleting a
person from a marketing platform needs that platform to be up and configured,
so it is queued here instead of done inline. Every run (and ``forget`` itself)
tries the outbox; a platform that is down or has no connection keeps its
entries pending and never stops another destination or a local step.

Layout, beside the export state (files, so no warehouse lock is needed)::

    <exports>/_state/erasure_outbox/<destination>/<customer_hash>.json
        {"external_id", "queued_at", "attempts", "last_attempt_at", "last_error"}
    <exports>/_state/erasure_outbox/acknowledged.jsonl
        one line per delete a platform confirmed: hash, destination, time (no id)

The pending file holds the platform's external id (the customer id): it is the
one thing the delete call needs, and it is removed the moment the platform
acknowledges.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nurture.atomic import replace_file
from nurture.config import Settings
from nurture.export.state import state_dir

log = logging.getLogger(__name__)
DELETE_BATCH = 1_000  # ids per platform delete call


class PlatformDeletesPendingError(RuntimeError):
    """A platform did not acknowledge its queued deletes (down, refused, or no connection)."""


@dataclass
class Delivery:
    """What one pass over the outbox did, per destination."""

    acknowledged: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # destination -> why it is still pending
    unconfigured: set[str] = field(default_factory=set)  # no connection: retrying cannot help

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def sentence(self) -> str:
        """Pending deletes in one sentence (empty when nothing is pending)."""
        if not self.pending:
            return ""
        where = "; ".join(
            f"{name}: {n} ({self.errors.get(name, 'not tried')})" for name, n in sorted(self.pending.items())
        )
        return f"Platform deletes still pending, retried by every run: {where}."


def outbox_dir(settings: Settings) -> Path:
    return state_dir(settings.exports_dir) / "erasure_outbox"


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def received_anything(settings: Settings, destination: str) -> bool:
    """Whether a destination may hold anyone: a member snapshot or a push journal exists
    (a journal alone means an attempt that died before its snapshot was saved)."""
    state = state_dir(settings.exports_dir)
    return any((state / "members" / destination).glob("*/*.parquet")) or any(
        (state / "push" / destination).glob("*/*.log")
    )


def queue(settings: Settings, customer_ids: set[int]) -> dict[str, int]:
    """Queue a delete of these customers at every HTTP destination that ever received data.

    Every customer is queued there, in or out of its snapshots: an attempt killed
    mid-push may have delivered people no snapshot records. Deleting an unknown id
    is a no-op for the platform. Returns entries queued per destination.
    """
    from nurture.export.config import load_export_config
    from nurture.export.destination_types import DESTINATION_TYPES
    from nurture.export.suppression import customer_hash

    queued = {}
    for destination in load_export_config(settings).destinations.values():
        receives_deletes = DESTINATION_TYPES[destination.type].receives_deletes
        if not receives_deletes or not received_anything(settings, destination.name):
            continue
        folder = outbox_dir(settings) / destination.name
        for customer_id in sorted(customer_ids):
            path = folder / f"{customer_hash(customer_id)}.json"
            if path.exists():
                continue
            entry = {"external_id": str(customer_id), "queued_at": _now(), "attempts": 0,
                     "last_attempt_at": None, "last_error": None}  # fmt: skip
            _write_entry(path, entry)
            queued[destination.name] = queued.get(destination.name, 0) + 1
    return queued


def pending(settings: Settings) -> dict[str, int]:
    """Deletes not yet acknowledged, per destination."""
    counts = {p.name: len(list(p.glob("*.json"))) for p in sorted(outbox_dir(settings).glob("*/"))}
    return {name: n for name, n in counts.items() if n}


def deliver(settings: Settings, max_retries: int | None = None) -> Delivery:
    """Send every pending delete; each destination on its own, whatever the others do.

    ``max_retries`` overrides the destination's own (``forget`` tries once, quickly;
    the runs use the configured retries).
    """
    from nurture.connections import http_endpoint
    from nurture.export.config import load_export_config
    from nurture.export.http_push import delete_users

    destinations = load_export_config(settings).destinations
    result = Delivery()
    for name in pending(settings):
        files = sorted((outbox_dir(settings) / name).glob("*.json"))
        entries = {path: json.loads(path.read_text()) for path in files}
        destination = destinations.get(name)
        try:
            if destination is None:
                raise LookupError(f"destination {name!r} is no longer in the destinations file")
            base_url, token = http_endpoint(destination.connection)
            retries = destination.max_retries if max_retries is None else max_retries
            for start in range(0, len(files), DELETE_BATCH):
                batch = files[start : start + DELETE_BATCH]
                delete_users(base_url, token, [entries[p]["external_id"] for p in batch], max_retries=retries)
                _acknowledge(settings, name, batch)
                result.acknowledged[name] = result.acknowledged.get(name, 0) + len(batch)
        except LookupError as error:  # no connection (MissingConnectionError) or destination
            result.errors[name] = str(error)
            result.unconfigured.add(name)
        except Exception as error:  # the platform is down or refused: try again next run
            log.info("erasure deletes at %s failed", name, exc_info=True)
            result.errors[name] = str(error).splitlines()[0]
        if name in result.errors:
            _note_attempt(entries, result.errors[name])
    result.pending = pending(settings)
    log.info("erasure outbox: acknowledged %s, pending %s", result.acknowledged, result.pending)
    return result


def _write_entry(path: Path, entry: dict) -> None:
    replace_file(path, lambda tmp: tmp.write_text(json.dumps(entry, sort_keys=True) + "\n"))


def _acknowledge(settings: Settings, destination: str, files: list[Path]) -> None:
    """Log the confirmed deletes (hash only), then drop the pending files with their ids."""
    now = _now()
    lines = "".join(
        json.dumps({"customer_hash": p.stem, "destination": destination, "acknowledged_at": now}) + "\n"
        for p in files
    )
    with (outbox_dir(settings) / "acknowledged.jsonl").open("a") as out:
        out.write(lines)
        out.flush()
    for path in files:
        path.unlink(missing_ok=True)


def _note_attempt(entries: dict[Path, dict], error: str) -> None:
    now = _now()
    for path, entry in entries.items():
        if not path.exists():  # acknowledged in an earlier batch of this pass
            continue
        entry |= {"attempts": entry["attempts"] + 1, "last_attempt_at": now, "last_error": error[:500]}
        _write_entry(path, entry)
