"""Predicted customer value: BG/NBD + Gamma-Gamma against the published CDNOW fits, and
the warehouse step on a generated shop (real extract, real dbt, real DuckDB file)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.optimize import approx_fprime
from scipy.stats import beta as beta_dist
from scipy.stats import spearmanr

from nurture import pipeline
from nurture.predict import btyd
from nurture.predict.holdout import holdout_check
from nurture.predict.step import PredictionError, horizon_days_from_project, predict_customer_value
from nurture.warehouse.transform import run_dbt
from tests.conftest import make_shop, midnight

CDNOW = Path(__file__).parent / "data" / "cdnow" / "cdnow_customers_summary_with_transactions.csv"

# Fader, Hardie & Lee (2005), time in weeks.
PAPER_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PAPER_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW)


@pytest.fixture(scope="module")
def cdnow_bgnbd(cdnow) -> btyd.Fit:
    return btyd.fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])


def test_bgnbd_fit_on_cdnow_matches_the_paper(cdnow_bgnbd):
    assert cdnow_bgnbd.n == 2357
    for name, published in PAPER_BGNBD.items():
        assert cdnow_bgnbd.params[name] == pytest.approx(published, rel=0.002), name  # README: 0.2 %
    assert cdnow_bgnbd.log_likelihood == pytest.approx(-9582.4, abs=0.1)
    assert cdnow_bgnbd.converged and not cdnow_bgnbd.at_bound
    assert cdnow_bgnbd.starts_agreeing >= 2


def test_conditional_expected_purchases_on_cdnow_match_the_paper(cdnow_bgnbd):
    # The paper's worked example: x = 2, t_x = 30.43, T = 38.86, next 39 weeks -> 1.226.
    expected = btyd.bgnbd_expected_purchases(cdnow_bgnbd, 39.0, [2], [30.43], [38.86])
    assert expected[0] == pytest.approx(1.226, rel=0.002)


def test_gamma_gamma_fit_on_cdnow_matches_the_paper(cdnow):
    fit = btyd.fit_gamma_gamma(cdnow["x"], cdnow["zbar"])
    assert fit.n == 946  # customers with x > 0
    for name, published in PAPER_GAMMA_GAMMA.items():
        assert fit.params[name] == pytest.approx(published, rel=0.002), name
    assert fit.converged and not fit.at_bound


def test_expected_purchases_equal_a_direct_integral():
    """Against the model's definition: alive with P(alive), then (1 - e^(-lambda p t)) / p
    purchases, averaged over the posterior lambda ~ Gamma(r+x, alpha+T), p ~ Beta(a, b+x).
    Cases on both sides of t = alpha + T, where the formula switches representation."""
    r, alpha, a, b = 0.4, 45.0, 1.6, 6.5
    cases = [  # x, t_x, T, t (days)
        (0, 0, 0, 90),
        (0, 0, 300, 90),
        (3, 40, 50, 365),
        (12, 200, 210, 30),
        (40, 350, 360, 700),
        (1, 5, 5, 90),
    ]
    x, t_x, T, t = (np.array(c, dtype=float) for c in zip(*cases, strict=True))
    alive = btyd.bgnbd_probability_alive((r, alpha, a, b), x, t_x, T)
    for i in range(len(cases)):

        def per_p(p, i=i):
            # E over lambda of 1 - e^(-lambda p t) is 1 - ((alpha+T) / (alpha+T+p t))^(r+x).
            no_purchase = ((alpha + T[i]) / (alpha + T[i] + p * t[i])) ** (r + x[i])
            return (1.0 - no_purchase) / p * beta_dist.pdf(p, a, b + x[i])

        integral, _ = integrate.quad(per_p, 0.0, 1.0, epsabs=1e-12, epsrel=1e-10, limit=200)
        got = btyd.bgnbd_expected_purchases((r, alpha, a, b), t[i], [x[i]], [t_x[i]], [T[i]])[0]
        assert got == pytest.approx(alive[i] * integral, rel=1e-8), cases[i]


def test_expected_purchases_near_the_poisson_limit_equal_a_direct_integral():
    """A young shop's fit (150 customers, 60 days) ends with r and alpha in the millions'
    range, where SciPy's 2F1 gives NaN: the series is summed instead. Against the same
    integral in log p (the Beta(a, b+x) mass with a near 0 sits at p -> 0, where the
    integrand is its limit (r+x) t / (alpha+T))."""
    r, alpha, a, b = 33574.29765129244, 3485330.1858755783, 0.0006598363547060707, 3161.2880648536857
    edge = 1e-12
    for x, t_x, T, t in [(0, 0, 10, 90), (1, 10, 30, 90), (3, 50, 60, 90), (2, 5, 59, 365)]:

        def per_log_p(u, x=x, T=T, t=t):
            p = np.exp(u)
            purchases = -np.expm1(-(r + x) * np.log1p(p * t / (alpha + T))) / p
            return purchases * beta_dist.pdf(p, a, b + x) * p

        integral, _ = integrate.quad(per_log_p, np.log(edge), 0.0, epsabs=1e-15, epsrel=1e-12, limit=500)
        integral += (r + x) * t / (alpha + T) * beta_dist.cdf(edge, a, b + x)
        alive = btyd.bgnbd_probability_alive((r, alpha, a, b), [x], [t_x], [T])[0]
        got = btyd.bgnbd_expected_purchases((r, alpha, a, b), t, [x], [t_x], [T])[0]
        assert got == pytest.approx(alive * integral, rel=1e-9), (x, t_x, T, t)


def test_analytic_gradients_equal_finite_differences(cdnow):
    x, t_x, T, zbar = (cdnow[c].to_numpy(dtype=float) for c in ("x", "t_x", "T", "zbar"))
    point = np.array([0.3, 5.0, 0.9, 2.0])
    numeric = approx_fprime(point, lambda q: btyd.bgnbd_log_likelihood(q, x, t_x, T).sum(), 1e-7)
    np.testing.assert_allclose(btyd._bgnbd_gradient(point, x, t_x, T).sum(axis=1), numeric, rtol=1e-4)
    repeat = x > 0
    point = np.array([5.0, 3.0, 14.0])
    numeric = approx_fprime(
        point, lambda q: btyd.gamma_gamma_log_likelihood(q, x[repeat], zbar[repeat]).sum(), 1e-7
    )
    analytic = btyd._gamma_gamma_gradient(point, x[repeat], zbar[repeat]).sum(axis=1)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4)


def test_probability_alive_falls_with_time_since_the_last_purchase(cdnow_bgnbd):
    recency = np.arange(0.0, 39.0)
    alive = btyd.bgnbd_probability_alive(cdnow_bgnbd, np.full(39, 3.0), recency, np.full(39, 39.0))
    assert np.all(np.diff(alive) > 0)  # a later last purchase, same x and T: more likely alive
    # One-time buyers are alive by construction: BG/NBD drops customers only after a purchase.
    assert btyd.bgnbd_probability_alive(cdnow_bgnbd, [0, 0], [0, 0], [1.0, 39.0]).tolist() == [1.0, 1.0]


def test_gamma_gamma_shrinks_a_customer_mean_towards_the_population_mean(cdnow):
    fit = btyd.fit_gamma_gamma(cdnow["x"], cdnow["zbar"])
    p, q, v = (fit.params[k] for k in ("p", "q", "v"))
    population = p * v / (q - 1)
    one, many, none = btyd.gamma_gamma_expected_average_value(fit, [1, 20, 0], [100.0, 100.0, np.nan])
    assert none == pytest.approx(population)
    assert population < one < many < 100.0  # more purchases, more weight on the customer's own mean


# --- the warehouse step --------------------------------------------------------------------------

RUN_DATE = date(2025, 6, 30)


@pytest.fixture(scope="module")
def shop_warehouse(tmp_path_factory):
    """A generated shop extracted and built up to int_customer_btyd_inputs, predicted once."""
    settings, shop = make_shop(tmp_path_factory.mktemp("predict"), customers=600, days=240, seed=11)
    pipeline.extract_shop(
        settings, settings.shop_db_url, midnight(shop.start), midnight(shop.end + timedelta(1))
    )
    build = [
        "build",
        "--select",
        "+int_customer_btyd_inputs",
        "+stg_shop__customers",
        "--indirect-selection",
        "cautious",
    ]
    outcome = run_dbt(settings, build, RUN_DATE)
    failed = [f"{r.node.name}: {r.message}" for r in outcome.result or [] if r.status in ("error", "fail")]
    assert outcome.success and not failed, failed or outcome.exception
    written = predict_customer_value(settings, RUN_DATE)
    return settings, written


def read(settings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).df()


def test_step_writes_one_row_per_customer_with_valid_predictions(shop_warehouse):
    settings, written = shop_warehouse
    inputs = read(settings, "select * from int_customer_btyd_inputs order by customer_id")
    pred = read(settings, "select * from pred_customer_value order by customer_id")
    assert written == len(pred) == len(inputs) > 300
    assert pred["customer_id"].tolist() == inputs["customer_id"].tolist()
    assert pred["frequency"].tolist() == inputs["frequency"].tolist()
    assert (pred["frequency"] > 0).sum() > 50
    assert set(pd.to_datetime(pred["run_date"]).dt.date) == {RUN_DATE}
    assert set(pred["horizon_days"]) == {horizon_days_from_project()}
    assert pred["probability_alive"].between(0, 1).all()
    for column in ("expected_purchases_horizon", "expected_average_value", "expected_value_horizon"):
        assert pred[column].notna().all() and (pred[column] >= 0).all(), column
    assert pred.loc[pred["frequency"] == 0, "probability_alive"].eq(1.0).all()
    assert pred.loc[pred["frequency"] == 0, "monetary_value"].isna().all()
    assert pred.loc[pred["frequency"] > 0, "probability_alive"].lt(1.0).all()


def test_more_recent_buyers_are_more_likely_alive(shop_warehouse):
    settings, _ = shop_warehouse
    pred = read(settings, "select * from pred_customer_value where frequency > 0")
    pred["days_since_last"] = pred["t_days"] - pred["recency_days"]
    pairs = 0
    # Same frequency and first purchase day: a later last purchase means a higher P(alive).
    for _, group in pred.groupby(["frequency", "t_days"]):
        ordered = group.sort_values("recency_days")
        distinct = ordered.drop_duplicates("recency_days")
        pairs += len(distinct) - 1
        assert distinct["probability_alive"].is_monotonic_increasing
        assert distinct["probability_alive"].diff().dropna().gt(0).all()
    assert pairs >= 5
    # Same frequency, any first purchase day: strongly so on average.
    for frequency, group in pred.groupby("frequency"):
        if len(group) >= 20:
            rho = spearmanr(group["days_since_last"], group["probability_alive"]).statistic
            assert rho < -0.8, frequency


def test_step_records_the_fit_and_reruns_to_the_same_result(shop_warehouse):
    settings, _ = shop_warehouse
    before = read(settings, "select * from pred_customer_value order by customer_id")
    assert predict_customer_value(settings, RUN_DATE) == len(before)
    pd.testing.assert_frame_equal(
        read(settings, "select * from pred_customer_value order by customer_id"), before
    )
    fit = read(settings, "select * from pred_model_fit")
    assert len(fit) == 1  # one row per run date, replaced by the rerun
    row = fit.iloc[0]
    assert pd.Timestamp(row["run_date"]).date() == RUN_DATE
    assert row["customers"] == len(before)
    assert row["repeat_customers"] == (before["frequency"] > 0).sum()
    # A small, young shop may not identify dropout heterogeneity (a, b run to their bound,
    # bgnbd_at_bound): the fit still converges to the limit model.
    assert bool(row["bgnbd_converged"]) and bool(row["gg_converged"])
    for name in ("bgnbd_r", "bgnbd_alpha", "bgnbd_a", "bgnbd_b", "gg_p", "gg_q", "gg_v"):
        assert row[name] > 0, name
    assert row["bgnbd_log_likelihood"] < 0


def test_step_refuses_inputs_built_for_another_day(shop_warehouse):
    settings, _ = shop_warehouse
    with pytest.raises(PredictionError, match="dbt build"):
        predict_customer_value(settings, RUN_DATE - timedelta(days=1))


def test_the_holdout_check_reproduces_the_readme_figure_on_cdnow():
    """scripts/validate_predictions.py --cdnow: the README quotes these figures."""
    from scripts.validate_predictions import CDNOW_CUTOFF, cdnow_purchases

    check = holdout_check(cdnow_purchases(), CDNOW_CUTOFF, 273)
    assert check.customers == 2357
    assert check.actual == 1882
    assert check.predicted == pytest.approx(1653.4, abs=0.1)  # the paper's fit, over 39 weeks
    assert round(check.error, 2) == -0.12
