"""Goodness of fit of point-process models by time rescaling.

If a point process with conditional intensity λ(t) is correctly specified, the compensator increments
τ_i = ∫_{t_{i-1}}^{t_i} λ(s) ds are i.i.d. Exp(1) (time-rescaling theorem: Meyer 1971; Papangelou 1972;
Brown, Barbieri, Ventura, Kass & Frank 2002, Neural Computation 14:325-346). The model-specific part is the
computation of τ_i (see :func:`calibration.hawkes.hawkes_exp_residuals`); this module tests them.

Lallouache & Challet (2016, Quantitative Finance 16:1, arXiv 1406.3967) require the exponential law (KS) and
independence (Ljung-Box) to hold together. With 1e5-1e6 events the KS test rejects almost any model of real
data: report the D statistic alongside the p-value and test per short window.

The model in the project's words, with its papers: ``docs/hawkes.md``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from statsmodels.tsa.stattools import q_stat

LJUNG_BOX_LAGS = 10


@njit(cache=True)
def _autocorrelations(x, lags):  # pragma: no cover - compiled
    """Sample autocorrelations at lags 1..lags (biased autocovariances, as statsmodels' ``acf``)."""
    mean = x.mean()
    acov = np.zeros(lags + 1)
    for i in range(x.shape[0]):
        xi = x[i] - mean
        for k in range(min(lags, i) + 1):
            acov[k] += xi * (x[i - k] - mean)
    return acov[1:] / acov[0]


def ljung_box(residuals: ArrayLike, lags: int = LJUNG_BOX_LAGS) -> tuple[float, float]:
    """Ljung-Box Q statistic and chi-square p-value of the first ``lags`` autocorrelations.

    Same statistic as ``statsmodels.stats.diagnostic.acorr_ljungbox`` (Ljung & Box 1978, Biometrika
    65:297-303; Q and p from statsmodels' ``q_stat``), with the autocorrelations computed for ``lags`` lags
    only in one O(N lags) pass: ``acorr_ljungbox`` in statsmodels 0.15 computes all N autocovariances
    (``fft=False``, O(N^2)) and does not finish on 1e6 residuals.
    """
    x = np.ascontiguousarray(residuals, dtype=np.float64)
    q, p = q_stat(_autocorrelations(x, lags), nobs=x.size)
    return float(q[-1]), float(p[-1])


def time_rescaling_tests(residuals: ArrayLike, lags: int = LJUNG_BOX_LAGS) -> dict[str, float]:
    """KS test of the compensator increments against Exp(1), Ljung-Box test of their independence.

    Returns ``ks_statistic`` (D), ``ks_pvalue`` (``scipy.stats.kstest(tau, "expon")``),
    ``ljung_box_statistic``, ``ljung_box_pvalue`` (at ``lags``) and ``residual_mean`` (1 under the model).
    """
    tau = np.sort(np.asarray(residuals, dtype=np.float64))
    ks = stats.kstest(tau, "expon")
    lb_statistic, lb_pvalue = ljung_box(residuals, lags)
    return {
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "ljung_box_statistic": lb_statistic,
        "ljung_box_pvalue": lb_pvalue,
        "residual_mean": float(tau.mean()),
    }


def exponential_qq(residuals: ArrayLike, n_quantiles: int = 1000) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Q-Q data of compensator increments against Exp(1): (theoretical, empirical) quantiles, for plotting.

    Quantiles at probabilities (k - 1/2)/m, k = 1..m, m = min(n_quantiles, N); a correct model lies on
    the 45-degree line.
    """
    tau = np.asarray(residuals, dtype=np.float64)
    m = min(n_quantiles, tau.size)
    probabilities = (np.arange(1, m + 1) - 0.5) / m
    return -np.log1p(-probabilities), np.asarray(np.quantile(tau, probabilities), dtype=np.float64)


def bic(log_likelihood: float, n_params: int, n_events: int) -> float:
    """Bayesian information criterion k ln N - 2ℓ of a point-process fit with k parameters on N events (Schwarz 1978,
    Ann. Stat. 6:461-464); the lower wins."""
    return n_params * math.log(n_events) - 2.0 * log_likelihood
