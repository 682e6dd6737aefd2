"""Hyperliquid's ``historical_data`` trade CSV (``time,user,coin,side,px,sz,crossed``) -> node-fill raw lines.

Each row is one side of a fill (github.com/hyperliquid-dex/historical_data, e.g. ``non_mm_trades.csv``):
``time`` ISO to the second (``2023-02-27T15:02:26Z``), the filled ``user``, ``side`` ``Bid``/``Ask`` (that user's
side), ``crossed`` ``true`` when that user was the taker. That is a node fill without tid or hash, so each row
becomes the same ``node_fills`` frame the node importer writes, ``[user, {coin, px, sz, side: "B"|"A", time,
crossed, tid}]``, and the cleaning pairs the two sides of a trade into one row exactly as it pairs node fills
(:func:`data_lake.parsers.node.resolve_node_fills`: buyer = the ``B`` side's user, seller = the ``A`` side's,
aggressor = the crossed side; a lone side gives a trade with one party; the partner counts as a duplicate).

Trade ids: the file has none, so both sides of a trade get the same derived id (:mod:`data_lake.parsers.ids`)
from (time, px, sz, aggressor side, rank): the aggressor is the row's side when crossed, else the opposite, and
rank numbers the takers and, apart, the makers of one (coin, second, px, sz, aggressor) in file order, so the
k-th taker fill pairs with the k-th maker fill. Identical prints in one second therefore stay distinct trades,
though which maker pairs with which taker among them is not recorded by the file.

Time: the file has whole seconds, and so do the rows (``time`` = second x 1000, no invented milliseconds).
Prints sharing a second keep the file's row order (the cleaning sorts by time stably), which in the dumps is
execution order (a taker's sweep lists its prints best price first). The envelope time is the trade time (the
file gives no receive time). Rows with an unreadable time, coin, user, side or crossed flag are set aside with
the reason; prices and sizes are judged by the cleaning. Source directory: ``raw/hl_historical``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from data_lake.parsers.decode import decimal
from data_lake.parsers.ids import derived_tid
from data_lake.table_mapping import InputError
from data_lake.tabular_import import epoch_ns, json_value, read_input, row_items, text_value
from data_lake.units import NS_PER_MS

COLUMNS = ("time", "user", "coin", "side", "px", "sz", "crossed")
_SIDES = {"bid": 1, "b": 1, "ask": -1, "a": -1}
_CROSSED = {"true": True, "false": False}


def historical_trade_items(path: str | Path) -> pl.DataFrame:
    """Items (``_line``, coin, recv_ns, line, reason) of one historical trades CSV, in the importer's shape."""
    source = read_input(path)
    if source.original_key != "csv" or sorted(source.columns) != sorted(COLUMNS):
        raise InputError(f"not a Hyperliquid historical trades CSV: columns {source.columns}, expected {list(COLUMNS)}")
    rows = source.rows
    time_ns, time_why = epoch_ns(rows["time"], "iso")
    side = text_value(pl.col("side")).str.to_lowercase().replace_strict(_SIDES, default=None, return_dtype=pl.Int8)
    crossed = (
        text_value(pl.col("crossed")).str.to_lowercase().replace_strict(_CROSSED, default=None, return_dtype=pl.Boolean)
    )
    work = rows.with_columns(
        text_value(pl.col("coin")).alias("coin"),
        text_value(pl.col("user")).alias("user"),
        text_value(pl.col("px")).alias("px"),
        text_value(pl.col("sz")).alias("sz"),
        side.alias("side"),
        crossed.alias("crossed"),
        pl.lit(time_ns).alias("recv_ns"),
        (pl.lit(time_ns) // NS_PER_MS).alias("time"),
    ).with_columns(pl.when(pl.col("crossed")).then(pl.col("side")).otherwise(-pl.col("side")).alias("aggressor"))
    reason = (
        pl.when(pl.col("coin").is_null())
        .then(pl.lit("no coin"))
        .when(pl.lit(time_why).is_not_null())
        .then(pl.lit(time_why))
        .when(pl.col("user").is_null())
        .then(pl.lit("no user"))
        .when(pl.col("side").is_null())
        .then(pl.lit("side is not Bid or Ask"))
        .when(pl.col("crossed").is_null())
        .then(pl.lit("crossed is not true or false"))
    )
    work = work.with_columns(
        reason.alias("reason"), decimal(pl.col("px")).alias("_px"), decimal(pl.col("sz")).alias("_sz")
    )
    rank = pl.int_range(pl.len(), dtype=pl.Int64).over("coin", "time", "_px", "_sz", "aggressor", "crossed")
    keys = work.select("time", "_px", "_sz", pl.col("aggressor").cast(pl.Int64), rank.alias("rank"))
    work = work.with_columns(derived_tid(keys).alias("tid"))
    fill = pl.struct(
        "coin",
        "px",
        "sz",
        pl.when(pl.col("side") == 1).then(pl.lit("B")).otherwise(pl.lit("A")).alias("side"),
        "time",
        "crossed",
        "tid",
    )
    frame = pl.concat_str(
        pl.lit('{"channel":"node_fills","data":['),
        json_value(pl.col("user")),
        pl.lit(","),
        fill.struct.json_encode(),
        pl.lit('],"csv":'),
        json_value(pl.col("_original")),
        pl.lit("}"),
    )
    return row_items(source, work, frame)
