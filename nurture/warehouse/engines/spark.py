"""The ``spark`` target: dbt builds Parquet tables with Spark; everything after dbt
reads them through DuckDB, with the same SQL as on the DuckDB target (views over the
Parquet, ``nurture.warehouse.spark.attach_tables``), beside Nurture's own tables in the
DuckDB file. Writes go through a Spark session configured as dbt's. Parquet tables have
no transactions and take no row deletes: a table is overwritten in one statement, a
partitioned one has its partitions replaced, and erasure rewrites the files."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nurture.warehouse import spark
from nurture.warehouse.engines.base import Engine, ErasureSweep, TableWrite
from nurture.warehouse.owned_tables import column_type


class SparkEngine(Engine):
    name = "spark"
    row_deletes = False

    @property
    def schema(self) -> str:
        return spark.target(self.settings)["schema"]

    def read(self, sql: str) -> pd.DataFrame:
        with self._reader() as con:
            return con.sql(sql).df()

    def read_marts(self, sql: str) -> pa.Table:
        with self._reader(own_tables=False) as con:
            return con.sql(sql).to_arrow_table()

    @contextmanager
    def _reader(self, own_tables: bool = True):
        """An in-memory DuckDB with views over the Spark tables' Parquet and (``own_tables``)
        over Nurture's own tables in the DuckDB file (audit, exports), so the same SQL reads
        both. A name in both (a copied mart) is Spark's."""
        path = self.settings.warehouse_path
        with duckdb.connect() as con:
            spark_tables = set(spark.attach_tables(self.settings, con))
            if own_tables and path.exists():
                con.execute(f"attach '{path}' as nurture_file (read_only)")
                listed = "select table_schema, table_name from information_schema.tables"
                listed += " where table_catalog = 'nurture_file'"
                for schema, table in con.execute(listed).fetchall():
                    if f"{schema}.{table}" not in spark_tables:
                        con.execute(f'create schema if not exists "{schema}"')
                        relation = f'"{schema}"."{table}"'
                        con.execute(f"create view {relation} as select * from nurture_file.{relation}")
            yield con

    def _folder(self, table) -> Path:
        return spark.warehouse_dir(self.settings) / f"{self.schema}.db" / table.name

    def read_owned(self, table, make_sql):
        folder = self._folder(table)
        if not any(folder.rglob("*.parquet")):
            return None
        relation = f"read_parquet('{folder}/**/*.parquet', hive_partitioning = true)"
        with duckdb.connect() as con:
            return con.sql(make_sql(relation, "")).fetchall()

    def write(self, writes: list[TableWrite]) -> None:
        """From Parquet (no pandas-to-JVM conversion), one statement per table."""
        session = spark.session(self.settings)
        with tempfile.TemporaryDirectory(dir=spark.warehouse_dir(self.settings).parent) as work:
            for i, write in enumerate(writes):
                table = write.table
                name = f"{self.schema}.{table.name}"
                path = f"{work}/{i}.parquet"
                pq.write_table(write.rows.select(list(table.columns)), path)
                # A partition column is stored last, as Spark keeps it.
                ordered = [c for c in table.columns if c != table.partition_by]
                ordered += [table.partition_by] if table.partition_by else []
                rows = session.read.parquet(path).selectExpr(
                    *(f"cast({c} as {column_type(table.columns[c], 'spark')}) as {c}" for c in ordered)
                )
                session.sql(f"create schema if not exists {self.schema}")
                if write.replace_values is None:
                    rows.write.mode("overwrite").format("parquet").saveAsTable(name)
                    continue
                if not session.catalog.tableExists(name):
                    rows.write.format("parquet").partitionBy(table.partition_by).saveAsTable(name)
                    continue
                if write.rows.num_rows:
                    session.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
                    stored = [f.name for f in session.table(name).schema.fields]
                    rows.select(*stored).write.insertInto(name, overwrite=True)
                present = set(write.rows.column(table.partition_by).to_pylist())
                for value in sorted(set(write.replace_values) - present):
                    partition = f"{table.partition_by} = '{value}'"
                    session.sql(f"alter table {name} drop if exists partition ({partition})")

    def erase(self, sweep: ErasureSweep) -> dict[str, int]:
        """Managed tables are Parquet files Spark finds by listing their folders: each file
        is rewritten without the rows, atomically; the Hadoop checksum beside a rewritten
        file goes (a stale one would fail Spark's read)."""
        root = spark.warehouse_dir(self.settings)
        removed: dict[str, int] = {}
        for path, n in sweep.rewrite_parquet(sorted(root.glob("*.db/*/**/*.parquet"))).items():
            path.with_name(f".{path.name}.crc").unlink(missing_ok=True)
            schema, table = path.relative_to(root).parts[:2]
            key = f"spark/{schema.removesuffix('.db')}.{table}"
            removed[key] = removed.get(key, 0) + n
        return removed

    def before_dbt(self) -> None:
        spark.quiet_py4j()  # dbt's session method runs Spark in this process
