"""Method-of-moments Hawkes estimates from the variance-time curve of counts, and the model-free branching ratio.

Counts are taken on the covered clock (covered intervals end to end, gaps cut out; see
:mod:`calibration.hawkes_baseline`): the MLE's starting point and its cross-check.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares

from calibration.coverage import coverage_report
from calibration.fit_result import FitResult, InsufficientSamples
from calibration.hawkes import MIN_EVENTS, UNITS, branching_warnings, event_times
from calibration.hawkes_baseline import observe


@njit(cache=True)
def _count_moments(t, horizon, widths):  # pragma: no cover - compiled
    """Mean and variance (ddof 1) of event counts in consecutive windows [kτ, (k+1)τ) ⊂ [0, T], per τ."""
    mean = np.empty(widths.shape[0])
    var = np.empty(widths.shape[0])
    n_windows = np.empty(widths.shape[0])
    for j in range(widths.shape[0]):
        inverse = 1.0 / widths[j]
        m = int(horizon * inverse)
        total = 0
        squares = 0.0
        current = -1
        count = 0
        for x in t:
            k = int(x * inverse)  # x >= 0: truncation is the floor
            if k >= m:
                break
            if k != current:
                squares += count * count
                current = k
                count = 0
            count += 1
            total += 1
        squares += count * count
        mean[j] = total / m
        var[j] = (squares - total * mean[j]) / (m - 1)
        n_windows[j] = m
    return mean, var, n_windows


def count_moments(
    times: ArrayLike, end_time: float, widths: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Sample mean and variance (ddof 1) of event counts in consecutive windows of each width over [0, T].

    Returns (mean, variance, number of windows), one entry per width; a partial last window is dropped.
    """
    t, horizon = event_times(times, 0.0, end_time)
    return _window_count_moments(t, horizon, np.atleast_1d(np.asarray(widths, dtype=np.float64)))


def _window_count_moments(t: NDArray, horizon: float, widths: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    if np.any(horizon // widths < 2):
        raise ValueError(f"every window width must leave at least 2 windows in [0, {horizon}]")
    return _count_moments(t, horizon, widths)


def hawkes_exp_fano_factor(width: ArrayLike, mu: float, alpha: float, beta: float) -> NDArray[np.float64]:
    """Var[N_τ]/E[N_τ] of the stationary process for windows of length τ (Da Fonseca & Zaatour 2014).

    With κ = β - α and r = β/κ: Var[N_τ] = Λ [τ r² + (1 - r²)(1 - e^{-κτ})/κ], E[N_τ] = Λτ
    (Da Fonseca & Zaatour 2014, J. Futures Markets 34:548-579; tests/test_hawkes.py checks it by simulation).
    """
    tau = np.asarray(width, dtype=np.float64)
    kappa = beta - alpha
    r2 = (beta / kappa) ** 2
    return r2 + (1.0 - r2) * -np.expm1(-kappa * tau) / (kappa * tau)


def hawkes_exp_moments(
    times: ArrayLike, end_time: float, widths: ArrayLike | None = None
) -> tuple[float, float, float]:
    """Method-of-moments (μ, α, β) from the variance-time curve of counts (Da Fonseca & Zaatour 2014).

    The Fano factor F(τ) = Var[N_τ]/E[N_τ] of :func:`hawkes_exp_fano_factor` rises from 1 to r² = 1/(1-n)²
    on the time scale 1/κ; (r, κ) are fitted by weighted least squares on log F over ``widths`` (default 24
    widths log-spaced from 0.1/Λ̂ to T/100), each weighted by the delta-method variance of a log sample
    variance, (2 + 1/Var)/M over M windows. Then n = 1 - 1/r, β = κr, α = nβ, μ = Λ̂(1 - n) with Λ̂ = N/T.
    Fast and assumption-light; used as the MLE's starting point and as its cross-check.
    """
    t, horizon = event_times(times, 0.0, end_time)
    return moments_estimate(t, horizon, None if widths is None else np.atleast_1d(np.asarray(widths, float)))


def moments_estimate(t: NDArray, horizon: float, widths: NDArray | None) -> tuple[float, float, float]:
    """:func:`hawkes_exp_moments` of validated times ``t`` in [0, ``horizon``] (default widths when None)."""
    rate = t.size / horizon
    tau = np.geomspace(0.1 / rate, horizon / 100, 24) if widths is None else widths
    mean, var, n_windows = _window_count_moments(t, horizon, tau)
    keep = (mean > 0) & (var > 0)
    tau, log_fano = tau[keep], np.log(var[keep] / mean[keep])
    weight = np.sqrt(n_windows[keep] / (2.0 + 1.0 / var[keep]))

    def residual(x: NDArray) -> NDArray:
        excess, kappa = np.exp(x)
        fano = 1.0 + excess * (1.0 + np.expm1(-kappa * tau) / (kappa * tau))
        return weight * (log_fano - np.log(fano))

    x0 = [math.log(max(math.expm1(log_fano[-1]), 1e-3)), -math.log(math.sqrt(tau[0] * tau[-1]))]
    bounds = ([math.log(1e-8), math.log(1e-3 / tau[-1])], [math.log(1e8), math.log(1e3 / tau[0])])
    excess, kappa = np.exp(least_squares(residual, x0, bounds=bounds).x)
    r = math.sqrt(1.0 + excess)
    n = 1.0 - 1.0 / r
    beta = float(kappa) * r
    return rate * (1.0 - n), n * beta, beta


def hardiman_bouchaud_branching_ratio(times: ArrayLike, end_time: float, width: float) -> float:
    """Model-free n̂ = 1 - sqrt(E[N_τ]/Var[N_τ]) for τ much longer than the kernel memory.

    Hardiman & Bouchaud (2014, Phys. Rev. E 90:062807): Var[N_τ]/E[N_τ] -> 1/(1-n)² as τ -> ∞ for any
    kernel; a check of a parametric n̂ that does not assume the exponential shape.
    """
    mean, var, _ = count_moments(times, end_time, width)
    return float(1.0 - np.sqrt(mean[0] / var[0]))


def fit_hawkes_exp_moments(
    times: ArrayLike,
    end_time: float,
    *,
    start_time: float = 0.0,
    covered: ArrayLike | None = None,
    min_events: int = MIN_EVENTS,
    model_free_width: float | None = None,
) -> FitResult:
    """:func:`hawkes_exp_moments` as a FitResult, plus the Hardiman-Bouchaud n̂ (``branching_ratio_model_free``).

    Counts are taken on the covered clock (``covered`` intervals end to end, gaps cut out). ``model_free_width``
    (default covered time / 100) must be much longer than the kernel memory 1/κ; longer windows are less biased but
    fewer, hence noisier. Standard errors are not computed (NaN): this is the fast cross-check, the MLE carries the
    inference. Coverage is judged as in :func:`fit_hawkes_exp`.
    """
    t, horizon = event_times(times, start_time, end_time)
    observed = observe(t, horizon, start_time, covered)
    if observed.t.size < min_events:
        raise InsufficientSamples("hawkes_exp_moments", observed.t.size, min_events)
    coverage = coverage_report("hawkes_exp_moments", observed.covered_s, horizon, observed.starts.size)
    clock, covered_s = observed.operational_times(), observed.covered_s
    mu, alpha, beta = moments_estimate(clock, covered_s, None)
    width = covered_s / 100 if model_free_width is None else model_free_width
    estimates = {
        "mu": mu,
        "alpha": alpha,
        "beta": beta,
        "branching_ratio": alpha / beta,
        "branching_ratio_model_free": hardiman_bouchaud_branching_ratio(clock, covered_s, width),
    }
    return FitResult(
        model="hawkes_exp_moments",
        n=int(observed.t.size),
        estimates=estimates,
        std_errors=dict.fromkeys(estimates, math.nan),
        units={**UNITS, "branching_ratio_model_free": "1"},
        goodness_of_fit=coverage.goodness,
        warnings=coverage.warnings + branching_warnings(alpha / beta),
        status=coverage.status,
    )
