"""The predicted-value pipeline step: BG/NBD + Gamma-Gamma per customer, in the warehouse.

Runs after ``dbt build`` for the same run date. Reads ``int_customer_btyd_inputs`` from
the schema dbt builds in, fits both models on all its customers, and writes

- ``pred_customer_value``: one row per customer, the predictions as of the run date,
  replaced whole in one transaction (readers see the old table or the new one);
- ``pred_model_fit``: one row per run date, the fitted parameters and fit diagnostics,
  that date's row replaced in the same transaction.

The engine is dbt's target (argument, else ``settings.dbt_target``); it reads the
inputs and writes both tables (``Engine.write``: one transaction on DuckDB and
PostgreSQL; on Spark the predictions overwritten in one statement and the fit's
partition of the run date replaced). The tables' columns are in ``owned_tables``.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from nurture.config import DBT_PROJECT_DIR, Settings
from nurture.predict import btyd
from nurture.warehouse.engines import Engine, TableWrite, UnknownTargetError, engine_for
from nurture.warehouse.owned_tables import MODEL_FIT as MODEL_FIT_TABLE
from nurture.warehouse.owned_tables import PREDICTIONS as PREDICTIONS_TABLE

log = logging.getLogger(__name__)

INPUTS = "int_customer_btyd_inputs"
PREDICTIONS = PREDICTIONS_TABLE.name
MODEL_FIT = MODEL_FIT_TABLE.name
PREDICTION_COLUMNS = PREDICTIONS_TABLE.columns
FIT_COLUMNS = MODEL_FIT_TABLE.columns


class PredictionError(RuntimeError):
    """The step cannot run; the message says what to do."""


def horizon_days_from_project() -> int:
    """``prediction_horizon_days`` from the vars in ``dbt_project.yml`` (one place for it)."""
    import yaml

    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    return int(project["vars"]["prediction_horizon_days"])


def predict_customer_value(
    settings: Settings, run_date: date, target: str | None = None, *, horizon_days: int | None = None
) -> int:
    """Fit, score every customer of ``int_customer_btyd_inputs`` and write the tables.

    Returns the number of customers written. Raises :class:`PredictionError` when the
    inputs are missing or were built for another run date.
    """
    try:
        engine = engine_for(settings, target)
    except UnknownTargetError as error:
        raise PredictionError(str(error)) from error
    horizon = horizon_days if horizon_days is not None else horizon_days_from_project()
    inputs = _read_inputs(engine)
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
    fit_row = pa.Table.from_pandas(pd.DataFrame([fit], columns=list(FIT_COLUMNS)), preserve_index=False)
    engine.write(
        [
            TableWrite(PREDICTIONS_TABLE, pa.Table.from_pandas(predictions, preserve_index=False)),
            TableWrite(MODEL_FIT_TABLE, fit_row, replace_values=(run_date,)),
        ]
    )
    log.info("wrote %d rows to %s.%s (%s)", len(predictions), engine.schema, PREDICTIONS, engine.name)
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


def _read_inputs(engine: Engine) -> pd.DataFrame:
    """``int_customer_btyd_inputs`` from the schema dbt built it in."""
    sql = (
        "select customer_id, run_date, frequency, recency_days, t_days, monetary_value "
        f"from {engine.schema}.{INPUTS} order by customer_id"
    )
    try:
        return engine.read(sql)
    except Exception as error:  # each engine's "no such table" (or, on DuckDB, no file)
        if "does not exist" in str(error) or isinstance(error, duckdb.CatalogException):
            raise PredictionError(f"{engine.schema}.{INPUTS} is not built: run `dbt build` first") from error
        raise
