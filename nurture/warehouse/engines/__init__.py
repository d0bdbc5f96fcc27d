"""The warehouse engines behind one interface: DuckDB (the embedded default),
PostgreSQL and Spark. Everything that differs between them — how to read a query,
where Nurture's own tables live and how they are written, how rows are deleted for
retention or erasure, what runs before dbt — is a method of :class:`Engine`; no module
outside this package branches on ``settings.dbt_target``.

    engine = engine_for(settings)
    frame = engine.read("select ...")
"""

from __future__ import annotations

from nurture.config import Settings
from nurture.warehouse.engines.base import Engine, ErasureSweep, TableWrite
from nurture.warehouse.engines.duckdb_file import DuckDBEngine
from nurture.warehouse.engines.postgres import PostgresEngine
from nurture.warehouse.engines.spark import SparkEngine

ENGINES: dict[str, type[Engine]] = {"duckdb": DuckDBEngine, "postgres": PostgresEngine, "spark": SparkEngine}

__all__ = ["ENGINES", "Engine", "ErasureSweep", "TableWrite", "UnknownTargetError", "engine_for"]


class UnknownTargetError(ValueError):
    """``NURTURE_DBT_TARGET`` names no engine."""


def engine_for(settings: Settings, target: str | None = None) -> Engine:
    """The engine of ``target`` (default: the settings' dbt target)."""
    name = target or settings.dbt_target
    if name not in ENGINES:
        raise UnknownTargetError(
            f"unknown dbt target {name!r}: set NURTURE_DBT_TARGET to one of {', '.join(ENGINES)}"
        )
    return ENGINES[name](settings)
