"""Which coin's raw-zone file a received WS frame goes to.

Market frames name their coin (``trades`` items, ``data.coin``, a candle's ``s``). User frames are split by
coin: ``userFills`` and ``user`` fills, ``orderUpdates`` orders and ``nonUserCancel`` entries become one frame
per coin holding only that coin's items (other keys such as ``isSnapshot`` and ``user`` kept); a frame whose
items all share one coin is kept exactly as received. Frames that name no coin (an empty ``trades`` list,
liquidation events, ``error`` frames, non-JSON text) are unattributed. Control frames
(``subscriptionResponse``, ``pong``) are not data and are never written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CONTROL_CHANNELS = frozenset({"subscriptionResponse", "pong"})
COIN_CHANNELS = frozenset({"l2Book", "bbo", "activeAssetCtx", "activeSpotAssetCtx", "activeAssetData"})

Route = tuple[str | None, dict[str, Any] | None]
"""(coin, or None for unattributed; a replacement frame, or None to keep the frame as received)."""


def _by_coin(items: list[Any], coin_of: Callable[[Any], str]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for item in items:
        groups.setdefault(coin_of(item), []).append(item)
    return groups


def _split(groups: dict[str, list[Any]], rebuild: Callable[[list[Any]], dict[str, Any]]) -> list[Route]:
    if not groups:
        return [(None, None)]
    if len(groups) == 1:
        return [(next(iter(groups)), None)]
    return [(coin, rebuild(part)) for coin, part in groups.items()]


def _split_key(frame: dict[str, Any], key: str) -> list[Route]:
    data = frame["data"]
    return _split(_by_coin(data[key], lambda item: item["coin"]), lambda part: {**frame, "data": {**data, key: part}})


def route(frame: Any) -> list[Route]:
    """Where the parts of one data frame go (call only for frames whose channel is not a control channel)."""
    return [(coin if isinstance(coin, str) and coin else None, part) for coin, part in _route(frame)]


def _route(frame: Any) -> list[Route]:
    try:
        channel, data = frame["channel"], frame["data"]
        if channel in COIN_CHANNELS:
            return [(data["coin"], None)]
        if channel == "candle":
            return [(data["s"], None)]
        if channel == "trades":
            return _split(_by_coin(data, lambda t: t["coin"]), lambda part: {**frame, "data": part})
        if channel == "orderUpdates":
            return _split(_by_coin(data, lambda o: o["order"]["coin"]), lambda part: {**frame, "data": part})
        if channel == "userFills" or (channel == "user" and "fills" in data):
            return _split_key(frame, "fills")
        if channel == "user" and "nonUserCancel" in data:
            return _split_key(frame, "nonUserCancel")
        if channel == "user" and "funding" in data:
            return [(data["funding"]["coin"], None)]
    except (KeyError, TypeError, IndexError, AttributeError):
        pass
    return [(None, None)]
