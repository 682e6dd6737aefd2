"""Bivariate (buy/sell) exponential Hawkes process with a common decay: MLE, standard errors, fit quality.

Model (Hawkes 1971; Bacry, Mastromatteo & Muzy 2015, Market Microstructure and Liquidity 1:1550005):

    λ_i(t) = μ_i(t) + Σ_j α_ij Σ_{t^j_l < t} e^{-β (t - t^j_l)},   i, j ∈ {0, 1},

α_ij is the jump in the intensity of component i caused by an event of component j (tick's
``adjacency[i, j]`` is α_ij/β). Branching matrix Γ = α/β; stationary iff its spectral radius ρ(Γ) < 1;
mean intensities (I - Γ)^{-1} μ. Events are processed as one merged stream with a state vector
S_j = Σ_l e^{-β(t - t^j_l)} (Ozaki 1979's recursion per source type), so the likelihood and its gradient cost O(N).

Coverage, ties and the baseline follow the univariate model (:mod:`calibration.hawkes`,
:mod:`calibration.hawkes_baseline`): the compensator runs over the covered intervals only, each covered segment
starts empty, events sharing a timestamp do not excite each other (of either component, so the likelihood does not
depend on which component is listed first in a tie), and each μ_i(t) is constant or piecewise constant by hour of
the UTC day (bins of consecutive hours holding enough events of both components). The fit, with the baseline
chosen by likelihood ratio, is :func:`calibration.hawkes_bivariate_fit.fit_hawkes_exp_bivariate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from calibration.hawkes import baseline_integral, decayed_sums, event_times
from calibration.hawkes_baseline import HOURS, BinnedEvents, Observed, cumulative_hour_rates, observe, segment_of


@dataclass(frozen=True, eq=False)
class Stream(Observed):
    """Both components' covered events as one time-ordered stream (:class:`Observed`), ``labels`` the component of
    each event."""

    labels: NDArray[np.int64]

    def hour_counts(self) -> NDArray[np.int64]:
        """Events per hour of the UTC day, one row of 24 per component."""
        hours = self.hours
        return np.stack([np.bincount(hours[self.labels == k], minlength=HOURS) for k in (0, 1)])


class Design(BinnedEvents[Stream]):
    """The stream with its baseline bins (:class:`BinnedEvents`) and the bivariate likelihood passes."""

    def loglik_gradient(self, mu: ArrayLike, alpha: ArrayLike, beta: float) -> tuple[float, NDArray[np.float64]]:
        """ℓ and ∇ℓ in θ = (μ_0 per bin..., μ_1 per bin..., α_00, α_01, α_10, α_11, β); ``mu`` shape (2, bins)."""
        s = self.observed
        return _loglik_gradient(
            s.t, s.labels, s.segment, s.ends, self.bins, self.exposure, *_parameters(mu, alpha, beta)
        )

    def residuals(self, mu: NDArray, alpha: NDArray, beta: float) -> NDArray[np.float64]:
        """Per-event compensator increments of its own component (see :func:`_residuals`)."""
        s = self.observed
        hour_rate = np.ascontiguousarray(mu[:, :1] if self.n_bins == 1 else mu[:, self.hour_bin], dtype=np.float64)
        cumulative = np.stack([cumulative_hour_rates(r) for r in hour_rate])
        return _residuals(s.t, s.labels, s.segment, s.starts, hour_rate, cumulative, s.phase, alpha, beta)


def merged_stream(
    times_0: ArrayLike,
    times_1: ArrayLike,
    end_time: float,
    start_time: float = 0.0,
    covered: ArrayLike | None = None,
) -> Stream:
    """Both components' validated events on the covered intervals, as one time-ordered stream (ties: component
    0 first, which the likelihood does not depend on)."""
    t0, horizon = event_times(times_0, start_time, end_time)
    t1, _ = event_times(times_1, start_time, end_time)
    times = np.concatenate([t0, t1])
    labels = np.concatenate([np.zeros(t0.size, np.int64), np.ones(t1.size, np.int64)])
    order = np.argsort(times, kind="stable")
    times, labels = times[order], labels[order]
    observed = observe(times, horizon, start_time, covered)
    if observed.outside:
        labels = labels[segment_of(times, observed.starts, observed.ends) >= 0]
    return Stream(**vars(observed), labels=np.ascontiguousarray(labels))


@njit(cache=True)
def _loglik_gradient(t, labels, segment, ends, bins, exposure, mu, alpha, beta):  # pragma: no cover - compiled
    """ℓ and ∇ℓ in (μ_0 per bin..., μ_1 per bin..., α_00, α_01, α_10, α_11, β) over the merged stream.

    S_j counts component j's events strictly before the current time (decayed), P_j those at the current time,
    which enter S_j once time moves on. B_j = Σ_l (t - t^j_l) e^{-β(t - t^j_l)} = -∂S_j/∂β follows
    B_j <- e^{-βΔ}(B_j + Δ (S_j + P_j)). All restart at 0 in each covered segment. ``mu`` is (2, bins), ``bins[e]``
    event e's baseline bin and ``exposure[b]`` the covered seconds of bin b.
    """
    n_bins = exposure.shape[0]
    ia = 2 * n_bins  # offset of the α block; β follows it
    s = np.zeros(2)
    p = np.zeros(2)
    bb = np.zeros(2)
    decayed = np.zeros(2)  # Σ_l e^{-β(end of l's segment - t_l)} per component
    r = np.zeros(2)  # Σ_l (end - t_l) e^{-β(end - t_l)} per component
    counts = np.zeros(2)
    grad = np.zeros(ia + 5)
    loglik = 0.0
    n = t.shape[0]
    for e in range(n + 1):
        if e == n or (e > 0 and segment[e] != segment[e - 1]):
            if e > 0:  # carry the segment just ended to its end
                d = ends[segment[e - 1]] - t[e - 1]
                decay = math.exp(-beta * d)
                for j in range(2):
                    at_end, b_at_end, _ = decayed_sums(decay, d, s[j] + p[j], bb[j], 0.0)
                    decayed[j] += at_end
                    r[j] += b_at_end
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
                    s[j], bb[j], _ = decayed_sums(decay, d, s[j] + p[j], bb[j], 0.0)
                    p[j] = 0.0
        k = labels[e]
        lam = mu[k, bins[e]] + alpha[k, 0] * s[0] + alpha[k, 1] * s[1]
        inv = 1.0 / lam
        loglik += math.log(lam)
        grad[k * n_bins + bins[e]] += inv
        grad[ia + 2 * k] += s[0] * inv
        grad[ia + 2 * k + 1] += s[1] * inv
        grad[ia + 4] -= (alpha[k, 0] * bb[0] + alpha[k, 1] * bb[1]) * inv
        p[k] += 1.0
        counts[k] += 1.0
    # Q_j = Σ_l (1 - e^{-β(end - t^j_l)}) = N_j - decayed_j, R_j = r_j.
    for i in range(2):
        for b in range(n_bins):
            loglik -= mu[i, b] * exposure[b]
            grad[i * n_bins + b] -= exposure[b]
        for j in range(2):
            q = counts[j] - decayed[j]
            loglik -= alpha[i, j] / beta * q
            grad[ia + 2 * i + j] -= q / beta
            grad[ia + 4] += alpha[i, j] * (q / beta**2 - r[j] / beta)
    return loglik, grad


@njit(cache=True)
def _residuals(t, labels, segment, starts, hour_rate, cumulative, phase, alpha, beta):  # pragma: no cover
    """Per-event compensator increment of its own component since that component's previous event of the same
    covered segment (or since the segment start).

    Over each merged-stream gap [u, v], component i accrues ∫_u^v μ_i + Σ_j (α_ij/β) (S_j + P_j)(1 - e^{-β(v-u)});
    ``hour_rate[i]`` is μ_i by hour of day (one value: constant), ``cumulative[i]`` its integral by hour.
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
                baseline = baseline_integral(previous, t[e], hour_rate[i], cumulative[i], phase)
                accrued[i] += baseline + excitation / beta * growth
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
    mu = np.asarray(mu, dtype=np.float64)
    return np.ascontiguousarray(mu.reshape(2, -1)), np.ascontiguousarray(alpha, dtype=np.float64), float(beta)


def unpack(theta: NDArray) -> tuple[NDArray, NDArray, float]:
    """θ = (μ (2 x bins, row-major), α (2 x 2, row-major), β) -> (μ, α, β)."""
    return _parameters(theta[:-5], theta[-5:-1].reshape(2, 2), theta[-1])


def _public_design(
    times_0: ArrayLike, times_1: ArrayLike, end_time: float, mu: ArrayLike, start_time: float, covered: ArrayLike | None
) -> Design:
    """The design of public calls: ``mu`` of 2 values is a constant baseline, of 2 x 24 one μ_i per hour of day."""
    stream = merged_stream(times_0, times_1, end_time, start_time, covered)
    size = np.asarray(mu).size
    if size not in (2, 2 * HOURS):
        raise ValueError(f"mu must hold 2 rates or 2 x {HOURS} hour-of-day rates, got {size} values")
    return Design.binned(stream, np.zeros(HOURS, np.int64) if size == 2 else np.arange(HOURS))


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
    """Exact log-likelihood over the covered intervals (default the window [start_time, end_time]); ``mu``: the two
    baseline rates, or (2, 24) rates by hour of the UTC day. tick's ``ModelHawkesExpKernLogLik(beta).loss`` is
    -(ℓ + 2T)/N on a fully covered window."""
    design = _public_design(times_0, times_1, end_time, mu, start_time, covered)
    return float(design.loglik_gradient(mu, alpha, beta)[0])


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
    """Analytic gradient in (μ_0..., μ_1..., α_00, α_01, α_10, α_11, β)."""
    design = _public_design(times_0, times_1, end_time, mu, start_time, covered)
    return design.loglik_gradient(mu, alpha, beta)[1]


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
    design = _public_design(times_0, times_1, end_time, mu, start_time, covered)
    tau = design.residuals(*_parameters(mu, alpha, beta))
    labels = design.observed.labels
    return tau[labels == 0], tau[labels == 1]


def spectral_radius(branching: ArrayLike) -> float:
    """ρ(Γ) of the branching matrix; the process is stationary iff ρ < 1."""
    return float(np.max(np.abs(np.linalg.eigvals(np.asarray(branching, dtype=np.float64)))))
