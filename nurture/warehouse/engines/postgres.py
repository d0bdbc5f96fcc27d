"""The ``postgres`` target: dbt builds in ``NURTURE_PG_SCHEMA``; the audit tables, the
predictions and the allocations' copy live in PostgreSQL too (the exports' state stays
in the DuckDB file). Rows travel by COPY; every write is one transaction."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime

import duckdb
import pandas as pd

from nurture.config import postgres_schema, postgres_url
from nurture.warehouse.engines.base import Engine, ErasureSweep, TableWrite, cast_select
from nurture.warehouse.owned_tables import OwnedTable, ensure_sql


@contextmanager
def postgres_connection():
    """A PostgreSQL connection that commits on success and is always closed."""
    import psycopg2

    conn = psycopg2.connect(postgres_url())
    try:
        with conn:
            yield conn
    finally:
        conn.close()


class PostgresEngine(Engine):
    name = "postgres"
    param_mark = "%s"

    @property
    def schema(self) -> str:
        return postgres_schema()

    def read(self, sql: str) -> pd.DataFrame:
        with postgres_connection() as conn, conn.cursor() as cur:
            cur.execute(sql)
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    def relation(self, table: OwnedTable) -> str:
        schema = self.schema if table.home == "model" else table.schema
        return f'"{schema}".{table.name}'

    def read_owned(self, table, make_sql):
        relation = self.relation(table)
        with postgres_connection() as conn, conn.cursor() as cur:
            cur.execute("select to_regclass(%s) is not null", [relation])
            if not cur.fetchone()[0]:
                return None
            cur.execute(make_sql(relation, ' collate "C"'))
            return cur.fetchall()

    def _execute_many(self, table: OwnedTable, relation: str, batches: list[tuple[str, list]]) -> None:
        with postgres_connection() as conn, conn.cursor() as cur:
            self._ensure(cur, table, relation)
            for sql, parameters in batches:
                if parameters:
                    cur.executemany(sql, parameters)

    def delete_before(self, relation: str, column: str, cutoff: date) -> int:
        with postgres_connection() as conn, conn.cursor() as cur:
            cur.execute("select to_regclass(%s)", [relation.replace('"', "")])
            if cur.fetchone()[0] is None:
                return 0
            cur.execute(f"delete from {relation} where {column} < %s", [cutoff])
            return cur.rowcount

    def write(self, writes: list[TableWrite]) -> None:
        """One transaction: PostgreSQL DDL is transactional, readers see all or nothing."""
        with postgres_connection() as conn, conn.cursor() as cur:
            for write in writes:
                relation = self.relation(write.table)
                if write.replace_values is None:
                    cur.execute(f"drop table if exists {relation}")
                self._ensure(cur, write.table, relation)
                if write.replace_values is not None:
                    cur.execute(
                        f"delete from {relation} where {write.table.partition_by} = any(%s)",
                        [list(write.replace_values)],
                    )
                self._copy(cur, write, relation)

    @staticmethod
    def _ensure(cur, table: OwnedTable, relation: str) -> None:
        for statement in ensure_sql(table, relation, "postgres"):
            cur.execute(statement)

    @staticmethod
    def _copy(cur, write: TableWrite, relation: str) -> None:
        """COPY from CSV written by DuckDB: an empty field is NULL."""
        import tempfile

        with tempfile.NamedTemporaryFile(suffix=".csv") as csv, duckdb.connect() as con:
            con.register("rows", write.rows)
            con.execute(f"copy ({cast_select(write.table, 'rows')}) to '{csv.name}' (header false)")
            with open(csv.name) as lines:
                columns = ", ".join(write.table.columns)
                cur.copy_expert(f"copy {relation} ({columns}) from stdin with (format csv)", lines)

    def load_raw(self, start: datetime, end: datetime) -> dict[str, int]:
        """The raw zone into schema ``raw`` (``load_postgres``): PostgreSQL cannot read Parquet."""
        from nurture.warehouse.load_postgres import load_raw_to_postgres

        return load_raw_to_postgres(self.settings.raw_dir, start_day=start, end_day=end)

    def erase(self, sweep: ErasureSweep) -> dict[str, int]:
        """Every table with a customer_id (raw and marts); the raw order lines, which have
        none, go with their orders."""
        removed = {}
        with postgres_connection() as conn, conn.cursor() as cur:
            cur.execute(
                """select c.table_schema, c.table_name from information_schema.columns as c
                join information_schema.tables as t using (table_catalog, table_schema, table_name)
                where c.column_name = 'customer_id' and t.table_type = 'BASE TABLE'
                    and c.table_schema not in ('pg_catalog', 'information_schema') order by 1, 2"""
            )
            tables = cur.fetchall()
            listed = "encode(sha256(convert_to(%s || ':' || customer_id::text, 'UTF8')), 'hex') = any(%s)"
            for schema in sorted({s for s, t in tables if t == "orders"}):
                if not _has_table(cur, schema, "order_items"):
                    continue
                cur.execute(
                    f'delete from "{schema}".order_items where order_id in '
                    f'(select order_id from "{schema}".orders where {listed})',
                    [sweep.pepper, sweep.hashes],
                )
                if cur.rowcount:
                    removed[f"postgres/{schema}.order_items"] = cur.rowcount
            for schema, table in tables:
                relation = f'"{schema}"."{table}"'
                distinct = f"(select distinct customer_id from {relation}) as ids"
                ids = f"select customer_id from {distinct} where {listed}"
                if table == sweep.rewind_table:
                    cur.execute(sweep.rewind_sql(relation, ids), [sweep.pepper, sweep.fresh])
                    if cur.rowcount:
                        removed[f"postgres/{schema}.{table} (days to rebuild)"] = cur.rowcount
                listed_ids = [sweep.pepper, sweep.hashes]
                cur.execute(f"delete from {relation} where customer_id in ({ids})", listed_ids)
                if cur.rowcount:
                    removed[f"postgres/{schema}.{table}"] = cur.rowcount
        return removed


def _has_table(cur, schema: str, table: str) -> bool:
    cur.execute(
        "select 1 from information_schema.tables where table_schema = %s and table_name = %s", [schema, table]
    )
    return cur.fetchone() is not None
