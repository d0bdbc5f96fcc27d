"""The sync log: one warehouse row per run, segment and destination.

Publishing tasks leave their entries as files (``state.py``); this step loads a
run's entries, plus the segments the size guard held back, into
``exports.sync_log`` where BI tools and data engineers read them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pandas as pd

from nurture.config import Settings
from nurture.export.slot import RunSlot
from nurture.export.stage import read_plan
from nurture.export.state import read_sync_log
from nurture.warehouse import owned_tables

SYNC_LOG = owned_tables.SYNC_LOG.relation
COLUMNS = owned_tables.SYNC_LOG.columns
# Columns added since the first sync logs (owned_tables.ensure adds them to an older
# warehouse's table, null in old rows).
ADDED_COLUMNS = (
    "run_hour",  # the hourly refresh: rows before it are all daily runs
    "confirmed_earlier",
    "batches_sent",
    "batches_confirmed_earlier",
    "retries_429",
    "retries_5xx",
    "retries_timeout",
)


def record_sync_log(settings: Settings, run: date | RunSlot, run_id: str) -> list[dict]:
    """Replace this run's rows in ``exports.sync_log`` with its entries; returns them.

    A run stopped before staging (a blocking quality gate) has nothing to record.
    """
    slot = RunSlot.of(run)
    try:
        plan = read_plan(settings.exports_dir, slot)
    except FileNotFoundError:
        return []
    if plan["run_id"] != run_id:
        return []
    entries = [e for e in read_sync_log(settings.exports_dir, slot) if e["run_id"] == run_id]
    for segment, why in sorted(plan.get("held_back", {}).items()):
        held = {"segment": segment, "destination": "*", "status": "held_back", "size_warning": why}
        entries.append({"run_id": run_id, "logical_date": slot.day.isoformat(), "run_hour": slot.hour} | held)
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [{c: e.get(c) for c in COLUMNS} | {"recorded_at": now} for e in entries]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    typed = ", ".join(f"{c}::{t} as {c}" for c, t in COLUMNS.items())
    with duckdb.connect(str(settings.warehouse_path)) as con:
        owned_tables.ensure(con, owned_tables.SYNC_LOG)
        con.execute(f"delete from {SYNC_LOG} where logical_date = ? and run_id = ?", [slot.day, run_id])
        if len(frame):
            con.register("entries", frame)
            con.execute(f"insert into {SYNC_LOG} by name select {typed} from entries")
    return entries
