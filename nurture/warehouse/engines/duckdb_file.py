"""The embedded default: dbt builds the marts in the DuckDB file, where Nurture's own
tables are too, so most of the interface is the base's."""

from __future__ import annotations

import duckdb
import pandas as pd

from nurture.warehouse.engines.base import Engine, TableWrite, cast_select
from nurture.warehouse.owned_tables import ensure


class DuckDBEngine(Engine):
    name = "duckdb"
    marts_in_state_file = True

    @property
    def schema(self) -> str:
        return "main"

    def read(self, sql: str) -> pd.DataFrame:
        with duckdb.connect(str(self.settings.warehouse_path), read_only=True) as con:
            return con.sql(sql).df()

    def copy_schema(self, schema: str) -> str:
        return schema  # the marts are in the file already

    def copy_marts(self, con, marts) -> None:
        return None

    def write(self, writes: list[TableWrite]) -> None:
        """One transaction (one writer at a time: after dbt, never beside it)."""
        with duckdb.connect(str(self.settings.warehouse_path)) as con:
            con.execute("begin transaction")
            try:
                for i, write in enumerate(writes):
                    relation = self.relation(write.table)
                    con.register(f"rows_{i}", write.rows)
                    typed = cast_select(write.table, f"rows_{i}")
                    if write.replace_values is None:
                        con.execute(f"create or replace table {relation} as {typed}")
                        continue
                    ensure(con, write.table, relation)
                    marks = ", ".join("?" * len(write.replace_values))
                    if write.replace_values:
                        con.execute(
                            f"delete from {relation} where {write.table.partition_by} in ({marks})",
                            list(write.replace_values),
                        )
                    con.execute(f"insert into {relation} ({', '.join(write.table.columns)}) {typed}")
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise
