"""Paper execution: the quoter's orders simulated on the live or replayed feed with the backtest's fill model.

As in the backtest (:mod:`validation.backtest.engine`): an order, modify or cancel lands ``order_latency_ms``
after it is sent (feed clock) and takes part only in frames received after that; one request per side is in
flight at a time; a post-only order that would cross the touch when it lands is rejected (``badAloPxRejected``);
the order being replaced keeps filling until its modify lands. Fills come from market trades through
:mod:`quoting.core.fill_models` (``queue`` or ``trade_through``), at the order's price, as maker, paying
``maker_fee_bps``. Everything the quoter hears back is a Hyperliquid ``userFills`` / ``orderUpdates`` frame
(``"user": "paper"``), so paper and live share one code path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from quoting.core.book import Book
from quoting.core.exchange_rules import AssetRules, to_wire
from quoting.core.fill_models import (
    FILL_MODELS,
    fill_from_trade,
    queue_after_book,
    queue_at_placement,
)
from quoting.runtime.account import Account
from quoting.runtime.feed import Received
from quoting.runtime.orders import OrderAction, OrderResult, Side
from quoting.runtime.params import QuotingParams
from quoting.runtime.venue import VenueStart

PAPER_USER = "paper"
TID_MASK = (1 << 50) - 1
"""Hyperliquid trade ids are 50-bit."""


def wire_number(x: float) -> str:
    """Hyperliquid's decimal text: no exponent, trailing zeros stripped, at least one decimal (``25.0``)."""
    text = repr(x + 0.0)  # the shortest repr is the decimal the float stands for; + 0.0 turns -0.0 into 0.0
    if "e" in text or "n" in text:
        text = to_wire(x + 0.0)
    return text if "." in text else text + ".0"


@dataclass
class _Order:
    oid: int
    side: Side
    px: float
    sz: float
    remaining: float
    queue: float
    placed_ms: int


@dataclass(frozen=True)
class _Request:
    action: OrderAction
    oid: int
    """The new order's oid (place/modify) or the order to cancel."""
    land_ms: int


class PaperVenue:
    """Simulated resting orders and fills of one coin."""

    def __init__(self, coin: str, fill_model: str = "queue", order_latency_ms: int = 100, run_id: int = 0) -> None:
        self.coin = coin
        self.rules = AssetRules(0)
        self.maker_fee_bps = 0.0
        self.fill_model = FILL_MODELS[fill_model]
        self.order_latency_ms = order_latency_ms
        self.run_id = run_id
        self.book = Book()
        self.ledger = Account()
        self.orders: dict[Side, _Order] = {}
        self.requests: dict[Side, _Request] = {}
        self._next_oid = run_id * 1_000
        self._fills = 0

    async def start(self, now_ms: int) -> VenueStart:
        return VenueStart()

    def use_params(self, params: QuotingParams) -> str | None:
        self.rules, self.maker_fee_bps = params.policy.rules, params.policy.maker_fee_bps
        return None

    def busy(self) -> set[Side]:
        return set(self.requests)

    def blocked_reason(self, now_ms: int) -> str | None:
        return None

    async def housekeeping(self, now_ms: int) -> None:
        """Nothing to keep alive."""

    def on_order_update(self, status: str, now_ms: int) -> None:
        """Paper orders have no dead-man switch."""

    async def execute(self, actions: Sequence[OrderAction], now_ms: int) -> list[OrderResult]:
        results = []
        for action in actions:
            if action.kind == "cancel":
                assert action.oid is not None
                self.requests[action.side] = _Request(action, action.oid, now_ms + self.order_latency_ms)
                results.append(OrderResult(action, "cancelled", None))
                continue
            self._next_oid += 1
            self.requests[action.side] = _Request(action, self._next_oid, now_ms + self.order_latency_ms)
            results.append(OrderResult(action, "resting", self._next_oid))
        return results

    async def cancel_all(self, reason: str, now_ms: int) -> list[int]:
        """Cancel at once (shutdown): every resting order and every request in flight."""
        oids = [o.oid for o in self.orders.values()]
        self.orders.clear()
        self.requests.clear()
        return oids

    async def close(self, now_ms: int) -> None:
        await self.cancel_all("shutdown", now_ms)

    def on_market(self, item: Received) -> list[dict[str, Any]]:
        """Land due requests, then let the frame fill or re-queue our orders; returns the user frames it caused."""
        now_ms = item.recv_ns // 1_000_000
        updates: list[dict[str, Any]] = []
        fills: list[dict[str, Any]] = []
        for side in [s for s, r in self.requests.items() if r.land_ms < now_ms]:
            updates += self._land(self.requests.pop(side), now_ms)
        channel, data = item.frame["channel"], item.frame["data"]
        if channel == "trades":
            for trade in data:
                fills += self._trade(trade, updates)
        elif channel in ("l2Book", "bbo") and (
            self.book.update_l2(data) if channel == "l2Book" else self.book.update_bbo(data)
        ):
            for order in self.orders.values():  # a bbo shows the touch only: deeper queues stay as they were
                px_levels, sz_levels = self._depth(order.side) if channel == "l2Book" else self._touch(order.side)
                order.queue = queue_after_book(order.queue, order.px, order.side == "B", px_levels, sz_levels)
        frames: list[dict[str, Any]] = []
        if fills:
            frames.append({"channel": "userFills", "data": {"user": PAPER_USER, "fills": fills}})
        if updates:
            frames.append({"channel": "orderUpdates", "data": updates})
        return frames

    def _depth(self, side: Side) -> tuple[np.ndarray, np.ndarray]:
        """The last l2Book snapshot's levels of ``side``."""
        return (self.book.bid_px, self.book.bid_sz) if side == "B" else (self.book.ask_px, self.book.ask_sz)

    def _touch(self, side: Side) -> tuple[np.ndarray, np.ndarray]:
        """The freshest touch of ``side`` as a one-level book."""
        if side == "B":
            return np.array([self.book.best_bid]), np.array([self.book.best_bid_sz])
        return np.array([self.book.best_ask]), np.array([self.book.best_ask_sz])

    def _update(self, order: _Order, status: str, now_ms: int) -> dict[str, Any]:
        """A ``WsOrder``."""
        wire = {
            "coin": self.coin,
            "side": order.side,
            "limitPx": wire_number(order.px),
            "sz": wire_number(order.remaining),
            "oid": order.oid,
            "timestamp": order.placed_ms,
            "origSz": wire_number(order.sz),
            "cloid": None,
        }
        return {"order": wire, "status": status, "statusTimestamp": now_ms}

    def _land(self, request: _Request, now_ms: int) -> list[dict[str, Any]]:
        action, updates = request.action, []
        old = self.orders.get(action.side)
        if action.kind in ("cancel", "modify") and old is not None and old.oid == action.oid:
            del self.orders[action.side]
            updates.append(self._update(old, "canceled", now_ms))
        if action.kind == "cancel":
            return updates
        assert action.px is not None
        order = _Order(request.oid, action.side, action.px, action.sz, action.sz, 0.0, now_ms)
        touch = self.book.best_ask if action.side == "B" else self.book.best_bid
        if action.side == "B" and action.px >= touch or action.side == "A" and action.px <= touch:
            return updates + [self._update(order, "badAloPxRejected", now_ms)]
        order.queue = queue_at_placement(
            self.fill_model, action.px, action.side == "B", *self._touch(action.side), *self._depth(action.side)
        )
        self.orders[action.side] = order
        return updates  # no "open" update: the quoter already knows the order from its result

    def _trade(self, trade: dict[str, Any], updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        trade_side = 1 if trade["side"] == "B" else -1
        order = self.orders.get("B" if trade_side == -1 else "A")
        if order is None:
            return []
        filled, order.queue = fill_from_trade(
            self.fill_model,
            order.side == "B",
            order.px,
            order.remaining,
            order.queue,
            float(trade["px"]),
            float(trade["sz"]),
            trade_side,
        )
        if filled <= 0.0:
            return []
        time_ms = int(trade["time"])
        fill = self._fill(order, filled, time_ms)
        order.remaining -= filled
        if order.remaining < 0.5 * 10.0**-self.rules.sz_decimals:
            order.remaining = 0.0
            del self.orders[order.side]
            updates.append(self._update(order, "filled", time_ms))
        return [fill]

    def _fill(self, order: _Order, sz: float, time_ms: int) -> dict[str, Any]:
        """A ``WsFill`` of ``sz`` of ``order`` at its price, as maker."""
        fee = round(self.maker_fee_bps * 1e-4 * order.px * sz, 6)
        effect = self.ledger.apply_fill(order.side == "B", order.px, sz, fee)
        digest = hashlib.sha256(f"paper:{self.run_id}:{order.oid}:{self._fills}".encode()).hexdigest()
        self._fills += 1
        return {
            "coin": self.coin,
            "px": wire_number(order.px),
            "sz": wire_number(sz),
            "side": order.side,
            "time": time_ms,
            "startPosition": wire_number(round(effect.start_position, self.rules.sz_decimals)),
            "dir": effect.direction,
            "closedPnl": wire_number(round(effect.closed_pnl, 6)),
            "hash": "0x" + digest,
            "oid": order.oid,
            "crossed": False,
            "fee": wire_number(fee),
            "tid": int(digest[:16], 16) & TID_MASK,
            "feeToken": "USDC",
            "twapId": None,
        }
