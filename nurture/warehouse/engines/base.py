"""What every engine offers, and what they share: the DuckDB file.

Whatever the target, the DuckDB file at ``settings.warehouse_path`` keeps the exports'
state and the erasure requests (``state`` tables of ``owned_tables``); on DuckDB and
Spark it also keeps the audit tables. So the defaults here work on that file and an
engine overrides what it keeps elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from nurture.config import Settings
from nurture.warehouse.owned_tables import OwnedTable, column_type, ensure


@dataclass(frozen=True)
class TableWrite:
    """Rows for one table Python owns (a ``model`` table, beside the marts)."""

    table: OwnedTable
    rows: pa.Table  # the table's columns; types are cast to the table's
    # None: the rows replace the whole table. Else the values of ``table.partition_by``
    # replaced: their old rows go, ``rows`` (of those values only) come; a value without
    # rows is just dropped.
    replace_values: tuple[date, ...] | None = None


@dataclass(frozen=True)
class ErasureSweep:
    """An erasure, for the engine's tables with a ``customer_id`` (``nurture.privacy.erasure``)."""

    hashes: list[str]  # every request: SHA-256 of "pepper:customer_id"
    fresh: list[str]  # the requests not applied before
    pepper: str
    # The incremental stage history: the days from an erased customer's first median gap
    # go too (``rewind_sql(relation, erased_ids_sql)``), the next build rebuilds them.
    rewind_table: str
    rewind_sql: Callable[[str, str], str]
    # Files engines (Spark): rewrite these Parquet files without the customers' rows;
    # returns rows removed per rewritten file.
    rewrite_parquet: Callable[[list[Path]], dict[Path, int]]


class Engine:
    """One warehouse engine. Build it with :func:`nurture.warehouse.engines.engine_for`."""

    name = ""
    param_mark = "?"  # the DB-API placeholder of the engine's driver
    # Spark's Parquet tables take no row deletes: retention by rows is refused there.
    row_deletes = True
    # DuckDB: dbt builds the marts in the file that keeps the exports' state, so readers
    # of both join them in place and dbt reads that state itself.
    marts_in_state_file = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # --- reading -----------------------------------------------------------------
    @property
    def schema(self) -> str:
        """The schema dbt builds the marts in."""
        raise NotImplementedError

    def read(self, sql: str) -> pd.DataFrame:
        """A read-only query on the warehouse (the marts, and Nurture's own tables)."""
        raise NotImplementedError

    def read_marts(self, sql: str) -> pa.Table:
        """A query on the marts only, as Arrow (decimals stay decimals). It never opens the
        DuckDB file on the other targets, so a step writing that file can call it."""
        return pa.Table.from_pandas(self.read(sql), preserve_index=False)

    def relation(self, table: OwnedTable) -> str:
        """Where ``table`` is on this engine (``schema.name``)."""
        return f"{self.schema}.{table.name}" if table.home == "model" else table.relation

    def read_owned(self, table: OwnedTable, make_sql: Callable[[str, str], str]) -> list[tuple] | None:
        """Run ``make_sql(relation, collate)`` on a ``model`` table; None when it does not
        exist yet. ``collate`` makes text sort by bytes, as DuckDB does. Not on DuckDB:
        there the tables beside the marts are in the state file, read directly."""
        raise NotImplementedError

    # --- the exports' copies of marts ----------------------------------------------
    def copy_schema(self, schema: str) -> str:
        """Where the export step reads a mart in the DuckDB file: its copy's schema
        ``<target>_<schema>`` (the file's catalog is named ``nurture``, so a schema of
        that name would make ``"nurture"."seg_…"`` ambiguous in DuckDB SQL)."""
        return f"{self.name}_{schema}"

    def copy_marts(self, con: duckdb.DuckDBPyConnection, marts: list[tuple[str, str]]) -> None:
        """Copy these ``(schema, table)`` marts into ``con`` (the DuckDB file the exports
        keep their state in), in :meth:`copy_schema`: one code path for the exports."""
        for schema, table in marts:
            rows = self.read_marts(f'select * from "{schema}"."{table}"')
            copy = self.copy_schema(schema)
            con.execute(f'create schema if not exists "{copy}"')
            con.register("mirrored", rows)
            con.execute(f'create or replace table "{copy}"."{table}" as select * from mirrored')
            con.unregister("mirrored")

    # --- Nurture's own tables --------------------------------------------------------
    def replace_rows(self, table: OwnedTable, rows: list[dict], scope: tuple[str, ...]) -> None:
        """Write ``rows`` to an ``audit`` table (created or migrated if needed), first
        deleting the rows that share their ``scope`` values: a retried task replaces
        what its earlier try wrote."""
        names, mark, relation = list(table.columns), self.param_mark, self.relation(table)
        where = " and ".join(f"{c} = {mark}" for c in scope)
        marks = ", ".join([mark] * len(names))
        self._execute_many(
            table,
            relation,
            [
                (
                    f"delete from {relation} where {where}",
                    sorted({tuple(r[c] for c in scope) for r in rows}, key=str),
                ),
                (
                    f"insert into {relation} ({', '.join(names)}) values ({marks})",
                    [tuple(r.get(n) for n in names) for r in rows],
                ),
            ],
        )

    def _execute_many(self, table: OwnedTable, relation: str, batches: list[tuple[str, list]]) -> None:
        """Create or migrate ``table``, then run each statement over its parameters (none: not
        run), in one connection."""
        self.settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(self.settings.warehouse_path)) as con:
            ensure(con, table, relation)
            for sql, parameters in batches:
                if parameters:
                    con.executemany(sql, parameters)

    def delete_before(self, relation: str, column: str, cutoff: date) -> int:
        """Delete the rows of a table on the target (an audit table, the events) with
        ``column`` before ``cutoff``; 0 when the table does not exist."""
        return delete_before_in_file(self.settings.warehouse_path, relation, column, cutoff)

    def write(self, writes: list[TableWrite]) -> None:
        """Write ``model`` tables; together (one transaction) where the engine has them."""
        raise NotImplementedError

    # --- privacy and dbt ----------------------------------------------------------
    def erase(self, sweep: ErasureSweep) -> dict[str, int]:
        """Delete the listed customers from the tables on the target outside the DuckDB
        file (which ``nurture.privacy.erasure`` sweeps on every engine); rows per table."""
        return {}

    def before_dbt(self) -> None:
        """Prepare this process for a dbt invocation on this engine."""

    def load_raw(self, start: datetime, end: datetime) -> dict[str, int]:
        """Make the raw zone's partitions of [start, end) readable by dbt's sources; rows
        loaded per dataset (nothing to do where dbt reads the Parquet in place)."""
        return {}


def delete_before_in_file(path: Path, relation: str, column: str, cutoff: date) -> int:
    """Delete ``relation``'s rows with ``column`` before ``cutoff`` in the DuckDB file."""
    with duckdb.connect(str(path)) as con:
        schema, name = (part.strip('"') for part in relation.split(".", 1))
        listed = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
        if not con.execute(listed, [schema, name]).fetchone()[0]:
            return 0
        return con.execute(f"delete from {relation} where {column} < ?", [cutoff]).fetchone()[0]


def cast_select(table: OwnedTable, source: str, dialect: str = "duckdb") -> str:
    """``select cast(c as type) as c, ... from source`` in the table's column order."""
    casts = ", ".join(f"cast({c} as {column_type(k, dialect)}) as {c}" for c, k in table.columns.items())
    return f"select {casts} from {source}"
