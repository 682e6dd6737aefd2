"""Univariate Hawkes process with exponential kernel on covered time: tie merging, exact O(N) likelihood.

Model (Hawkes 1971, Biometrika 58:83-90), events t_1 <= ... <= t_N in seconds, observed on the covered
intervals of a window (:mod:`calibration.coverage`):

    λ(t) = μ(t) + Σ_{t_j < t, same covered segment} α e^{-β (t - t_j)},   μ > 0, 0 <= α < β,

branching ratio n = α/β (expected direct offspring of one event), stationary iff n < 1, mean intensity
Λ = μ/(1 - n). μ is in events per second, α and β in 1/s. Each covered segment starts empty (see
:mod:`calibration.hawkes_baseline` for why excitation does not cross a gap); the compensator integrates λ over
the covered intervals only, so a gap is neither a quiet spell nor exposure. The baseline μ(t) is constant or
piecewise constant by hour of the UTC day (:mod:`calibration.hawkes_baseline`); the MLE
(:func:`calibration.hawkes_fit.fit_hawkes_exp`) fits both and chooses by likelihood ratio; moments and the
model-free branching ratio are in :mod:`calibration.hawkes_moments`.

Tied timestamps (the same millisecond) do not excite each other: the sum runs over t_j < t strictly, as the
intensity is predictable (left-continuous), so events sharing a timestamp each contribute log λ(t-), the
likelihood does not depend on the order in which ties are listed, and a batch of arrivals stamped in one block
is not read as infinitely fast excitation. Their compensator increments are 0. Ties within one taker order
should still be merged first (:func:`merge_ties`); ties between distinct orders of one block are what remains.

Likelihood and derivatives use the recursions of Ozaki (1979, Ann. Inst. Stat. Math. 31:145-155):
A_i = Σ_{t_j<t_i} e^{-β(t_i - t_j)}, B_i = Σ (t_i - t_j) e^{..}, C_i = Σ (t_i - t_j)^2 e^{..}, all O(N).
The score follows the convention of the tick library (X-DataInitiative; Bacry et al. 2017, arXiv 1707.03003).

The model in the project's words, with its papers: ``docs/hawkes.md``.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from numba import njit
from numpy.typing import ArrayLike, NDArray

from calibration.hawkes_baseline import HOURS, BinnedEvents, Observed, cumulative_hour_rates, observe
from data_lake.units import DAY_S, HOUR_S

MIN_EVENTS = 200
BRANCHING_BAND = (0.5, 0.95)
UNITS = {"mu": "1/s", "alpha": "1/s", "beta": "1/s", "branching_ratio": "1", "baseline_bins": "bins"}


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
def decayed_sums(decay, gap, carry, b, c):  # pragma: no cover - compiled
    """Ozaki's (1979) sums A = Σ e^{-βs_j}, B = Σ s_j e^{-βs_j}, C = Σ s_j² e^{-βs_j} carried forward by ``gap``
    seconds, ``decay`` = e^{-β gap}: A <- e A, B <- e (B + gap A), C <- e (C + 2 gap B + gap² A), ``carry`` the A
    before the gap (ties at the previous timestamp included). Every exponential-kernel pass (univariate and
    bivariate, between events and to a segment's end) moves its sums with this one recursion."""
    return decay * carry, decay * (gap * carry + b), decay * (gap * gap * carry + 2.0 * gap * b + c)


@njit(cache=True)
def _loglik_derivatives(t, segment, ends, bins, exposure, mu, alpha, beta):  # pragma: no cover - compiled
    """ℓ, ∇ℓ and ∇²ℓ in (μ_1..μ_K, α, β), one pass (Ozaki 1979).

    ``bins[i]`` is event i's baseline bin, ``exposure[k]`` the covered seconds of bin k, ``segment[i]`` its
    covered interval (ending at ``ends[segment[i]]``). A, B, C restart at 0 in each segment; ``pending`` counts the
    events at the current timestamp, which enter A only once time moves on (ties do not excite each other).
    """
    n_bins = mu.shape[0]
    s1 = np.zeros(n_bins)  # Σ 1/λ per bin
    q11 = np.zeros(n_bins)  # Σ 1/λ² per bin
    q1a = np.zeros(n_bins)  # Σ A/λ² per bin
    q1b = np.zeros(n_bins)  # Σ B/λ² per bin
    a = 0.0
    b = 0.0
    c = 0.0
    pending = 0.0
    log_sum = 0.0
    sa = 0.0  # Σ A/λ
    sb = 0.0  # Σ B/λ
    sc = 0.0  # Σ C/λ
    qaa = 0.0  # Σ A²/λ²
    qab = 0.0  # Σ AB/λ²
    qbb = 0.0  # Σ B²/λ²
    decayed = 0.0  # Σ_i e^{-β s_i}, s_i = end of i's segment - t_i
    r = 0.0  # Σ s_i e^{-β s_i}
    w = 0.0  # Σ s_i² e^{-β s_i}
    n = t.shape[0]
    for i in range(n):
        if i > 0 and segment[i] != segment[i - 1]:
            tail = ends[segment[i - 1]] - t[i - 1]
            x, y, z = decayed_sums(math.exp(-beta * tail), tail, a + pending, b, c)
            decayed += x
            r += y
            w += z
            a = 0.0
            b = 0.0
            c = 0.0
            pending = 0.0
        elif i > 0:
            d = t[i] - t[i - 1]
            if d > 0.0:
                a, b, c = decayed_sums(math.exp(-beta * d), d, a + pending, b, c)
                pending = 0.0
        k = bins[i]
        lam = mu[k] + alpha * a
        inv = 1.0 / lam
        inv2 = inv * inv
        log_sum += math.log(lam)
        s1[k] += inv
        q11[k] += inv2
        q1a[k] += a * inv2
        q1b[k] += b * inv2
        sa += a * inv
        sb += b * inv
        sc += c * inv
        qaa += a * a * inv2
        qab += a * b * inv2
        qbb += b * b * inv2
        pending += 1.0
    if n > 0:
        tail = ends[segment[n - 1]] - t[n - 1]
        x, y, z = decayed_sums(math.exp(-beta * tail), tail, a + pending, b, c)
        decayed += x
        r += y
        w += z
    q = n - decayed  # Σ_i (1 - e^{-β s_i})
    baseline = 0.0
    for k in range(n_bins):
        baseline += mu[k] * exposure[k]

    loglik = log_sum - baseline - alpha / beta * q
    ia, ib = n_bins, n_bins + 1
    grad = np.empty(n_bins + 2)
    grad[:n_bins] = s1 - exposure
    grad[ia] = sa - q / beta
    grad[ib] = -alpha * sb + alpha / beta**2 * q - alpha / beta * r
    hess = np.zeros((n_bins + 2, n_bins + 2))
    for k in range(n_bins):
        hess[k, k] = -q11[k]
        hess[k, ia] = -q1a[k]
        hess[ia, k] = -q1a[k]
        hess[k, ib] = alpha * q1b[k]
        hess[ib, k] = alpha * q1b[k]
    hess[ia, ia] = -qaa
    hess[ia, ib] = -sb + alpha * qab + q / beta**2 - r / beta
    hess[ib, ia] = hess[ia, ib]
    hess[ib, ib] = (
        alpha * sc - alpha**2 * qbb - 2.0 * alpha * q / beta**3 + 2.0 * alpha * r / beta**2 + alpha * w / beta
    )
    return loglik, grad, hess


@njit(cache=True)
def baseline_integral(u, v, hour_rate, cumulative, phase):  # pragma: no cover - compiled
    """∫_u^v of the hour-of-day baseline (``cumulative``: :func:`cumulative_hour_rates`), times from the window
    start, ``phase`` the window start's second of the day; one rate is a constant baseline."""
    if hour_rate.shape[0] == 1:
        return hour_rate[0] * (v - u)
    day_u = math.floor((u + phase) / DAY_S)
    day_v = math.floor((v + phase) / DAY_S)
    second_u = u + phase - day_u * DAY_S
    second_v = v + phase - day_v * DAY_S
    hour_u = min(int(second_u // HOUR_S), HOURS - 1)
    hour_v = min(int(second_v // HOUR_S), HOURS - 1)
    if day_u == day_v and hour_u == hour_v:
        return hour_rate[hour_u] * (v - u)
    at_u = day_u * cumulative[HOURS] + cumulative[hour_u] + hour_rate[hour_u] * (second_u - hour_u * HOUR_S)
    at_v = day_v * cumulative[HOURS] + cumulative[hour_v] + hour_rate[hour_v] * (second_v - hour_v * HOUR_S)
    return at_v - at_u


@njit(cache=True)
def _residuals(t, segment, starts, hour_rate, cumulative, phase, alpha, beta):  # pragma: no cover - compiled
    """Compensator increments τ_i = Λ(t_{i-1}, t_i), from the segment start for a segment's first event:
    ∫ μ + (α/β) A(t_{i-1}+) (1 - e^{-β Δ_i}), A(t_{i-1}+) counting the events at t_{i-1} themselves."""
    tau = np.empty(t.shape[0])
    a = 0.0
    pending = 0.0
    previous = 0.0
    for i in range(t.shape[0]):
        if i == 0 or segment[i] != segment[i - 1]:
            previous = starts[segment[i]]
            a = 0.0
            pending = 0.0
        d = t[i] - previous
        tau[i] = baseline_integral(previous, t[i], hour_rate, cumulative, phase)
        if d > 0.0:
            carry = a + pending
            growth = -math.expm1(-beta * d)
            tau[i] += alpha / beta * carry * growth
            a = carry * (1.0 - growth)
            pending = 0.0
        pending += 1.0
        previous = t[i]
    return tau


class Design(BinnedEvents[Observed]):
    """Observed events with their baseline bins (:class:`BinnedEvents`) and the univariate likelihood passes."""

    def derivatives(self, mu: NDArray, alpha: float, beta: float) -> tuple[float, NDArray, NDArray]:
        """ℓ, ∇ℓ and ∇²ℓ in (μ per bin..., α, β)."""
        o = self.observed
        return _loglik_derivatives(o.t, o.segment, o.ends, self.bins, self.exposure, mu, alpha, beta)

    def residuals(self, mu: NDArray, alpha: float, beta: float) -> NDArray[np.float64]:
        """Compensator increments between events, each covered segment from its own start."""
        o = self.observed
        hour_rate = np.ascontiguousarray(mu[:1] if self.n_bins == 1 else mu[self.hour_bin], dtype=np.float64)
        cumulative = cumulative_hour_rates(hour_rate)
        return _residuals(o.t, o.segment, o.starts, hour_rate, cumulative, o.phase, alpha, beta)

    def compensator(self, mu: NDArray, alpha: float, beta: float) -> float:
        """∫ λ over the covered intervals."""
        o = self.observed
        decay = -np.expm1(-beta * (o.ends[o.segment] - o.t))
        return float(mu @ self.exposure + alpha / beta * np.sum(decay))


def _evaluation(
    times: ArrayLike, end_time: float, mu: float | ArrayLike, start_time: float, covered: ArrayLike | None
) -> tuple[Design, NDArray[np.float64]]:
    """The design of public likelihood calls: a scalar μ is a constant baseline, 24 values one μ per hour of day."""
    t, horizon = event_times(times, start_time, end_time)
    observed = observe(t, horizon, start_time, covered)
    rates = np.atleast_1d(np.asarray(mu, dtype=np.float64))
    if rates.size not in (1, HOURS):
        raise ValueError(f"mu must be one rate or {HOURS} hour-of-day rates, got {rates.size}")
    hour_bin = np.zeros(HOURS, np.int64) if rates.size == 1 else np.arange(HOURS)
    return Design.binned(observed, hour_bin), np.ascontiguousarray(rates)


def hawkes_exp_loglik(
    times: ArrayLike,
    end_time: float,
    mu: float | ArrayLike,
    alpha: float,
    beta: float,
    *,
    start_time: float = 0.0,
    covered: ArrayLike | None = None,
) -> float:
    """Exact log-likelihood ℓ = Σ log λ(t_i) - ∫ λ over the covered intervals (Ozaki 1979, O(N)).

    ``mu``: one rate, or 24 rates by hour of the UTC day (times in seconds since the epoch). ``covered``: (k, 2)
    covered intervals (default the whole window [start_time, end_time]). tick's
    ``ModelHawkesExpKernLogLik(beta).loss([mu, alpha/beta])`` is -(ℓ + T)/N on a fully covered window (tick issue
    #449).
    """
    design, rates = _evaluation(times, end_time, mu, start_time, covered)
    return float(design.derivatives(rates, alpha, beta)[0])


def hawkes_exp_gradient(
    times: ArrayLike,
    end_time: float,
    mu: float | ArrayLike,
    alpha: float,
    beta: float,
    *,
    start_time: float = 0.0,
    covered: ArrayLike | None = None,
) -> NDArray:
    """Analytic gradient of :func:`hawkes_exp_loglik` in (μ..., α, β)."""
    design, rates = _evaluation(times, end_time, mu, start_time, covered)
    return design.derivatives(rates, alpha, beta)[1]


def hawkes_exp_hessian(
    times: ArrayLike,
    end_time: float,
    mu: float | ArrayLike,
    alpha: float,
    beta: float,
    *,
    start_time: float = 0.0,
    covered: ArrayLike | None = None,
) -> NDArray:
    """Analytic Hessian of :func:`hawkes_exp_loglik` in (μ..., α, β); -H is the observed information."""
    design, rates = _evaluation(times, end_time, mu, start_time, covered)
    return design.derivatives(rates, alpha, beta)[2]


def hawkes_exp_residuals(
    times: ArrayLike,
    end_time: float,
    mu: float | ArrayLike,
    alpha: float,
    beta: float,
    *,
    start_time: float = 0.0,
    covered: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Time-rescaled inter-event times τ_i = Λ(t_{i-1}, t_i), i.i.d. Exp(1) under the model, of the covered events.

    Each covered segment is rescaled from its own start (its first τ is Λ(segment start, t_first)); a
    segment's time after its last event is censored. Test them with
    :func:`calibration.hawkes_gof.time_rescaling_tests`; Q-Q data from :func:`calibration.hawkes_gof.exponential_qq`.
    """
    design, rates = _evaluation(times, end_time, mu, start_time, covered)
    return design.residuals(rates, alpha, beta)


def hawkes_exp_compensator(
    times: ArrayLike,
    end_time: float,
    mu: float | ArrayLike,
    alpha: float,
    beta: float,
    *,
    start_time: float = 0.0,
    covered: ArrayLike | None = None,
) -> float:
    """Λ over the covered intervals: ∫ μ + (α/β) Σ_i (1 - e^{-β(end of i's segment - t_i)}); N at an interior
    MLE."""
    design, rates = _evaluation(times, end_time, mu, start_time, covered)
    return design.compensator(rates, alpha, beta)


def branching_warnings(n: float) -> tuple[str, ...]:
    """Data warnings for a branching ratio outside the usual band of trade arrivals (Filimonov & Sornette
    2012, Phys. Rev. E 85:056108; Lallouache & Challet 2016, Quant. Finance 16:1-22)."""
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
