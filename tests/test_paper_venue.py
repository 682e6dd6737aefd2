"""Paper venue queue ahead on hand-built frames: a bbo keeps the last l2Book's sizes behind its touch.

Same rule as the backtest (:mod:`quoting.core.fill_models`): our bid at 99.89, order latency 100 ms, times epoch ms.
"""

from __future__ import annotations

import asyncio
from typing import Any

from quoting.runtime.feed import Received
from quoting.runtime.orders import OrderAction
from quoting.runtime.paper import PaperVenue

COIN = "X"


def _level(px: float, sz: float) -> dict[str, Any]:
    return {"px": str(px), "sz": str(sz), "n": 1}


def l2book(t: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> Received:
    levels = [[_level(*b) for b in bids], [_level(*a) for a in asks]]
    return Received(t * 1_000_000, {"channel": "l2Book", "data": {"coin": COIN, "time": t, "levels": levels}})


def bbo(t: int, bid: tuple[float, float], ask: tuple[float, float]) -> Received:
    return Received(
        t * 1_000_000, {"channel": "bbo", "data": {"coin": COIN, "time": t, "bbo": [_level(*bid), _level(*ask)]}}
    )


def sell(t: int, px: float, sz: float) -> Received:
    trade = {
        "coin": COIN,
        "side": "A",
        "px": str(px),
        "sz": str(sz),
        "time": t,
        "tid": t,
        "hash": "0x0",
        "users": ["0xb", "0xs"],
    }
    return Received(t * 1_000_000, {"channel": "trades", "data": [trade]})


def filled(venue: PaperVenue, frames: list[Received]) -> list[tuple[int, str]]:
    """(time, size) of every paper fill the frames cause."""
    out = []
    for item in frames:
        for frame in venue.on_market(item):
            if frame["channel"] == "userFills":
                out += [(f["time"], f["sz"]) for f in frame["data"]["fills"]]
    return out


def venue_with_bid(frames: list[Received], sent_ms: int) -> PaperVenue:
    """A queue-model venue fed ``frames``, then a 1.0 bid at 99.89 sent at ``sent_ms`` (lands 100 ms later)."""
    venue = PaperVenue(COIN, fill_model="queue", order_latency_ms=100)
    for item in frames:
        venue.on_market(item)
    asyncio.run(venue.execute([OrderAction("place", "B", px=99.89, sz=1.0)], sent_ms))
    return venue


def test_order_landing_after_a_bbo_queues_behind_the_last_l2book_size() -> None:
    venue = venue_with_bid(
        [l2book(1000, [(99.95, 5.0), (99.89, 3.0)], [(100.05, 5.0)]), bbo(1100, (99.95, 6.0), (100.05, 6.0))],
        sent_ms=1100,
    )
    # lands at the 1300 print: 3 ahead (not 0); the print eats 2, the bbo of 1350 leaves the 1 ahead as it is
    assert filled(venue, [sell(1300, 99.89, 2.0), bbo(1350, (99.95, 6.0), (100.05, 6.0)), sell(1400, 99.89, 1.5)]) == [
        (1400, "0.5")
    ]


def test_bbo_touch_wins_at_its_price_and_does_not_cut_deeper_queues_to_stale_sizes() -> None:
    venue = venue_with_bid(
        [l2book(1000, [(99.95, 5.0), (99.89, 1.0)], [(100.05, 5.0)]), bbo(1100, (99.89, 4.0), (100.05, 6.0))],
        sent_ms=1100,
    )
    # lands with the touch's 4 ahead (not the l2Book's 1); the bbo of 1250 does not show 99.89: still 4 ahead
    frames = [bbo(1250, (99.95, 6.0), (100.05, 6.0)), sell(1300, 99.89, 3.5), sell(1400, 99.89, 1.5)]
    assert filled(venue, frames) == [(1400, "1.0")]


def test_order_deep_in_the_l2book_queues_behind_its_level() -> None:
    bids = [(round(99.95 - 0.01 * i, 2), float(i + 1)) for i in range(20)]  # 99.89 is level 7, size 7
    venue = venue_with_bid([l2book(1000, bids, [(100.05, 5.0)]), bbo(1100, (99.95, 6.0), (100.05, 6.0))], 1100)
    assert filled(venue, [sell(1300, 99.89, 6.0), sell(1400, 99.89, 1.5)]) == [(1400, "0.5")]
