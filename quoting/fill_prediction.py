"""The predicted probability that a resting quote is reached: the one formula the backtest, the quoter's logs and
the promotion gate share.

The event predicted is the event counted: a market print at or through the quote's price (a sell print at or
below our bid, a buy print at or above our ask) within ``horizon_ms`` after the quote lands, ``latency_ms`` after
the decision. The price is fixed while the mid moves, so the static ``1 - exp(-A e^(-kappa d) tau)`` of the depth
at the decision under-predicts (``e^(-kappa d)`` is convex in the mid's move; the more so the higher sigma). Per
regime r, with d the quote's depth from the decision's mid in bps::

    P_r(d) = 1 - exp(-exp(intercept_r - slope_r * d))

a complementary log-log curve: the form ``1 - exp(-Lambda)`` of a Poisson reach with cumulated intensity
``Lambda = exp(intercept - slope d)``, which the exact fixed-price intensity ``A e^(-kappa d) E[e^(kappa dM)]``
keeps (the mid's move only scales Lambda). The coefficients are fitted on the training window's own
reach events (:func:`calibration.fill_probability.fit_reach_curves`); the prediction under a causal belief b is
``sum_r b_r P_r(d)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit


@dataclass(frozen=True)
class ReachModel:
    """Per-regime reach curves (belief order) and the horizon and latency they predict for."""

    intercept_by_regime: tuple[float, ...]
    """log of the cumulated reach intensity at depth 0 over the horizon."""
    slope_per_bps_by_regime: tuple[float, ...]
    """Decay of log intensity per bps of depth from the decision's mid."""
    horizon_ms: int
    latency_ms: int

    def __post_init__(self) -> None:
        if len(self.intercept_by_regime) != len(self.slope_per_bps_by_regime):
            raise ValueError("one intercept and one slope per regime")
        if self.horizon_ms <= 0 or self.latency_ms < 0:
            raise ValueError("horizon_ms must be > 0 and latency_ms >= 0")
        if not all(math.isfinite(x) for x in (*self.intercept_by_regime, *self.slope_per_bps_by_regime)):
            raise ValueError("reach curve coefficients must be finite")

    @property
    def intercepts(self) -> np.ndarray:
        return np.asarray(self.intercept_by_regime, dtype=np.float64)

    @property
    def slopes(self) -> np.ndarray:
        return np.asarray(self.slope_per_bps_by_regime, dtype=np.float64)

    def probability(self, depth_bps: float, belief: np.ndarray) -> float:
        """P(reached within the horizon) of a quote ``depth_bps`` from the decision's mid under ``belief``."""
        return reach_probability(depth_bps, np.asarray(belief, dtype=np.float64), self.intercepts, self.slopes)


@njit(cache=True)
def reach_probability(depth_bps: float, belief: np.ndarray, intercepts: np.ndarray, slopes: np.ndarray) -> float:
    """sum_r belief_r * (1 - exp(-exp(intercept_r - slope_r * depth_bps))); NaN for a non-finite depth."""
    if not math.isfinite(depth_bps):
        return math.nan
    total = 0.0
    for r in range(intercepts.shape[0]):
        total += belief[r] * -math.expm1(-math.exp(min(intercepts[r] - slopes[r] * depth_bps, 50.0)))
    return total


def depth_bps(px: float, mid: float) -> float:
    """Distance of a quote price from the mid, bps of mid (>= 0 for a passive quote)."""
    return abs(px - mid) / mid * 1e4
