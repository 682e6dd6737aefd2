"""The GLFT quote: one pure function shared by the backtest, the paper quoter and the live quoter.

Gueant-Lehalle-Fernandez-Tapia asymptotic quotes (Gueant 2017 eq. 4.6-4.7, model A, xi = gamma):

    c1 = ln(1 + xi*D/kappa) / (xi*D)
    c2 = sqrt(gamma / (2*A*D*kappa) * (1 + xi*D/kappa) ** (kappa/(xi*D) + 1))
    half_spread = c1 + (D/2) * sigma * c2         skew = sigma * c2 (per unit of inventory)
    bid = mid - (half_spread + skew*q)            ask = mid + (half_spread - skew*q)

Units: mid, spreads, bid/ask in quote currency per base unit; sigma in price units per sqrt(second);
kappa per price unit; A per second; D (order size) and q in base units; gamma per unit of quote currency
(CARA on wealth), so gamma*D/kappa is dimensionless. Spread floors and fees are in bps of mid.

Costs per fill (Gueant 2017, section 5; hftbacktest's GLFT tutorial): a cost c per fill (price units) is the
cost-free problem with the intensity shifted to ``A' = A * exp(-kappa * c)`` (quoting c deeper costs exactly
that factor of fills), so c1 and c2 use A' and c is then added to each side. Adding c without shifting A
leaves c2 - the sigma term and the inventory skew - too small by ``exp(kappa * c / 2)``. c is the maker fee
plus, where the policy carries one, the belief-weighted expected adverse selection of a fill (the mean move of
the mid against a maker fill, bps: Cartea, Jaimungal & Penalva 2015, ch. 10 - an expected loss per fill
widens the optimal quote by exactly that loss, as a fee does).

The quote is centred on the mid, or on the lead-lag fair value when the policy carries a leader
(:mod:`quoting.core.lead_lag_shift`: the mid moved by beta times the leader's log move of the last lag ms, which the
follower has yet to show); fill costs, floors and the post-only clamp then apply around that centre. A sharp leader
move pulls both sides for the policy's hold time (:func:`quoting.core.lead_lag_shift.is_sharp_move`).

With the Hawkes component (``QuotePolicy.hawkes``) A is the fitted average times the multiplier m(t) = lambda(t) /
lambda_bar of the taker-order arrival intensity known at the decision (:mod:`quoting.core.hawkes_intensity`): a burst of
orders raises A, which narrows c2 (the sigma term and the skew), a lull widens them.

Around the formula, in this order: gamma is the belief-weighted sum of the per-regime gammas, then widened
for kappa's uncertainty, ``gamma * (1 + kappa_se_mult * kappa_se / kappa)`` (a noisy kappa is treated as
extra risk: with ``kappa_se_mult`` = 1 a kappa known to +-50% raises gamma by half); the GLFT half-spread
(with A') is floored at half the belief-weighted regime floor; one maker fee is added per side; a belief
mass above the pull threshold on the regimes the policy does not quote in pulls both sides; a side whose
fill could take |inventory| past the limit is sized down or pulled; a post-only side that would cross the known opposite
touch moves to the nearest valid price that does not; prices are rounded passively to Hyperliquid's grid; a side worth
under the minimum notional is pulled.

The compiled core :func:`glft_quote_core` takes two records and a few scalars and returns scalars, so the
backtest's and the scoring's compiled loops run the very same arithmetic; :func:`quote` wraps it for Python callers.
The records are ``NamedTuple``s, which numba compiles to plain structs (no reference counting per call): a
:class:`GlftInputs` of what is fixed for a policy (built once per policy), and a :class:`RegimeBlend` of the
belief-weighted values that change with the regime belief.

The model in the project's words, with its papers: ``docs/glft.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from data_lake.fees import MAKER_FEE_BPS
from quoting.core.exchange_rules import (
    AssetRules,
    meets_min_notional,
    price_strictly_inside,
    round_price,
    round_size,
)
from quoting.core.hawkes_intensity import HawkesIntensity
from quoting.core.lead_lag_shift import LeadLagShift, lead_lag_fair_value

BPS = 1e-4

# Why a side is not quoted (the core returns these codes; ``Quote`` carries the names).
QUOTED = 0
PULLED_INVALID_INPUT = 1
PULLED_REGIME = 2
PULLED_POSITION_LIMIT = 3
PULLED_NON_POSITIVE_PRICE = 4
PULLED_MIN_NOTIONAL = 5
PULLED_LEADER_MOVE = 6
PULL_REASONS = {
    PULLED_INVALID_INPUT: "invalid_input",
    PULLED_REGIME: "regime",
    PULLED_POSITION_LIMIT: "position_limit",
    PULLED_NON_POSITIVE_PRICE: "non_positive_price",
    PULLED_MIN_NOTIONAL: "min_notional",
    PULLED_LEADER_MOVE: "leader_move",
}

DEFAULT_REGIMES = ("calm", "volatile", "cascade")
"""Regime order of belief vectors, as in the lake's ``belief_calm``/``belief_volatile``/``belief_cascade``."""


@dataclass(frozen=True)
class MarketModel:
    """Calibrated market inputs of the quote (from a promoted parameter set and the live volatility)."""

    sigma: float
    """Mid volatility, price units per sqrt(second)."""
    kappa: float
    """Fill-intensity decay, per price unit: intensity at depth d is A*exp(-kappa*d)."""
    kappa_se: float
    """Standard error of kappa, per price unit."""
    arrival_rate: float
    """A, fills per second at zero depth."""


@dataclass(frozen=True)
class QuotePolicy:
    """Risk settings of the quoter: per-regime gamma and spread floor, limits, fees and exchange rules."""

    gamma_by_regime: tuple[float, ...]
    """CARA risk aversion per regime, per unit of quote currency, in the order of the belief vector."""
    min_spread_bps_by_regime: tuple[float, ...]
    """Floor on the GLFT full spread (ask - bid, before fees) per regime, bps of mid."""
    order_size: float
    """D, base units per quote."""
    position_limit: float
    """Largest |inventory| in base units."""
    rules: AssetRules
    pull_by_regime: tuple[bool, ...] | None = None
    """Per regime, True where the policy does not quote (its evidence showed no edge there); None = quote in all."""
    pull_threshold: float = 0.5
    """Pull both sides when the belief mass on the pulled regimes exceeds this."""
    kappa_se_mult: float = 1.0
    """k in gamma * (1 + k * kappa_se / kappa)."""
    maker_fee_bps: float = MAKER_FEE_BPS
    """Maker fee added to each side's distance from mid (Hyperliquid base tier 0.015%)."""
    sigma_by_regime: tuple[float, ...] | None = None
    """Mid volatility per regime, price units per sqrt(second), blended by the belief in place of the model's one
    sigma; None = the model's sigma in every regime."""
    adverse_cost_bps_by_regime: tuple[float, ...] | None = None
    """Expected adverse selection per fill by regime, bps of mid (> 0 = cost), part of the per-fill cost; None =
    not priced in."""
    lead_lag: LeadLagShift | None = None
    """The leader whose recent move shifts the fair value (:mod:`quoting.core.lead_lag_shift`); None = quote around the
    mid."""
    hawkes: HawkesIntensity | None = None
    """The taker-order arrival process whose intensity scales A (:mod:`quoting.core.hawkes_intensity`); None = A as
    fitted."""

    @property
    def lead_lag_beta(self) -> float:
        """beta of the fair-value shift, 0.0 without a leader (the compiled loops' form)."""
        return self.lead_lag.beta if self.lead_lag is not None else 0.0

    def __post_init__(self) -> None:
        if len(self.gamma_by_regime) != len(self.min_spread_bps_by_regime):
            raise ValueError("gamma_by_regime and min_spread_bps_by_regime need one entry per regime")
        if self.pull_by_regime is not None and len(self.pull_by_regime) != len(self.gamma_by_regime):
            raise ValueError("pull_by_regime needs one entry per regime")
        if self.sigma_by_regime is not None and len(self.sigma_by_regime) != len(self.gamma_by_regime):
            raise ValueError("sigma_by_regime needs one entry per regime")
        if self.adverse_cost_bps_by_regime is not None and len(self.adverse_cost_bps_by_regime) != len(
            self.gamma_by_regime
        ):
            raise ValueError("adverse_cost_bps_by_regime needs one entry per regime")
        if not 0.0 < self.pull_threshold <= 1.0:
            raise ValueError(f"pull_threshold {self.pull_threshold} is not a probability in (0, 1]")

    @property
    def gammas(self) -> np.ndarray:
        return np.asarray(self.gamma_by_regime, dtype=np.float64)

    @property
    def min_spreads_bps(self) -> np.ndarray:
        return np.asarray(self.min_spread_bps_by_regime, dtype=np.float64)

    def sigmas(self, model_sigma: float) -> np.ndarray:
        """Per regime, the sigma quoted with: ``sigma_by_regime``, else ``model_sigma`` in every regime."""
        return np.asarray(self.sigma_by_regime or (model_sigma,) * len(self.gamma_by_regime), dtype=np.float64)

    @property
    def fill_costs_bps(self) -> np.ndarray:
        """Per regime, the cost of a fill priced into the quote: maker fee + expected adverse selection, bps."""
        adverse = self.adverse_cost_bps_by_regime or (0.0,) * len(self.gamma_by_regime)
        return self.maker_fee_bps + np.asarray(adverse, dtype=np.float64)

    @property
    def pulled(self) -> np.ndarray:
        """1.0 for each regime the policy does not quote in, else 0.0 (the compiled loops' form)."""
        mask = self.pull_by_regime or (False,) * len(self.gamma_by_regime)
        return np.asarray(mask, dtype=np.float64)


class GlftInputs(NamedTuple):
    """What the compiled quote takes as fixed for a policy: the calibrated market model without sigma (which is
    blended by regime, :class:`RegimeBlend`), the policy's size, limit and kappa widening, and the exchange rules.
    Build it once per policy with :meth:`of`."""

    kappa: float
    """Fill-intensity decay, per price unit."""
    kappa_se: float
    """Standard error of kappa, per price unit."""
    arrival_rate: float
    """A, fills per second at zero depth, before the Hawkes multiplier."""
    kappa_se_mult: float
    """k in gamma * (1 + k * kappa_se / kappa)."""
    order_size: float
    """D, base units per quote."""
    position_limit: float
    """Largest |inventory|, base units."""
    sz_decimals: int
    is_spot: bool
    min_notional: float
    """Smallest order value, quote currency."""

    @classmethod
    def of(cls, model: MarketModel, policy: QuotePolicy) -> GlftInputs:
        """The record of ``model`` and ``policy``, with the types the compiled kernel is specialised for (one
        compilation for every policy)."""
        return cls(
            kappa=float(model.kappa),
            kappa_se=float(model.kappa_se),
            arrival_rate=float(model.arrival_rate),
            kappa_se_mult=float(policy.kappa_se_mult),
            order_size=float(policy.order_size),
            position_limit=float(policy.position_limit),
            sz_decimals=int(policy.rules.sz_decimals),
            is_spot=bool(policy.rules.is_spot),
            min_notional=float(policy.rules.min_notional),
        )


class RegimeBlend(NamedTuple):
    """The belief-weighted per-regime inputs of one quote (:func:`blend_regimes`)."""

    sigma: float
    """Mid volatility, price units per sqrt(second)."""
    gamma: float
    """CARA risk aversion, per unit of quote currency (before the kappa widening)."""
    min_spread_bps: float
    """Floor on the GLFT full spread, bps of mid."""
    fill_cost_bps: float
    """Cost of a fill priced into the quote (maker fee + expected adverse selection), bps of mid."""


@dataclass(frozen=True)
class Quote:
    """Two-sided quote. A pulled side has price None, size 0 and a reason; prices are exchange-valid."""

    bid_px: float | None
    ask_px: float | None
    bid_sz: float
    ask_sz: float
    half_spread: float
    """GLFT half-spread after floor and per-fill cost, price units (before inventory skew and rounding)."""
    skew: float
    """Price shift per base unit of inventory."""
    reservation_px: float
    """fair_value - skew * q."""
    gamma_used: float
    fair_value: float
    """The centre of the quote: the mid, or the mid shifted by the leader's recent move (price units)."""
    bid_reason: str | None = None
    ask_reason: str | None = None


@njit(cache=True)
def belief_weighted(belief: np.ndarray, per_regime: np.ndarray) -> float:
    """Sum over regimes of P(regime) * value: the blended gamma, floor or adverse-selection prediction."""
    total = 0.0
    for i in range(per_regime.shape[0]):
        total += belief[i] * per_regime[i]
    return total


@njit(cache=True)
def regime_pull(belief: np.ndarray, pulled: np.ndarray, threshold: float) -> bool:
    """Whether the causal belief mass on the regimes the policy does not quote in (``pulled`` = 1.0) is above
    ``threshold``."""
    return belief_weighted(belief, pulled) > threshold


@njit(cache=True)
def blend_regimes(
    belief: np.ndarray, sigmas: np.ndarray, gammas: np.ndarray, min_spreads_bps: np.ndarray, fill_costs_bps: np.ndarray
) -> RegimeBlend:
    """The per-regime sigma, gamma, floor and per-fill cost weighted by the regime ``belief``."""
    return RegimeBlend(
        belief_weighted(belief, sigmas),
        belief_weighted(belief, gammas),
        belief_weighted(belief, min_spreads_bps),
        belief_weighted(belief, fill_costs_bps),
    )


@njit(cache=True)
def widened_gamma(gamma: float, kappa: float, kappa_se: float, kappa_se_mult: float) -> float:
    """gamma * (1 + k * se(kappa)/kappa): more risk aversion the less we know how fills decay with depth."""
    return gamma * (1.0 + kappa_se_mult * kappa_se / kappa)


@njit(cache=True)
def glft_half_spread_and_skew(
    gamma: float, kappa: float, arrival_rate: float, order_size: float, sigma: float
) -> tuple[float, float]:
    """GLFT (xi = gamma) half-spread c1 + (D/2)*sigma*c2 and skew sigma*c2, in price units."""
    xi_d = gamma * order_size
    c1 = math.log(1.0 + xi_d / kappa) / xi_d
    c2 = math.sqrt(gamma / (2.0 * arrival_rate * order_size * kappa) * (1.0 + xi_d / kappa) ** (kappa / xi_d + 1.0))
    return c1 + 0.5 * order_size * sigma * c2, sigma * c2


@njit(cache=True)
def fee_shifted_arrival_rate(arrival_rate: float, kappa: float, cost: float) -> float:
    """A' = A * exp(-kappa * c): the intensity of the fee-free problem equivalent to a cost ``cost`` (price units)
    per fill."""
    return arrival_rate * math.exp(-kappa * cost)


@njit(cache=True)
def _finish_side(
    px: float,
    room: float,
    order_size: float,
    is_bid: bool,
    opposite_touch: float,
    sz_decimals: int,
    is_spot: bool,
    min_notional: float,
) -> tuple[float, float, int]:
    """Post-only clamp, passive rounding, size within ``room`` and the min-notional check of one side."""
    size = round_size(min(order_size, room), sz_decimals)
    if size <= 0.0:
        return math.nan, 0.0, PULLED_POSITION_LIMIT
    if opposite_touch > 0.0 and (px >= opposite_touch if is_bid else px <= opposite_touch):
        px = price_strictly_inside(opposite_touch, is_bid, sz_decimals, is_spot)
    px = round_price(px, is_bid, sz_decimals, is_spot)
    if not px > 0.0:
        return math.nan, 0.0, PULLED_NON_POSITIVE_PRICE
    if not meets_min_notional(px, size, sz_decimals, is_spot, min_notional):
        return math.nan, 0.0, PULLED_MIN_NOTIONAL
    return px, size, QUOTED


@njit(cache=True)
def glft_quote_core(
    inputs: GlftInputs,
    blend: RegimeBlend,
    mid: float,
    inventory: float,
    intensity_multiplier: float,
    pull: bool,
    best_bid: float,
    best_ask: float,
    open_bid_exposure: float,
    open_ask_exposure: float,
) -> tuple[float, float, float, float, float, float, float, int, int]:
    """Scalar GLFT quote (see module docstring) around ``mid`` (the fair value) for ``inventory``, with A times
    ``intensity_multiplier``; ``pull`` pulls both sides (regime or leader move).

    ``open_*_exposure`` is own size on that side that may still fill before this quote lands (an order
    being replaced), counted against the position limit. ``best_bid``/``best_ask`` <= 0 or NaN = unknown.
    Returns (bid_px, ask_px, bid_sz, ask_sz, half_spread, skew, gamma_used, bid_code, ask_code); a pulled
    side has NaN price, size 0 and a PULLED_* code.
    """
    kappa, order_size, sigma, gamma = inputs.kappa, inputs.order_size, blend.sigma, blend.gamma
    arrival_rate = inputs.arrival_rate * intensity_multiplier
    if not (
        mid > 0.0
        and sigma >= 0.0
        and kappa > 0.0
        and inputs.kappa_se >= 0.0
        and arrival_rate > 0.0
        and order_size > 0.0
        and gamma > 0.0
        and math.isfinite(inventory)
    ):
        return (math.nan, math.nan, 0.0, 0.0, math.nan, math.nan, math.nan, PULLED_INVALID_INPUT, PULLED_INVALID_INPUT)
    gamma_used = widened_gamma(gamma, kappa, inputs.kappa_se, inputs.kappa_se_mult)
    cost = blend.fill_cost_bps * BPS * mid
    half_spread, skew = glft_half_spread_and_skew(
        gamma_used, kappa, fee_shifted_arrival_rate(arrival_rate, kappa, cost), order_size, sigma
    )
    half_spread = max(half_spread, 0.5 * blend.min_spread_bps * BPS * mid) + cost
    if pull:
        return (math.nan, math.nan, 0.0, 0.0, half_spread, skew, gamma_used, PULLED_REGIME, PULLED_REGIME)
    bid_px, bid_sz, bid_code = _finish_side(
        mid - (half_spread + skew * inventory),
        inputs.position_limit - inventory - open_bid_exposure,
        order_size,
        True,
        best_ask,
        inputs.sz_decimals,
        inputs.is_spot,
        inputs.min_notional,
    )
    ask_px, ask_sz, ask_code = _finish_side(
        mid + (half_spread - skew * inventory),
        inputs.position_limit + inventory - open_ask_exposure,
        order_size,
        False,
        best_bid,
        inputs.sz_decimals,
        inputs.is_spot,
        inputs.min_notional,
    )
    return bid_px, ask_px, bid_sz, ask_sz, half_spread, skew, gamma_used, bid_code, ask_code


@njit(cache=True)
def _quote_from_python(
    kappa: float,
    kappa_se: float,
    arrival_rate: float,
    kappa_se_mult: float,
    order_size: float,
    position_limit: float,
    sz_decimals: int,
    is_spot: bool,
    min_notional: float,
    belief: np.ndarray,
    sigmas: np.ndarray,
    gammas: np.ndarray,
    min_spreads_bps: np.ndarray,
    fill_costs_bps: np.ndarray,
    fair: float,
    inventory: float,
    intensity_multiplier: float,
    pull: bool,
    best_bid: float,
    best_ask: float,
    open_bid_exposure: float,
    open_ask_exposure: float,
) -> tuple[float, float, float, float, float, float, float, int, int]:
    """:func:`quote`'s one crossing into compiled code: builds the records in nopython mode and calls the kernel.

    Scalars, not records, cross the boundary because numba types a record argument passed from Python field by
    field (about 2.5 us a call, measured), a cost the live quoter would pay on every decision; compiled callers
    build their records once and pass them."""
    inputs = GlftInputs(
        kappa, kappa_se, arrival_rate, kappa_se_mult, order_size, position_limit, sz_decimals, is_spot, min_notional
    )
    blend = blend_regimes(belief, sigmas, gammas, min_spreads_bps, fill_costs_bps)
    return glft_quote_core(
        inputs,
        blend,
        fair,
        inventory,
        intensity_multiplier,
        pull,
        best_bid,
        best_ask,
        open_bid_exposure,
        open_ask_exposure,
    )


def quote(
    mid: float,
    inventory: float,
    belief: Sequence[float] | np.ndarray,
    model: MarketModel,
    policy: QuotePolicy,
    best_bid: float = math.nan,
    best_ask: float = math.nan,
    open_bid_exposure: float = 0.0,
    open_ask_exposure: float = 0.0,
    leader_log_return: float = math.nan,
    intensity_multiplier: float = 1.0,
    leader_move_pull: bool = False,
) -> Quote:
    """The quote for ``mid`` (quote currency) and ``inventory`` (base units) under the causal regime ``belief``;
    ``leader_log_return`` is the policy's leader's log move over the last ``lag_ms`` (NaN: unknown, no shift),
    ``intensity_multiplier`` the Hawkes m(t) scaling A (1.0: none), ``leader_move_pull`` whether a sharp leader move
    is within its hold (both sides pulled, reason ``leader_move``)."""
    probs = np.asarray(belief, dtype=np.float64)
    if probs.shape != (len(policy.gamma_by_regime),):
        raise ValueError(f"belief has {probs.shape} entries, policy has {len(policy.gamma_by_regime)} regimes")
    fair = lead_lag_fair_value(mid, leader_log_return, policy.lead_lag_beta)
    regime_pulled = regime_pull(probs, policy.pulled, policy.pull_threshold)
    rules = policy.rules
    bid_px, ask_px, bid_sz, ask_sz, half_spread, skew, gamma_used, bid_code, ask_code = _quote_from_python(
        float(model.kappa),
        float(model.kappa_se),
        float(model.arrival_rate),
        float(policy.kappa_se_mult),
        float(policy.order_size),
        float(policy.position_limit),
        int(rules.sz_decimals),
        bool(rules.is_spot),
        float(rules.min_notional),
        probs,
        policy.sigmas(model.sigma),
        policy.gammas,
        policy.min_spreads_bps,
        policy.fill_costs_bps,
        fair,
        float(inventory),
        float(intensity_multiplier),
        regime_pulled or leader_move_pull,
        float(best_bid),
        float(best_ask),
        float(open_bid_exposure),
        float(open_ask_exposure),
    )
    if leader_move_pull and not regime_pulled and bid_code == PULLED_REGIME:
        bid_code = ask_code = PULLED_LEADER_MOVE
    return Quote(
        bid_px=None if bid_code != QUOTED else float(bid_px),
        ask_px=None if ask_code != QUOTED else float(ask_px),
        bid_sz=float(bid_sz),
        ask_sz=float(ask_sz),
        half_spread=float(half_spread),
        skew=float(skew),
        reservation_px=float(fair - skew * inventory),
        gamma_used=float(gamma_used),
        fair_value=float(fair),
        bid_reason=PULL_REASONS.get(int(bid_code)),
        ask_reason=PULL_REASONS.get(int(ask_code)),
    )
