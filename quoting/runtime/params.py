"""The quoter's view of the promoted parameter set: GLFT inputs, the regime HMM, limits, and hot reload.

A set is stale when its training window ended more than ``max_age_s`` seconds ago (the market it describes
is that old); the quoter refuses it at load and must stop quoting with it at ``expires_at_ms``. Staleness cannot
be opted out of: a window that ends in the future (beyond :data:`MAX_CLOCK_SKEW_MS`) is refused too, since its
age would be negative and its expiry pushed out by whatever it claims (the schema already refuses times past 2100).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calibration.regimes import RegimeFilter, RegimeParams
from data_lake import param_registry as registry
from data_lake.param_schema import InvalidParameterSet
from quoting.core.fill_prediction import ReachModel
from quoting.core.glft import MarketModel, QuotePolicy
from quoting.core.policy_inputs import quoting_inputs

RACY_WINDOW_NS = 2_000_000_000
"""A pointer modified this recently is re-read even when its stat looks unchanged (coarse mtime clocks)."""


MAX_CLOCK_SKEW_MS = 300_000
"""A training window may end at most this far after the quoter's clock (clock skew between pipeline and quoter)."""


class StaleParameterSet(RuntimeError):
    """The promoted set's training window ended more than the allowed age ago, or claims to end in the future."""


def window_end_problem(window_end_ms: int, now_ms: int) -> str | None:
    """Why a window ending at ``window_end_ms`` cannot be quoted with at ``now_ms`` for being in the future, or None."""
    ahead_ms = window_end_ms - now_ms
    if ahead_ms > MAX_CLOCK_SKEW_MS:
        return (
            f"its training window ends {ahead_ms / 1000:.0f} s in the future (at most {MAX_CLOCK_SKEW_MS / 1000:.0f} s "
            "of clock skew is allowed): a forged window or a wrong clock"
        )
    return None


@dataclass(frozen=True, eq=False)
class QuotingParams:
    """A promoted set converted for quoting.core.glft, with the pointer it came from."""

    coin: str
    param_set_id: str
    version: int
    """Promotion pointer version."""
    sha256: str
    promoted_at_ms: int
    window_end_ms: int
    expires_at_ms: int
    """window_end_ms + max_age_s: quote nothing with this set from then on."""
    model: MarketModel
    policy: QuotePolicy
    regime: RegimeParams
    daily_loss_limit_quote: float
    adverse_bps_by_regime: np.ndarray | None
    """Expected adverse selection of a maker fill per HMM state (``regime.state_names`` order), bps (> 0 = cost);
    None for a set that carries none."""
    reach: ReachModel | None
    """The fill-probability model (HMM state order); None for a set that carries none."""
    requote_interval_ms: int
    """Least time between two quoting decisions, ms (the interval the set was validated with)."""

    def regime_filter(self) -> RegimeFilter:
        """A causal filter on the promoted HMM, started from its stationary distribution (mid-stream start)."""
        return RegimeFilter(self.regime, initial=self.regime.stationary())


def to_quoting_params(promoted: registry.PromotedSet, max_age_s: float, now_ms: int) -> QuotingParams:
    """Convert a promoted set; raises StaleParameterSet past its age and InvalidParameterSet if glft refuses it."""
    ps, p = promoted.param_set, promoted.param_set.parameters
    future = window_end_problem(ps.window_end_ms, now_ms)
    if future is not None:
        raise StaleParameterSet(f"{ps.coin}: set {ps.param_set_id} refused: {future}")
    expires_at_ms = ps.window_end_ms + int(max_age_s * 1000)
    if now_ms >= expires_at_ms:
        age_s = (now_ms - ps.window_end_ms) / 1000
        raise StaleParameterSet(
            f"{ps.coin}: set {ps.param_set_id} describes a window that ended {age_s:.0f} s ago (max {max_age_s:.0f} s)"
        )
    try:
        inputs = quoting_inputs(p)
    except ValueError as exc:
        raise InvalidParameterSet(f"{ps.coin}: set {ps.param_set_id} refused by the quote policy: {exc}") from exc
    return QuotingParams(
        coin=ps.coin,
        param_set_id=ps.param_set_id,
        version=promoted.pointer.version,
        sha256=promoted.pointer.sha256,
        promoted_at_ms=promoted.pointer.promoted_at_ms,
        window_end_ms=ps.window_end_ms,
        expires_at_ms=expires_at_ms,
        model=inputs.model,
        policy=inputs.policy,
        regime=inputs.regime,
        daily_loss_limit_quote=p.daily_loss_limit_quote,
        adverse_bps_by_regime=inputs.adverse_bps_by_regime,
        reach=inputs.reach,
        requote_interval_ms=inputs.requote_interval_ms,
    )


def load_for_quoting(lake_root: str | Path, coin: str, max_age_s: float, *, now_ms: int | None = None) -> QuotingParams:
    """The promoted set of ``coin`` ready for quoting.

    Raises NoPromotedSet, InvalidParameterSet (schema, range or hash) or StaleParameterSet.
    """
    now = registry.now_ms() if now_ms is None else now_ms
    return to_quoting_params(registry.load_promoted(lake_root, coin), max_age_s, now)


class PromotionWatcher:
    """Follows the promotion pointer of one coin: call :meth:`poll` every loop (one stat when nothing changed).

    A changed pointer is loaded in full; if that set is missing, invalid or stale, :attr:`current` keeps the
    last good set and :attr:`last_error` says why (that pointer is not retried). "Changed" is keyed on the
    pointer's content, not its version alone, and an unreadable pointer forgets what was seen: when the file is
    repaired, even byte for byte, the set is loaded again and the error cleared.
    """

    def __init__(self, lake_root: str | Path, coin: str, max_age_s: float):
        self.lake_root = lake_root
        self.coin = coin
        self.max_age_s = max_age_s
        self.current: QuotingParams | None = None
        self.last_error: Exception | None = None
        self._stamp: tuple[int, ...] | None = None
        self._seen: registry.Pointer | None = None

    def poll(self, *, now_ms: int | None = None) -> bool:
        """Reload if a new set was promoted since the last poll; True when :attr:`current` changed."""
        try:
            stamp = registry.pointer_stamp(self.lake_root, self.coin)
            if stamp is None:
                return False
            if stamp == self._stamp and time.time_ns() - stamp[0] > RACY_WINDOW_NS:
                return False
            self._stamp = stamp
            pointer = registry.read_pointer(self.lake_root, self.coin)
        except InvalidParameterSet as exc:
            self._seen, self.last_error = None, exc
            if isinstance(exc, registry.UnreadableRegistryFile):
                self._stamp = None  # an I/O failure may pass without the file changing: look again next poll
            return False
        if pointer is None or pointer == self._seen:
            return False
        self._seen = pointer
        try:
            params = load_for_quoting(self.lake_root, self.coin, self.max_age_s, now_ms=now_ms)
        except (InvalidParameterSet, StaleParameterSet, registry.NoPromotedSet) as exc:
            self.last_error = exc
            return False
        self._seen = registry.Pointer(params.param_set_id, params.version, params.promoted_at_ms, params.sha256)
        self.current, self.last_error = params, None
        return True
