"""hl-node outputs -> trades: ``node_trades`` lines, and ``node_fills`` / ``node_fills_by_block`` fills.

node_trades: ISO-ns ``time``, ``side_info`` = [buyer, seller], no tid (a derived one, see
:mod:`data_lake.parsers.ids`). Node fills report every trade twice, once per side with the same tid;
:func:`resolve_node_fills` pairs them into one trade: buyer = user of the ``B`` fill, seller = user of
the ``A`` fill, aggressor = side of the fill with ``crossed`` (the opposite of a lone maker fill's side).
The partner fill is counted as a duplicate. Fills with tid 0 (e.g. the daily ``Spot Dust Conversion``,
with an all-zero hash and no counterparty) are system rows, not trades: they are quarantined.
"""

from __future__ import annotations

import polars as pl

from data_lake.contract import tid_from_text
from data_lake.parsers.decode import decimal, iso_to_ns, side_sign
from data_lake.parsers.ids import derived_tid, hash_prefix
from data_lake.parsers.records import PROVENANCE_COLUMNS, Records, candidate, explode_items, quarantined
from data_lake.units import NS_PER_MS

PAIR_KEY = ("coin", "time", "tid")


def trades(frame: pl.DataFrame) -> Records:
    """``node_trades`` lines: one trade each, tid derived from both orders, the time and the print."""
    trade = pl.col("data").struct
    side_info = trade.field("side_info")
    buyer, seller = side_info.list.get(0, null_on_oob=True).struct, side_info.list.get(1, null_on_oob=True).struct
    df = frame.select(
        "_file",
        "_line",
        pl.lit(0, pl.Int32).alias("_item"),
        trade.field("coin").alias("coin"),
        (iso_to_ns(trade.field("time")) // NS_PER_MS).alias("time"),
        decimal(trade.field("px")).alias("px"),
        decimal(trade.field("sz")).alias("sz"),
        side_sign(trade.field("side")).alias("side"),
        buyer.field("user").alias("buyer"),
        seller.field("user").alias("seller"),
        trade.field("hash").alias("hash"),
        pl.col("_source").alias("source"),
        "recv_time_ns",
        pl.col("text").alias("_raw"),
        buyer.field("oid").alias("_buyer_oid"),
        seller.field("oid").alias("_seller_oid"),
    )
    keys = df.select("_buyer_oid", "_seller_oid", "time", "px", "sz", hash_prefix(pl.col("hash")))
    return Records(tables={"trades": candidate("trades", df.with_columns(derived_tid(keys)))})


def _fill_rows(rows: pl.DataFrame, raw: pl.Expr) -> pl.DataFrame:
    """Node-fill candidate rows from one ``{user, fill}`` struct per row (column ``item``)."""
    fill = pl.col("item").struct.field("fill").struct
    df = rows.select(
        "_file",
        "_line",
        "_item",
        fill.field("coin").alias("coin"),
        fill.field("time").alias("time"),
        *(e.alias(name) for name, e in tid_from_text(fill.field("tid")).items()),
        pl.col("item").struct.field("user").alias("user"),
        side_sign(fill.field("side")).alias("side"),
        fill.field("crossed").alias("crossed"),
        decimal(fill.field("px")).alias("px"),
        decimal(fill.field("sz")).alias("sz"),
        fill.field("hash").alias("hash"),
        fill.field("dir").alias("dir"),
        pl.col("_source").alias("source"),
        "recv_time_ns",
        raw.alias("_raw"),
    )
    return candidate("node_fills", df)


def fills(frame: pl.DataFrame) -> Records:
    """``node_fills`` lines: one ``[user, fill]`` each."""
    rows = frame.with_columns(pl.col("data").alias("item"), pl.lit(0, pl.Int32).alias("_item"))
    return Records(tables={"node_fills": _fill_rows(rows, pl.col("text"))})


def block_fills(frame: pl.DataFrame) -> Records:
    """``node_fills_by_block`` lines: one fill per event; an empty block holds no record."""
    events = pl.col("data").struct.field("events")
    rows, hollow = explode_items(frame, events, "block without events", "empty block (no fills)")
    df = _fill_rows(rows, pl.col("item").struct.json_encode())
    return Records(tables={"node_fills": df}, quarantine=hollow.quarantine)


def resolve_node_fills(records: Records) -> Records:
    """Turn the node fills of ``records`` into trades: system rows quarantined, buyer/seller pairs merged."""
    node_fills = records.table("node_fills").sort(PROVENANCE_COLUMNS)
    system = (pl.col("tid") == 0).fill_null(False)
    reason = pl.concat_str(pl.lit("system fill, not a trade (tid 0): "), pl.col("dir").fill_null("?"))
    fills = node_fills.filter(~system)
    aggressor = pl.when(pl.col("crossed")).then(pl.col("side")).otherwise(-pl.col("side"))
    paired = fills.group_by(PAIR_KEY, maintain_order=True).agg(
        *(pl.col(c).first() for c in (*PROVENANCE_COLUMNS, "px", "sz", "hash", "source", "recv_time_ns", "_raw")),
        aggressor.drop_nulls().first().alias("side"),
        pl.col("user").filter(pl.col("side") == 1).first().alias("buyer"),
        pl.col("user").filter(pl.col("side") == -1).first().alias("seller"),
    )
    partners = fills.filter(pl.int_range(pl.len()).over(PAIR_KEY) > 0).select(*PROVENANCE_COLUMNS, "time")
    trades = pl.concat([records.table("trades"), candidate("trades", paired)], how="vertical")
    return Records(
        tables={**{k: v for k, v in records.tables.items() if k != "node_fills"}, "trades": trades},
        quarantine=pl.concat([records.quarantine, quarantined(node_fills.filter(system), reason)], how="vertical"),
        duplicates=pl.concat([records.duplicates, partners], how="vertical"),
    )
