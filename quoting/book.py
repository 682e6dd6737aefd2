"""One coin's book from ``l2Book`` and ``bbo`` frames: the freshest top, and (for the paper venue) the depth.

A frame older (by exchange ``time``) than the one the current top came from is ignored, so a frame arriving late
never overwrites a fresher top. ``bbo`` only carries level 1, so the depth is the last ``l2Book``'s levels with
level 1 replaced by the fresher ``bbo`` (l2 levels at or better than the new touch dropped). Prices in quote
currency, sizes in base units, times epoch ms; absent levels are NaN. The quoter itself keeps only the top
(``depth=False``), which costs a few microseconds less per update.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

MAX_LEVELS = 21
"""20 l2Book levels plus room for a bbo touch better than all of them."""
_EMPTY = np.full(MAX_LEVELS, np.nan)


def _levels(side: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    px, sz = _EMPTY.copy(), _EMPTY.copy()
    n = min(len(side), MAX_LEVELS)
    px[:n] = [float(level["px"]) for level in side[:n]]
    sz[:n] = [float(level["sz"]) for level in side[:n]]
    return px, sz


@njit(cache=True)
def _with_touch(px: np.ndarray, sz: np.ndarray, touch_px: float, touch_sz: float, is_bid: bool) -> None:
    """Put the bbo touch at level 1 in place, keeping only the deeper l2 levels behind it."""
    kept = 1
    out_px, out_sz = np.full(px.shape[0], np.nan), np.full(px.shape[0], np.nan)
    out_px[0], out_sz[0] = touch_px, touch_sz
    for i in range(px.shape[0]):
        deeper = px[i] < touch_px if is_bid else px[i] > touch_px
        if deeper and kept < px.shape[0]:
            out_px[kept], out_sz[kept] = px[i], sz[i]
            kept += 1
    px[:] = out_px
    sz[:] = out_sz


class Book:
    """Top of book (and optionally depth) of one coin; ``update_*`` take the ``data`` of a frame."""

    def __init__(self, depth: bool = True) -> None:
        self.depth = depth
        self.best_bid = math.nan
        self.best_ask = math.nan
        self.top_time_ms = -1
        """Exchange time of the frame the top came from."""
        self.bid_px, self.bid_sz = _EMPTY.copy(), _EMPTY.copy()
        self.ask_px, self.ask_sz = _EMPTY.copy(), _EMPTY.copy()

    @property
    def mid(self) -> float:
        """(best bid + best ask) / 2, NaN when a side is missing or the book is crossed."""
        if self.best_bid < self.best_ask:
            return 0.5 * (self.best_bid + self.best_ask)
        return math.nan

    def update_l2(self, data: dict[str, Any]) -> bool:
        """Apply an ``l2Book`` snapshot; False (ignored) when it is older than the current top."""
        t = int(data["time"])
        if t < self.top_time_ms:
            return False
        bids, asks = data["levels"]
        self.top_time_ms = t
        if self.depth:
            self.bid_px, self.bid_sz = _levels(bids)
            self.ask_px, self.ask_sz = _levels(asks)
        self.best_bid = float(bids[0]["px"]) if bids else math.nan
        self.best_ask = float(asks[0]["px"]) if asks else math.nan
        return True

    def update_bbo(self, data: dict[str, Any]) -> bool:
        """Apply a ``bbo`` frame; False (ignored) when it is older than the current top."""
        t = int(data["time"])
        if t < self.top_time_ms:
            return False
        bid, ask = data["bbo"]
        self.top_time_ms = t
        self.best_bid = float(bid["px"]) if bid else math.nan
        self.best_ask = float(ask["px"]) if ask else math.nan
        if self.depth and bid:
            _with_touch(self.bid_px, self.bid_sz, self.best_bid, float(bid["sz"]), True)
        if self.depth and ask:
            _with_touch(self.ask_px, self.ask_sz, self.best_ask, float(ask["sz"]), False)
        return True
