"""Explicit polars dtypes of Hyperliquid wire payloads, so ``str.json_decode`` never has to infer.

Decimals stay strings here (they are cast to float64 later, exactly rounded); keys absent from a payload
decode as null and keys not listed are skipped, so older payloads and new fields are both harmless.
"""

from __future__ import annotations

import polars as pl

S, I64, F64 = pl.String(), pl.Int64(), pl.Float64()

LEVEL = pl.Struct({"px": S, "sz": S, "n": I64})
TRADE = pl.Struct({"coin": S, "side": S, "px": S, "sz": S, "time": I64, "hash": S, "tid": S, "users": pl.List(S)})
L2_BOOK = pl.Struct({"coin": S, "time": I64, "levels": pl.List(pl.List(LEVEL))})
BBO = pl.Struct({"coin": S, "time": I64, "bbo": pl.List(LEVEL)})
ASSET_CTX = pl.Struct(
    {
        "coin": S,
        "ctx": pl.Struct(
            {
                "funding": S,
                "openInterest": S,
                "prevDayPx": S,
                "dayNtlVlm": S,
                "premium": S,
                "oraclePx": S,
                "markPx": S,
                "midPx": S,
                "impactPxs": pl.List(S),
                "dayBaseVlm": S,
            }
        ),
    }
)
FILL = pl.Struct(
    {
        "coin": S,
        "px": S,
        "sz": S,
        "side": S,
        "time": I64,
        "startPosition": S,
        "dir": S,
        "closedPnl": S,
        "hash": S,
        "oid": I64,
        "crossed": pl.Boolean(),
        "fee": S,
        "tid": S,  # text, so a tid beyond Int64 is seen and quarantined (data_lake.contract.tid_from_text)
        "cloid": S,
        "liquidation": pl.Struct({"liquidatedUser": S, "method": S}),
        "feeToken": S,
    }
)
USER_FILLS = pl.Struct({"isSnapshot": pl.Boolean(), "user": S, "fills": pl.List(FILL)})
ORDER_UPDATE = pl.Struct(
    {
        "order": pl.Struct(
            {"coin": S, "side": S, "limitPx": S, "sz": S, "oid": I64, "timestamp": I64, "origSz": S, "cloid": S}
        ),
        "status": S,
        "statusTimestamp": I64,
    }
)
NODE_TRADE = pl.Struct(
    {
        "coin": S,
        "side": S,
        "time": S,
        "px": S,
        "sz": S,
        "hash": S,
        "side_info": pl.List(pl.Struct({"user": S, "oid": I64, "cloid": S})),
    }
)
NODE_FILL = pl.Struct({"user": S, "fill": FILL})
"""A node ``[user, fill]`` pair after :func:`data_lake.parsers.decode.pairs_to_objects` rewrote it."""
NODE_BLOCK = pl.Struct({"local_time": S, "block_time": S, "block_number": I64, "events": pl.List(NODE_FILL)})

QUOTER_FRAME = pl.Struct(
    {
        "coin": S,
        "time": I64,
        "event": S,
        "status": S,
        "state": S,
        "oid": I64,
        "tid": I64,
        "side": S,
        "px": F64,
        "sz": F64,
        "pred_fill_prob": F64,
        "pred_adverse_bps": F64,
        "belief_calm": F64,
        "belief_volatile": F64,
        "belief_cascade": F64,
        "param_set_id": S,
    }
)
"""The common fields of the quoter's log frames (quoting/runtime/quote_log.py); the whole frame is kept as JSON."""
QUOTER_CHANNELS = ("quoterParams", "quoterQuote", "quoterOrder", "quoterFill", "quoterPull")

CHANNEL_DATA: dict[str, pl.DataType] = {
    "trades": pl.List(TRADE),
    "l2Book": L2_BOOK,
    "bbo": BBO,
    "activeAssetCtx": ASSET_CTX,
    "activeSpotAssetCtx": ASSET_CTX,
    "userFills": USER_FILLS,
    "user": USER_FILLS,
    "orderUpdates": pl.List(ORDER_UPDATE),
    "node_trades": NODE_TRADE,
    "node_fills": NODE_FILL,
    "node_fills_by_block": NODE_BLOCK,
    **dict.fromkeys(QUOTER_CHANNELS, QUOTER_FRAME),
}
"""The ``data`` dtype of every channel with a clean table (the ``user`` channel only carries fills for us)."""

CONTROL_CHANNELS = frozenset({"subscriptionResponse", "pong", "error", "post"})
NODE_CHANNELS = ("node_trades", "node_fills", "node_fills_by_block")


def envelope(data: pl.DataType) -> pl.Struct:
    """The raw-zone envelope around a frame whose ``data`` has dtype ``data``."""
    return pl.Struct({"time": S, "raw": pl.Struct({"channel": S, "data": data})})
