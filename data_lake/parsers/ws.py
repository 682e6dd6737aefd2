"""WS ``trades``, ``activeAssetCtx``, ``userFills`` / ``user`` and ``orderUpdates`` frames -> table rows.

Each mapper takes the decoded frames of one channel (columns ``_file``, ``_line``, ``_source``, ``text``,
``recv_time_ns``, ``data``) and returns candidate rows plus the frames that hold no record.
"""

from __future__ import annotations

import polars as pl

from data_lake.contract import tid_from_text
from data_lake.parsers.decode import decimal, side_sign
from data_lake.parsers.ids import derived_tid, hash_prefix
from data_lake.parsers.records import Records, candidate, explode_items
from data_lake.units import NS_PER_MS


def with_tids(df: pl.DataFrame, *keys: pl.Expr) -> pl.DataFrame:
    """Fill missing ``tid`` values with the derived tid of ``keys`` (see :mod:`data_lake.parsers.ids`)."""
    if df.height == 0 or df["tid"].null_count() == 0:
        return df
    derived = derived_tid(df.select(*keys))
    return df.with_columns(pl.coalesce(pl.col("tid"), pl.lit(derived)).alias("tid"))


def trades(frame: pl.DataFrame) -> Records:
    """``trades`` frames: one row per trade; ``users`` = [buyer, seller], ``side`` = the aggressor's."""
    rows, hollow = explode_items(frame, pl.col("data"), "trades frame without data", "empty trades frame")
    trade = pl.col("item").struct
    users = trade.field("users")
    df = rows.select(
        "_file",
        "_line",
        "_item",
        trade.field("coin").alias("coin"),
        trade.field("time").alias("time"),
        *(e.alias(name) for name, e in tid_from_text(trade.field("tid")).items()),
        decimal(trade.field("px")).alias("px"),
        decimal(trade.field("sz")).alias("sz"),
        side_sign(trade.field("side")).alias("side"),
        users.list.get(0, null_on_oob=True).alias("buyer"),
        users.list.get(1, null_on_oob=True).alias("seller"),
        trade.field("hash").alias("hash"),
        pl.col("_source").alias("source"),
        "recv_time_ns",
        pl.col("item").struct.json_encode().alias("_raw"),
    )
    df = with_tids(df, pl.col("time"), pl.col("px"), pl.col("sz"), hash_prefix(pl.col("hash")))
    return Records(tables={"trades": candidate("trades", df)}, quarantine=hollow.quarantine)


def _ctx_number(key: str) -> pl.Expr:
    return decimal(pl.col("data").struct.field("ctx").struct.field(key))


def asset_ctx(frame: pl.DataFrame) -> Records:
    """``activeAssetCtx`` / ``activeSpotAssetCtx``: ctx frames carry no time, so time = receive time."""
    data = pl.col("data").struct
    impact = data.field("ctx").struct.field("impactPxs")
    df = frame.select(
        "_file",
        "_line",
        pl.lit(0, pl.Int32).alias("_item"),
        data.field("coin").alias("coin"),
        (pl.col("recv_time_ns") // NS_PER_MS).alias("time"),
        "recv_time_ns",
        _ctx_number("funding").alias("funding"),
        _ctx_number("openInterest").alias("open_interest"),
        _ctx_number("oraclePx").alias("oracle_px"),
        _ctx_number("markPx").alias("mark_px"),
        _ctx_number("midPx").alias("mid_px"),
        _ctx_number("premium").alias("premium"),
        decimal(impact.list.get(0, null_on_oob=True)).alias("impact_bid_px"),
        decimal(impact.list.get(1, null_on_oob=True)).alias("impact_ask_px"),
        _ctx_number("dayNtlVlm").alias("day_ntl_vlm"),
        _ctx_number("dayBaseVlm").alias("day_base_vlm"),
        _ctx_number("prevDayPx").alias("prev_day_px"),
        pl.col("_source").alias("source"),
        pl.col("text").alias("_raw"),
    )
    return Records(tables={"asset_ctx": candidate("asset_ctx", df)})


def fill_rows(rows: pl.DataFrame, user: pl.Expr) -> pl.DataFrame:
    """``fills`` candidate rows from one decoded fill per row (column ``item``); old fills lack tid."""
    fill = pl.col("item").struct
    df = rows.select(
        "_file",
        "_line",
        "_item",
        fill.field("coin").alias("coin"),
        fill.field("time").alias("time"),
        *(e.alias(name) for name, e in tid_from_text(fill.field("tid")).items()),
        fill.field("oid").alias("oid"),
        user.alias("user"),
        side_sign(fill.field("side")).alias("side"),
        decimal(fill.field("px")).alias("px"),
        decimal(fill.field("sz")).alias("sz"),
        decimal(fill.field("fee")).alias("fee"),
        fill.field("feeToken").alias("fee_token"),
        (~fill.field("crossed")).alias("is_maker"),
        fill.field("cloid").alias("cloid"),
        fill.field("hash").alias("hash"),
        fill.field("dir").alias("dir"),
        decimal(fill.field("closedPnl")).alias("closed_pnl"),
        decimal(fill.field("startPosition")).alias("start_position"),
        fill.field("liquidation").is_not_null().alias("is_liquidation"),
        pl.col("_source").alias("source"),
        "recv_time_ns",
        pl.col("item").struct.json_encode().alias("_raw"),
    )
    keys = ("oid", "time", "px", "sz", "start_position")
    df = with_tids(df, *(pl.col(k) for k in keys), hash_prefix(pl.col("hash")))
    return candidate("fills", df)


def fills(frame: pl.DataFrame) -> Records:
    """``userFills`` and ``user`` (userEvents) frames: one row per own fill.

    A ``user`` event holding funding, a liquidation or non-user cancels has no fills and no clean table.
    """
    data = pl.col("data").struct
    rows, hollow = explode_items(
        frame.with_columns(data.field("user").alias("_user")),
        data.field("fills"),
        "user event without fills (funding, liquidation or cancel: no clean table)",
        "empty fills frame",
    )
    df = fill_rows(rows, pl.col("_user"))
    return Records(tables={"fills": df}, quarantine=hollow.quarantine)


def order_updates(frame: pl.DataFrame) -> Records:
    """``orderUpdates`` frames: one row per status change; time = statusTimestamp."""
    rows, hollow = explode_items(frame, pl.col("data"), "orderUpdates frame without data", "empty orderUpdates frame")
    update = pl.col("item").struct
    order = update.field("order").struct
    df = rows.select(
        "_file",
        "_line",
        "_item",
        order.field("coin").alias("coin"),
        update.field("statusTimestamp").alias("time"),
        order.field("oid").alias("oid"),
        order.field("cloid").alias("cloid"),
        side_sign(order.field("side")).alias("side"),
        decimal(order.field("limitPx")).alias("limit_px"),
        decimal(order.field("sz")).alias("sz"),
        decimal(order.field("origSz")).alias("orig_sz"),
        update.field("status").alias("status"),
        order.field("timestamp").alias("order_time"),
        pl.col("_source").alias("source"),
        "recv_time_ns",
        pl.col("item").struct.json_encode().alias("_raw"),
    )
    return Records(tables={"order_updates": candidate("order_updates", df)}, quarantine=hollow.quarantine)
