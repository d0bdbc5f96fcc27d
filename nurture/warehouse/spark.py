"""The dbt ``spark`` target seen from Python: its session and its tables' Parquet.

dbt builds the marts with Spark; everything after dbt (checks, exports, BI, report)
reads them as the Parquet files of Spark's managed tables, through DuckDB, with the
same SQL as on the DuckDB target (``attach_tables``). Only the predicted-value step
writes back, through a Spark session configured exactly as dbt's (``session``): both
read ``server_side_parameters`` of the target in ``dbt_project/profiles.yml``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import jinja2
import yaml

from nurture.config import DBT_PROJECT_DIR, Settings, environment

PROFILE = DBT_PROJECT_DIR / "profiles.yml"


def _render(value: object, env: dict[str, str]) -> str:
    """A profile value rendered like dbt does it: ``env_var()`` and ``as_number``."""

    def env_var(name: str, default: str | None = None) -> str:
        if name in env:
            return env[name]
        if default is None:
            raise KeyError(f"{PROFILE} needs the environment variable {name}")
        return default

    jinja = jinja2.Environment(undefined=jinja2.StrictUndefined)
    jinja.globals["env_var"] = env_var
    jinja.filters["as_number"] = lambda v: v
    return jinja.from_string(str(value)).render()


def target(settings: Settings) -> dict:
    """The ``spark`` output of the profile, rendered with the settings' dbt environment."""
    output = yaml.safe_load(PROFILE.read_text())["nurture"]["outputs"]["spark"]
    env = environment() | settings.dbt_env()
    parameters = {key: _render(value, env) for key, value in output["server_side_parameters"].items()}
    # dbt-spark forces this (Spark 3 and 4 behave alike); so does every reader here.
    parameters["spark.sql.ansi.enabled"] = "false"
    return {"schema": _render(output["schema"], env), "parameters": parameters}


def warehouse_dir(settings: Settings) -> Path:
    """Where Spark keeps its managed tables: ``<dir>/<schema>.db/<table>/*.parquet``."""
    return Path(target(settings)["parameters"]["spark.sql.warehouse.dir"])


def quiet_py4j() -> None:
    """py4j logs each connection to the JVM at INFO, the last ones while Python exits,
    when the log's stream may be closed already ("Logging error" on stderr)."""
    logging.getLogger("py4j").setLevel(logging.WARNING)


def session(settings: Settings):
    """The Spark session dbt's ``session`` method uses (the running one in this process,
    else a new one with the same configuration)."""
    from pyspark.sql import SparkSession

    quiet_py4j()

    builder = SparkSession.builder.enableHiveSupport()
    for key, value in target(settings)["parameters"].items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def attach_tables(settings: Settings, con: duckdb.DuckDBPyConnection) -> list[str]:
    """Views ``"schema"."table"`` in ``con`` over every table of the Spark warehouse
    (partition folders become columns, as in Spark). Returns their names."""
    attached = []
    root = warehouse_dir(settings)
    for folder in sorted(root.glob("*.db/*")):
        if not any(folder.rglob("*.parquet")):
            continue  # a table being (re)written, or a view's leftover folder
        schema, table = folder.parent.name.removesuffix(".db"), folder.name
        con.execute(f'create schema if not exists "{schema}"')
        con.execute(
            f'create or replace view "{schema}"."{table}" as select * from '
            f"read_parquet('{folder}/**/*.parquet', hive_partitioning = true)"
        )
        attached.append(f"{schema}.{table}")
    return attached
