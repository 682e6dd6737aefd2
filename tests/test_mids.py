"""The one mid lookup rule: at or before an instant, strictly before a trade, never older than MID_MAX_AGE_MS."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from calibration.fill_intensity import taker_orders
from calibration.markouts import markouts
from calibration.mids import MID_MAX_AGE_MS, mid_before_trade, mid_index

MID_TIMES = np.array([1000, 1500, 1500, 2000, 9000])
"""A tape with two snapshots in one ms (the later row wins) and a 7 s silence between 2000 and 9000."""


def test_mid_at_an_instant_and_before_a_trade_by_hand() -> None:
    queries = np.array([999, 1000, 1499, 1500, 2000, 7000, 7001, 9000])
    assert mid_index(MID_TIMES, queries).tolist() == [-1, 0, 0, 2, 3, 3, -1, 4]
    # Before a trade: a snapshot in the trade's own ms may show the trade, so it is never the reference.
    # At 9000 the mid before is the 2000 one, 7 s old: none.
    assert mid_before_trade(MID_TIMES, queries).tolist() == [-1, -1, 0, 0, 2, 3, -1, -1]


def test_age_limit_is_inclusive_and_configurable() -> None:
    assert MID_MAX_AGE_MS == 5_000
    assert mid_index(MID_TIMES, np.array([2000 + MID_MAX_AGE_MS, 2001 + MID_MAX_AGE_MS])).tolist() == [3, -1]
    assert mid_index(MID_TIMES, np.array([8000]), max_age_ms=6_000).tolist() == [3]
    assert mid_before_trade(MID_TIMES, np.array([1501, 1502]), max_age_ms=0).tolist() == [-1, -1]


def test_unsorted_queries_keep_their_order_and_unsorted_mids_are_refused() -> None:
    rng = np.random.default_rng(5)
    queries = rng.integers(0, 12_000, 200)
    ordered = np.sort(queries)
    back = np.argsort(np.argsort(queries, kind="stable"), kind="stable")
    assert mid_index(MID_TIMES, queries).tolist() == mid_index(MID_TIMES, ordered)[back].tolist()
    assert mid_index(np.array([], dtype=np.int64), queries).tolist() == [-1] * 200
    with pytest.raises(ValueError, match="sorted"):
        mid_index(MID_TIMES[::-1], queries)


def test_markouts_and_fill_intensity_measure_each_trade_from_the_same_mid() -> None:
    """Random prints on a tape with same-ms snapshots and capture gaps: the spread-capture reference of markouts and
    the depth reference of a taker order are one and the same mid, by one rule."""
    rng = np.random.default_rng(17)
    gaps = rng.choice([1, 250, 6_000], size=3_000, p=[0.3, 0.69, 0.01])  # same-ms pairs, 0.25 s steps, 6 s outages
    mid_t = np.cumsum(gaps)
    mids = pl.DataFrame({"time": mid_t, "mid": 100 + np.cumsum(rng.normal(0, 0.01, mid_t.size))})
    trade_t = np.sort(rng.choice(np.arange(int(mid_t[-1])), 1_000, replace=False))
    trade_t[::10] = mid_t[rng.integers(0, mid_t.size, trade_t[::10].size)]  # every tenth trade shares a snapshot's ms
    trade_t = np.unique(trade_t)
    trades = pl.DataFrame(
        {
            "time": trade_t,
            "tid": np.arange(trade_t.size),
            "px": np.full(trade_t.size, 100.0),
            "sz": np.ones(trade_t.size),
            "side": pl.Series(rng.choice([-1, 1], trade_t.size), dtype=pl.Int8),
            "buyer": [f"b{i}" for i in range(trade_t.size)],
            "seller": [f"s{i}" for i in range(trade_t.size)],
            "hash": pl.Series([None] * trade_t.size, dtype=pl.String),
        }
    )
    orders = taker_orders(trades, mids, tick_size=0.01)
    marked = markouts(trades, mids, fee_bps=0.0)
    assert orders.height == trades.height
    assert orders["mid"].to_list() == marked["mid_at_fill"].to_list()
    assert 0 < marked["mid_at_fill"].null_count() < trades.height // 10  # the outages drop some, not all
    assert marked["mid_age_ms"].drop_nulls().min() >= 1 and marked["mid_age_ms"].max() <= MID_MAX_AGE_MS
