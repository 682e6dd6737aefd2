"""Info-API JSON (``userFills``, ``userFillsByTime``, ``l2Book``, ``historicalOrders``) -> table rows.

Accepts a bare response body or the recorded-cassette shape ``{"request", "uri", "date", "response"}``.
The request type, when present, decides; otherwise the payload's shape does. Any other request (meta,
funding, candles, ...) has no clean table: the whole document is quarantined as one record, with the
request type in the reason. The document is one "line" (``_line`` 1); list items keep their index.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from data_lake.parsers import book, ws
from data_lake.parsers.records import Records, quarantined
from data_lake.parsers.schemas import L2_BOOK, ORDER_UPDATE, USER_FILLS

FILL_REQUESTS = ("userFills", "userFillsByTime")


def _kind(request: dict[str, Any] | None, payload: Any) -> str:
    """The request type, or the payload's shape when no request was recorded."""
    if request and isinstance(request.get("type"), str):
        return request["type"]
    if isinstance(payload, dict) and "levels" in payload:
        return "l2Book"
    if isinstance(payload, list) and payload and all(isinstance(x, dict) for x in payload):
        if all("oid" in x and "px" in x and "side" in x for x in payload):
            return "userFills"
        if all("order" in x and "status" in x for x in payload):
            return "historicalOrders"
    return "unknown"


def _frame(text: str, data: Any, dtype: pl.DataType, source: str) -> pl.DataFrame:
    """A one-row frame shaped like a decoded channel group, its ``data`` decoded with ``dtype``."""
    decoded = pl.Series([json.dumps(data)]).str.json_decode(dtype=dtype)
    return pl.DataFrame(
        {"_file": [0], "_line": [1], "_source": [source], "text": [text], "recv_time_ns": [None], "data": decoded},
        schema_overrides={"_file": pl.Int32, "_line": pl.Int64, "recv_time_ns": pl.Int64},
    )


def _whole(text: str, reason: str) -> Records:
    row = pl.DataFrame({"_file": [0], "_line": [1], "_item": [0], "_raw": [text]})
    return Records(quarantine=quarantined(row, reason))


def parse_info_json(text: str, source: str = "api") -> Records:
    """Parse one Info-API document into fills, book or order-update rows (or one quarantined record)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return _whole(text, "invalid JSON (corrupt document)")
    cassette = isinstance(document, dict) and "response" in document and "request" in document
    request = document["request"] if cassette else None
    payload = document["response"] if cassette else document
    kind = _kind(request, payload)
    try:
        if kind in FILL_REQUESTS and isinstance(payload, list):
            user = str(request["user"]).lower() if request and request.get("user") else None
            return ws.fills(_frame(text, {"user": user, "fills": payload}, USER_FILLS, source))
        if kind == "l2Book" and isinstance(payload, dict):
            return book.l2book(_frame(text, payload, L2_BOOK, source))
        if kind == "historicalOrders" and isinstance(payload, list):
            return ws.order_updates(_frame(text, payload, pl.List(ORDER_UPDATE), source))
    except pl.exceptions.PolarsError:
        return _whole(text, f"{kind} response does not match the expected schema")
    return _whole(text, f"unsupported info request: {kind} (no clean table)")
