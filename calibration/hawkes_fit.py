"""Maximum-likelihood fit of the exponential Hawkes process on covered time, the baseline chosen by likelihood ratio.

The likelihood, its derivatives and the residuals are in :mod:`calibration.hawkes`; the baseline models
(constant, hour of day) and the covered segments in :mod:`calibration.hawkes_baseline`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from scipy.optimize import minimize

from calibration.coverage import coverage_report
from calibration.fit_result import FitResult, InsufficientSamples
from calibration.hawkes import MIN_EVENTS, UNITS, Design, branching_warnings, event_times
from calibration.hawkes_baseline import HOURS, Observed, bin_names, hour_bins, observe
from calibration.hawkes_gof import bic, time_rescaling_tests
from calibration.hawkes_moments import moments_estimate

Baseline = Literal["auto", "constant"]
LR_ALPHA = 1e-3
"""Level of the likelihood-ratio test at which the hour-of-day baseline replaces the constant one."""


def _to_free(mu: NDArray, alpha: float, beta: float) -> NDArray:
    """(μ_1..μ_K, α, β) -> x = (log μ_k, logit(α/β), log β): unconstrained, stationarity α < β built in."""
    n = alpha / beta
    return np.concatenate([np.log(mu), [math.log(n / (1.0 - n)), math.log(beta)]])


def _from_free(x: NDArray) -> tuple[NDArray, float, float]:
    beta = math.exp(x[-1])
    return np.exp(x[:-2]), beta / (1.0 + math.exp(-x[-2])), beta


def _free_derivatives(mu: NDArray, alpha: float, beta: float, grad: NDArray, hess: NDArray) -> tuple[NDArray, NDArray]:
    """Chain rule from (μ..., α, β) to x: ∇_x = Jᵀ∇, ∇²_x = Jᵀ H J + Σ_k ∂ℓ/∂θ_k ∇²_x θ_k."""
    k = mu.size
    ia, ib = k, k + 1
    n = alpha / beta
    dn = beta * n * (1.0 - n)  # ∂α/∂x_n
    jac = np.zeros((k + 2, k + 2))
    jac[np.arange(k), np.arange(k)] = mu
    jac[ia, ia], jac[ia, ib], jac[ib, ib] = dn, alpha, beta
    curvature = np.zeros((k + 2, k + 2))
    curvature[np.arange(k), np.arange(k)] = grad[:k] * mu
    curvature[ia, ia] = grad[ia] * dn * (1.0 - 2.0 * n)
    curvature[ia, ib] = curvature[ib, ia] = grad[ia] * dn
    curvature[ib, ib] = grad[ia] * alpha + grad[ib] * beta
    return jac.T @ grad, jac.T @ hess @ jac + curvature


def _maximise(design: Design, start: NDArray) -> tuple[tuple[NDArray, float, float], str]:
    """Newton trust region (scipy ``trust-exact``) on -ℓ/N in the free parameters, exact Hessian.

    Returns the maximiser and an empty string, or the optimiser's message if it failed. A stop with a
    Newton decrement g'H^{-1}g below 1e-10 (predicted further gain in ℓ/N, far below the float resolution of
    ℓ/N) counts as converged: trust-exact reports such stops as "a bad approximation".
    """
    scale = 1.0 / design.observed.t.size
    memo: dict[bytes, tuple[float, NDArray, NDArray]] = {}

    def evaluate(x: NDArray) -> tuple[float, NDArray, NDArray]:
        key = x.tobytes()
        if key not in memo:
            memo.clear()
            mu, alpha, beta = _from_free(x)
            loglik, grad, hess = design.derivatives(mu, alpha, beta)
            grad_x, hess_x = _free_derivatives(mu, alpha, beta, grad, hess)
            memo[key] = (-scale * loglik, -scale * grad_x, -scale * hess_x)
        return memo[key]

    result = minimize(
        lambda x: evaluate(x)[:2],
        start,
        jac=True,
        hess=lambda x: evaluate(x)[2],
        method="trust-exact",
        options={"gtol": 1e-8},
    )
    _, grad, hess = evaluate(result.x)
    try:
        converged = result.success or abs(grad @ np.linalg.solve(hess, grad)) < 1e-10
    except np.linalg.LinAlgError:
        converged = False
    return _from_free(result.x), "" if converged else str(result.message)


@dataclass(frozen=True, eq=False)
class _Candidate:
    """One baseline model fitted: its design, estimates, ℓ and Hessian at the optimum, residuals, failure message."""

    design: Design
    mu: NDArray[np.float64]
    alpha: float
    beta: float
    loglik: float
    hess: NDArray[np.float64]
    residuals: NDArray[np.float64]
    failure: str

    @property
    def n_params(self) -> int:
        return self.mu.size + 2


def _fit_candidate(observed: Observed, hour_bin: NDArray[np.int64], moments: tuple) -> _Candidate:
    """MLE of one baseline model, started from the moments' β and branching ratio (kept inside [0.05, 0.9]) with
    each bin's μ = its event rate (1 - n)."""
    design = Design.binned(observed, hour_bin)
    _, alpha0, beta0 = moments
    n0 = min(max(alpha0 / beta0, 0.05), 0.9)
    counts = np.bincount(design.bins, minlength=design.n_bins)
    mu0 = np.maximum(counts / design.exposure * (1.0 - n0), 1e-12)
    (mu, alpha, beta), failure = _maximise(design, _to_free(mu0, n0 * beta0, beta0))
    loglik, _, hess = design.derivatives(mu, alpha, beta)
    return _Candidate(design, mu, alpha, beta, float(loglik), hess, design.residuals(mu, alpha, beta), failure)


def fit_hawkes_exp(
    times: ArrayLike,
    end_time: float,
    *,
    start_time: float = 0.0,
    covered: ArrayLike | None = None,
    baseline: Baseline = "auto",
    min_events: int = MIN_EVENTS,
) -> FitResult:
    """Maximum-likelihood (μ, α, β) of the exponential Hawkes process on the covered part of [start_time, end_time].

    ``times`` in seconds (since the epoch, UTC, for the hour-of-day baseline), sorted, ties within a taker order
    already merged (:func:`merge_ties`); ``covered``: (k, 2) covered intervals in the same unit (default the whole
    window; :func:`calibration.coverage.covered_intervals` gives them in ms). Events outside them are left out and
    counted. Newton trust-region maximisation with the exact O(N) gradient and Hessian in
    x = (log μ..., logit n, log β), started from the moments on the covered clock, so μ > 0 and n < 1 hold by
    construction. Standard errors from the observed information [-H(θ̂)]^{-1}; SE(n̂) by the delta method with
    ∇n = (0, 1/β, -α/β²) (asymptotic normality of the MLE: Ogata 1978, Ann. Inst. Stat. Math. 30:243-261).

    Baseline (``baseline="auto"``): the constant model and, when the covered hours make at least two bins, the
    hour-of-day model (:func:`calibration.hawkes_baseline.hour_bins`); the hour-of-day model is reported when the
    likelihood-ratio test rejects the constant baseline at ``LR_ALPHA`` (:func:`_choose` says why not BIC).
    ``mu`` is then the baseline averaged over the covered time, ``mu_hHH[_HH]`` each bin's rate, ``baseline_bins``
    the number of bins (1: constant). ``baseline="constant"`` fits the constant model only.

    goodness_of_fit, of the chosen model: ``log_likelihood``, ``compensator_total`` (= N at an interior optimum),
    ``compensator_ratio``, time-rescaling ``ks_statistic``/``ks_pvalue``, ``ljung_box_statistic``/
    ``ljung_box_pvalue`` (lag 10), ``residual_mean``, ``moments_branching_ratio``; of the model choice, per model
    (``_constant``, ``_hourly``; NaN when not fitted) ``log_likelihood``, ``bic``, ``ks_statistic``, ``ks_pvalue``
    and ``branching_ratio``, and the likelihood-ratio test of hourly against constant ``lr_statistic``, ``lr_df``,
    ``lr_pvalue``; of the data ``covered_s``, ``window_s``, ``covered_fraction``, ``covered_intervals``,
    ``events_outside_coverage`` and ``tied_events``. Status ``low_coverage`` when the covered time is below half
    the window (:func:`calibration.coverage.coverage_report`). Warnings flag n̂ outside 0.5-0.95, a non-converged
    optimiser, a singular information matrix and events outside the coverage. Raises :class:`InsufficientSamples`
    below ``min_events`` covered events and :class:`calibration.coverage.InsufficientCoverage` below 10 minutes of
    covered time.
    """
    if baseline not in ("auto", "constant"):
        raise ValueError(f"unknown baseline {baseline!r}")
    t, horizon = event_times(times, start_time, end_time)
    observed = observe(t, horizon, start_time, covered)
    if observed.t.size < min_events:
        raise InsufficientSamples("hawkes_exp", observed.t.size, min_events)
    coverage = coverage_report("hawkes_exp", observed.covered_s, horizon, observed.starts.size)
    moments = moments_estimate(observed.operational_times(), observed.covered_s, None)
    candidates = {"constant": _fit_candidate(observed, np.zeros(HOURS, np.int64), moments)}
    counts = np.bincount(observed.hours, minlength=HOURS)
    hourly = hour_bins(counts) if baseline == "auto" else np.zeros(HOURS, np.int64)
    if hourly.max() > 0:
        candidates["hourly"] = _fit_candidate(observed, hourly, moments)
    n_events = observed.t.size
    chosen, choice = _choose(candidates)
    tests = time_rescaling_tests(chosen.residuals)

    warnings = list(coverage.warnings)
    warnings += branching_warnings(chosen.alpha / chosen.beta)
    if chosen.failure:
        warnings.append(f"optimiser did not converge: {chosen.failure}")
    if observed.outside:
        warnings.append(f"{observed.outside} events outside the covered intervals were left out")
    estimates, std_errors, ok = _estimates(chosen)
    if not ok:
        warnings.append("observed information not positive definite at the optimum: standard errors undefined")

    compensator = chosen.design.compensator(chosen.mu, chosen.alpha, chosen.beta)
    goodness = {
        "log_likelihood": chosen.loglik,
        "compensator_total": compensator,
        "compensator_ratio": compensator / n_events,
        **tests,
        "moments_branching_ratio": moments[1] / moments[2],
        **choice,
        **_per_model(candidates, chosen, tests, n_events),
        **coverage.goodness,
        "events_outside_coverage": float(observed.outside),
        "tied_events": float(observed.tied_events()),
    }
    return FitResult(
        model="hawkes_exp",
        n=int(n_events),
        estimates=estimates,
        std_errors=std_errors,
        units={**UNITS, **dict.fromkeys(estimates.keys() - UNITS.keys(), "1/s")},
        goodness_of_fit=goodness,
        warnings=tuple(warnings),
        status=coverage.status,
    )


def _estimates(c: _Candidate) -> tuple[dict[str, float], dict[str, float], bool]:
    """Estimates and SEs of a fitted candidate: μ averaged over the covered time (weights exposure/covered), α, β,
    n, the number of baseline bins and, with more than one, each bin's μ. False when -H is not positive definite."""
    k = c.mu.size
    weights = c.design.exposure / c.design.exposure.sum()
    gradients: NDArray[np.float64] = np.zeros((4, k + 2))  # rows: ∇ of mean μ, α, β, n in θ = (μ..., α, β)
    gradients[0, :k] = weights
    gradients[1, k] = gradients[2, k + 1] = 1.0
    gradients[3, k], gradients[3, k + 1] = 1.0 / c.beta, -c.alpha / c.beta**2
    values = [float(weights @ c.mu), c.alpha, c.beta, c.alpha / c.beta]
    names = ["mu", "alpha", "beta", "branching_ratio"]
    if k > 1:
        names += bin_names(c.design.hour_bin)
        values += [float(m) for m in c.mu]
        gradients = np.vstack([gradients, np.eye(k, k + 2)])
    try:
        np.linalg.cholesky(-c.hess)
        cov = np.linalg.inv(-c.hess)
        se = np.sqrt(np.einsum("ij,jk,ik->i", gradients, cov, gradients))
        ok = True
    except np.linalg.LinAlgError:
        se, ok = np.full(len(names), math.nan), False
    estimates = dict(zip(names, values)) | {"baseline_bins": float(k)}
    std_errors = dict(zip(names, map(float, se))) | {"baseline_bins": math.nan}
    return estimates, std_errors, ok


def _choose(candidates: dict[str, _Candidate]) -> tuple[_Candidate, dict[str, float]]:
    """The hour-of-day model when the likelihood-ratio test rejects the constant baseline at ``LR_ALPHA``, else the
    constant one, with the LR statistic 2(ℓ_hourly - ℓ_constant), its degrees of freedom K - 1 and p-value (χ² by
    Wilks 1938, Ann. Math. Stat. 9:60-62: the constant model is the hourly one with equal bins, an interior point).

    Why not BIC: its ln N penalty on each of up to 23 extra rates kept the constant baseline on simulated days
    whose seasonality a slow kernel (memory 50-100 s) had half absorbed, at LR p-values near 1e-25, leaving n
    at 0.93-0.98 for a truth of 0.5. A wrong choice of the hourly model costs little (a constant baseline is one
    of its cases, n stays unbiased); a wrong choice of the constant model is the bias this guards against.
    """
    constant, hourly = candidates["constant"], candidates.get("hourly")
    if hourly is None:
        return constant, {"lr_statistic": math.nan, "lr_df": math.nan, "lr_pvalue": math.nan}
    df = hourly.n_params - constant.n_params
    lr = max(2.0 * (hourly.loglik - constant.loglik), 0.0)
    pvalue = float(stats.chi2.sf(lr, df))
    return (hourly if pvalue < LR_ALPHA else constant), {"lr_statistic": lr, "lr_df": float(df), "lr_pvalue": pvalue}


def _per_model(
    candidates: dict[str, _Candidate], chosen: _Candidate, tests: dict[str, float], n_events: int
) -> dict[str, float]:
    """Per baseline model (``_constant``, ``_hourly``): ℓ, BIC, KS of its residuals (the chosen one's from ``tests``)
    and n; NaN for a model not fitted."""
    figures: dict[str, float] = {}
    for name in ("constant", "hourly"):
        c = candidates.get(name)
        if c is None:
            ks = {"statistic": math.nan, "pvalue": math.nan}
        elif c is chosen:
            ks = {"statistic": tests["ks_statistic"], "pvalue": tests["ks_pvalue"]}
        else:
            result = stats.kstest(c.residuals, "expon")
            ks = {"statistic": float(result.statistic), "pvalue": float(result.pvalue)}
        figures |= {
            f"log_likelihood_{name}": c.loglik if c else math.nan,
            f"bic_{name}": bic(c.loglik, c.n_params, n_events) if c else math.nan,
            f"ks_statistic_{name}": ks["statistic"],
            f"ks_pvalue_{name}": ks["pvalue"],
            f"branching_ratio_{name}": c.alpha / c.beta if c else math.nan,
        }
    return figures


def baseline_rates(fit: FitResult) -> float | NDArray[np.float64]:
    """The baseline of a :func:`fit_hawkes_exp` result as :func:`calibration.hawkes.hawkes_exp_loglik` takes it: ``mu``
    when constant, else 24 hour-of-day rates read from its ``mu_hHH[_HH]`` bins."""
    if fit.estimates["baseline_bins"] == 1:
        return fit.estimates["mu"]
    rates = np.full(HOURS, math.nan)
    for name, value in fit.estimates.items():
        if name.startswith("mu_h"):
            hours = [int(h) for h in name.removeprefix("mu_h").split("_")]
            rates[hours[0] : hours[-1] + 1] = value
    return rates
