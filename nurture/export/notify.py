"""Downstream of the exports: what each publish sent, read from the asset events on
``nurture://exports/<destination>/<segment>`` (the ``nurture_exports_notify`` DAG), one
line per event in ``$NURTURE_HOME/notifications/exports.jsonl`` for whoever watches the
audiences (a campaign manager's feed, a chat channel's bot). Counts only: no contacts.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from nurture.config import Settings

log = logging.getLogger(__name__)

URI_PREFIX = "nurture://exports/"


def notifications_path(settings: Settings) -> Path:
    return settings.home / "notifications" / "exports.jsonl"


def record_published(settings: Settings, events: list[dict]) -> int:
    """Append one line per export event not recorded yet (a retried task adds nothing
    twice); returns how many were new. An event: uri, extra (included, added,
    removed), source_dag_id, source_run_id, timestamp."""
    path = notifications_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = lambda e: (e["uri"], e["source_run_id"], e["timestamp"])  # noqa: E731
    seen = {key(json.loads(line)) for line in path.read_text().splitlines()} if path.exists() else set()
    new = []
    for event in sorted(events, key=lambda e: (e["timestamp"], e["uri"])):
        if not event["uri"].startswith(URI_PREFIX) or key(event) in seen:
            continue
        destination, segment = event["uri"].removeprefix(URI_PREFIX).split("/", 1)
        counts = {k: (event.get("extra") or {}).get(k) for k in ("included", "added", "removed")}
        new.append({**event, "destination": destination, "segment": segment, **counts})
        seen.add(key(event))
        log.info("%s -> %s: %s (run %s)", segment, destination, counts, event["source_run_id"])
    with path.open("a") as out:
        out.writelines(json.dumps(line, sort_keys=True, default=str) + "\n" for line in new)
    return len(new)
