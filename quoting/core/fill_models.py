"""When a resting quote fills in the backtest: conservative trade-through and queue position.

Both look only at market trades (``side`` = aggressor, +1 buy / -1 sell): a sell aggressor can fill our bid,
a buy aggressor our ask. Fills are at our limit price; a print fills at most its own size.

- Trade-through: our order fills only when a trade prints strictly through its price (a sell below our
  bid), so every level at our price is certainly gone; prints at our price never fill us.
- Queue position: at placement the queue ahead is the displayed size at our price (0 when our price is
  better than the best or an empty level inside the displayed range). A ``bbo`` update shows only the
  touch: there its size is the freshest, but deeper prices keep the size the last full ``l2Book`` snapshot
  showed, so a landing order is not put at the front of a queue the book still holds. Prints at our price
  eat the queue first; what is left of the print fills us. Prints through our price fill us as in
  trade-through. A book update can only shorten the queue (cancellations ahead of us), never lengthen it —
  hftbacktest's risk-averse queue model — and only at prices it shows (a bbo update: the touch, and every
  price better than it). Beyond the displayed depth the size is unknown: the queue starts at 0 there and
  book updates leave it as it was.

The book-level helpers run on every book row and are inlined, which spares per-call array reference counting.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

TRADE_THROUGH = 0
QUEUE_POSITION = 1
FILL_MODELS = {"trade_through": TRADE_THROUGH, "queue": QUEUE_POSITION}


@njit(cache=True, inline="always")
def displayed_size_at(px: float, is_bid: bool, level_px: np.ndarray, level_sz: np.ndarray) -> float:
    """Displayed size at ``px`` on our side: 0 if better than the best or an empty level in range, NaN beyond range.

    ``level_px`` is best first; NaN marks an absent level.
    """
    deepest = math.nan
    for i in range(level_px.shape[0]):
        level = level_px[i]
        if math.isnan(level):
            break
        if level == px:
            return level_sz[i]
        deepest = level
    if math.isnan(deepest):
        return math.nan
    beyond = px < deepest if is_bid else px > deepest
    return math.nan if beyond else 0.0


@njit(cache=True)
def queue_at_placement(
    fill_model: int,
    px: float,
    is_bid: bool,
    level_px: np.ndarray,
    level_sz: np.ndarray,
    snapshot_px: np.ndarray,
    snapshot_sz: np.ndarray,
) -> float:
    """Size ahead of a new order at ``px`` (0 for trade-through, where the queue plays no part).

    ``level_*`` are the levels of the update the order lands on (a ``bbo`` update: the touch only), ``snapshot_*``
    those of the last full ``l2Book`` snapshot (the same levels when the update is one). Where the update does not
    show ``px`` (deeper than a bbo touch) the snapshot's size there counts; unknown in both, the queue is 0.
    """
    if fill_model == TRADE_THROUGH:
        return 0.0
    shown = displayed_size_at(px, is_bid, level_px, level_sz)
    if math.isnan(shown):
        shown = displayed_size_at(px, is_bid, snapshot_px, snapshot_sz)
    return 0.0 if math.isnan(shown) else shown


@njit(cache=True, inline="always")
def queue_after_book(queue: float, px: float, is_bid: bool, level_px: np.ndarray, level_sz: np.ndarray) -> float:
    """Queue ahead after a book update: capped by the size it displays at our price (``level_*``: only the levels
    the update carries, so a bbo touch leaves deeper queues as they were)."""
    shown = displayed_size_at(px, is_bid, level_px, level_sz)
    return queue if math.isnan(shown) else min(queue, shown)


@njit(cache=True)
def fill_from_trade(
    fill_model: int,
    is_bid: bool,
    px: float,
    remaining: float,
    queue: float,
    trade_px: float,
    trade_sz: float,
    trade_side: int,
) -> tuple[float, float]:
    """(filled size, queue ahead after) of our order when a market trade prints."""
    if trade_side == (1 if is_bid else -1):  # a buyer cannot hit our bid, a seller cannot lift our ask
        return 0.0, queue
    through = trade_px < px if is_bid else trade_px > px
    if through:
        return min(remaining, trade_sz), 0.0
    if fill_model == TRADE_THROUGH or trade_px != px:
        return 0.0, queue
    left_for_us = trade_sz - queue
    if left_for_us <= 0.0:
        return 0.0, queue - trade_sz
    return min(remaining, left_for_us), 0.0
