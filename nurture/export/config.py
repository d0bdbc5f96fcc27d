"""The export configuration: destinations and guards, from one YAML file.

``NURTURE_DESTINATIONS`` points at the file; the default is the one beside this
module. ``{exports_dir}`` in a URL is the configured exports folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nurture.config import Settings, destinations_file
from nurture.export.allocation import Guards

DEFAULT_FILE = Path(__file__).with_name("destinations.yml")
FIELD_FORMATS = ("lower", "e164", "iso_date")


class ExportConfigError(ValueError):
    """The destinations file is wrong: the message names the file and the entry."""


@dataclass(frozen=True)
class FieldMap:
    name: str  # the column the destination receives
    source: str  # the segment column it comes from
    format: str | None = None  # lower / e164 / iso_date


@dataclass(frozen=True)
class Destination:
    name: str
    type: str
    url: str = ""
    formats: tuple[str, ...] = ("csv",)
    connection: str = ""
    batch_size: int = 500
    max_retries: int = 5
    fields: tuple[FieldMap, ...] = ()  # empty: every segment column, as is


SIZE_GUARD_SEVERITIES = ("warning", "blocking")


@dataclass(frozen=True)
class SizeGuard:
    max_change_share: float = 0.5
    min_rows: int = 50
    severity: str = "warning"  # or "blocking"

    def overridden(self, where: str, overrides: dict | None) -> SizeGuard:
        """This guard with a segment's (or the file's) settings on top."""
        body = overrides or {}
        unknown = set(body) - {"max_change_share", "min_rows", "severity"}
        severity = body.get("severity", self.severity)
        if unknown or severity not in SIZE_GUARD_SEVERITIES:
            raise ExportConfigError(
                f"{where}: size_guard takes max_change_share, min_rows and severity "
                f"({' or '.join(SIZE_GUARD_SEVERITIES)}); got {body}"
            )
        return SizeGuard(
            max_change_share=float(body.get("max_change_share", self.max_change_share)),
            min_rows=int(body.get("min_rows", self.min_rows)),
            severity=severity,
        )


@dataclass(frozen=True)
class ExportConfig:
    guards: Guards
    size_guard: SizeGuard
    destinations: dict[str, Destination]
    default_destinations: tuple[str, ...] = ("files",)
    source: Path = field(default=DEFAULT_FILE)

    def destinations_for(self, meta: dict) -> list[Destination]:
        names = meta.get("destinations") or self.default_destinations
        unknown = [n for n in names if n not in self.destinations]
        if unknown:
            raise ExportConfigError(f"{self.source}: segment destinations {unknown} are not defined")
        return [self.destinations[n] for n in names]

    def size_guard_for(self, segment: str, meta: dict) -> SizeGuard:
        """The file's size guard, overridden by the segment's ``meta.size_guard``."""
        return self.size_guard.overridden(f"segment {segment} (dbt meta)", meta.get("size_guard"))


def _destination(path: Path, name: str, body: dict, settings: Settings) -> Destination:
    from nurture.export.destination_types import DESTINATION_TYPES  # they use this module's types

    kind = body.get("type")
    if kind not in DESTINATION_TYPES:
        known = ", ".join(DESTINATION_TYPES)
        raise ExportConfigError(f"{path}: destination {name!r}: type must be one of {known}")
    fields = []
    for entry in body.get("fields", []):
        if entry.get("format") not in (None, *FIELD_FORMATS):
            raise ExportConfigError(f"{path}: destination {name!r}: unknown format {entry.get('format')!r}")
        fields.append(FieldMap(entry["name"], entry.get("from", entry["name"]), entry.get("format")))
    if DESTINATION_TYPES[kind].needs_connection and not body.get("connection"):
        raise ExportConfigError(f"{path}: destination {name!r}: an {kind} destination needs a connection")
    return Destination(
        name=name,
        type=kind,
        url=str(body.get("url", "")).replace("{exports_dir}", str(settings.exports_dir)),
        formats=tuple(body.get("formats", ["csv"])),
        connection=body.get("connection", ""),
        batch_size=int(body.get("batch_size", 500)),
        max_retries=int(body.get("max_retries", 5)),
        fields=tuple(fields),
    )


def load_export_config(settings: Settings, path: Path | None = None) -> ExportConfig:
    path = Path(path) if path else destinations_file(DEFAULT_FILE)
    body = yaml.safe_load(path.read_text()) or {}
    guards = body.get("guards", {})
    cap = guards.get("frequency_cap", {})
    return ExportConfig(
        guards=Guards(
            holdout_share=float(guards.get("holdout_share", 0.05)),
            holdout_seed=str(guards.get("holdout_seed", "nurture-holdout-v1")),
            max_messages=int(cap.get("max_messages", 3)),
            window_days=int(cap.get("window_days", 7)),
            priority=tuple(guards.get("priority", [])),
        ),
        size_guard=SizeGuard().overridden(str(path), guards.get("size_guard")),
        destinations={
            name: _destination(path, name, spec or {}, settings)
            for name, spec in (body.get("destinations") or {}).items()
        },
        default_destinations=tuple(body.get("default_destinations", ["files"])),
        source=path,
    )
