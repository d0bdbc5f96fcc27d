"""The predicted-value pipeline step: BG/NBD + Gamma-Gamma per customer, in the warehouse.

Runs after ``dbt build`` for the same run date. Reads ``int_customer_btyd_inputs`` from
the schema dbt builds in, fits both models on all its customers, and writes

- ``pred_customer_value``: one row per customer, the predictions as of the run date,
  replaced whole in one transaction (readers see the old table or the new one);
- ``pred_model_fit``: one row per run date, the fitted parameters and fit diagnostics,
  that date's row replaced in the same transaction.

One code path per engine, chosen like dbt's target (argument, else
``settings.dbt_target``, from ``NURTURE_DBT_TARGET``): DuckDB through the file at
``settings.warehouse_path``, PostgreSQL through
SQLAlchemy/psycopg2 with the ``NURTURE_PG_*`` variables ``profiles.yml`` reads, Spark
by reading the inputs' Parquet and writing through a Spark session (``nurture.warehouse.spark``).
"""

from __future__ import annotations

import io
import logging
import os
import time
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from nurture.config import DBT_PROJECT_DIR, Settings
from nurture.predict import btyd

log = logging.getLogger(__name__)

INPUTS = "int_customer_btyd_inputs"
PREDICTIONS = "pred_customer_value"
MODEL_FIT = "pred_model_fit"
# The schema each dbt target builds in (dbt_project/profiles.yml).
SCHEMAS = {"duckdb": "main", "postgres": "nurture", "spark": "nurture"}

PREDICTION_COLUMNS = {
    "customer_id": "bigint",
    "run_date": "date",
    "horizon_days": "integer",
    "frequency": "integer",
    "recency_days": "integer",
    "t_days": "integer",
    "monetary_value": "double precision",
    "probability_alive": "double precision",
    "expected_purchases_horizon": "double precision",
    "expected_average_value": "double precision",
    "expected_value_horizon": "double precision",
}
FIT_COLUMNS = {
    "run_date": "date",
    "horizon_days": "integer",
    "time_unit": "varchar(8)",
    "customers": "integer",
    "repeat_customers": "integer",
    "bgnbd_r": "double precision",
    "bgnbd_alpha": "double precision",
    "bgnbd_a": "double precision",
    "bgnbd_b": "double precision",
    "bgnbd_log_likelihood": "double precision",
    "bgnbd_converged": "boolean",
    "bgnbd_at_bound": "boolean",
    "bgnbd_starts_agreeing": "integer",
    "gg_customers": "integer",
    "gg_p": "double precision",
    "gg_q": "double precision",
    "gg_v": "double precision",
    "gg_log_likelihood": "double precision",
    "gg_converged": "boolean",
    "gg_at_bound": "boolean",
    "gg_starts_agreeing": "integer",
    "frequency_value_correlation": "double precision",
}


class PredictionError(RuntimeError):
    """The step cannot run; the message says what to do."""


def horizon_days_from_project() -> int:
    """``prediction_horizon_days`` from the vars in ``dbt_project.yml`` (one place for it)."""
    import yaml

    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    return int(project["vars"]["prediction_horizon_days"])


def resolve_target(target: str | None, settings: Settings) -> str:
    target = target or settings.dbt_target
    if target not in SCHEMAS:
        raise PredictionError(f"unknown dbt target {target!r}: use one of {', '.join(SCHEMAS)}")
    return target


def predict_customer_value(
    settings: Settings, run_date: date, target: str | None = None, *, horizon_days: int | None = None
) -> int:
    """Fit, score every customer of ``int_customer_btyd_inputs`` and write the tables.

    Returns the number of customers written. Raises :class:`PredictionError` when the
    inputs are missing or were built for another run date.
    """
    target = resolve_target(target, settings)
    horizon = horizon_days if horizon_days is not None else horizon_days_from_project()
    warehouses = {"duckdb": DuckDBWarehouse, "postgres": PostgresWarehouse, "spark": SparkWarehouse}
    warehouse = warehouses[target](settings)
    inputs = warehouse.read_inputs()
    built_for = set(pd.to_datetime(inputs["run_date"]).dt.date)
    if built_for and built_for != {run_date}:
        raise PredictionError(
            f"{INPUTS} was built for {', '.join(map(str, sorted(built_for)))}, not {run_date}: "
            f"run `dbt build` for {run_date} first"
        )
    started = time.perf_counter()
    predictions, fit = score_customers(inputs, run_date, horizon)
    log.info(
        "fitted BG/NBD + Gamma-Gamma on %d customers in %.1fs: %s",
        len(predictions),
        time.perf_counter() - started,
        {k: v for k, v in fit.items() if k.startswith(("bgnbd_", "gg_"))},
    )
    warehouse.replace(predictions, pd.DataFrame([fit], columns=list(FIT_COLUMNS)))
    log.info("wrote %d rows to %s.%s (%s)", len(predictions), SCHEMAS[target], PREDICTIONS, target)
    return len(predictions)


def score_customers(inputs: pd.DataFrame, run_date: date, horizon_days: int) -> tuple[pd.DataFrame, dict]:
    """Fit both models on ``inputs`` (the columns of ``int_customer_btyd_inputs``) and
    predict ``horizon_days`` ahead: the rows of both tables, with time in days."""
    x = inputs["frequency"].to_numpy(dtype=float)
    t_x = inputs["recency_days"].to_numpy(dtype=float)
    T = inputs["t_days"].to_numpy(dtype=float)
    m = pd.to_numeric(inputs["monetary_value"]).to_numpy(dtype=float, na_value=np.nan)
    repeat = x > 0
    fit: dict[str, Any] = dict.fromkeys(FIT_COLUMNS)
    fit.update(
        run_date=run_date,
        horizon_days=horizon_days,
        time_unit="day",
        customers=len(x),
        repeat_customers=int(repeat.sum()),
        bgnbd_converged=False,
        gg_converged=False,
    )
    n = len(x)
    alive, purchases, average = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    if n:
        bgnbd = btyd.fit_bgnbd(x, t_x, T)
        fit.update({f"bgnbd_{k}": v for k, v in bgnbd.params.items()})
        fit.update(
            bgnbd_log_likelihood=bgnbd.log_likelihood,
            bgnbd_converged=bgnbd.converged,
            bgnbd_at_bound=bgnbd.at_bound,
            bgnbd_starts_agreeing=bgnbd.starts_agreeing,
        )
        alive = btyd.bgnbd_probability_alive(bgnbd, x, t_x, T)
        purchases = btyd.bgnbd_expected_purchases(bgnbd, float(horizon_days), x, t_x, T)
        if not np.all(np.isfinite(purchases) & (purchases >= 0)):
            raise PredictionError(f"BG/NBD gave invalid expected purchases with {bgnbd.params}")
    spenders = repeat & np.isfinite(m) & (m > 0)
    if spenders.sum() >= 2:
        gg = btyd.fit_gamma_gamma(x[spenders], m[spenders])
        fit.update({f"gg_{k}": v for k, v in gg.params.items()})
        fit.update(
            gg_customers=gg.n,
            gg_log_likelihood=gg.log_likelihood,
            gg_converged=gg.converged,
            gg_at_bound=gg.at_bound,
            gg_starts_agreeing=gg.starts_agreeing,
        )
        # Gamma-Gamma assumes spend per purchase is independent of how often one buys.
        if spenders.sum() > 2 and np.ptp(x[spenders]) > 0 and np.ptp(m[spenders]) > 0:
            fit["frequency_value_correlation"] = float(np.corrcoef(x[spenders], m[spenders])[0, 1])
        average = btyd.gamma_gamma_expected_average_value(gg, x, m)
    else:  # too few repeat buyers to fit: value predictions stay null
        log.warning("Gamma-Gamma not fitted: %d repeat customers with a value", spenders.sum())
    predictions = pd.DataFrame(
        {
            "customer_id": inputs["customer_id"].to_numpy(dtype="int64"),
            "run_date": [run_date] * n,
            "horizon_days": np.full(n, horizon_days, dtype="int64"),
            "frequency": x.astype("int64"),
            "recency_days": t_x.astype("int64"),
            "t_days": T.astype("int64"),
            "monetary_value": m,
            "probability_alive": alive,
            "expected_purchases_horizon": purchases,
            "expected_average_value": average,
            "expected_value_horizon": purchases * average,
        },
        columns=list(PREDICTION_COLUMNS),
    )
    return predictions, fit


def _ddl(columns: dict[str, str]) -> str:
    return ", ".join(f"{name} {sql_type}" for name, sql_type in columns.items())


def _fit_table_ddl(schema: str, existing: set[str]) -> list[str]:
    """Create ``pred_model_fit``, or add the columns an older version of it lacks (it keeps
    its history, so it is never dropped)."""
    if not existing:
        return [f"create table {schema}.{MODEL_FIT} ({_ddl(FIT_COLUMNS)})"]
    return [
        f"alter table {schema}.{MODEL_FIT} add column {name} {sql_type}"
        for name, sql_type in FIT_COLUMNS.items()
        if name not in existing
    ]


def _fit_columns_sql(schema: str) -> str:
    return (
        "select column_name from information_schema.columns "
        f"where table_schema = '{schema}' and table_name = '{MODEL_FIT}'"
    )


def _read_sql(schema: str) -> str:
    return (
        "select customer_id, run_date, frequency, recency_days, t_days, monetary_value "
        f"from {schema}.{INPUTS} order by customer_id"
    )


class DuckDBWarehouse:
    """The DuckDB file dbt builds (one writer at a time: run after dbt, never beside it)."""

    schema = SCHEMAS["duckdb"]

    def __init__(self, settings: Settings) -> None:
        self.path = settings.warehouse_path

    def _connect(self, read_only: bool):
        import duckdb

        if not self.path.exists():
            raise PredictionError(f"no warehouse at {self.path}: run `dbt build` first")
        return duckdb.connect(str(self.path), read_only=read_only)

    def read_inputs(self) -> pd.DataFrame:
        import duckdb

        with self._connect(read_only=True) as con:
            try:
                return con.execute(_read_sql(self.schema)).df()
            except duckdb.CatalogException as error:
                raise PredictionError(f"{INPUTS} is not in {self.path}: run `dbt build` first") from error

    def replace(self, predictions: pd.DataFrame, fit: pd.DataFrame) -> None:
        run_date = fit["run_date"].iloc[0]
        with self._connect(read_only=False) as con:
            con.register("predictions_frame", predictions)
            con.register("fit_frame", fit)
            con.execute("begin transaction")
            try:
                con.execute(
                    f"create or replace table {self.schema}.{PREDICTIONS} ({_ddl(PREDICTION_COLUMNS)})"
                )
                con.execute(
                    f"insert into {self.schema}.{PREDICTIONS} ({', '.join(PREDICTION_COLUMNS)}) "
                    f"select {', '.join(PREDICTION_COLUMNS)} from predictions_frame"
                )
                existing = {row[0] for row in con.execute(_fit_columns_sql(self.schema)).fetchall()}
                for statement in _fit_table_ddl(self.schema, existing):
                    con.execute(statement)
                con.execute(f"delete from {self.schema}.{MODEL_FIT} where run_date = ?", [run_date])
                con.execute(
                    f"insert into {self.schema}.{MODEL_FIT} ({', '.join(FIT_COLUMNS)}) "
                    f"select {', '.join(FIT_COLUMNS)} from fit_frame"
                )
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise


class PostgresWarehouse:
    """The PostgreSQL warehouse of dbt's ``postgres`` target (``NURTURE_PG_*`` variables)."""

    schema = SCHEMAS["postgres"]

    def __init__(self, settings: Settings) -> None:
        from sqlalchemy import create_engine

        from nurture.warehouse.load_postgres import postgres_url_from_env

        # One reading of NURTURE_PG_* (same defaults as profiles.yml and scripts/postgres.sh).
        self.schema = os.environ.get("NURTURE_PG_SCHEMA", SCHEMAS["postgres"])
        url = postgres_url_from_env().replace("postgresql://", "postgresql+psycopg2://", 1)
        self.engine = create_engine(url)

    def read_inputs(self) -> pd.DataFrame:
        from sqlalchemy import exc, text

        try:
            with self.engine.connect() as conn:
                return pd.read_sql(text(_read_sql(self.schema)), conn)
        except exc.ProgrammingError as error:
            raise PredictionError(
                f"cannot read {self.schema}.{INPUTS}: run `dbt build` first ({error})"
            ) from error

    def replace(self, predictions: pd.DataFrame, fit: pd.DataFrame) -> None:
        from sqlalchemy import text

        # PostgreSQL DDL is transactional: drop, create and load commit together.
        with self.engine.begin() as conn:
            conn.execute(text(f"drop table if exists {self.schema}.{PREDICTIONS}"))
            conn.execute(text(f"create table {self.schema}.{PREDICTIONS} ({_ddl(PREDICTION_COLUMNS)})"))
            self._copy(conn, PREDICTIONS, predictions)
            existing = set(conn.execute(text(_fit_columns_sql(self.schema))).scalars())
            for statement in _fit_table_ddl(self.schema, existing):
                conn.execute(text(statement))
            conn.execute(
                text(f"delete from {self.schema}.{MODEL_FIT} where run_date = :run_date"),
                {"run_date": fit["run_date"].iloc[0]},
            )
            self._copy(conn, MODEL_FIT, fit)

    def _copy(self, conn, table: str, frame: pd.DataFrame) -> None:
        """COPY, in the connection's transaction: an empty CSV field is NULL."""
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, header=False, na_rep="")
        buffer.seek(0)
        cursor = conn.connection.cursor()
        cursor.copy_expert(
            f"copy {self.schema}.{table} ({', '.join(frame.columns)}) from stdin with (format csv)", buffer
        )


class SparkWarehouse:
    """The Spark warehouse of dbt's ``spark`` target. The inputs are read like every mart
    on Spark (their Parquet, through DuckDB); the results are written through a Spark
    session configured as dbt's, from a Parquet file (no pandas-to-JVM conversion).
    Parquet tables have no transactions: the predictions table is overwritten in one
    statement, and the fit history keeps one partition per run date, replaced."""

    def __init__(self, settings: Settings) -> None:
        from nurture.warehouse import spark

        self.settings = settings
        self.schema = spark.target(settings)["schema"]

    def read_inputs(self) -> pd.DataFrame:
        import duckdb

        from nurture.warehouse.queries import read_sql

        try:
            return read_sql(self.settings, _read_sql(self.schema))
        except duckdb.CatalogException as error:
            raise PredictionError(
                f"{self.schema}.{INPUTS} is not built on Spark: run `dbt build` first"
            ) from error

    def replace(self, predictions: pd.DataFrame, fit: pd.DataFrame) -> None:
        import tempfile

        import pyarrow as pa
        import pyarrow.parquet as pq

        from nurture.warehouse import spark

        session = spark.session(self.settings)
        with tempfile.TemporaryDirectory(dir=spark.warehouse_dir(self.settings).parent) as work:
            for table, frame, columns in (
                (PREDICTIONS, predictions, PREDICTION_COLUMNS),
                (MODEL_FIT, fit, FIT_COLUMNS),
            ):
                path = f"{work}/{table}.parquet"
                pq.write_table(pa.Table.from_pandas(frame[list(columns)], preserve_index=False), path)
                spark_types = {n: t.replace("double precision", "double") for n, t in columns.items()}
                rows = session.read.parquet(path).selectExpr(
                    *(f"cast({n} as {t}) as {n}" for n, t in spark_types.items())
                )
                name = f"{self.schema}.{table}"
                if table == PREDICTIONS:
                    rows.write.mode("overwrite").format("parquet").saveAsTable(name)
                elif not session.catalog.tableExists(name):
                    rows.write.format("parquet").partitionBy("run_date").saveAsTable(name)
                else:
                    session.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
                    ordered = [f.name for f in session.table(name).schema.fields]
                    rows.select(*ordered).write.insertInto(name, overwrite=True)
