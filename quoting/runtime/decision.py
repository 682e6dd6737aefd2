"""One quote decision: the shared GLFT quote for the current state, the fill predictions, and the order actions.

Pure and synchronous (the hot path between a book update and the orders), shared by paper and live sessions. A
pull reason (no or stale parameters, stale feed, loss limit, a sharp leader move within its hold, ...) cancels every
working order and quotes nothing. A set with the Hawkes component quotes with A times the intensity multiplier and
predicts with the expected multiplier over the scored window (:mod:`quoting.core.hawkes_intensity`), as the backtest.
Otherwise :func:`quoting.core.glft.quote` gives the desired sides with no working order counted; a modify whose
replaced order could still fill and take the position past the limit is re-quoted with that order counted as
exposure (smaller, or pulled), exactly as the backtest does. Sides with a request still in flight are left alone,
and carry no fill prediction: the order resting there in the predicted window is the in-flight one, whose price
this decision does not set.

How often a session decides is the backtest's rule (:data:`quoting.core.policy_inputs.REQUOTE_INTERVAL_MS`, or the
interval the parameter set was validated with): at most one quoting decision per interval, while pulls act at once. The
fill probability a decision logs is therefore a prediction for the order that rests at its price, in the population of
decisions the walk-forward validated, and is scored on the event it predicts
(:mod:`validation.statistics.quoter_scoring`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from quoting.core.fill_prediction import depth_bps
from quoting.core.glft import PULL_REASONS, PULLED_REGIME, MarketModel, Quote, belief_weighted, quote
from quoting.core.hawkes_intensity import expected_multiplier
from quoting.runtime.orders import OrderAction, Prediction, Side, WorkingOrder, plan_side
from quoting.runtime.params import QuotingParams

REGIME_PULL_REASON = PULL_REASONS[PULLED_REGIME]


@dataclass(frozen=True)
class Decision:
    """What the quoter wanted at ``time_ms`` (feed clock) and the actions that get it there."""

    time_ms: int
    pull_reason: str | None
    mid: float
    sigma: float
    """Volatility used, price units per sqrt(second)."""
    belief: tuple[float, ...]
    inventory: float
    quote: Quote | None
    fill_prob: Mapping[Side, float | None]
    """P(a print reaches the side's price in the set's window) per side; None for a pulled side, a side with a
    request in flight, or a set without a reach model."""
    adverse_bps: float | None
    """Predicted adverse selection of a fill of either side, bps (:func:`predicted_adverse_bps`)."""
    actions: tuple[OrderAction, ...]

    @property
    def pulls(self) -> bool:
        """A pull: a gate's reason, no quote, or the quote's regime pull (the backtest cancels these at once)."""
        q = self.quote
        return self.pull_reason is not None or q is None or REGIME_PULL_REASON in (q.bid_reason, q.ask_reason)


def _fill_prob(
    px: float | None, mid: float, params: QuotingParams, belief: np.ndarray, intensity_multiplier: float
) -> float | None:
    """P(a print reaches ``px`` within the set's horizon after its latency) under ``belief``, the reach intensity
    scaled by the Hawkes expected multiplier over that window; None for a pulled side or a set without a reach
    model."""
    if px is None or params.reach is None:
        return None
    hawkes, reach = params.policy.hawkes, params.reach
    weight = 1.0 if hawkes is None else hawkes.horizon_weight(reach.latency_ms, reach.horizon_ms)
    return reach.probability(depth_bps(px, mid), belief, expected_multiplier(intensity_multiplier, weight))


def predicted_adverse_bps(params: QuotingParams, belief: np.ndarray) -> float | None:
    """Expected adverse selection of a maker fill now, bps (> 0 = cost): the set's per-regime values weighted by
    the causal regime belief; None when the set carries none."""
    if params.adverse_bps_by_regime is None:
        return None
    return belief_weighted(np.asarray(belief, dtype=np.float64), params.adverse_bps_by_regime)


def _pull_all(working: Mapping[Side, WorkingOrder | None], busy: Collection[Side]) -> tuple[OrderAction, ...]:
    return tuple(
        OrderAction("cancel", side, oid=order.oid)
        for side, order in working.items()
        if order is not None and side not in busy
    )


def decide(
    now_ms: int,
    params: QuotingParams | None,
    pull_reason: str | None,
    mid: float,
    model: MarketModel | None,
    belief: np.ndarray,
    inventory: float,
    best_bid: float,
    best_ask: float,
    working: Mapping[Side, WorkingOrder | None],
    busy: Collection[Side],
    leader_log_return: float = math.nan,
    intensity_multiplier: float = 1.0,
    leader_move_pull: bool = False,
) -> Decision:
    """The decision for the current state: ``model`` the set's fitted inputs, ``belief`` in the HMM's state order,
    ``leader_log_return`` the set's leader's log move over its lag (NaN: none, quote around the mid),
    ``intensity_multiplier`` the Hawkes m(t) of a set with that component (:mod:`quoting.core.hawkes_intensity`, 1.0:
    none), ``leader_move_pull`` whether a sharp leader move is within its hold (pull reason ``leader_move``)."""
    belief_t = tuple(belief.tolist()) if isinstance(belief, np.ndarray) else tuple(belief)
    sigma = model.sigma if model is not None else math.nan
    if pull_reason is None and leader_move_pull:
        pull_reason = "leader_move"
    if pull_reason is not None or params is None or model is None:
        return Decision(
            now_ms,
            pull_reason or "no_parameters",
            mid,
            sigma,
            belief_t,
            inventory,
            None,
            {"B": None, "A": None},
            None,
            _pull_all(working, busy),
        )
    policy = params.policy
    q = quote(
        mid,
        inventory,
        belief,
        model,
        policy,
        best_bid,
        best_ask,
        leader_log_return=leader_log_return,
        intensity_multiplier=intensity_multiplier,
    )
    desired: dict[Side, tuple[float | None, float]] = {"B": (q.bid_px, q.bid_sz), "A": (q.ask_px, q.ask_sz)}
    actions = {side: plan_side(working[side], side, *desired[side]) for side in desired if side not in busy}
    exposure: dict[Side, float] = {"B": 0.0, "A": 0.0}
    signs: tuple[tuple[Side, float], ...] = (("B", 1.0), ("A", -1.0))
    for side, sign in signs:
        action, order = actions.get(side), working[side]
        if (
            action is not None
            and action.kind == "modify"
            and order is not None
            and abs(inventory + sign * (order.remaining + action.sz)) > policy.position_limit
        ):
            exposure[side] = order.remaining
    if exposure["B"] or exposure["A"]:
        sized = quote(
            mid,
            inventory,
            belief,
            model,
            policy,
            best_bid,
            best_ask,
            exposure["B"],
            exposure["A"],
            leader_log_return,
            intensity_multiplier,
        )
        resized: tuple[tuple[Side, float | None, float], ...] = (
            ("B", sized.bid_px, sized.bid_sz),
            ("A", sized.ask_px, sized.ask_sz),
        )
        for side, px, sz in resized:
            order = working[side]
            if exposure[side] and order is not None:
                actions[side] = (
                    OrderAction("modify", side, px, sz, oid=order.oid)
                    if px is not None
                    else OrderAction("cancel", side, oid=order.oid)
                )
                desired[side] = (px, sz)
    probs: dict[Side, float | None] = {
        side: None if side in busy else _fill_prob(desired[side][0], mid, params, belief, intensity_multiplier)
        for side in desired
    }
    adverse = predicted_adverse_bps(params, belief)
    out = []
    for side, action in actions.items():
        if action is None:
            continue
        if action.kind != "cancel":
            prob = probs[side]
            prediction = Prediction(math.nan if prob is None else prob, adverse, belief_t, params.param_set_id, now_ms)
            action = OrderAction(action.kind, side, action.px, action.sz, action.oid, prediction)
        out.append(action)
    return Decision(now_ms, None, mid, sigma, belief_t, inventory, q, probs, adverse, tuple(out))
