"""The compiled event loop of the backtest: one coin's book rows and trades against the shared GLFT core.

Time is UTC epoch ms throughout. Events are replayed in exchange-time order, trades before the book row
of the same millisecond (a snapshot stamped t already shows the trades of t). The strategy reacts to a
book row stamped t at local time t + feed latency; its orders (and cancels) land at the exchange
order-latency later (plus optional seeded jitter) and take part only in events stamped strictly after
landing. Fills reach the strategy through the same feed, so at the decision on a row stamped t it knows
its inventory exactly as of t. Each side has at most one request in flight; a new price is a
cancel-replace that lands as one request, and the order being replaced still counts against the
position limit until then. A post-only (Alo) order that would cross the book when it lands is rejected.
Regime beliefs are used as of the row's time (the caller supplies causal beliefs); before the first
belief there are no quotes. A policy with a leader quotes around the lead-lag fair value
(:func:`quoting.core.lead_lag_shift.lead_lag_fair_value`) from the leader's log return known at the row's time, and
pulls both sides while a sharp leader move is within its hold (:func:`quoting.core.lead_lag_shift.leader_pulls`). A
policy with the Hawkes component quotes and predicts with A times the arrival-intensity multiplier known at the row's
time (:func:`quoting.core.hawkes_intensity.intensity_multipliers`, 1.0 without it).

Per-event helpers take scalars and small state arrays only: handing the tuples of market arrays to a
compiled call costs reference counting on every array, which dominated the loop.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from quoting.core.fill_models import QUEUE_POSITION, fill_from_trade, queue_after_book, queue_at_placement
from quoting.core.fill_prediction import depth_bps, reach_probability
from quoting.core.glft import QUOTED, GlftInputs, RegimeBlend, belief_weighted, glft_quote_core, regime_pull
from quoting.core.hawkes_intensity import expected_multiplier
from quoting.core.lead_lag_shift import lead_lag_fair_value

BID, ASK = 0, 1
ORDER, REQUEST = 0, 1
"""Slot kinds: the order resting at the exchange, and the request in flight towards it."""
ACTIVE, PX, SIZE, QUEUE, T_LIVE, PRED_PROB, PRED_ADVERSE, BELIEF_ROW = range(8)
"""Slot fields; a request with NaN price is a cancel, its T_LIVE is its landing time."""
N_FIELDS = 8

FILL_LOG_COLUMNS = (
    "time",
    "side",
    "px",
    "sz",
    "fee",
    "mid",
    "inventory",
    "pred_fill_prob",
    "pred_adverse_bps",
    "belief_row",
    "quote_age_ms",
)
"""Columns of the fill-log array, one row per fill (time in ms, side +1 buy / -1 sell, fee in quote currency)."""
(F_TIME, F_SIDE, F_PX, F_SZ, F_FEE, F_MID, F_INVENTORY, F_PROB, F_ADVERSE, F_BELIEF_ROW, F_AGE) = range(
    len(FILL_LOG_COLUMNS)
)
INVENTORY, CASH = 0, 1
"""Account fields: inventory in base units, cash in quote currency (fees paid out of it)."""


class MarketData(NamedTuple):
    """Book rows, trades and regime beliefs, each sorted by time (ms).

    ``bid_px``..``ask_sz`` are each book row's touch (n_book x 1, NaN = absent). The full levels (best first, NaN =
    absent) are kept once per ``l2Book`` snapshot in ``depth_*``, whose row 0 is all NaN (no snapshot yet):
    ``snapshot`` is, per book row, the ``depth_*`` row of the latest snapshot at or before it, ``is_snapshot``
    whether the row is that snapshot rather than a ``bbo`` touch. Levels per snapshot, not per row, spare the
    bbo rows (most of them) their unknown deeper levels. ``leader_return``: per book row, the policy's leader's log
    return over its lag as of the row's time (:func:`quoting.core.lead_lag_shift.leader_log_returns`, NaN = none);
    ``leader_pull``: per book row, whether a sharp leader move pulls the quotes; ``intensity_multiplier``: per book
    row, the Hawkes m(t) that scales A (1.0 = none).
    """

    book_time: np.ndarray
    bid_px: np.ndarray
    bid_sz: np.ndarray
    ask_px: np.ndarray
    ask_sz: np.ndarray
    mid: np.ndarray
    is_snapshot: np.ndarray
    snapshot: np.ndarray
    depth_bid_px: np.ndarray
    depth_bid_sz: np.ndarray
    depth_ask_px: np.ndarray
    depth_ask_sz: np.ndarray
    trade_time: np.ndarray
    trade_px: np.ndarray
    trade_sz: np.ndarray
    trade_side: np.ndarray
    belief_time: np.ndarray
    belief: np.ndarray
    leader_return: np.ndarray
    leader_pull: np.ndarray
    intensity_multiplier: np.ndarray


class RegimeTable(NamedTuple):
    """Per-regime settings, in the order of the belief columns (``pulled``: 1.0 where the policy does not quote;
    ``reach_*``: the reach curves of :mod:`quoting.core.fill_prediction`)."""

    gammas: np.ndarray
    min_spreads_bps: np.ndarray
    adverse_bps: np.ndarray
    fill_costs_bps: np.ndarray
    sigmas: np.ndarray
    pulled: np.ndarray
    reach_knots: np.ndarray
    reach_log_intensities: np.ndarray


class EngineParams(NamedTuple):
    """Scalars of the quoting policy and the simulation, flattened for the compiled loop."""

    glft: GlftInputs
    """The quote's fixed inputs (model, size, limit, exchange rules), as the shared kernel takes them."""
    pull_threshold: float
    maker_fee_bps: float
    fill_model: int
    feed_latency_ms: int
    order_latency_ms: int
    order_latency_jitter_ms: int
    requote_ms: int
    seed: int
    lead_lag_beta: float
    """beta of the lead-lag fair-value shift (0.0: quote around the mid)."""
    reach_horizon_weight: float
    """w of the Hawkes expected multiplier over the scored window
    (:func:`quoting.core.hawkes_intensity.expected_multiplier`; with a multiplier of 1.0 any w gives 1.0)."""


@njit(cache=True)
def _land_request(
    slots: np.ndarray,
    side: int,
    level_px: np.ndarray,
    level_sz: np.ndarray,
    snapshot_px: np.ndarray,
    snapshot_sz: np.ndarray,
    fill_model: int,
) -> None:
    """Apply the in-flight request of ``side`` (past the Alo check) to the book row given by its levels and those
    of the latest l2Book snapshot (the queue ahead, see :func:`quoting.core.fill_models.queue_at_placement`)."""
    slots[REQUEST, side, ACTIVE] = 0.0
    slots[ORDER, side, ACTIVE] = 0.0  # a cancel, or the cancel half of a cancel-replace
    px = slots[REQUEST, side, PX]
    if math.isnan(px):
        return
    slots[ORDER, side] = slots[REQUEST, side]
    slots[ORDER, side, ACTIVE] = 1.0
    slots[ORDER, side, QUEUE] = queue_at_placement(
        fill_model, px, side == BID, level_px, level_sz, snapshot_px, snapshot_sz
    )


@njit(cache=True)
def _crosses(side: int, px: float, bid_touch: float, ask_touch: float) -> bool:
    """Whether a post-only order at ``px`` would match the opposite touch on arrival."""
    return px >= ask_touch if side == BID else px <= bid_touch


@njit(cache=True)
def _reaches(side: int, order_px: float, trade_px: float) -> bool:
    """Whether a print against ``side`` is at or through our price (the only prints a fill model can use)."""
    return trade_px <= order_px if side == BID else trade_px >= order_px


@njit(cache=True)
def _fill_on_trade(
    slots: np.ndarray,
    side: int,
    account: np.ndarray,
    fill_log: np.ndarray,
    n_fills: int,
    now: int,
    trade_px: float,
    trade_sz: float,
    trade_side: int,
    mid: float,
    p: EngineParams,
) -> int:
    """Match one market trade against our resting order on ``side``, book and log any fill; returns n_fills."""
    filled, queue = fill_from_trade(
        p.fill_model,
        side == BID,
        slots[ORDER, side, PX],
        slots[ORDER, side, SIZE],
        slots[ORDER, side, QUEUE],
        trade_px,
        trade_sz,
        trade_side,
    )
    slots[ORDER, side, QUEUE] = queue
    if filled <= 0.0:
        return n_fills
    px = slots[ORDER, side, PX]
    direction = 1.0 if side == BID else -1.0
    fee = p.maker_fee_bps * 1e-4 * px * filled
    account[INVENTORY] += direction * filled
    account[CASH] -= direction * px * filled + fee
    slots[ORDER, side, SIZE] -= filled
    if slots[ORDER, side, SIZE] < 0.5 * 10.0**-p.glft.sz_decimals:  # under half a lot left: dust of a full fill
        slots[ORDER, side, ACTIVE] = 0.0
    fill_log[n_fills, F_TIME] = now
    fill_log[n_fills, F_SIDE] = direction
    fill_log[n_fills, F_PX] = px
    fill_log[n_fills, F_SZ] = filled
    fill_log[n_fills, F_FEE] = fee
    fill_log[n_fills, F_MID] = mid
    fill_log[n_fills, F_INVENTORY] = account[INVENTORY]
    fill_log[n_fills, F_PROB] = slots[ORDER, side, PRED_PROB]
    fill_log[n_fills, F_ADVERSE] = slots[ORDER, side, PRED_ADVERSE]
    fill_log[n_fills, F_BELIEF_ROW] = slots[ORDER, side, BELIEF_ROW]
    fill_log[n_fills, F_AGE] = now - slots[ORDER, side, T_LIVE]
    return n_fills + 1


@njit(cache=True)
def _send(
    slots: np.ndarray, side: int, t_land: float, px: float, size: float, prob: float, adverse: float, belief_row: int
) -> None:
    """Put a request in flight for ``side``: a new (or replacing) order, or a cancel when ``px`` is NaN."""
    slots[REQUEST, side, ACTIVE] = 1.0
    slots[REQUEST, side, PX] = px
    slots[REQUEST, side, SIZE] = size
    slots[REQUEST, side, QUEUE] = 0.0
    slots[REQUEST, side, T_LIVE] = t_land
    slots[REQUEST, side, PRED_PROB] = prob
    slots[REQUEST, side, PRED_ADVERSE] = adverse
    slots[REQUEST, side, BELIEF_ROW] = belief_row


@njit(cache=True)
def _quote(
    p: EngineParams,
    blend: RegimeBlend,
    mid: float,
    inventory: float,
    multiplier: float,
    bid_exposure: float,
    ask_exposure: float,
    best_bid: float,
    best_ask: float,
) -> tuple[float, float, float, float, int, int]:
    """(bid_px, ask_px, bid_sz, ask_sz, bid_code, ask_code) of the shared GLFT core, A times ``multiplier`` (the
    loop sends the pulls itself, so the core never pulls)."""
    bid_px, ask_px, bid_sz, ask_sz, _, _, _, bid_code, ask_code = glft_quote_core(
        p.glft,
        blend,
        mid,
        inventory,
        multiplier,
        False,
        best_bid,
        best_ask,
        bid_exposure,
        ask_exposure,
    )
    return bid_px, ask_px, bid_sz, ask_sz, bid_code, ask_code


@njit(cache=True)
def _needs_replacing(slots: np.ndarray, side: int, px: float, code: int) -> bool:
    """Whether the quote moved a resting order (with no request in flight) to another price."""
    return (
        slots[REQUEST, side, ACTIVE] == 0.0
        and slots[ORDER, side, ACTIVE] == 1.0
        and code == QUOTED
        and px != slots[ORDER, side, PX]
    )


@njit(cache=True)
def _act(
    slots: np.ndarray,
    side: int,
    px: float,
    size: float,
    code: int,
    mid: float,
    adverse: float,
    belief_row: int,
    t_land: float,
    belief: np.ndarray,
    regimes: RegimeTable,
    p: EngineParams,
    multiplier: float,
) -> tuple[int, int]:
    """Place, replace, cancel or keep one side's order; returns (orders sent, cancels sent)."""
    resting = slots[ORDER, side, ACTIVE] == 1.0
    if slots[REQUEST, side, ACTIVE] == 1.0 or (code == QUOTED and resting and px == slots[ORDER, side, PX]):
        return 0, 0  # one request in flight per side; an unchanged price keeps its place in the queue
    if code == QUOTED:
        prob = reach_probability(
            depth_bps(px, mid),
            belief,
            regimes.reach_knots,
            regimes.reach_log_intensities,
            expected_multiplier(multiplier, p.reach_horizon_weight),
        )
        _send(slots, side, t_land, px, size, prob, adverse, belief_row)
        return 1, 0
    if resting:
        _send(slots, side, t_land, math.nan, 0.0, math.nan, math.nan, belief_row)
        return 0, 1
    return 0, 0


@njit(cache=True)
def _requote(
    slots: np.ndarray,
    p: EngineParams,
    blend: RegimeBlend,
    mid: float,
    fair: float,
    inventory: float,
    adverse: float,
    belief_row: int,
    best_bid: float,
    best_ask: float,
    t_land: float,
    belief: np.ndarray,
    regimes: RegimeTable,
    multiplier: float,
) -> tuple[int, int]:
    """Quote both sides around ``fair`` (fill predictions measure depth from ``mid``); a replacement that could
    breach the limit while the order it replaces can still fill is re-quoted with that order counted as exposure
    (usually smaller, or pulled)."""
    bid_px, ask_px, bid_sz, ask_sz, bid_code, ask_code = _quote(
        p, blend, fair, inventory, multiplier, 0.0, 0.0, best_bid, best_ask
    )
    bid_resting, ask_resting = slots[ORDER, BID, SIZE], slots[ORDER, ASK, SIZE]
    resize_bid = (
        _needs_replacing(slots, BID, bid_px, bid_code) and inventory + bid_resting + bid_sz > p.glft.position_limit
    )
    resize_ask = (
        _needs_replacing(slots, ASK, ask_px, ask_code) and inventory - ask_resting - ask_sz < -p.glft.position_limit
    )
    if resize_bid or resize_ask:
        sized = _quote(
            p,
            blend,
            fair,
            inventory,
            multiplier,
            bid_resting if resize_bid else 0.0,
            ask_resting if resize_ask else 0.0,
            best_bid,
            best_ask,
        )
        if resize_bid:
            bid_px, bid_sz, bid_code = sized[0], sized[2], sized[4]
        if resize_ask:
            ask_px, ask_sz, ask_code = sized[1], sized[3], sized[5]
    bid_sent, bid_cancelled = _act(
        slots, BID, bid_px, bid_sz, bid_code, mid, adverse, belief_row, t_land, belief, regimes, p, multiplier
    )
    ask_sent, ask_cancelled = _act(
        slots, ASK, ask_px, ask_sz, ask_code, mid, adverse, belief_row, t_land, belief, regimes, p, multiplier
    )
    return bid_sent + ask_sent, bid_cancelled + ask_cancelled


@njit(cache=True)
def _blend_beliefs(
    belief: np.ndarray, regimes: RegimeTable, p: EngineParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per belief row: blended gamma, spread floor (bps), per-fill cost (bps), sigma, predicted adverse selection
    (bps), regime pull."""
    n = belief.shape[0]
    gamma, floor_bps, cost_bps, sigma = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    adverse_bps = np.empty(n)
    pull = np.empty(n, np.bool_)
    for k in range(n):
        gamma[k] = belief_weighted(belief[k], regimes.gammas)
        floor_bps[k] = belief_weighted(belief[k], regimes.min_spreads_bps)
        cost_bps[k] = belief_weighted(belief[k], regimes.fill_costs_bps)
        sigma[k] = belief_weighted(belief[k], regimes.sigmas)
        adverse_bps[k] = belief_weighted(belief[k], regimes.adverse_bps)
        pull[k] = regime_pull(belief[k], regimes.pulled, p.pull_threshold)
    return gamma, floor_bps, cost_bps, sigma, adverse_bps, pull


@njit(cache=True)
def simulate(data: MarketData, regimes: RegimeTable, p: EngineParams) -> tuple:
    """Replay ``data`` under policy ``p``.

    Returns (fill log [n_fills x FILL_LOG_COLUMNS], account after each book row [n_book x (inventory, cash)],
    final account, last positive mid, orders sent, cancels sent, Alo rejects).
    """
    np.random.seed(p.seed)
    n_book, n_trades, n_beliefs = data.book_time.shape[0], data.trade_time.shape[0], data.belief_time.shape[0]
    gamma_at, floor_at, cost_at, sigma_at, adverse_at, pull_at = _blend_beliefs(data.belief, regimes, p)
    slots = np.zeros((2, 2, N_FIELDS))
    account = np.zeros(2)
    fill_log = np.empty((n_trades, len(FILL_LOG_COLUMNS)))
    account_by_row = np.empty((n_book, 2))
    row, belief_row, i_book, i_trade, n_fills = -1, -1, 0, 0, 0
    last_mid = math.nan
    last_decision = -(2**62)
    orders_sent, cancels_sent, alo_rejects = 0, 0, 0

    while i_book < n_book or i_trade < n_trades:
        is_trade = i_trade < n_trades and (i_book >= n_book or data.trade_time[i_trade] <= data.book_time[i_book])
        now = data.trade_time[i_trade] if is_trade else data.book_time[i_book]
        for side in (BID, ASK):
            if slots[REQUEST, side, ACTIVE] == 1.0 and slots[REQUEST, side, T_LIVE] < now:
                if _crosses(side, slots[REQUEST, side, PX], data.bid_px[row, 0], data.ask_px[row, 0]):
                    slots[REQUEST, side, ACTIVE] = 0.0
                    slots[ORDER, side, ACTIVE] = 0.0  # the cancel half of the replace still happens
                    alo_rejects += 1
                elif side == BID:
                    snap = data.snapshot[row]
                    _land_request(
                        slots,
                        side,
                        data.bid_px[row],
                        data.bid_sz[row],
                        data.depth_bid_px[snap],
                        data.depth_bid_sz[snap],
                        p.fill_model,
                    )
                else:
                    snap = data.snapshot[row]
                    _land_request(
                        slots,
                        side,
                        data.ask_px[row],
                        data.ask_sz[row],
                        data.depth_ask_px[snap],
                        data.depth_ask_sz[snap],
                        p.fill_model,
                    )

        if is_trade:
            side = BID if data.trade_side[i_trade] == -1 else ASK  # a seller hits bids, a buyer lifts asks
            if slots[ORDER, side, ACTIVE] == 1.0 and _reaches(side, slots[ORDER, side, PX], data.trade_px[i_trade]):
                n_fills = _fill_on_trade(
                    slots,
                    side,
                    account,
                    fill_log,
                    n_fills,
                    now,
                    data.trade_px[i_trade],
                    data.trade_sz[i_trade],
                    data.trade_side[i_trade],
                    data.mid[row],
                    p,
                )
            i_trade += 1
            continue

        row = i_book
        i_book += 1
        if p.fill_model == QUEUE_POSITION:
            deep, snap = data.is_snapshot[row], data.snapshot[row]  # a bbo row shows the touch only
            if slots[ORDER, BID, ACTIVE] == 1.0:
                slots[ORDER, BID, QUEUE] = queue_after_book(
                    slots[ORDER, BID, QUEUE],
                    slots[ORDER, BID, PX],
                    True,
                    data.depth_bid_px[snap] if deep else data.bid_px[row],
                    data.depth_bid_sz[snap] if deep else data.bid_sz[row],
                )
            if slots[ORDER, ASK, ACTIVE] == 1.0:
                slots[ORDER, ASK, QUEUE] = queue_after_book(
                    slots[ORDER, ASK, QUEUE],
                    slots[ORDER, ASK, PX],
                    False,
                    data.depth_ask_px[snap] if deep else data.ask_px[row],
                    data.depth_ask_sz[snap] if deep else data.ask_sz[row],
                )
        account_by_row[row, INVENTORY], account_by_row[row, CASH] = account[INVENTORY], account[CASH]
        mid = data.mid[row]
        if not mid > 0.0:
            continue
        last_mid = mid
        while belief_row + 1 < n_beliefs and data.belief_time[belief_row + 1] <= now:
            belief_row += 1
        if belief_row < 0:
            continue  # no belief yet: fail closed, no quotes
        decided = now + p.feed_latency_ms
        latency = p.order_latency_ms
        if p.order_latency_jitter_ms > 0:
            latency += np.random.randint(0, p.order_latency_jitter_ms + 1)
        t_land = float(decided + latency)
        if pull_at[belief_row] or data.leader_pull[row]:
            for side in (BID, ASK):
                if slots[ORDER, side, ACTIVE] == 1.0 and slots[REQUEST, side, ACTIVE] == 0.0:
                    _send(slots, side, t_land, math.nan, 0.0, math.nan, math.nan, belief_row)
                    cancels_sent += 1
            continue
        if decided - last_decision < p.requote_ms:
            continue
        last_decision = decided
        fair = lead_lag_fair_value(mid, data.leader_return[row], p.lead_lag_beta)
        blend = RegimeBlend(sigma_at[belief_row], gamma_at[belief_row], floor_at[belief_row], cost_at[belief_row])
        sent, cancelled = _requote(
            slots,
            p,
            blend,
            mid,
            fair,
            account[INVENTORY],
            adverse_at[belief_row],
            belief_row,
            data.bid_px[row, 0],
            data.ask_px[row, 0],
            t_land,
            data.belief[belief_row],
            regimes,
            data.intensity_multiplier[row],
        )
        orders_sent += sent
        cancels_sent += cancelled

    return fill_log[:n_fills], account_by_row, account, last_mid, orders_sent, cancels_sent, alo_rejects
