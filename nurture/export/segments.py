"""The segment registry: dbt models tagged ``segment``, read from dbt's manifest.

Adding a segment is adding one SQL model with its YAML; no Python changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

SEGMENT_TAG = "segment"


@dataclass(frozen=True)
class Segment:
    model: str  # e.g. seg_winback_lapsing
    schema: str
    key: str
    channel: str
    description: str
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Audience name as exported: the model name without its ``seg_`` prefix."""
        return self.model.removeprefix("seg_")

    @property
    def relation(self) -> str:
        """``"schema"."model"``, to read it in SQL."""
        return f'"{self.schema}"."{self.model}"'


def discover_segments(manifest: Path, also_tagged: str | None = None) -> list[Segment]:
    """Every model tagged ``segment`` (and ``also_tagged``) in the dbt manifest, sorted by name."""
    if not manifest.exists():
        raise FileNotFoundError(f"dbt manifest not found at {manifest}: run the dbt build first")
    nodes = json.loads(manifest.read_text())["nodes"].values()
    segments = []
    for node in nodes:
        tags = node.get("tags", [])
        if node["resource_type"] != "model" or SEGMENT_TAG not in tags or also_tagged not in (None, *tags):
            continue
        meta = node.get("config", {}).get("meta") or node.get("meta", {})
        segments.append(
            Segment(
                model=node["name"],
                schema=node["schema"],
                key=meta.get("key", "customer_id"),
                channel=meta.get("channel", "email"),
                description=node.get("description", ""),
                meta=meta,
            )
        )
    return sorted(segments, key=lambda s: s.model)
