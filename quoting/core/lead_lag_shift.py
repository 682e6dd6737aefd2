"""The lead-lag component of the quote: the follower's fair value moves with its leader's most recent move.

A follower whose mid answers its leader's log moves ``lag_ms`` later with coefficient ``beta``
(:mod:`calibration.lead_lag`) has, at time t, still to show ``beta`` times the leader's move of the last ``lag_ms``:

    r(t) = log L(t) - log L(t - lag_ms)            (leader mids as of each instant: the last at or before it)
    fair(t) = mid(t) * exp(beta * r(t))

The quote is then centred on ``fair`` instead of ``mid`` (:func:`quoting.core.glft.quote`; the backtest and the
walk-forward's interval quotes use the very same :func:`lead_lag_fair_value`, and r always comes from
:func:`leader_log_returns`: over the lake's leader mids in the backtest, over :class:`LeaderMids`' recent history in
the live quoter). A leader mid more than ``max_age_ms`` older than its instant (a stale or missing leader feed)
gives no r: the quote falls back to the mid. Times are UTC epoch ms, mids quote currency, r a log return.

Protection: a sharp leader move is one the linear shift should not be trusted with (the follower may jump, overshoot
or lag differently). When, at an update of the leader's mid, |r| exceeds ``pull_k`` standard deviations of r
(``move_sd``, fitted on the training window's leader mids), both sides are pulled for ``hold_ms`` from that update
(:func:`is_sharp_move`, :func:`leader_pulls` over a tape, :meth:`LeaderMids.pulled` live: the same rule).

The model in the project's words, with its papers: ``docs/lead-lag.md``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from quoting.core.book import Book


@dataclass(frozen=True)
class LeadLagShift:
    """The fitted lead-lag a policy quotes with: which coin leads, by how long, and the follower's response."""

    leader: str
    lag_ms: int
    """How long after a leader move the follower shows it, ms (> 0)."""
    beta: float
    """Follower log move per unit log move of the leader."""
    max_age_ms: int = 3_000
    """Oldest leader mid still used, ms (the quoter's stale-feed limit)."""
    move_sd: float = 0.0
    """Standard deviation of r on the training window (log return over ``lag_ms``); 0: no protective pull."""
    pull_k: float = 3.0
    """A leader move with |r| > pull_k * move_sd is sharp and pulls both sides."""
    hold_ms: int = 5_000
    """How long a sharp leader move keeps the quotes pulled, ms."""

    @property
    def pull_threshold(self) -> float:
        """|r| above which a leader move is sharp (inf: no protective pull)."""
        return self.pull_k * self.move_sd if self.move_sd > 0.0 else math.inf

    def __post_init__(self) -> None:
        if not self.leader:
            raise ValueError("a lead-lag shift needs its leader's coin name")
        if self.lag_ms <= 0 or self.max_age_ms <= 0:
            raise ValueError(f"lag_ms and max_age_ms must be > 0, got {self.lag_ms} and {self.max_age_ms}")
        if not math.isfinite(self.beta):
            raise ValueError(f"beta must be finite, got {self.beta}")
        if not (self.move_sd >= 0.0 and math.isfinite(self.move_sd) and self.pull_k > 0.0 and self.hold_ms >= 0):
            raise ValueError(
                f"need move_sd >= 0, pull_k > 0, hold_ms >= 0, got {self.move_sd}, {self.pull_k}, {self.hold_ms}"
            )


@njit(cache=True)
def lead_lag_fair_value(mid: float, leader_log_return: float, beta: float) -> float:
    """``mid * exp(beta * r)``; the mid itself when r is unknown (NaN) or beta is 0."""
    if beta == 0.0 or not math.isfinite(leader_log_return):
        return mid
    return mid * math.exp(beta * leader_log_return)


def leader_log_returns(
    times_ms: np.ndarray, mids: np.ndarray, at_ms: np.ndarray, lag_ms: int, max_age_ms: int
) -> np.ndarray:
    """r(t) for every t of ``at_ms``: the leader's log return from its mid as of t - lag to its mid as of t, NaN
    where either is missing or more than ``max_age_ms`` older than its instant. ``times_ms``/``mids``: the leader's
    mids sorted by time."""
    times = np.asarray(times_ms, dtype=np.int64)
    logs = np.log(np.asarray(mids, dtype=np.float64))
    at = np.asarray(at_ms, dtype=np.int64)

    def as_of(instants: np.ndarray) -> np.ndarray:
        rows = np.searchsorted(times, instants, side="right") - 1
        fresh = (rows >= 0) & (instants - times[np.maximum(rows, 0)] <= max_age_ms)
        return np.where(fresh, logs[np.maximum(rows, 0)], np.nan)

    if times.size == 0:
        return np.full(at.size, np.nan)
    return as_of(at) - as_of(at - lag_ms)


def is_sharp_move(leader_log_return: float, shift: LeadLagShift) -> bool:
    """Whether a leader move of log return r over the lag is sharp: |r| > pull_k * move_sd (NaN r: not)."""
    return abs(leader_log_return) > shift.pull_threshold


def within_hold(last_sharp_ms: float, now_ms: float, shift: LeadLagShift) -> bool:
    """Whether ``now_ms`` is within the hold of the last sharp leader move (at ``last_sharp_ms``, NaN: none)."""
    return 0.0 <= now_ms - last_sharp_ms < shift.hold_ms


def leader_pulls(times_ms: np.ndarray, mids: np.ndarray, at_ms: np.ndarray, shift: LeadLagShift) -> np.ndarray:
    """Per t of the sorted ``at_ms``, whether the quotes are pulled: a change of the leader's mid at or before t
    within the hold had a sharp r (:func:`is_sharp_move`, r from :func:`leader_log_returns` at that update)."""
    times = np.asarray(times_ms, dtype=np.int64)
    values = np.asarray(mids, dtype=np.float64)
    at = np.asarray(at_ms, dtype=np.int64)
    if times.size == 0 or not math.isfinite(shift.pull_threshold):
        return np.zeros(at.size, dtype=np.bool_)
    changed = np.concatenate([[True], values[1:] != values[:-1]])
    r = leader_log_returns(times, values, times[changed], shift.lag_ms, shift.max_age_ms)
    sharp_times = times[changed][np.abs(np.nan_to_num(r, nan=0.0)) > shift.pull_threshold].astype(np.float64)
    rows = np.searchsorted(sharp_times, at, side="right") - 1
    last = np.where(rows >= 0, sharp_times[np.maximum(rows, 0)] if sharp_times.size else 0.0, np.nan)
    return np.array([within_hold(s, float(t), shift) for s, t in zip(last, at, strict=True)], dtype=np.bool_)


class LeaderMids:
    """The live quoter's view of a lead-lag policy's leader: its book top from ``l2Book``/``bbo`` frames and the
    mids (stamped with their exchange time) still needed for r: the last ``lag_ms + max_age_ms``."""

    def __init__(self, shift: LeadLagShift) -> None:
        self.shift = shift
        self.book = Book(depth=False)
        self._times: deque[int] = deque()
        self._mids: deque[float] = deque()
        self.last_sharp_ms = math.nan
        """Exchange time of the last leader update with a sharp move (NaN: none yet)."""

    @property
    def coin(self) -> str:
        return self.shift.leader

    def on_book(self, channel: str, data: dict[str, Any]) -> bool:
        """Apply one of the leader's book frames; True when its mid changed."""
        accepted = self.book.update_l2(data) if channel == "l2Book" else self.book.update_bbo(data)
        mid = self.book.mid
        if not accepted or not mid > 0.0:
            return False
        changed = not self._mids or mid != self._mids[-1]
        self._times.append(self.book.top_time_ms)
        self._mids.append(mid)
        horizon = self.book.top_time_ms - self.shift.lag_ms - self.shift.max_age_ms
        while len(self._times) > 1 and self._times[1] <= horizon:
            self._times.popleft()
            self._mids.popleft()
        if changed and is_sharp_move(self.log_return(self.book.top_time_ms), self.shift):
            self.last_sharp_ms = float(self.book.top_time_ms)
        return changed

    def log_return(self, now_ms: int) -> float:
        """r(now): the leader's log move over the last ``lag_ms`` (NaN when unknown or stale)."""
        if not self._times:
            return math.nan
        times = np.fromiter(self._times, np.int64, len(self._times))
        mids = np.fromiter(self._mids, np.float64, len(self._mids))
        return float(leader_log_returns(times, mids, np.array([now_ms]), self.shift.lag_ms, self.shift.max_age_ms)[0])

    def pulled(self, now_ms: int) -> bool:
        """Whether a sharp leader move within the hold pulls the quotes now."""
        return within_hold(self.last_sharp_ms, float(now_ms), self.shift)
