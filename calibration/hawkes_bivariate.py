"""Bivariate (buy/sell) exponential Hawkes process with a common decay: MLE, standard errors, fit quality.

Model (Hawkes 1971; Bacry, Mastromatteo & Muzy 2015, Market Microstructure and Liquidity 1:1550005):

    λ_i(t) = μ_i + Σ_j α_ij Σ_{t^j_l < t} e^{-β (t - t^j_l)},   i, j ∈ {0, 1},

α_ij is the jump in the intensity of component i caused by an event of component j (tick's
``adjacency[i, j]`` is α_ij/β). Branching matrix Γ = α/β; stationary iff its spectral radius ρ(Γ) < 1;
mean intensities (I - Γ)^{-1} μ. Events are processed as one merged stream with a state vector
S_j = Σ_l e^{-β(t - t^j_l)} (statistics.md §2.5), so the likelihood and its gradient cost O(N).

Coverage and ties follow the univariate model (:mod:`calibration.hawkes`, :mod:`calibration.hawkes_baseline`):
the compensator runs over the covered intervals only, each covered segment starts empty, and events sharing a
timestamp do not excite each other (of either component), so the likelihood does not depend on which component
is listed first in a tie.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from calibration.coverage import coverage_report
from calibration.fit_result import FitResult, InsufficientSamples
from calibration.hawkes import BRANCHING_BAND, MIN_EVENTS, event_times
from calibration.hawkes_baseline import covered_clock, covered_window, segment_of
from calibration.hawkes_gof import time_rescaling_tests
from calibration.hawkes_moments import moments_estimate


@dataclass(frozen=True, eq=False)
class _Stream:
    """Both components' covered events as one time-ordered stream, times relative to the window start.

    ``labels`` the component of each event, ``segment`` its covered interval (``starts``/``ends``), ``window_s``
    the window length, ``outside`` the events left out because no covered interval holds them.
    """

    t: NDArray[np.float64]
    labels: NDArray[np.int64]
    segment: NDArray[np.int64]
    starts: NDArray[np.float64]
    ends: NDArray[np.float64]
    window_s: float
    outside: int

    @property
    def covered_s(self) -> float:
        return float(np.sum(self.ends - self.starts))

    def clock(self) -> NDArray[np.float64]:
        """Event times on the covered clock, for the moments start."""
        return covered_clock(self.t, self.segment, self.starts, self.ends)


def _merged_stream(
    times_0: ArrayLike,
    times_1: ArrayLike,
    end_time: float,
    start_time: float = 0.0,
    covered: ArrayLike | None = None,
) -> _Stream:
    """Both components' validated events on the covered intervals, as one time-ordered stream (ties: component
    0 first, which the likelihood does not depend on)."""
    t0, horizon = event_times(times_0, start_time, end_time)
    t1, _ = event_times(times_1, start_time, end_time)
    times = np.concatenate([t0, t1])
    labels = np.concatenate([np.zeros(t0.size, np.int64), np.ones(t1.size, np.int64)])
    order = np.argsort(times, kind="stable")
    times, labels = times[order], labels[order]
    starts, ends = covered_window(horizon, start_time, covered)
    segment = segment_of(times, starts, ends)
    inside = segment >= 0
    return _Stream(
        t=np.ascontiguousarray(times[inside]),
        labels=np.ascontiguousarray(labels[inside]),
        segment=np.ascontiguousarray(segment[inside]),
        starts=starts,
        ends=ends,
        window_s=horizon,
        outside=int(np.count_nonzero(~inside)),
    )


@njit(cache=True)
def _loglik_gradient(t, labels, segment, ends, covered_s, mu, alpha, beta):  # pragma: no cover - compiled
    """ℓ and ∇ℓ in (μ_0, μ_1, α_00, α_01, α_10, α_11, β) over the merged stream.

    S_j counts component j's events strictly before the current time (decayed), P_j those at the current time,
    which enter S_j once time moves on. B_j = Σ_l (t - t^j_l) e^{-β(t - t^j_l)} = -∂S_j/∂β follows
    B_j <- e^{-βΔ}(B_j + Δ (S_j + P_j)). All restart at 0 in each covered segment.
    """
    s = np.zeros(2)
    p = np.zeros(2)
    bb = np.zeros(2)
    decayed = np.zeros(2)  # Σ_l e^{-β(end of l's segment - t_l)} per component
    r = np.zeros(2)  # Σ_l (end - t_l) e^{-β(end - t_l)} per component
    counts = np.zeros(2)
    grad = np.zeros(7)
    loglik = 0.0
    n = t.shape[0]
    for e in range(n + 1):
        if e == n or (e > 0 and segment[e] != segment[e - 1]):
            if e > 0:  # carry the segment just ended to its end
                d = ends[segment[e - 1]] - t[e - 1]
                decay = math.exp(-beta * d)
                for j in range(2):
                    carry = s[j] + p[j]
                    decayed[j] += decay * carry
                    r[j] += decay * (bb[j] + d * carry)
                    s[j] = 0.0
                    p[j] = 0.0
                    bb[j] = 0.0
            if e == n:
                break
        elif e > 0:
            d = t[e] - t[e - 1]
            if d > 0.0:
                decay = math.exp(-beta * d)
                for j in range(2):
                    carry = s[j] + p[j]
                    bb[j] = decay * (bb[j] + d * carry)
                    s[j] = decay * carry
                    p[j] = 0.0
        k = labels[e]
        lam = mu[k] + alpha[k, 0] * s[0] + alpha[k, 1] * s[1]
        inv = 1.0 / lam
        loglik += math.log(lam)
        grad[k] += inv
        grad[2 + 2 * k] += s[0] * inv
        grad[3 + 2 * k] += s[1] * inv
        grad[6] -= (alpha[k, 0] * bb[0] + alpha[k, 1] * bb[1]) * inv
        p[k] += 1.0
        counts[k] += 1.0
    # Q_j = Σ_l (1 - e^{-β(end - t^j_l)}) = N_j - decayed_j, R_j = r_j.
    for i in range(2):
        loglik -= mu[i] * covered_s
        grad[i] -= covered_s
        for j in range(2):
            q = counts[j] - decayed[j]
            loglik -= alpha[i, j] / beta * q
            grad[2 + 2 * i + j] -= q / beta
            grad[6] += alpha[i, j] * (q / beta**2 - r[j] / beta)
    return loglik, grad


@njit(cache=True)
def _residuals(t, labels, segment, starts, mu, alpha, beta):  # pragma: no cover - compiled
    """Per-event compensator increment of its own component since that component's previous event of the same
    covered segment (or since the segment start).

    Over each merged-stream gap δ, component i accrues μ_i δ + Σ_j (α_ij/β) (S_j + P_j) (1 - e^{-βδ}).
    """
    s = np.zeros(2)
    p = np.zeros(2)
    accrued = np.zeros(2)
    tau = np.empty(t.shape[0])
    previous = 0.0
    for e in range(t.shape[0]):
        if e == 0 or segment[e] != segment[e - 1]:
            previous = starts[segment[e]]
            s[:] = 0.0
            p[:] = 0.0
            accrued[:] = 0.0
        d = t[e] - previous
        if d > 0.0:
            growth = -math.expm1(-beta * d)
            for i in range(2):
                excitation = alpha[i, 0] * (s[0] + p[0]) + alpha[i, 1] * (s[1] + p[1])
                accrued[i] += mu[i] * d + excitation / beta * growth
            for j in range(2):
                s[j] = (s[j] + p[j]) * (1.0 - growth)
                p[j] = 0.0
        k = labels[e]
        tau[e] = accrued[k]
        accrued[k] = 0.0
        p[k] += 1.0
        previous = t[e]
    return tau


def _parameters(mu: ArrayLike, alpha: ArrayLike, beta: float) -> tuple[NDArray, NDArray, float]:
    return np.ascontiguousarray(mu, dtype=np.float64), np.ascontiguousarray(alpha, dtype=np.float64), float(beta)


def _unpack(theta: NDArray) -> tuple[NDArray, NDArray, float]:
    return _parameters(theta[:2], theta[2:6].reshape(2, 2), theta[6])


def _evaluate(stream: _Stream, mu: ArrayLike, alpha: ArrayLike, beta: float) -> tuple[float, NDArray[np.float64]]:
    return _loglik_gradient(
        stream.t, stream.labels, stream.segment, stream.ends, stream.covered_s, *_parameters(mu, alpha, beta)
    )


def hawkes_exp_bivariate_loglik(
    times_0: ArrayLike,
    times_1: ArrayLike,
    end_time: float,
    mu: ArrayLike,
    alpha: ArrayLike,
    beta: float,
    *,
    start_time: float = 0.0,
    covered: ArrayLike | None = None,
) -> float:
    """Exact log-likelihood over the covered intervals (default the window [start_time, end_time]). tick's
    ``ModelHawkesExpKernLogLik(beta).loss`` is -(ℓ + 2T)/N on a fully covered window."""
    return float(_evaluate(_merged_stream(times_0, times_1, end_time, start_time, covered), mu, alpha, beta)[0])


def hawkes_exp_bivariate_gradient(
    times_0: ArrayLike,
    times_1: ArrayLike,
    end_time: float,
    mu: ArrayLike,
    alpha: ArrayLike,
    beta: float,
    *,
    start_time: float = 0.0,
    covered: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Analytic gradient in (μ_0, μ_1, α_00, α_01, α_10, α_11, β)."""
    return _evaluate(_merged_stream(times_0, times_1, end_time, start_time, covered), mu, alpha, beta)[1]


def hawkes_exp_bivariate_residuals(
    times_0: ArrayLike,
    times_1: ArrayLike,
    end_time: float,
    mu: ArrayLike,
    alpha: ArrayLike,
    beta: float,
    *,
    start_time: float = 0.0,
    covered: ArrayLike | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-component compensator increments between that component's events (from each covered segment's start),
    i.i.d. Exp(1) under the model."""
    stream = _merged_stream(times_0, times_1, end_time, start_time, covered)
    tau = _residuals(stream.t, stream.labels, stream.segment, stream.starts, *_parameters(mu, alpha, beta))
    return tau[stream.labels == 0], tau[stream.labels == 1]


def spectral_radius(branching: ArrayLike) -> float:
    """ρ(Γ) of the branching matrix; the process is stationary iff ρ < 1."""
    return float(np.max(np.abs(np.linalg.eigvals(np.asarray(branching, dtype=np.float64)))))


def _branching_from_free(z: NDArray) -> tuple[NDArray, NDArray]:
    """Γ(z) and ∂Γ/∂z for z ∈ R^4, onto positive 2x2 matrices with ρ(Γ) < 1.

    For Γ = [[a, b], [c, d]] ≥ 0, ρ(Γ) < 1 ⇔ a < 1, d < 1 and bc < (1-a)(1-d). So a = σ(z_0),
    d = σ(z_1), bc = (1-a)(1-d) σ(z_2), b/c = e^{2 z_3}. Returns Γ flattened and its 4x4 Jacobian.
    """
    a, d, share = 1.0 / (1.0 + np.exp(-z[:3]))
    product = (1.0 - a) * (1.0 - d) * share
    root = math.sqrt(product)
    b, c = root * math.exp(z[3]), root * math.exp(-z[3])
    dproduct = np.array(
        [-a * (1 - a) * (1 - d) * share, -d * (1 - d) * (1 - a) * share, product * (1 - share), 0.0]
    )
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


def _starting_values(stream: _Stream) -> NDArray:
    """Pooled moments estimate on the covered clock: β and n of the merged stream, n split 70/30 between self and
    cross."""
    _, alpha, beta = moments_estimate(stream.clock(), stream.covered_s, None)
    n = min(max(alpha / beta, 0.05), 0.9)
    branching = n * np.array([[0.7, 0.3], [0.3, 0.7]])
    rates = np.bincount(stream.labels, minlength=2) / stream.covered_s
    mu = np.maximum((np.eye(2) - branching) @ rates, 0.05 * rates)  # μ = (I - Γ) Λ
    return np.concatenate([np.log(mu), _branching_to_free(branching), [math.log(beta)]])


def _theta(x: NDArray) -> NDArray:
    beta = math.exp(x[6])
    branching, _ = _branching_from_free(x[2:6])
    return np.concatenate([np.exp(x[:2]), branching * beta, [beta]])


def _maximise(stream: _Stream):
    """L-BFGS-B on -ℓ/N in free parameters (log μ, z, log β) with the analytic gradient by the chain rule."""
    scale = 1.0 / stream.t.size

    def objective(x: NDArray) -> tuple[float, NDArray]:
        beta = math.exp(x[6])
        branching, jac = _branching_from_free(x[2:6])
        mu = np.exp(x[:2])
        loglik, grad = _evaluate(stream, mu, branching.reshape(2, 2) * beta, beta)
        grad_alpha = grad[2:6]
        grad_x = np.concatenate(
            [mu * grad[:2], beta * (jac.T @ grad_alpha), [beta * (grad[6] + branching @ grad_alpha)]]
        )
        return -scale * loglik, -scale * grad_x

    result = minimize(
        objective,
        _starting_values(stream),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 1000, "ftol": 1e-14, "gtol": 1e-7},
    )
    return _theta(result.x), result


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


def _reported(theta: NDArray) -> NDArray:
    """θ followed by the branching matrix Γ = α/β (row-major) and its spectral radius."""
    branching = theta[2:6] / theta[6]
    return np.concatenate([theta, branching, [spectral_radius(branching.reshape(2, 2))]])


def _reported_names(names: tuple[str, str]) -> list[str]:
    p, q = names
    pairs = [f"{i}_from_{j}" for i in (p, q) for j in (p, q)]
    return [f"mu_{p}", f"mu_{q}", *(f"alpha_{pair}" for pair in pairs), "beta", *(f"n_{pair}" for pair in pairs),
            "spectral_radius"]


def fit_hawkes_exp_bivariate(
    times_0: ArrayLike,
    times_1: ArrayLike,
    end_time: float,
    *,
    start_time: float = 0.0,
    covered: ArrayLike | None = None,
    names: tuple[str, str] = ("buy", "sell"),
    min_events: int = MIN_EVENTS,
) -> FitResult:
    """MLE of the bivariate exponential Hawkes process with common β on the covered part of [start_time, end_time].

    ``times_0``, ``times_1`` in seconds, sorted, ties merged per side (:func:`calibration.hawkes.merge_ties`);
    ``covered``: (k, 2) covered intervals in the same unit (default the whole window), events outside them left out
    and counted. L-BFGS-B with the analytic gradient, from a pooled moments estimate on the covered clock; ρ(Γ) < 1
    holds by construction of the parameterisation. Standard errors from the inverse of a numerical Hessian (central
    differences of the analytic gradient), those of Γ_ij = α_ij/β and ρ(Γ) by the delta method. Estimate keys, with
    ``names`` = (p, q): ``mu_p``, ``alpha_p_from_q`` (jump of λ_p caused by a q event), ``beta``, ``n_p_from_q``
    (Γ_pq), ``spectral_radius``. The baseline is constant: seasonality is read by the univariate fit's hour-of-day
    model (:func:`calibration.hawkes_fit.fit_hawkes_exp`). goodness_of_fit: ``log_likelihood``, per component
    ``compensator_total_p`` (= N_p at the optimum), ``compensator_ratio_p`` and the time-rescaling tests
    (``ks_pvalue_p``, ...), and the coverage figures of :func:`calibration.coverage.coverage_report` with
    ``events_outside_coverage``. Status ``low_coverage`` below half the window covered. Warnings flag ρ outside
    0.5-0.95, non-convergence, a singular information matrix and events outside the coverage. Raises
    :class:`InsufficientSamples` when a component has fewer than ``min_events`` covered events and
    :class:`calibration.coverage.InsufficientCoverage` below 10 minutes of covered time.
    """
    stream = _merged_stream(times_0, times_1, end_time, start_time, covered)
    counts = np.bincount(stream.labels, minlength=2)
    if counts.min() < min_events:
        raise InsufficientSamples("hawkes_exp_bivariate", int(counts.min()), min_events)
    coverage = coverage_report("hawkes_exp_bivariate", stream.covered_s, stream.window_s, stream.starts.size)
    theta, result = _maximise(stream)
    mu, alpha, beta = _unpack(theta)
    loglik = float(_evaluate(stream, mu, alpha, beta)[0])
    keys = _reported_names(names)
    estimates = dict(zip(keys, map(float, _reported(theta))))

    warnings = list(coverage.warnings)
    low, high = BRANCHING_BAND
    if not low <= estimates["spectral_radius"] <= high:
        warnings.append(
            f"data warning: spectral radius of the branching matrix {estimates['spectral_radius']:.3f} outside "
            f"the usual {low}-{high} band of trade arrivals"
        )
    if not result.success:
        warnings.append(f"optimiser did not converge: {result.message}")
    if stream.outside:
        warnings.append(f"{stream.outside} events outside the covered intervals were left out")
    hess = _central_jacobian(lambda th: _evaluate(stream, *_unpack(th))[1], theta, 1e-5)
    hess = 0.5 * (hess + hess.T)
    try:
        np.linalg.cholesky(-hess)
        jac = _central_jacobian(_reported, theta, 1e-6)
        std_errors = dict(zip(keys, map(float, np.sqrt(np.diag(jac @ np.linalg.inv(-hess) @ jac.T)))))
    except np.linalg.LinAlgError:
        std_errors = dict.fromkeys(keys, math.nan)
        warnings.append("observed information not positive definite at the optimum: standard errors undefined")

    labels = stream.labels
    tau = _residuals(stream.t, labels, stream.segment, stream.starts, mu, alpha, beta)
    decayed = -np.expm1(-beta * (stream.ends[stream.segment] - stream.t))
    goodness: dict[str, float] = {"log_likelihood": loglik}
    for i, name in enumerate(names):
        compensator = float(mu[i] * stream.covered_s + np.sum(alpha[i, labels] / beta * decayed))
        goodness[f"compensator_total_{name}"] = compensator
        goodness[f"compensator_ratio_{name}"] = compensator / int(counts[i])
        goodness |= {f"{key}_{name}": value for key, value in time_rescaling_tests(tau[labels == i]).items()}
    goodness |= coverage.goodness | {"events_outside_coverage": float(stream.outside)}

    return FitResult(
        model="hawkes_exp_bivariate",
        n=int(stream.t.size),
        estimates=estimates,
        std_errors=std_errors,
        units={key: "1" if key.startswith(("n_", "spectral")) else "1/s" for key in keys},
        goodness_of_fit=goodness,
        warnings=tuple(warnings),
        status=coverage.status,
    )
