"""The mid price series and the one rule for looking a mid up, used by bars, markouts and fill intensity.

The rule (stated once for the project):

- the mid **at** an instant q is the last mid observed at or before q (an as-of lookup, never a later one);
- the mid **before a trade** at t is the last mid observed strictly before t: Hyperliquid stamps a block's trades
  and the book published after that block with the same block time, so a snapshot in the trade's own ms may
  already show the trade, and a depth or spread capture measured from it would measure the trade against itself
  (the convention of Cartea, Jaimungal & Penalva 2015, "Algorithmic and High-Frequency Trading", ch. 10: a
  market order's depth from the last mid strictly before it);
- either is unknown (null) when that mid is more than :data:`MID_MAX_AGE_MS` old. ``l2Book`` is pushed on every
  block at least 0.5 s after the previous push (Hyperliquid's websocket docs, ``WsBook``), so a longer silence
  is a capture gap, and carrying the mid across it would invent prices nobody saw.

Markouts (mid at the fill and at each horizon), the fill-intensity fit (each taker order's depth), the own-quote
episodes and the bars all go through :func:`mid_index`; nothing else forward fills a mid.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numba import njit

MID_MAX_AGE_MS = 5_000
"""Oldest mid (ms) that still counts as the mid of an instant: ten missed 0.5 s ``l2Book`` pushes."""
MID_COLUMNS = ("coin", "time", "recv_time_ns", "bid_px_1", "ask_px_1", "mid")
"""The ``book`` columns :func:`mid_series` reads: a reader of the book for mids reads these, not its 130."""


def mid_series(book: pl.DataFrame) -> pl.DataFrame:
    """Mid (quote currency) at every book update, ``bbo`` and ``l2Book`` rows merged by time.

    Uses ``(bid_px_1 + ask_px_1) / 2``, else the ``mid`` column; one-sided and crossed books are dropped. At equal
    ``time`` the last-received row (``recv_time_ns``) wins. Returns ``[coin,] time, mid`` sorted by ``[coin,] time``.
    """
    keys = ["coin", "time"] if "coin" in book.columns else ["time"]
    mid = pl.lit(None, dtype=pl.Float64)
    crossed = pl.lit(False)
    if {"bid_px_1", "ask_px_1"} <= set(book.columns):
        mid = (pl.col("bid_px_1") + pl.col("ask_px_1")) / 2
        crossed = (pl.col("bid_px_1") >= pl.col("ask_px_1")).fill_null(False)
    if "mid" in book.columns:
        mid = pl.coalesce(mid, pl.col("mid"))
    recv = ["recv_time_ns"] if "recv_time_ns" in book.columns else []
    by_coin = keys[0] == "coin" and book["coin"].n_unique() > 1
    order = [*keys, *recv] if by_coin else ["time", *recv]
    last_at_key = pl.any_horizontal([(pl.col(k) != pl.col(k).shift(-1)).fill_null(True) for k in keys])
    return (
        book.select(*keys, *recv, mid.cast(pl.Float64).alias("mid"), crossed.alias("_crossed"))
        .filter(pl.col("mid").is_not_null() & ~pl.col("_crossed"))
        .sort(order)
        .filter(last_at_key)
        .select(*keys, "mid")
    )


def mid_index(
    mid_times: np.ndarray,
    query_ms: np.ndarray,
    *,
    strictly_before: bool = False,
    max_age_ms: int = MID_MAX_AGE_MS,
) -> np.ndarray:
    """Row of the mid in force at each query time, by the module's rule; -1 where there is none.

    ``mid_times`` (epoch ms, sorted ascending: one coin's :func:`mid_series` ``time``); ``query_ms`` in any order.
    The mid in force is the last one at or before the query (``strictly_before``: before it, the mid before a
    trade) and at most ``max_age_ms`` older than the query.
    """
    ref = np.ascontiguousarray(mid_times, dtype=np.int64)
    query = np.ascontiguousarray(query_ms, dtype=np.int64)
    if np.any(ref[1:] < ref[:-1]):
        raise ValueError("mid times must be sorted ascending")
    order = np.argsort(query, kind="stable") if np.any(query[1:] < query[:-1]) else np.arange(query.size)
    found = np.full(query.size, -1, dtype=np.int64)
    if ref.size and query.size:
        found[order] = _asof_sorted(ref, query[order], strictly_before, max_age_ms)
    return found


def mid_before_trade(mid_times: np.ndarray, trade_ms: np.ndarray, max_age_ms: int = MID_MAX_AGE_MS) -> np.ndarray:
    """Row of the mid before each trade (the last strictly before it, at most ``max_age_ms`` old), -1 if none: the
    reference of markouts' ``mid_at_fill`` and of a taker order's depth in the fill-intensity fit."""
    return mid_index(mid_times, trade_ms, strictly_before=True, max_age_ms=max_age_ms)


@njit(cache=True)
def _asof_sorted(ref: np.ndarray, query: np.ndarray, strictly_before: bool, max_age_ms: int) -> np.ndarray:
    """:func:`mid_index` on sorted queries: a galloping (exponential) search from the previous answer, near-linear
    in ``len(ref) + len(query)``."""
    m = ref.size
    out = np.full(query.size, -1, dtype=np.int64)
    j = -1
    for i in range(query.size):
        q = query[i] - 1 if strictly_before else query[i]
        step = 1
        while j + step < m and ref[j + step] <= q:
            j += step
            step *= 2
        hi = min(j + step, m)
        while hi - j > 1:
            mid = (j + hi) // 2
            if ref[mid] <= q:
                j = mid
            else:
                hi = mid
        if j >= 0 and query[i] - ref[j] <= max_age_ms:
            out[i] = j
    return out
