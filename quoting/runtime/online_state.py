"""Causal market state from the mid: EWMA volatility on 1 s bars and the regime filter on 1 min bars.

Bars follow ``calibration.bars`` on the exchange clock (epoch ms): a bar's mid is the last mid seen in it, carried
forward over bars without one; a 1 s return is ``ln(mid_s / mid_{s-1})``. The EWMA variance (per second, squared
log return) is the RiskMetrics recursion of ``calibration.volatility.ewma_variance``,
``v = lam * v + (1 - lam) * r**2`` with ``lam = 0.5 ** (1 / half_life_s)``, started from the promoted sigma.
A 1 min bar gives the regime features of ``calibration.regimes.regime_features``: its log return against the
previous minute's mid and the log of its realized variance (sum of its sixty squared 1 s returns; a zero RV is
floored at the smallest positive RV seen so far, or missing before any). The first, partial minute only sets the
reference mid. The belief is the filtered P(state | closed minutes), as the backtest's causal beliefs. A set with the
Hawkes component also follows the taker-order arrival intensity (:class:`TradeIntensity`), updated on each market trade.
"""

from __future__ import annotations

import math

import numpy as np

from calibration.regimes import RegimeFilter, RegimeParams
from data_lake.units import MINUTE_MS, SECOND_MS
from quoting.core.hawkes_intensity import HawkesIntensity, TakerOrderIntensity

MAX_GAP_S = 3_600
"""A gap in mids longer than this restarts the bars (and the EWMA from its prior) instead of stepping over it."""
FEATURES = ("log_return", "log_rv")


class MidBars:
    """1 s and 1 min bars of the mid with the EWMA variance; :meth:`update` returns the closed minutes' features."""

    def __init__(self, half_life_s: float) -> None:
        self.lam = 0.5 ** (1.0 / half_life_s)
        self.variance = math.nan
        """EWMA variance of 1 s log returns (per second)."""
        self._prior_variance = math.nan
        self._second = -1
        self._second_mid = math.nan
        self._prev_second_mid = math.nan
        self._minute = -1
        self._minute_ref_mid = math.nan
        self._minute_rv = 0.0
        self._min_positive_rv = math.inf

    def seed(self, variance: float) -> None:
        """The prior variance (per second) used before and after a restart of the bars."""
        self._prior_variance = variance
        if not self.variance > 0.0:
            self.variance = variance

    def sigma_px(self, mid: float) -> float:
        """EWMA volatility in price units per sqrt(second) at ``mid``."""
        return mid * math.sqrt(self.variance)

    def update(self, mid: float, time_ms: int) -> list[tuple[float, float]]:
        """Take the mid seen at exchange ``time_ms``; returns (log_return, log_rv) of each minute it closed."""
        second = time_ms // SECOND_MS
        if self._second < 0 or second - self._second > MAX_GAP_S or second < self._second:
            self._restart(second, time_ms // MINUTE_MS, mid)
            return []
        closed: list[tuple[float, float]] = []
        if second > self._second:
            closed = self._close_seconds(second)
        self._second_mid = mid
        return closed

    def _restart(self, second: int, minute: int, mid: float) -> None:
        self.variance = self._prior_variance
        self._second, self._second_mid, self._prev_second_mid = second, mid, mid
        self._minute, self._minute_ref_mid, self._minute_rv = minute, math.nan, 0.0

    def _close_seconds(self, second: int) -> list[tuple[float, float]]:
        """Close every second before ``second``: the last one with a mid, the rest with a zero return."""
        closed = self._add(self._second, math.log(self._second_mid / self._prev_second_mid))
        self._prev_second_mid = self._second_mid
        for s in range(self._second + 1, second):
            closed += self._add(s, 0.0)
        self._second = second
        return closed + self._enter_minute(second // 60)

    def _add(self, second: int, r: float) -> list[tuple[float, float]]:
        closed = self._enter_minute(second // 60)
        self.variance = self.lam * self.variance + (1.0 - self.lam) * r * r
        self._minute_rv += r * r
        return closed

    def _enter_minute(self, minute: int) -> list[tuple[float, float]]:
        if minute <= self._minute:
            return []
        self._minute = minute
        return self._close_minute()

    def _close_minute(self) -> list[tuple[float, float]]:
        """The finished minute's features (none for the first, partial one); ``_prev_second_mid`` is its last mid."""
        end_mid, rv, ref = self._prev_second_mid, self._minute_rv, self._minute_ref_mid
        self._minute_ref_mid, self._minute_rv = end_mid, 0.0
        if math.isnan(ref):
            return []
        if rv > 0.0:
            self._min_positive_rv = min(self._min_positive_rv, rv)
        floored = max(rv, self._min_positive_rv)
        return [(math.log(end_mid / ref), math.log(floored) if math.isfinite(floored) else math.nan)]


class RegimeTracker:
    """The causal regime filter of a promoted HMM fed with closed minutes; counts the minutes it has seen.

    A reloaded HMM with the same states carries the belief and the count over (``belief``, ``minutes``); otherwise
    the filter starts from the chain's stationary distribution.
    """

    def __init__(self, params: RegimeParams, belief: np.ndarray | None = None, minutes: int = 0) -> None:
        if set(params.feature_names) - set(FEATURES):
            raise ValueError(f"the quoter computes features {FEATURES}, the HMM wants {params.feature_names}")
        self._columns = [FEATURES.index(name) for name in params.feature_names]
        self.filter = RegimeFilter(params, initial=params.stationary() if belief is None else belief)
        self.belief = self.filter.belief
        self.minutes = minutes

    def update(self, features: tuple[float, float]) -> None:
        self.belief = self.filter.update(np.asarray(features)[self._columns])
        self.minutes += 1


class TradeIntensity:
    """The Hawkes intensity multiplier m(t) of a set with that component, fed with the coin's ``trades`` frames.

    Each print is one event of its taker order (the buyer of a buy, the seller of a sell, from the frame's ``users``;
    the transaction hash where they are missing), so a sweep counts once, as in the fit. A print without a usable
    time or side is skipped (it cannot be placed in the recursion) and counted in ``skipped``.
    """

    def __init__(self, hawkes: HawkesIntensity) -> None:
        self.orders = TakerOrderIntensity(hawkes)
        self.skipped = 0

    @property
    def hawkes(self) -> HawkesIntensity:
        return self.orders.hawkes

    def on_trades(self, trades: list[dict], coin: str) -> None:
        """Apply the prints of ``coin`` in one ``trades`` frame."""
        for trade in trades:
            if not isinstance(trade, dict) or trade.get("coin") != coin:
                continue
            raw_side = trade.get("side")
            side = 1 if raw_side == "B" else -1 if raw_side == "A" else None
            time_ms = trade.get("time")
            if side is None or not isinstance(time_ms, int):
                self.skipped += 1
                continue
            users = trade.get("users")
            taker = users[0 if side > 0 else 1] if isinstance(users, list) and len(users) == 2 else trade.get("hash")
            self.orders.on_trade(time_ms, side, str(taker))

    def multiplier(self, now_ms: int) -> float:
        return self.orders.multiplier(now_ms)
