"""Fill models on single prints, worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quoting.core.fill_models import (
    QUEUE_POSITION,
    TRADE_THROUGH,
    displayed_size_at,
    fill_from_trade,
    queue_after_book,
    queue_at_placement,
)

BID_PX = np.array([99.95, 99.9, 99.85, math.nan])  # three displayed bid levels, the fourth absent
BID_SZ = np.array([5.0, 3.0, 2.0, math.nan])


def test_displayed_size_inside_better_and_beyond_the_book() -> None:
    assert displayed_size_at(99.9, True, BID_PX, BID_SZ) == 3.0
    assert displayed_size_at(99.96, True, BID_PX, BID_SZ) == 0.0  # better than the best bid
    assert displayed_size_at(99.88, True, BID_PX, BID_SZ) == 0.0  # empty level inside the displayed range
    assert math.isnan(displayed_size_at(99.80, True, BID_PX, BID_SZ))  # deeper than displayed: unknown
    assert queue_at_placement(QUEUE_POSITION, 99.80, True, BID_PX, BID_SZ, BID_PX, BID_SZ) == 0.0
    assert queue_at_placement(TRADE_THROUGH, 99.9, True, BID_PX, BID_SZ, BID_PX, BID_SZ) == 0.0


TOUCH_PX, TOUCH_SZ = np.array([99.95]), np.array([7.0])  # a bbo update: the touch only, now 7 at the best bid
NO_SNAPSHOT = np.full(4, math.nan)


def test_a_bbo_touch_keeps_the_last_snapshots_sizes_behind_it() -> None:
    def queue(px: float, snapshot_px: np.ndarray = BID_PX, snapshot_sz: np.ndarray = BID_SZ) -> float:
        return queue_at_placement(QUEUE_POSITION, px, True, TOUCH_PX, TOUCH_SZ, snapshot_px, snapshot_sz)

    assert queue(99.9) == 3.0  # deeper than the touch: the snapshot's size
    assert queue(99.85) == 2.0
    assert queue(99.95) == 7.0  # at the touch the bbo is fresher than the snapshot's 5
    assert queue(99.96) == 0.0  # better than the touch
    assert queue(99.88) == 0.0  # empty level inside the snapshot's range
    assert queue(99.80) == 0.0  # beyond the snapshot: unknown, as before
    assert queue(99.9, NO_SNAPSHOT, NO_SNAPSHOT) == 0.0  # no snapshot yet
    moved_up = np.array([100.0])  # the touch moved above the snapshot's best: between them nothing is known to rest
    assert queue_at_placement(QUEUE_POSITION, 99.97, True, moved_up, TOUCH_SZ, BID_PX, BID_SZ) == 0.0
    assert queue_at_placement(QUEUE_POSITION, 99.9, True, moved_up, TOUCH_SZ, BID_PX, BID_SZ) == 3.0


def test_book_updates_only_shorten_the_queue() -> None:
    assert queue_after_book(2.5, 99.9, True, BID_PX, BID_SZ) == 2.5  # 3 displayed: queue unchanged
    assert queue_after_book(4.0, 99.9, True, BID_PX, BID_SZ) == 3.0
    assert queue_after_book(4.0, 99.80, True, BID_PX, BID_SZ) == 4.0  # beyond the displayed depth
    assert queue_after_book(4.0, 99.9, True, TOUCH_PX, TOUCH_SZ) == 4.0  # a bbo touch does not show 99.9
    assert queue_after_book(9.0, 99.95, True, TOUCH_PX, TOUCH_SZ) == 7.0  # ... but shows the best bid
    assert queue_after_book(4.0, 99.96, True, TOUCH_PX, TOUCH_SZ) == 0.0  # and that nothing rests above it


def test_prints_at_our_price() -> None:
    # bid 99.9, 1.0 left, 2.0 ahead: a 1.5 sell eats queue only, a further 1.5 sell leaves 1.0 for us (we take 1.0)
    assert fill_from_trade(QUEUE_POSITION, True, 99.9, 1.0, 2.0, 99.9, 1.5, -1) == (0.0, 0.5)
    assert fill_from_trade(QUEUE_POSITION, True, 99.9, 1.0, 0.5, 99.9, 1.5, -1) == (1.0, 0.0)
    assert fill_from_trade(QUEUE_POSITION, True, 99.9, 1.0, 0.5, 99.9, 0.8, -1) == pytest.approx((0.3, 0.0))
    assert fill_from_trade(TRADE_THROUGH, True, 99.9, 1.0, 0.0, 99.9, 10.0, -1) == (0.0, 0.0)


def test_prints_through_and_on_the_wrong_side() -> None:
    assert fill_from_trade(TRADE_THROUGH, True, 99.9, 1.0, 0.0, 99.85, 0.4, -1) == (0.4, 0.0)
    assert fill_from_trade(QUEUE_POSITION, True, 99.9, 1.0, 7.0, 99.85, 3.0, -1) == (1.0, 0.0)
    assert fill_from_trade(TRADE_THROUGH, True, 99.9, 1.0, 0.0, 99.85, 3.0, 1) == (0.0, 0.0)  # a buyer
    assert fill_from_trade(TRADE_THROUGH, False, 100.1, 1.0, 0.0, 100.2, 3.0, 1) == (1.0, 0.0)  # ask lifted through
    assert fill_from_trade(QUEUE_POSITION, False, 100.1, 1.0, 2.0, 100.0, 3.0, 1) == (0.0, 2.0)  # below our ask
