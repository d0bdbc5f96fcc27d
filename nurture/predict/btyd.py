"""Buy-till-you-die models: BG/NBD for purchases and P(alive), Gamma-Gamma for spend.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while
alive, a customer buys at Poisson rate lambda ~ Gamma(r, alpha); after each repeat purchase
they drop out with probability p ~ Beta(a, b). A customer is summarised by
``frequency`` x (repeat purchases), ``recency`` t_x (time of the last purchase, from
the first) and ``T`` (time from the first purchase to the end of observation).

Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves"): the
values of a customer's repeat purchases are Gamma(p, nu) with nu ~ Gamma(q, v)
across customers; fitted on customers with x > 0 and the mean ``monetary_value`` of
their repeat purchases. It assumes spend per purchase does not depend on frequency.

Fits are maximum likelihood with :func:`scipy.optimize.minimize` (L-BFGS-B) on the
log-parameters, from several starting points. Data are rescaled inside the fit (time
so the mean T is 1, money so the mean value is 1), which leaves the shape parameters
unchanged and keeps the optimiser well conditioned; scale parameters (alpha, v) and
log-likelihoods are reported in the caller's units. Everything is vectorised over
customers; identical customer summaries are evaluated once, with a weight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

ArrayLike = np.ndarray | Sequence[float]

# Bounds on log-parameters in scaled units. A parameter on a bound is one the data do not
# pin down and whose likelihood keeps rising towards the limit: for BG/NBD, a and b -> inf
# with a / (a + b) fixed when dropout looks the same for everyone (short or small
# histories). Predictions at the bound are the limit model's, so the fit still counts.
LOG_BOUNDS = (-12.0, 12.0)
# Starts whose optimum is within this much of the best mean log-likelihood "agree".
AGREE_TOL = 1e-6


@dataclass(frozen=True)
class Fit:
    """A maximum-likelihood fit: parameters in the data's units and diagnostics."""

    params: dict[str, float]
    log_likelihood: float  # total over customers, in the data's units
    converged: bool  # gradient ~ 0 in the free parameters, >= 2 starts reached the optimum
    at_bound: bool  # a parameter ran to a bound (see LOG_BOUNDS): not identified by the data
    starts: int  # starting points tried
    starts_agreeing: int  # starts that reached the best optimum
    n: int  # customers in the fit


def _as_float(*arrays: ArrayLike) -> list[np.ndarray]:
    return [np.asarray(a, dtype=float) for a in arrays]


def _compress(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Unique rows of the columns and how often each occurs (the likelihood's weights)."""
    stacked = np.column_stack(columns)
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return [unique[:, i] for i in range(unique.shape[1])], counts.astype(float)


def _maximize(
    mean_ll: Callable[[np.ndarray], tuple[float, np.ndarray]], starts: list[np.ndarray]
) -> tuple[np.ndarray, bool, bool, int]:
    """Maximise a mean log-likelihood (with its gradient) of log-parameters from several starts.

    Returns the best log-parameters, whether the fit converged (the gradient of the mean
    log-likelihood is near zero in the parameters not on a bound, and at least two starts
    reached the same optimum), whether a parameter is on a bound, and how many starts
    reached the optimum.
    """

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = mean_ll(theta)
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            return 1e10, np.zeros_like(theta)
        return -value, -gradient

    bounds = [LOG_BOUNDS] * len(starts[0])
    options = {"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-8}
    results = [
        minimize(objective, s, method="L-BFGS-B", jac=True, bounds=bounds, options=options) for s in starts
    ]
    best = min(results, key=lambda res: res.fun)
    agreeing = sum(1 for res in results if res.fun - best.fun <= AGREE_TOL * max(1.0, abs(best.fun)))
    on_bound = np.abs(best.x) > LOG_BOUNDS[1] - 1e-3
    flat = bool(np.all(np.abs(best.jac[~on_bound]) < 1e-4))
    converged = bool(flat and agreeing >= 2 and np.isfinite(best.fun))
    return best.x, converged, bool(on_bound.any()), agreeing


# --- BG/NBD -------------------------------------------------------------------------------


def bgnbd_log_likelihood(
    params: Sequence[float], frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Log-likelihood of each customer's (x, t_x, T) under BG/NBD(r, alpha, a, b)."""
    r, alpha, a, b = params
    x, t_x, T = _as_float(frequency, recency, T)
    # The second term exists only for x > 0 (a dropout after the last purchase);
    # evaluate it at x >= 1 to stay finite and mask it out for x = 0.
    x1 = np.maximum(x, 1.0)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    alive = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    dropped = betaln(a + 1.0, b + x1 - 1.0) - (r + x1) * np.log(alpha + t_x)
    dropped = np.where(x > 0, dropped, -np.inf)
    return common + np.logaddexp(alive, dropped)


def _bgnbd_gradient(params: Sequence[float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """d log-likelihood / d (r, alpha, a, b) per customer, shape (4, n)."""
    r, alpha, a, b = params
    x1 = np.maximum(x, 1.0)
    alive = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    dropped = np.where(x > 0, betaln(a + 1.0, b + x1 - 1.0) - (r + x1) * np.log(alpha + t_x), -np.inf)
    w_alive = np.exp(alive - np.logaddexp(alive, dropped))  # share of the "still alive" term
    w_dropped = 1.0 - w_alive
    psi_abx = digamma(a + b + x)
    d_r = (
        digamma(r + x) - digamma(r) + np.log(alpha)
        - w_alive * np.log(alpha + T) - w_dropped * np.log(alpha + t_x)
    )  # fmt: skip
    d_alpha = r / alpha - (r + x) * (w_alive / (alpha + T) + w_dropped / (alpha + t_x))
    d_a = (
        digamma(a + b)
        - digamma(a)
        + w_alive * (digamma(a) - psi_abx)
        + w_dropped * (digamma(a + 1.0) - psi_abx)
    )
    d_b = digamma(a + b) - digamma(b) + w_alive * (digamma(b + x) - psi_abx)
    d_b = d_b + w_dropped * (digamma(b + x1 - 1.0) - psi_abx)
    return np.vstack([d_r, d_alpha, d_a, d_b])


def fit_bgnbd(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> Fit:
    """Maximum-likelihood BG/NBD; alpha comes back in the time unit of recency and T."""
    x, t_x, T = _as_float(frequency, recency, T)
    if x.size == 0:
        raise ValueError("BG/NBD needs at least one customer")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T) or np.any((x == 0) & (t_x != 0)):
        raise ValueError("BG/NBD needs 0 <= recency <= T, recency 0 when frequency is 0, frequency >= 0")
    scale = float(np.mean(T)) or 1.0
    (ux, ut_x, uT), weights = _compress(x, t_x / scale, T / scale)
    weights = weights / weights.sum()

    def mean_ll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(theta)
        value = np.dot(weights, bgnbd_log_likelihood(params, ux, ut_x, uT))
        return float(value), _bgnbd_gradient(params, ux, ut_x, uT) @ weights * params

    # Purchase rate lambda has mean r / alpha: start alpha from the observed rate.
    rate = max(float(np.mean(x)), 1e-3)  # purchases per (scaled) unit of time, T scaled to mean 1
    starts = [
        np.log([r0, r0 / rate, a0, b0])
        for r0, a0, b0 in [(1.0, 1.0, 1.0), (0.3, 0.8, 2.5), (2.0, 3.0, 10.0), (0.5, 0.3, 0.5)]
    ]
    theta, converged, at_bound, agreeing = _maximize(mean_ll, starts)
    r, alpha, a, b = np.exp(theta)
    params = {"r": float(r), "alpha": float(alpha * scale), "a": float(a), "b": float(b)}
    ll = float(np.sum(bgnbd_log_likelihood(tuple(params.values()), x, t_x, T)))
    return Fit(params, ll, converged, at_bound, len(starts), agreeing, int(x.size))


def _bgnbd_params(fit: Fit | Sequence[float]) -> tuple[float, float, float, float]:
    r, alpha, a, b = (fit.params[k] for k in ("r", "alpha", "a", "b")) if isinstance(fit, Fit) else fit
    return float(r), float(alpha), float(a), float(b)


def bgnbd_probability_alive(
    fit: Fit | Sequence[float], frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """P(still alive at T | x, t_x, T). One for x = 0: BG/NBD only drops out after a purchase."""
    r, alpha, a, b = _bgnbd_params(fit)
    x, t_x, T = _as_float(frequency, recency, T)
    x1 = np.maximum(x, 1.0)
    # 1 / (1 + odds of having dropped), with the odds in logs so large x cannot overflow.
    log_odds = np.log(a) - np.log(b + x1 - 1.0) + (r + x1) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(x > 0, expit(-log_odds), 1.0)


def bgnbd_expected_purchases(
    fit: Fit | Sequence[float], t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """Expected purchases in the next ``t`` time units given (x, t_x, T) (FHL 2005, eq. 10).

    The paper's H = ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))
    equals 2F1(r+x, a-1; a+b+x-1; -s) with s = t/(alpha+T) (Pfaff's transformation).
    SciPy evaluates that form accurately for s <= 1 and the paper's for s > 1 (checked
    against 50-digit mpmath to 1e-11 over r, a, b in [0.05, 20], alpha in [0.1, 1100],
    x <= T <= 1500 and t < 700 in days); each customer gets the accurate one.
    """
    r, alpha, a, b = _bgnbd_params(fit)
    x, t_x, T = _as_float(frequency, recency, T)
    if abs(a - 1.0) < 1e-7:  # the formula's limit at a = 1 is continuous; step off the 0/0
        a = 1.0 + 1e-7
    x, t_x, T = np.broadcast_arrays(x, t_x, T)
    s = t / (alpha + T)
    near = s <= 1.0
    h = np.empty_like(s)
    xn = x[near]
    h[near] = _hyp2f1(r + xn, a - 1.0, a + b + xn - 1.0, -s[near])
    xf, sf = x[~near], s[~near]
    h[~near] = np.exp(-(r + xf) * np.log1p(sf)) * _hyp2f1(r + xf, b + xf, a + b + xf - 1.0, sf / (1.0 + sf))
    purchases_if_alive = (a + b + x - 1.0) / (a - 1.0) * (1.0 - h)
    return purchases_if_alive * bgnbd_probability_alive((r, alpha, a, b), x, t_x, T)


def _hyp2f1(A, B, C, z: np.ndarray, terms: int = 20_000) -> np.ndarray:
    """SciPy's 2F1, and the Gauss series summed directly where SciPy gives no number.

    A young shop's fit can end near the Poisson limit (r and alpha in the tens of
    thousands, no heterogeneity left to find), where SciPy returns NaN for parameters
    whose series, with |z| < 1, converges in a few terms.
    """
    A, B, C, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (A, B, C, z)))
    value = np.array(hyp2f1(A, B, C, z), dtype=float)
    lost = ~np.isfinite(value) & (np.abs(z) < 1.0)
    if lost.any():
        a, b, c, w = A[lost], B[lost], C[lost], z[lost]
        term, total = np.ones_like(w), np.ones_like(w)
        for k in range(terms):
            term = term * (a + k) * (b + k) / ((c + k) * (k + 1.0)) * w
            total = total + term
            if np.all(np.abs(term) <= 1e-16 * np.abs(total)):
                break
        else:  # not converged: leave it unknown rather than wrong
            total[np.abs(term) > 1e-16 * np.abs(total)] = np.nan
        value[lost] = total
    return value


# --- Gamma-Gamma ---------------------------------------------------------------------------


def gamma_gamma_log_likelihood(
    params: Sequence[float], frequency: ArrayLike, monetary_value: ArrayLike
) -> np.ndarray:
    """Log-density of each mean repeat value zbar given x > 0 purchases, Gamma-Gamma(p, q, v)."""
    p, q, v = params
    x, m = _as_float(frequency, monetary_value)
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(v + x * m)
    )


def _gamma_gamma_gradient(params: Sequence[float], x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """d log-density / d (p, q, v) per customer, shape (3, n)."""
    p, q, v = params
    px = p * x
    psi = digamma(px + q)
    log_vxm = np.log(v + x * m)
    d_p = x * (psi - digamma(px) + np.log(m) + np.log(x) - log_vxm)
    d_q = psi - digamma(q) + np.log(v) - log_vxm
    d_v = q / v - (px + q) / (v + x * m)
    return np.vstack([d_p, d_q, d_v])


def fit_gamma_gamma(frequency: ArrayLike, monetary_value: ArrayLike) -> Fit:
    """Maximum-likelihood Gamma-Gamma on the customers with x > 0 and a positive mean value."""
    x, m = _as_float(frequency, monetary_value)
    keep = (x > 0) & np.isfinite(m) & (m > 0)
    x, m = x[keep], m[keep]
    if x.size < 2:
        raise ValueError("Gamma-Gamma needs at least two customers with repeat purchases")
    scale = float(np.mean(m))
    (ux, um), weights = _compress(x, m / scale)
    weights = weights / weights.sum()

    def mean_ll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(theta)
        value = np.dot(weights, gamma_gamma_log_likelihood(params, ux, um))
        return float(value), _gamma_gamma_gradient(params, ux, um) @ weights * params

    # Population mean spend is p v / (q - 1) = 1 in scaled money: start v from it.
    starts = [np.log([p0, q0, (q0 - 1.0) / p0]) for p0, q0 in [(1.0, 2.0), (5.0, 4.0), (10.0, 1.5)]]
    theta, converged, at_bound, agreeing = _maximize(mean_ll, starts)
    p, q, v = np.exp(theta)
    params = {"p": float(p), "q": float(q), "v": float(v * scale)}
    ll = float(np.sum(gamma_gamma_log_likelihood(tuple(params.values()), x, m)))
    return Fit(params, ll, converged, at_bound, len(starts), agreeing, int(x.size))


def gamma_gamma_expected_average_value(
    fit: Fit | Sequence[float], frequency: ArrayLike, monetary_value: ArrayLike
) -> np.ndarray:
    """E[value of a future purchase | x, zbar]: a weighted mean of the population's and
    the customer's own; the population mean p v / (q - 1) for x = 0 (NaN if q <= 1)."""
    p, q, v = (fit.params[k] for k in ("p", "q", "v")) if isinstance(fit, Fit) else fit
    x, m = _as_float(frequency, monetary_value)
    m = np.where(x > 0, m, 0.0)
    denominator = p * x + q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        value = p * (v + x * m) / denominator
    return np.where(denominator > 0, value, np.nan)
