"""``POST /info``: meta, metaAndAssetCtxs, spotMeta, l2Book, allMids, openOrders, userFills, clearinghouseState."""

from __future__ import annotations

from typing import Any

from .actions import DESERIALIZE_ERROR, Reply
from .venue import Venue
from .wire import wire

MAX_USER_FILLS = 2000
MAX_LEVERAGE = 20


def meta(venue: Venue) -> dict[str, Any]:
    return {"universe": [{"szDecimals": d, "name": name, "maxLeverage": MAX_LEVERAGE} for name, d in venue.universe]}


def spot_meta() -> dict[str, Any]:
    return {"universe": [], "tokens": []}


def _ctx(venue: Venue, coin: str) -> dict[str, Any]:
    quote = venue.quote(coin)
    if quote.ctx is not None:
        return quote.ctx
    mid = quote.mid()
    px = wire(mid) if mid is not None else "0.0"
    return {
        "funding": "0.0",
        "openInterest": "0.0",
        "prevDayPx": px,
        "dayNtlVlm": "0.0",
        "premium": None,
        "oraclePx": px,
        "markPx": px,
        "midPx": px if mid is not None else None,
        "impactPxs": None,
        "dayBaseVlm": "0.0",
    }


def _open_order(order_wire: dict[str, Any]) -> dict[str, Any]:
    out = {key: order_wire[key] for key in ("coin", "limitPx", "oid", "side", "sz", "timestamp", "origSz")}
    if order_wire["cloid"] is not None:
        out["cloid"] = order_wire["cloid"]
    return out


def handle_info(venue: Venue, body: Any, now_ms: int) -> Reply:
    """Answer one info request; unknown types and malformed bodies get the exchange's 422."""
    try:
        kind = body["type"]
        if kind == "meta":
            return Reply(200, meta(venue))
        if kind == "spotMeta":
            return Reply(200, spot_meta())
        if kind == "metaAndAssetCtxs":
            return Reply(200, [meta(venue), [_ctx(venue, name) for name, _ in venue.universe]])
        if kind == "allMids":
            return Reply(200, {coin: wire(mid) for coin, mid in venue.marks().items()})
        if kind == "l2Book":
            coin = body["coin"]
            book = venue.quote(coin).book if coin in venue.market else None
            return Reply(200, book or {"coin": coin, "time": now_ms, "levels": [[], []]})
        user = body["user"].lower()
        if kind == "openOrders":
            return Reply(200, [_open_order(o.wire()) for o in venue.open_orders(user)])
        if kind == "userFills":
            return Reply(200, list(reversed(venue.ledger(user).fills))[:MAX_USER_FILLS])
        if kind == "clearinghouseState":
            return Reply(200, venue.ledger(user).state(venue.marks(), now_ms))
    except (KeyError, TypeError, AttributeError):
        pass
    return Reply(422, DESERIALIZE_ERROR)
