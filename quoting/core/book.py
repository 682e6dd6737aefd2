"""One coin's book from ``l2Book`` and ``bbo`` frames: the freshest top, and (for the paper venue) the depth.

A frame older (by exchange ``time``) than the one the current top came from is ignored, so a frame arriving late
never overwrites a fresher top. ``bbo`` only carries level 1: the touch (``best_*``) follows the freshest frame,
the depth (``bid_px``.. ``ask_sz``) stays the last ``l2Book``'s levels, which a bbo neither confirms nor erases.
Prices in quote currency, sizes in base units, times epoch ms; absent levels are NaN. The quoter itself keeps
only the top (``depth=False``), which costs a few microseconds less per update.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MAX_LEVELS = 20
"""Levels per side an l2Book snapshot carries."""
_EMPTY = np.full(MAX_LEVELS, np.nan)


def _levels(side: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    px, sz = _EMPTY.copy(), _EMPTY.copy()
    n = min(len(side), MAX_LEVELS)
    px[:n] = [float(level["px"]) for level in side[:n]]
    sz[:n] = [float(level["sz"]) for level in side[:n]]
    return px, sz


def _touch(level: dict[str, Any] | None) -> tuple[float, float]:
    """(px, sz) of a wire level, NaN for an absent side."""
    return (float(level["px"]), float(level["sz"])) if level else (math.nan, math.nan)


class Book:
    """Top of book (and optionally depth) of one coin; ``update_*`` take the ``data`` of a frame."""

    def __init__(self, depth: bool = True) -> None:
        self.depth = depth
        self.best_bid = math.nan
        self.best_ask = math.nan
        self.best_bid_sz = math.nan
        self.best_ask_sz = math.nan
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
        self.best_bid, self.best_bid_sz = _touch(bids[0] if bids else None)
        self.best_ask, self.best_ask_sz = _touch(asks[0] if asks else None)
        return True

    def update_bbo(self, data: dict[str, Any]) -> bool:
        """Apply a ``bbo`` frame; False (ignored) when it is older than the current top."""
        t = int(data["time"])
        if t < self.top_time_ms:
            return False
        bid, ask = data["bbo"]
        self.top_time_ms = t
        self.best_bid, self.best_bid_sz = _touch(bid)
        self.best_ask, self.best_ask_sz = _touch(ask)
        return True
