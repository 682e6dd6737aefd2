"""Univariate Hawkes process with exponential kernel: tie merging, exact O(N) likelihood, MLE, moments.

Model (Hawkes 1971, Biometrika 58:83-90), events 0 <= t_1 <= ... <= t_N <= T in seconds:

    λ(t) = μ + Σ_{t_j < t} α e^{-β (t - t_j)},   μ > 0, 0 <= α < β,

branching ratio n = α/β (expected direct offspring of one event), stationary iff n < 1, mean intensity
Λ = μ/(1 - n). μ is in events per second, α and β in 1/s. The process is taken to start empty at the window
start (events before it are ignored), the usual conditional likelihood.

Likelihood and derivatives use the recursions of Ozaki (1979, Ann. Inst. Stat. Math. 31:145-155):
A_i = Σ_{j<i} e^{-β(t_i - t_j)}, B_i = Σ (t_i - t_j) e^{..}, C_i = Σ (t_i - t_j)^2 e^{..}, all O(N).
Formulas and the tick (X-DataInitiative) score convention are in /work/shared/reference/statistics.md §2.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from numba import njit
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares, minimize

from calibration.fit_result import FitResult, InsufficientSamples
from calibration.hawkes_gof import time_rescaling_tests

MIN_EVENTS = 200
BRANCHING_BAND = (0.5, 0.95)
UNITS = {"mu": "1/s", "alpha": "1/s", "beta": "1/s", "branching_ratio": "1"}


def merge_ties(times: ArrayLike, keys: ArrayLike | None = None) -> NDArray:
    """Merge the fills of one sweeping taker order into a single event.

    On Hyperliquid one taker order that crosses several resting orders prints one trade per maker, all with
    the same millisecond timestamp (same block and transaction hash), the same aggressor side and the same
    taker. These are one arrival, not a cascade: left as separate events the zero gaps inflate α and drive
    β to infinity (Filimonov & Sornette 2015, Quantitative Finance 15:1293-1314, on timestamp grouping).
    Fit one side at a time and pass as ``keys`` what identifies the taker order (the transaction hash, or
    the taker address: ``buyer`` for buys, ``seller`` for sells); events are merged when both time and key
    are equal. Without keys, all events sharing a timestamp are merged. Returns the sorted merged times in
    the units given (merge on the integer millisecond times, then convert to seconds).
    """
    t = np.asarray(times)
    if keys is None:
        return np.unique(t)
    key = keys if isinstance(keys, pl.Series) else pl.Series(np.asarray(keys).reshape(-1))
    if key.len() != t.size:
        raise ValueError(f"times and keys differ in length: {t.size} != {key.len()}")
    return np.sort(pl.DataFrame({"t": t, "key": key}).unique()["t"].to_numpy())


def event_times(times: ArrayLike, start_time: float, end_time: float) -> tuple[NDArray[np.float64], float]:
    """Validated event times relative to the window start, and the window length T."""
    t = np.ascontiguousarray(times, dtype=np.float64) - start_time
    horizon = float(end_time - start_time)
    if t.ndim != 1:
        raise ValueError("event times must be one-dimensional")
    if not horizon > 0:
        raise ValueError(f"end_time must be after start_time, got window length {horizon}")
    if t.size and (t[0] < 0 or t[-1] > horizon):
        raise ValueError("event times must lie in [start_time, end_time]")
    if np.any(np.diff(t) < 0):
        raise ValueError("event times must be sorted")
    return t, horizon


@njit(cache=True)
def _loglik_derivatives(t, horizon, mu, alpha, beta):  # pragma: no cover - compiled
    """ℓ, ∇ℓ and ∇²ℓ in (μ, α, β), one pass (statistics.md §2.2-2.4; Ozaki 1979)."""
    a = 0.0
    b = 0.0
    c = 0.0
    log_sum = 0.0
    s1 = 0.0  # Σ 1/λ
    sa = 0.0  # Σ A/λ
    sb = 0.0  # Σ B/λ
    sc = 0.0  # Σ C/λ
    q11 = 0.0  # Σ 1/λ²
    q1a = 0.0  # Σ A/λ²
    q1b = 0.0  # Σ B/λ²
    qaa = 0.0  # Σ A²/λ²
    qab = 0.0  # Σ AB/λ²
    qbb = 0.0  # Σ B²/λ²
    for i in range(t.shape[0]):
        if i > 0:
            d = t[i] - t[i - 1]
            e = math.exp(-beta * d)
            one_a = 1.0 + a
            c = e * (d * d * one_a + 2.0 * d * b + c)
            b = e * (d * one_a + b)
            a = e * one_a
        lam = mu + alpha * a
        inv = 1.0 / lam
        inv2 = inv * inv
        log_sum += math.log(lam)
        s1 += inv
        sa += a * inv
        sb += b * inv
        sc += c * inv
        q11 += inv2
        q1a += a * inv2
        q1b += b * inv2
        qaa += a * a * inv2
        qab += a * b * inv2
        qbb += b * b * inv2
    # Σ_i (1 - e^{-β s_i}), Σ s_i e^{-β s_i}, Σ s_i² e^{-β s_i} with s_i = T - t_i: A, B, C carried to T.
    tail = horizon - t[t.shape[0] - 1]
    e = math.exp(-beta * tail)
    one_a = 1.0 + a
    q = t.shape[0] - e * one_a
    r = e * (tail * one_a + b)
    w = e * (tail * tail * one_a + 2.0 * tail * b + c)

    loglik = log_sum - mu * horizon - alpha / beta * q
    grad = np.empty(3)
    grad[0] = s1 - horizon
    grad[1] = sa - q / beta
    grad[2] = -alpha * sb + alpha / beta**2 * q - alpha / beta * r
    hess = np.empty((3, 3))
    hess[0, 0] = -q11
    hess[0, 1] = hess[1, 0] = -q1a
    hess[0, 2] = hess[2, 0] = alpha * q1b
    hess[1, 1] = -qaa
    hess[1, 2] = hess[2, 1] = -sb + alpha * qab + q / beta**2 - r / beta
    hess[2, 2] = (
        alpha * sc - alpha**2 * qbb - 2.0 * alpha * q / beta**3 + 2.0 * alpha * r / beta**2 + alpha * w / beta
    )
    return loglik, grad, hess


@njit(cache=True)
def _residuals(t, mu, alpha, beta):  # pragma: no cover - compiled
    """Compensator increments τ_1 = μ t_1, τ_i = μ Δ_i + (α/β)(1 + A_{i-1})(1 - e^{-β Δ_i})."""
    tau = np.empty(t.shape[0])
    a = 0.0
    previous = 0.0
    for i in range(t.shape[0]):
        d = t[i] - previous
        tau[i] = mu * d
        if i > 0:
            growth = -math.expm1(-beta * d)
            tau[i] += alpha / beta * (1.0 + a) * growth
            a = (1.0 + a) * (1.0 - growth)
        previous = t[i]
    return tau


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


def hawkes_exp_loglik(times: ArrayLike, end_time: float, mu: float, alpha: float, beta: float) -> float:
    """Exact log-likelihood ℓ = Σ log λ(t_i) - ∫_0^T λ of events in [0, T] (Ozaki 1979, O(N)).

    tick's ``ModelHawkesExpKernLogLik(beta).loss([mu, alpha/beta])`` is -(ℓ + T)/N (tick issue #449).
    """
    t, horizon = event_times(times, 0.0, end_time)
    return float(_loglik_derivatives(t, horizon, mu, alpha, beta)[0])


def hawkes_exp_gradient(times: ArrayLike, end_time: float, mu: float, alpha: float, beta: float) -> NDArray:
    """Analytic gradient of :func:`hawkes_exp_loglik` in (μ, α, β)."""
    t, horizon = event_times(times, 0.0, end_time)
    return _loglik_derivatives(t, horizon, mu, alpha, beta)[1]


def hawkes_exp_hessian(times: ArrayLike, end_time: float, mu: float, alpha: float, beta: float) -> NDArray:
    """Analytic Hessian of :func:`hawkes_exp_loglik` in (μ, α, β); -H is the observed information."""
    t, horizon = event_times(times, 0.0, end_time)
    return _loglik_derivatives(t, horizon, mu, alpha, beta)[2]


def hawkes_exp_residuals(
    times: ArrayLike, end_time: float, mu: float, alpha: float, beta: float
) -> NDArray[np.float64]:
    """Time-rescaled inter-event times τ_i = Λ(t_{i-1}, t_i), i.i.d. Exp(1) under the model (t_0 = 0).

    Test them with :func:`calibration.hawkes_gof.time_rescaling_tests`; Q-Q data for plotting from
    :func:`calibration.hawkes_gof.exponential_qq`.
    """
    t, _ = event_times(times, 0.0, end_time)
    return _residuals(t, mu, alpha, beta)


def hawkes_exp_compensator(times: ArrayLike, end_time: float, mu: float, alpha: float, beta: float) -> float:
    """Λ(0, T) = μT + (α/β) Σ_i (1 - e^{-β(T - t_i)}); equals N at an interior MLE."""
    t, horizon = event_times(times, 0.0, end_time)
    return _compensator(t, horizon, mu, alpha, beta)


def _compensator(t: NDArray, horizon: float, mu: float, alpha: float, beta: float) -> float:
    return float(mu * horizon + alpha / beta * np.sum(-np.expm1(-beta * (horizon - t))))


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
    (J. Futures Markets 34:548-579; verified by simulation in statistics.md §2.7).
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
    return _moments_estimate(t, horizon, None if widths is None else np.atleast_1d(np.asarray(widths, float)))


def _moments_estimate(t: NDArray, horizon: float, widths: NDArray | None) -> tuple[float, float, float]:
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
    min_events: int = MIN_EVENTS,
    model_free_width: float | None = None,
) -> FitResult:
    """:func:`hawkes_exp_moments` as a FitResult, plus the Hardiman-Bouchaud n̂ (``branching_ratio_model_free``).

    ``model_free_width`` (default T/100) must be much longer than the kernel memory 1/κ; longer windows are
    less biased but fewer, hence noisier. Standard errors are not computed (NaN): this is the fast cross-check,
    the MLE carries the inference.
    """
    t, horizon = event_times(times, start_time, end_time)
    if t.size < min_events:
        raise InsufficientSamples("hawkes_exp_moments", t.size, min_events)
    mu, alpha, beta = _moments_estimate(t, horizon, None)
    width = horizon / 100 if model_free_width is None else model_free_width
    estimates = {
        "mu": mu,
        "alpha": alpha,
        "beta": beta,
        "branching_ratio": alpha / beta,
        "branching_ratio_model_free": hardiman_bouchaud_branching_ratio(t, horizon, width),
    }
    return FitResult(
        model="hawkes_exp_moments",
        n=int(t.size),
        estimates=estimates,
        std_errors=dict.fromkeys(estimates, math.nan),
        units={**UNITS, "branching_ratio_model_free": "1"},
        warnings=_branching_warnings(alpha / beta),
    )


def _to_free(mu: float, alpha: float, beta: float) -> NDArray:
    """(μ, α, β) -> x = (log μ, logit(α/β), log β): unconstrained, stationarity α < β built in."""
    n = alpha / beta
    return np.array([math.log(mu), math.log(n / (1.0 - n)), math.log(beta)])


def _from_free(x: NDArray) -> tuple[float, float, float]:
    beta = math.exp(x[2])
    return math.exp(x[0]), beta / (1.0 + math.exp(-x[1])), beta


def _free_derivatives(theta: tuple[float, float, float], grad: NDArray, hess: NDArray) -> tuple[NDArray, NDArray]:
    """Chain rule from (μ, α, β) to x: ∇_x = Jᵀ∇, ∇²_x = Jᵀ H J + Σ_k ∂ℓ/∂θ_k ∇²_x θ_k."""
    mu, alpha, beta = theta
    n = alpha / beta
    dn = beta * n * (1.0 - n)  # ∂α/∂x1
    jac = np.array([[mu, 0.0, 0.0], [0.0, dn, alpha], [0.0, 0.0, beta]])
    curvature = np.zeros((3, 3))
    curvature[0, 0] = grad[0] * mu
    curvature[1, 1] = grad[1] * dn * (1.0 - 2.0 * n)
    curvature[1, 2] = curvature[2, 1] = grad[1] * dn
    curvature[2, 2] = grad[1] * alpha + grad[2] * beta
    return jac.T @ grad, jac.T @ hess @ jac + curvature


def _maximise(
    t: NDArray, horizon: float, start: tuple[float, float, float]
) -> tuple[tuple[float, float, float], str]:
    """Newton trust region (scipy ``trust-exact``) on -ℓ/N in the free parameters, exact Hessian.

    Returns the maximiser and an empty string, or the optimiser's message if it failed. A stop with a
    Newton decrement g'H^{-1}g below 1e-10 (predicted further gain in ℓ/N, far below the float resolution of
    ℓ/N) counts as converged: trust-exact reports such stops as "a bad approximation".
    """
    scale = 1.0 / t.size
    memo: dict[bytes, tuple[float, NDArray, NDArray]] = {}

    def evaluate(x: NDArray) -> tuple[float, NDArray, NDArray]:
        key = x.tobytes()
        if key not in memo:
            memo.clear()
            theta = _from_free(x)
            loglik, grad, hess = _loglik_derivatives(t, horizon, *theta)
            grad_x, hess_x = _free_derivatives(theta, grad, hess)
            memo[key] = (-scale * loglik, -scale * grad_x, -scale * hess_x)
        return memo[key]

    result = minimize(
        lambda x: evaluate(x)[:2],
        _to_free(*start),
        jac=True,
        hess=lambda x: evaluate(x)[2],
        method="trust-exact",
        options={"gtol": 1e-8},
    )
    _, grad, hess = evaluate(result.x)
    converged = result.success or abs(grad @ np.linalg.solve(hess, grad)) < 1e-10
    return _from_free(result.x), "" if converged else str(result.message)


def _branching_warnings(n: float) -> tuple[str, ...]:
    low, high = BRANCHING_BAND
    if n < low:
        return (
            f"data warning: branching ratio {n:.3f} below the usual {low}-{high} band of trade arrivals "
            "(weak clustering: check the event definition and that the window is not mostly idle)",
        )
    if n > high:
        return (
            f"data warning: branching ratio {n:.3f} above the usual {low}-{high} band of trade arrivals "
            "(suspect intraday seasonality, a regime shift inside the window, or unmerged timestamp ties)",
        )
    return ()


def _starting_values(rate: float, moments: tuple[float, float, float]) -> tuple[float, float, float]:
    """Moments estimate with the branching ratio kept inside [0.05, 0.9] so the MLE starts interior."""
    _, alpha, beta = moments
    n = min(max(alpha / beta, 0.05), 0.9)
    return rate * (1.0 - n), n * beta, beta


def fit_hawkes_exp(
    times: ArrayLike, end_time: float, *, start_time: float = 0.0, min_events: int = MIN_EVENTS
) -> FitResult:
    """Maximum-likelihood (μ, α, β) of the exponential Hawkes process on events in [start_time, end_time].

    ``times`` in seconds, sorted, ties already merged (:func:`merge_ties`). Newton trust-region
    maximisation with the exact O(N) gradient and Hessian in x = (log μ, logit n, log β), started from
    :func:`hawkes_exp_moments`, so μ > 0 and n < 1 hold by construction. Standard errors from the observed
    information [-H(θ̂)]^{-1}; SE(n̂) by the delta method with ∇n = (0, 1/β, -α/β²) (statistics.md §2.4).

    goodness_of_fit: ``log_likelihood``, ``compensator_total`` (= N at an interior optimum),
    ``compensator_ratio`` (Λ̂(0,T)/N), time-rescaling ``ks_statistic``/``ks_pvalue``,
    ``ljung_box_statistic``/``ljung_box_pvalue`` (lag 10), ``residual_mean``, and
    ``moments_branching_ratio`` (the moments cross-check). Warnings flag n̂ outside 0.5-0.95, a
    non-converged optimiser and a singular information matrix. Raises :class:`InsufficientSamples` below
    ``min_events`` events.
    """
    t, horizon = event_times(times, start_time, end_time)
    if t.size < min_events:
        raise InsufficientSamples("hawkes_exp", t.size, min_events)
    moments = _moments_estimate(t, horizon, None)
    (mu, alpha, beta), failure = _maximise(t, horizon, _starting_values(t.size / horizon, moments))
    loglik, _, hess = _loglik_derivatives(t, horizon, mu, alpha, beta)
    n = alpha / beta

    warnings = list(_branching_warnings(n))
    if failure:
        warnings.append(f"optimiser did not converge: {failure}")
    try:
        np.linalg.cholesky(-hess)
        cov = np.linalg.inv(-hess)
        grad_n = np.array([0.0, 1.0 / beta, -alpha / beta**2])
        se = [*np.sqrt(np.diag(cov)), math.sqrt(grad_n @ cov @ grad_n)]
    except np.linalg.LinAlgError:
        se = [math.nan] * 4
        warnings.append("observed information not positive definite at the optimum: standard errors undefined")

    compensator = _compensator(t, horizon, mu, alpha, beta)
    goodness = {
        "log_likelihood": float(loglik),
        "compensator_total": compensator,
        "compensator_ratio": compensator / t.size,
        **time_rescaling_tests(_residuals(t, mu, alpha, beta)),
        "moments_branching_ratio": moments[1] / moments[2],
    }
    names = ("mu", "alpha", "beta", "branching_ratio")
    return FitResult(
        model="hawkes_exp",
        n=int(t.size),
        estimates=dict(zip(names, (mu, alpha, beta, n))),
        std_errors=dict(zip(names, map(float, se))),
        units=dict(UNITS),
        goodness_of_fit=goodness,
        warnings=tuple(warnings),
    )
