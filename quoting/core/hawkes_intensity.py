"""The Hawkes component of the quote: the fill intensity A follows the market-order arrival intensity.

Taker orders arrive as a self-exciting process with exponential kernel (Hawkes 1971, Biometrika 58:83-90; fitted by
:func:`calibration.hawkes_fit.fit_hawkes_exp`): lambda(t) = mu + sum_{t_i <= t} alpha e^{-beta (t - t_i)}, with the
stationary mean lambda_bar = mu / (1 - n), n = alpha / beta. A maker's fills come from those orders, so the fill
intensity at depth d scales with them: A_t e^{-kappa d} with

    A_t = A * m(t),    m(t) = lambda(t) / lambda_bar

(the GLFT intensity A is fitted as the window's average, which the stationary mean is the model's value of). The
multiplier moves the GLFT half-spread and skew (through A, :func:`quoting.core.glft.glft_quote_core`) and the predicted
fill probability (:func:`quoting.core.fill_prediction.reach_probability`). The probability is of a print within
[t + L, t + L + tau) (latency L, horizon tau), over which the excitation is still decaying: the Hawkes conditional
mean E[lambda(t + s) | F_t] = lambda_bar + (lambda(t) - lambda_bar) e^{-(beta - alpha) s} gives the expected
multiplier over that window, 1 + (m(t) - 1) w with w = (e^{-(beta-alpha) L} - e^{-(beta-alpha)(L + tau)}) /
((beta - alpha) tau) (:meth:`HawkesIntensity.horizon_weight`, :func:`expected_multiplier`), which scales the cumulated
reach intensity.

lambda(t) is computed causally by the O(1) recursion of Ozaki (1979, Ann. Inst. Stat. Math. 31:145-155): the
excitation S = sum alpha e^{-beta (t - t_i)} decays by e^{-beta dt} between events and jumps by alpha at each. The two
steps :func:`excite` and :func:`intensity_multiplier` are the only arithmetic: the backtest and the walk-forward's
interval quotes call them over a whole tape (:func:`intensity_multipliers`), the live quoter one trade at a time
(:class:`TakerOrderIntensity`), so both give the same m on the same tape. An event is one taker order: the prints
of one order (same millisecond, aggressor side and taker) count once, as in the fit
(:func:`calibration.window_fits.order_arrival_times`); an event stamped t counts from t on (it is known at t).
Times are UTC epoch ms; mu, alpha, beta per second.

The model in the project's words, with its papers: ``docs/hawkes.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from data_lake.units import SECOND_MS


@dataclass(frozen=True)
class HawkesIntensity:
    """A fitted exponential Hawkes process of taker-order arrivals (both sides pooled), per second."""

    mu: float
    """Baseline arrival rate, orders per second (> 0)."""
    alpha: float
    """Jump of the intensity at each order, per second (>= 0)."""
    beta: float
    """Decay rate of the excitation, per second (> alpha: stationary)."""

    def __post_init__(self) -> None:
        if not (self.mu > 0.0 and self.alpha >= 0.0 and self.beta > self.alpha and math.isfinite(self.beta)):
            raise ValueError(f"need mu > 0, 0 <= alpha < beta < inf, got {self.mu}, {self.alpha}, {self.beta}")

    @property
    def branching_ratio(self) -> float:
        return self.alpha / self.beta

    @property
    def mean_intensity(self) -> float:
        """lambda_bar = mu / (1 - n), orders per second."""
        return self.mu / (1.0 - self.branching_ratio)

    def horizon_weight(self, latency_ms: float, horizon_ms: float) -> float:
        """w: the share of an excess m(t) - 1 that remains, on average, over [t + latency, t + latency + horizon)."""
        rate = (self.beta - self.alpha) / SECOND_MS
        return (math.exp(-rate * latency_ms) - math.exp(-rate * (latency_ms + horizon_ms))) / (rate * horizon_ms)


@njit(cache=True)
def expected_multiplier(multiplier: float, horizon_weight: float) -> float:
    """The mean multiplier over a scored window, 1 + (m(t) - 1) w: what scales the predicted reach intensity."""
    return 1.0 + (multiplier - 1.0) * horizon_weight


@njit(cache=True)
def excite(excitation: float, last_ms: float, event_ms: float, alpha: float, beta: float) -> float:
    """The excitation just after an event at ``event_ms``: the one after the last event (at ``last_ms``) decayed,
    plus alpha."""
    return excitation * math.exp(-beta * (event_ms - last_ms) / SECOND_MS) + alpha


@njit(cache=True)
def intensity_multiplier(
    excitation: float, last_ms: float, now_ms: float, mu: float, beta: float, mean_intensity: float
) -> float:
    """m(now) = (mu + excitation decayed from ``last_ms`` to ``now_ms``) / lambda_bar."""
    return (mu + excitation * math.exp(-beta * max(now_ms - last_ms, 0.0) / SECOND_MS)) / mean_intensity


@njit(cache=True)
def _multipliers(
    events_ms: np.ndarray, at_ms: np.ndarray, mu: float, alpha: float, beta: float, mean_intensity: float
) -> np.ndarray:  # pragma: no cover - compiled
    out = np.empty(at_ms.shape[0])
    excitation, last_ms, j = 0.0, 0.0, 0
    for i in range(at_ms.shape[0]):
        while j < events_ms.shape[0] and events_ms[j] <= at_ms[i]:
            excitation = excite(excitation, last_ms, events_ms[j], alpha, beta)
            last_ms = events_ms[j]
            j += 1
        out[i] = intensity_multiplier(excitation, last_ms, at_ms[i], mu, beta, mean_intensity)
    return out


def intensity_multipliers(events_ms: np.ndarray, at_ms: np.ndarray, hawkes: HawkesIntensity) -> np.ndarray:
    """m(t) at each of the sorted ``at_ms`` from the sorted taker-order times ``events_ms`` up to and including t,
    the excitation starting empty before the first event (as the live quoter starts)."""
    events = np.ascontiguousarray(events_ms, dtype=np.float64)
    at = np.ascontiguousarray(at_ms, dtype=np.float64)
    if np.any(np.diff(events) < 0) or np.any(np.diff(at) < 0):
        raise ValueError("event and query times must be sorted")
    return _multipliers(events, at, hawkes.mu, hawkes.alpha, hawkes.beta, hawkes.mean_intensity)


class TakerOrderIntensity:
    """The live quoter's lambda(t): updated on each market print, the prints of one taker order counted once."""

    def __init__(self, hawkes: HawkesIntensity) -> None:
        self.hawkes = hawkes
        self.excitation = 0.0
        self.last_ms = 0.0
        self._orders_at_last: set[tuple[int, str]] = set()

    def on_trade(self, time_ms: int, side: int, taker: str) -> None:
        """Take one print (aggressor ``side`` +1 buy / -1 sell, ``taker`` its taker's address or hash); prints older
        than the last order are late and ignored (the recursion only moves forward)."""
        if time_ms < self.last_ms or (time_ms == self.last_ms and (side, taker) in self._orders_at_last):
            return
        if time_ms > self.last_ms:
            self._orders_at_last.clear()
        self._orders_at_last.add((side, taker))
        h = self.hawkes
        self.excitation = excite(self.excitation, self.last_ms, float(time_ms), h.alpha, h.beta)
        self.last_ms = float(time_ms)

    def multiplier(self, now_ms: int) -> float:
        """m(now) = lambda(now) / lambda_bar."""
        h = self.hawkes
        return intensity_multiplier(self.excitation, self.last_ms, float(now_ms), h.mu, h.beta, h.mean_intensity)
