"""The predicted probability that a resting quote is reached: the one formula the backtest, the quoter's logs and
the promotion gate share.

The event predicted is the event counted: a market print at or through the quote's price (a sell print at or
below our bid, a buy print at or above our ask) within ``horizon_ms`` after the quote lands, ``latency_ms`` after
the decision. The price is fixed while the mid moves, so the static ``1 - exp(-A e^(-kappa d) tau)`` of the depth
at the decision under-predicts (``e^(-kappa d)`` is convex in the mid's move; the more so the higher sigma). Per
regime r, with d the quote's depth from the decision's mid in bps::

    P_r(d) = 1 - exp(-exp(intercept_r - slope_r * d))

a complementary log-log curve: the form ``1 - exp(-Lambda)`` of a Poisson reach with cumulated intensity
``Lambda``, whose log is piecewise linear in d between shared depth knots (linear beyond the end knots). The
exact fixed-price intensity ``A e^(-kappa d) E[e^(kappa dM)]`` makes log Lambda linear in d; the knots let the
curve follow what the price grid and the queue at the touch do to it. A policy with the Hawkes component scales
Lambda by the arrival-intensity multiplier m(t) known at the decision (:mod:`quoting.core.hawkes_intensity`; its curves
are fitted with log m as an offset). The values at the knots are fitted on the
training window's own reach events (:func:`calibration.fill_probability.fit_reach_curves`); the prediction
under a causal belief b is ``sum_r b_r P_r(d)``.

The model in the project's words, with its papers: ``docs/fill-intensity.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit


@dataclass(frozen=True)
class ReachModel:
    """Per-regime reach curves (belief order) and the horizon and latency they predict for."""

    knots_bps: tuple[float, ...]
    """Depths from the decision's mid, bps, increasing (at least two)."""
    log_intensity_by_regime: tuple[tuple[float, ...], ...]
    """Per regime, log of the cumulated reach intensity over the horizon at each knot."""
    horizon_ms: int
    latency_ms: int

    def __post_init__(self) -> None:
        knots = np.asarray(self.knots_bps, dtype=np.float64)
        if knots.size < 2 or not np.all(np.diff(knots) > 0):
            raise ValueError("need at least two increasing depth knots")
        if any(len(v) != knots.size for v in self.log_intensity_by_regime):
            raise ValueError("one log intensity per knot and regime")
        if self.horizon_ms <= 0 or self.latency_ms < 0:
            raise ValueError("horizon_ms must be > 0 and latency_ms >= 0")
        if not np.all(np.isfinite(self.log_intensities)) or not np.all(np.isfinite(knots)):
            raise ValueError("reach curve values must be finite")

    @property
    def knots(self) -> np.ndarray:
        return np.asarray(self.knots_bps, dtype=np.float64)

    @property
    def log_intensities(self) -> np.ndarray:
        """(regimes x knots)."""
        return np.asarray(self.log_intensity_by_regime, dtype=np.float64).reshape(-1, len(self.knots_bps))

    def probability(self, depth_bps: float, belief: np.ndarray, intensity_multiplier: float = 1.0) -> float:
        """P(reached within the horizon) of a quote ``depth_bps`` from the decision's mid under ``belief``, the
        reach intensity scaled by ``intensity_multiplier`` (:mod:`quoting.core.hawkes_intensity`; 1: as fitted)."""
        return reach_probability(
            depth_bps, np.asarray(belief, dtype=np.float64), self.knots, self.log_intensities, intensity_multiplier
        )


@njit(cache=True)
def _log_intensity(depth_bps: float, knots: np.ndarray, values: np.ndarray) -> float:
    """Linear interpolation of ``values`` at ``knots``, extended linearly beyond the first and last segment."""
    n = knots.shape[0]
    j = 0
    while j < n - 2 and depth_bps > knots[j + 1]:
        j += 1
    w = (depth_bps - knots[j]) / (knots[j + 1] - knots[j])
    return values[j] + w * (values[j + 1] - values[j])


@njit(cache=True)
def reach_probability(
    depth_bps: float, belief: np.ndarray, knots: np.ndarray, log_intensities: np.ndarray, intensity_multiplier: float
) -> float:
    """sum_r belief_r * (1 - exp(-m exp(log Lambda_r(depth_bps)))), m = ``intensity_multiplier`` (> 0, the Hawkes
    component's lambda(t) / lambda_bar, 1.0 without it); NaN for a non-finite depth or multiplier."""
    if not (math.isfinite(depth_bps) and intensity_multiplier > 0.0):
        return math.nan
    log_m = math.log(intensity_multiplier)
    total = 0.0
    for r in range(log_intensities.shape[0]):
        log_lambda = min(_log_intensity(depth_bps, knots, log_intensities[r]) + log_m, 50.0)
        total += belief[r] * -math.expm1(-math.exp(log_lambda))
    return total


@njit(cache=True)
def depth_bps(px: float, mid: float) -> float:
    """Distance of a quote price from the mid, bps of mid (>= 0 for a passive quote)."""
    return abs(px - mid) / mid * 1e4
