"""The fake's matching engine: the market as replayed, the clients' resting orders and their fills.

Market state comes from replayed frames (``bbo`` and ``l2Book`` set the best bid/ask, ``activeAssetCtx``
the context). A client's resting order fills only when a replayed trade trades *through* it (a bid fills
when a sell prints strictly below it, an ask when a buy prints strictly above), at the order's price, as
maker, for at most the print's size shared in price-time priority. A Gtc/Ioc order that crosses the
best bid/ask takes it (taker) up to its displayed size. Order checks and error texts follow
docs/for-developers/api/error-responses.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .ledger import Ledger
from .wire import dec, price_ok, size_ok, wire

MIN_NOTIONAL = Decimal(10)
FIRST_OID = 100_000_000_000
MISSING_ORDER = "Order was never placed, already canceled, or filled."


@dataclass
class Order:
    """A client's open order (``sz`` is what remains)."""

    oid: int
    user: str
    coin: str
    is_buy: bool
    px: Decimal
    sz: Decimal
    orig_sz: Decimal
    timestamp: int
    cloid: str | None
    reduce_only: bool

    def wire(self) -> dict[str, Any]:
        """``WsBasicOrder``."""
        return {
            "coin": self.coin,
            "side": "B" if self.is_buy else "A",
            "limitPx": wire(self.px),
            "sz": wire(self.sz),
            "oid": self.oid,
            "timestamp": self.timestamp,
            "origSz": wire(self.orig_sz),
            "cloid": self.cloid,
        }


@dataclass(frozen=True)
class UserEvent:
    """What a user's WS feeds hear: on ``orderUpdates`` a ``WsOrder``, on ``userFills`` a ``WsFill``."""

    user: str
    channel: str
    item: dict[str, Any]


@dataclass
class Quote:
    """What the replay says about one coin."""

    bid: Decimal | None = None
    ask: Decimal | None = None
    bid_sz: Decimal = Decimal(0)
    ask_sz: Decimal = Decimal(0)
    book: dict[str, Any] | None = None
    ctx: dict[str, Any] | None = None
    last_px: Decimal | None = None

    def mid(self) -> Decimal | None:
        if self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2
        return self.last_px


def _level(level: dict[str, Any] | None) -> tuple[Decimal | None, Decimal]:
    return (None, Decimal(0)) if not level else (dec(level["px"]), dec(level["sz"]))


@dataclass
class Venue:
    """Perp universe, market quotes, open orders and ledgers; every method runs on the fake's event loop."""

    universe: Sequence[tuple[str, int]]
    starting_usdc: Decimal = Decimal(10_000)
    market: dict[str, Quote] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    ledgers: dict[str, Ledger] = field(default_factory=dict)
    next_oid: int = FIRST_OID

    def coin(self, asset: int) -> str | None:
        return self.universe[asset][0] if isinstance(asset, int) and 0 <= asset < len(self.universe) else None

    def ledger(self, user: str) -> Ledger:
        return self.ledgers.setdefault(user, Ledger(self.starting_usdc))

    def quote(self, coin: str) -> Quote:
        return self.market.setdefault(coin, Quote())

    def open_orders(self, user: str) -> list[Order]:
        return sorted((o for o in self.orders.values() if o.user == user), key=lambda o: -o.oid)

    def on_market(self, channel: str, data: Any) -> list[UserEvent]:
        """Update the market from one replayed frame; a trades frame may fill resting orders."""
        if channel == "trades":
            return [event for trade in data for event in self._trade(trade)]
        quote = self.quote(data["coin"])
        if channel == "bbo":
            (quote.bid, quote.bid_sz), (quote.ask, quote.ask_sz) = _level(data["bbo"][0]), _level(data["bbo"][1])
        elif channel == "l2Book":
            bids, asks = data["levels"]
            quote.book = data
            best_bid, best_ask = _level(bids[0] if bids else None), _level(asks[0] if asks else None)
            (quote.bid, quote.bid_sz), (quote.ask, quote.ask_sz) = best_bid, best_ask
        elif channel in ("activeAssetCtx", "activeSpotAssetCtx"):
            quote.ctx = data["ctx"]
        return []

    def _trade(self, trade: dict[str, Any]) -> list[UserEvent]:
        px, left, coin = dec(trade["px"]), dec(trade["sz"]), trade["coin"]
        self.quote(coin).last_px = px
        sell = trade["side"] == "A"
        side = [o for o in self.orders.values() if o.coin == coin and o.is_buy == sell]
        through = [o for o in side if (o.px > px if sell else o.px < px)]
        through.sort(key=lambda o: (-o.px if sell else o.px, o.timestamp, o.oid))
        events: list[UserEvent] = []
        for order in through:
            if left <= 0:
                break
            qty = min(order.sz, left)
            left -= qty
            events += self._fill(order, order.px, qty, trade["time"], crossed=False)
        return events

    def _fill(self, order: Order, px: Decimal, qty: Decimal, time_ms: int, crossed: bool) -> list[UserEvent]:
        item = self.ledger(order.user).fill(order.coin, order.is_buy, px, qty, time_ms, order.oid, order.cloid, crossed)
        order.sz -= qty
        events = [UserEvent(order.user, "userFills", item)]
        if order.sz == 0:
            self.orders.pop(order.oid, None)
            events.append(self._update(order, "filled", time_ms))
        return events

    @staticmethod
    def _update(order: Order, status: str, time_ms: int) -> UserEvent:
        item = {"order": order.wire(), "status": status, "statusTimestamp": time_ms}
        return UserEvent(order.user, "orderUpdates", item)

    def place(
        self, user: str, w: dict[str, Any], now_ms: int, post_only: bool = False
    ) -> tuple[dict[str, Any], list[UserEvent]]:
        """Place one order wire; returns its status (``resting`` / ``filled`` / ``error``) and the user events."""
        asset, coin = w["a"], self.coin(w["a"])
        if coin is None:
            return {"error": f"Asset {asset} does not exist."}, []
        if "limit" not in w["t"]:
            return {"error": "Trigger orders are not supported by the fake exchange."}, []
        tif = w["t"]["limit"]["tif"]
        if post_only and tif != "Alo":
            if tif != "Gtc":
                return {"error": "Modify without always_place requires an Alo or Gtc order."}, []
            tif = "Alo"
        px, sz, is_buy = dec(w["p"]), dec(w["s"]), bool(w["b"])
        sz_decimals = self.universe[asset][1]
        if not price_ok(px, sz_decimals):
            return {"error": f"Price must be divisible by tick size. asset={asset}"}, []
        if not size_ok(sz, sz_decimals):
            return {"error": "Order has invalid size."}, []
        if px * sz < MIN_NOTIONAL:
            return {"error": "Order must have minimum value of $10."}, []
        held = self.ledger(user).positions.get(coin)
        if w["r"] and (held is None or held.szi == 0 or (held.szi > 0) == is_buy):
            return {"error": "Reduce only order would increase position."}, []
        quote = self.quote(coin)
        touch, touch_sz = (quote.ask, quote.ask_sz) if is_buy else (quote.bid, quote.bid_sz)
        crosses = touch is not None and (px >= touch if is_buy else px <= touch)
        if tif == "Alo" and crosses:
            bid, ask = (wire(side) if side is not None else "None" for side in (quote.bid, quote.ask))
            bbo = f"{bid}@{ask}"
            return {"error": f"Post only order would have immediately matched, bbo was {bbo}. asset={asset}"}, []
        if tif == "Ioc" and not (crosses and touch_sz > 0):
            return {"error": f"Order could not immediately match against any resting orders. asset={asset}"}, []
        order = Order(self.next_oid, user, coin, is_buy, px, sz, sz, now_ms, w.get("c"), bool(w["r"]))
        self.next_oid += 1
        if crosses and touch is not None and touch_sz > 0:
            return self._take(order, tif, touch, touch_sz, now_ms)
        self.orders[order.oid] = order
        resting: dict[str, Any] = {"oid": order.oid}
        if order.cloid is not None:
            resting["cloid"] = order.cloid
        return {"resting": resting}, [self._update(order, "open", now_ms)]

    def _take(
        self, order: Order, tif: str, touch: Decimal, touch_sz: Decimal, now_ms: int
    ) -> tuple[dict[str, Any], list[UserEvent]]:
        qty = min(order.sz, touch_sz)
        quote = self.quote(order.coin)
        if order.is_buy:
            quote.ask_sz -= qty
        else:
            quote.bid_sz -= qty
        self.orders[order.oid] = order
        events = self._fill(order, touch, qty, now_ms, crossed=True)
        if order.oid in self.orders:
            if tif == "Ioc":
                del self.orders[order.oid]
                events.append(self._update(order, "canceled", now_ms))
            else:
                events.append(self._update(order, "open", now_ms))
        filled = {"totalSz": wire(qty), "avgPx": wire(touch), "oid": order.oid}
        if order.cloid is not None:
            filled["cloid"] = order.cloid
        return {"filled": filled}, events

    def find(self, user: str, asset: int, oid: int | str) -> Order | None:
        """The user's open order on ``asset`` by oid (int) or cloid (hex string)."""
        for order in self.orders.values():
            by_cloid = isinstance(oid, str) and order.cloid is not None and order.cloid.lower() == oid.lower()
            if order.user == user and order.coin == self.coin(asset) and (order.oid == oid or by_cloid):
                return order
        return None

    def cancel(self, order: Order | None, now_ms: int, status: str = "canceled") -> tuple[Any, list[UserEvent]]:
        """Cancel an open order: ``"success"`` or the MissingOrder error."""
        if order is None or order.oid not in self.orders:
            return {"error": MISSING_ORDER}, []
        del self.orders[order.oid]
        return "success", [self._update(order, status, now_ms)]

    def cancel_all(self, user: str, now_ms: int, status: str) -> list[UserEvent]:
        return [event for order in self.open_orders(user) for event in self.cancel(order, now_ms, status)[1]]

    def marks(self) -> dict[str, Decimal]:
        return {coin: mid for coin, quote in self.market.items() if (mid := quote.mid()) is not None}
