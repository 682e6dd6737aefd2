"""Maximum-likelihood fit of the bivariate (buy/sell) exponential Hawkes process on covered time, with constant or
hour-of-day baselines chosen by likelihood ratio; the model, its likelihood and residuals are in
:mod:`calibration.hawkes_bivariate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from scipy.optimize import OptimizeResult, minimize

from calibration.coverage import coverage_report
from calibration.fit_result import FitResult, InsufficientSamples
from calibration.hawkes import BRANCHING_BAND, MIN_EVENTS
from calibration.hawkes_baseline import HOURS, bin_names, hour_bins
from calibration.hawkes_bivariate import Design, Stream, merged_stream, spectral_radius, unpack
from calibration.hawkes_fit import LR_ALPHA
from calibration.hawkes_gof import bic, time_rescaling_tests
from calibration.hawkes_moments import moments_estimate


def _branching_from_free(z: NDArray) -> tuple[NDArray, NDArray]:
    """Γ(z) and ∂Γ/∂z for z ∈ R^4, onto positive 2x2 matrices with ρ(Γ) < 1.

    For Γ = [[a, b], [c, d]] ≥ 0, ρ(Γ) < 1 ⇔ a < 1, d < 1 and bc < (1-a)(1-d). So a = σ(z_0),
    d = σ(z_1), bc = (1-a)(1-d) σ(z_2), b/c = e^{2 z_3}. Returns Γ flattened and its 4x4 Jacobian.
    """
    a, d, share = 1.0 / (1.0 + np.exp(-z[:3]))
    product = (1.0 - a) * (1.0 - d) * share
    root = math.sqrt(product)
    b, c = root * math.exp(z[3]), root * math.exp(-z[3])
    dproduct = np.array([-a * (1 - a) * (1 - d) * share, -d * (1 - d) * (1 - a) * share, product * (1 - share), 0.0])
    jac = np.zeros((4, 4))
    jac[0, 0] = a * (1 - a)
    jac[3, 1] = d * (1 - d)
    jac[1] = b / (2 * product) * dproduct
    jac[2] = c / (2 * product) * dproduct
    jac[1, 3] += b
    jac[2, 3] -= c
    return np.array([a, b, c, d]), jac


def _branching_to_free(branching: NDArray) -> NDArray:
    (a, b), (c, d) = branching
    share = b * c / ((1 - a) * (1 - d))
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    return np.array([logit(a), logit(d), logit(share), 0.5 * math.log(b / c)])


def _starting_values(design: Design, moments: tuple[float, float, float]) -> NDArray:
    """Pooled moments estimate on the covered clock: β and n of the merged stream, n split 70/30 between self and
    cross, and each bin's μ = (I - Γ) Λ of its own event rates."""
    _, alpha, beta = moments
    n = min(max(alpha / beta, 0.05), 0.9)
    branching = n * np.array([[0.7, 0.3], [0.3, 0.7]])
    counts = np.zeros((2, design.n_bins))
    np.add.at(counts, (design.observed.labels, design.bins), 1.0)
    rates = counts / design.exposure
    mu = np.maximum((np.eye(2) - branching) @ rates, 0.05 * rates)
    return np.concatenate([np.log(mu).ravel(), _branching_to_free(branching), [math.log(beta)]])


def _theta(x: NDArray) -> NDArray:
    beta = math.exp(x[-1])
    branching, _ = _branching_from_free(x[-5:-1])
    return np.concatenate([np.exp(x[:-5]), branching * beta, [beta]])


def _maximise(design: Design, start: NDArray):
    """L-BFGS-B on -ℓ/N in free parameters (log μ, z, log β) with the analytic gradient by the chain rule."""
    scale = 1.0 / design.observed.t.size

    def objective(x: NDArray) -> tuple[float, NDArray]:
        beta = math.exp(x[-1])
        branching, jac = _branching_from_free(x[-5:-1])
        mu = np.exp(x[:-5])
        loglik, grad = design.loglik_gradient(mu, branching.reshape(2, 2) * beta, beta)
        grad_alpha = grad[-5:-1]
        grad_x = np.concatenate(
            [mu * grad[:-5], beta * (jac.T @ grad_alpha), [beta * (grad[-1] + branching @ grad_alpha)]]
        )
        return -scale * loglik, -scale * grad_x

    result = minimize(
        objective, start, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-7}
    )
    return _theta(result.x), result


@dataclass(frozen=True, eq=False)
class _Candidate:
    """One baseline model fitted: design, θ, ℓ at the optimum and the optimiser's result."""

    design: Design
    theta: NDArray[np.float64]
    loglik: float
    result: OptimizeResult

    @property
    def n_params(self) -> int:
        return self.theta.size


def _fit_candidate(stream: Stream, hour_bin: NDArray[np.int64], moments: tuple[float, float, float]) -> _Candidate:
    design = Design.binned(stream, hour_bin)
    theta, result = _maximise(design, _starting_values(design, moments))
    loglik = float(design.loglik_gradient(*unpack(theta))[0])
    return _Candidate(design, theta, loglik, result)


def _choose(candidates: dict[str, _Candidate]) -> tuple[_Candidate, dict[str, float]]:
    """Hour-of-day baselines when the likelihood-ratio test rejects constant ones at ``LR_ALPHA`` (2(K - 1) degrees
    of freedom; see :func:`calibration.hawkes_fit._choose` for why not BIC), with both models' ℓ, BIC and ρ(Γ)."""
    constant, hourly = candidates["constant"], candidates.get("hourly")
    n_events = constant.design.observed.t.size
    figures: dict[str, float] = {}
    for name in ("constant", "hourly"):
        c = candidates.get(name)
        figures |= {
            f"log_likelihood_{name}": c.loglik if c else math.nan,
            f"bic_{name}": bic(c.loglik, c.n_params, n_events) if c else math.nan,
            f"spectral_radius_{name}": float(_reported(c.theta, c.design.exposure)[-1]) if c else math.nan,
        }
    if hourly is None:
        return constant, figures | {"lr_statistic": math.nan, "lr_df": math.nan, "lr_pvalue": math.nan}
    df = hourly.n_params - constant.n_params
    lr = max(2.0 * (hourly.loglik - constant.loglik), 0.0)
    pvalue = float(stats.chi2.sf(lr, df))
    figures |= {"lr_statistic": lr, "lr_df": float(df), "lr_pvalue": pvalue}
    return (hourly if pvalue < LR_ALPHA else constant), figures


def _central_jacobian(function, theta: NDArray, relative_step: float) -> NDArray:
    """∂function/∂θ by central differences with steps relative_step·θ_k; rows are outputs."""
    columns = []
    for k in range(theta.size):
        step = relative_step * theta[k]
        up, down = theta.copy(), theta.copy()
        up[k] += step
        down[k] -= step
        columns.append((function(up) - function(down)) / (2.0 * step))
    return np.column_stack(columns)


def _reported(theta: NDArray, exposure: NDArray) -> NDArray:
    """Each component's μ averaged over the covered time, α, β, the branching matrix Γ = α/β (row-major), its
    spectral radius and, with more than one baseline bin, each component's μ per bin."""
    mu, alpha, beta = unpack(theta)
    mean_mu = mu @ (exposure / exposure.sum())
    branching = alpha.ravel() / beta
    per_bin = mu.ravel() if exposure.size > 1 else np.empty(0)
    radius = spectral_radius(branching.reshape(2, 2))
    return np.concatenate([mean_mu, alpha.ravel(), [beta], branching, [radius], per_bin])


def _reported_names(names: tuple[str, str], hour_bin: NDArray[np.int64]) -> list[str]:
    p, q = names
    pairs = [f"{i}_from_{j}" for i in (p, q) for j in (p, q)]
    keys = [
        f"mu_{p}",
        f"mu_{q}",
        *(f"alpha_{pair}" for pair in pairs),
        "beta",
        *(f"n_{pair}" for pair in pairs),
        "spectral_radius",
    ]
    if hour_bin.max() > 0:
        keys += [f"mu_{side}_{name.removeprefix('mu_')}" for side in (p, q) for name in bin_names(hour_bin)]
    return keys


def fit_hawkes_exp_bivariate(
    times_0: ArrayLike,
    times_1: ArrayLike,
    end_time: float,
    *,
    start_time: float = 0.0,
    covered: ArrayLike | None = None,
    baseline: Literal["auto", "constant"] = "auto",
    names: tuple[str, str] = ("buy", "sell"),
    min_events: int = MIN_EVENTS,
) -> FitResult:
    """MLE of the bivariate exponential Hawkes process with common β on the covered part of [start_time, end_time].

    ``times_0``, ``times_1`` in seconds (since the epoch, UTC, for the hour-of-day baseline), sorted, ties merged
    per side (:func:`calibration.hawkes.merge_ties`); ``covered``: (k, 2) covered intervals in the same unit (default
    the whole window), events outside them left out and counted. L-BFGS-B with the analytic gradient, from a pooled
    moments estimate on the covered clock; ρ(Γ) < 1 holds by construction of the parameterisation. Baseline
    (``baseline="auto"``): constant μ_i, and, when the covered hours make at least two bins holding
    ``MIN_EVENTS_PER_BIN`` events of each component, μ_i by hour of day; the hourly model is reported when the
    likelihood-ratio test rejects the constant one at ``LR_ALPHA``. Standard errors from the inverse of a numerical
    Hessian (central differences of the analytic gradient), those of the averaged μ, Γ_ij = α_ij/β and ρ(Γ) by the
    delta method. Estimate keys, with ``names`` = (p, q): ``mu_p`` (averaged over the covered time),
    ``alpha_p_from_q`` (jump of λ_p caused by a q event), ``beta``, ``n_p_from_q`` (Γ_pq), ``spectral_radius``,
    ``baseline_bins`` and with hourly baselines ``mu_p_hHH[_HH]`` per bin. goodness_of_fit: ``log_likelihood``, per
    component ``compensator_total_p`` (= N_p at the optimum), ``compensator_ratio_p`` and the time-rescaling tests
    (``ks_pvalue_p``, ...), per baseline model ``log_likelihood_``/``bic_``/``spectral_radius_constant|hourly``,
    ``lr_statistic``/``lr_df``/``lr_pvalue``, and the coverage figures of
    :func:`calibration.coverage.coverage_report` with ``events_outside_coverage``. Status ``low_coverage`` below half
    the window covered. Warnings flag ρ outside 0.5-0.95, non-convergence, a singular information matrix and events
    outside the coverage. Raises :class:`InsufficientSamples` when a component has fewer than ``min_events`` covered
    events and :class:`calibration.coverage.InsufficientCoverage` below 10 minutes of covered time.
    """
    if baseline not in ("auto", "constant"):
        raise ValueError(f"unknown baseline {baseline!r}")
    stream = merged_stream(times_0, times_1, end_time, start_time, covered)
    counts = np.bincount(stream.labels, minlength=2)
    if counts.min() < min_events:
        raise InsufficientSamples("hawkes_exp_bivariate", int(counts.min()), min_events)
    coverage = coverage_report("hawkes_exp_bivariate", stream.covered_s, stream.window_s, stream.starts.size)
    moments = moments_estimate(stream.operational_times(), stream.covered_s, None)
    candidates = {"constant": _fit_candidate(stream, np.zeros(HOURS, np.int64), moments)}
    hourly = hour_bins(stream.hour_counts()) if baseline == "auto" else np.zeros(HOURS, np.int64)
    if hourly.max() > 0:
        candidates["hourly"] = _fit_candidate(stream, hourly, moments)
    chosen, choice = _choose(candidates)
    design, theta = chosen.design, chosen.theta
    mu, alpha, beta = unpack(theta)
    keys = _reported_names(names, design.hour_bin)
    estimates = dict(zip(keys, map(float, _reported(theta, design.exposure))))

    warnings = list(coverage.warnings)
    low, high = BRANCHING_BAND
    if not low <= estimates["spectral_radius"] <= high:
        warnings.append(
            f"data warning: spectral radius of the branching matrix {estimates['spectral_radius']:.3f} outside "
            f"the usual {low}-{high} band of trade arrivals"
        )
    if not chosen.result.success:
        warnings.append(f"optimiser did not converge: {chosen.result.message}")
    if stream.outside:
        warnings.append(f"{stream.outside} events outside the covered intervals were left out")
    hess = _central_jacobian(lambda th: design.loglik_gradient(*unpack(th))[1], theta, 1e-5)
    hess = 0.5 * (hess + hess.T)
    try:
        np.linalg.cholesky(-hess)
        jac = _central_jacobian(lambda th: _reported(th, design.exposure), theta, 1e-6)
        std_errors = dict(zip(keys, map(float, np.sqrt(np.diag(jac @ np.linalg.inv(-hess) @ jac.T)))))
    except np.linalg.LinAlgError:
        std_errors = dict.fromkeys(keys, math.nan)
        warnings.append("observed information not positive definite at the optimum: standard errors undefined")

    labels = stream.labels
    tau = design.residuals(mu, alpha, beta)
    decayed = -np.expm1(-beta * (stream.ends[stream.segment] - stream.t))
    goodness: dict[str, float] = {"log_likelihood": chosen.loglik}
    for i, name in enumerate(names):
        compensator = float(mu[i] @ design.exposure + np.sum(alpha[i, labels] / beta * decayed))
        goodness[f"compensator_total_{name}"] = compensator
        goodness[f"compensator_ratio_{name}"] = compensator / int(counts[i])
        goodness |= {f"{key}_{name}": value for key, value in time_rescaling_tests(tau[labels == i]).items()}
    goodness |= choice | coverage.goodness | {"events_outside_coverage": float(stream.outside)}

    return FitResult(
        model="hawkes_exp_bivariate",
        n=int(stream.t.size),
        estimates=estimates | {"baseline_bins": float(design.n_bins)},
        std_errors=std_errors | {"baseline_bins": math.nan},
        units={key: "1" if key.startswith(("n_", "spectral")) else "1/s" for key in keys} | {"baseline_bins": "bins"},
        goodness_of_fit=goodness,
        warnings=tuple(warnings),
        status=coverage.status,
    )
