"""Hyperliquid WS frames (trades, bbo, l2Book, activeAssetCtx) as JSON text, built column-wise with polars.

Each builder returns ``time`` (exchange time, epoch ms), ``rank`` (order of frames sharing a ms: trades of a
block come before the book state after it) and ``frame`` (the JSON text, keys in Hyperliquid's order).
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from data_lake.demo_market.book import LevelProfile, price_prefixes
from data_lake.demo_market.config import DemoMarketConfig
from data_lake.demo_market.wire import decimal_strings

RANK_TRADES, RANK_BBO, RANK_L2BOOK, RANK_CTX = range(4)
FRAME_SCHEMA = {"time": pl.Int64, "rank": pl.Int8, "frame": pl.String}


def _framed(time_ms: np.ndarray, rank: int, frame: pl.Series) -> pl.DataFrame:
    times = np.asarray(time_ms, dtype=np.int64)
    return pl.DataFrame({"time": times, "rank": rank, "frame": frame}, schema=FRAME_SCHEMA)


def trades_frames(config: DemoMarketConfig, trades: pl.DataFrame) -> pl.DataFrame:
    """One ``trades`` frame per taker order, holding one print per level it swept."""
    coin = json.dumps(config.coin)
    prints = trades.with_columns(
        decimal_strings(trades["px_ticks"].to_numpy(), config.tick_decimals).alias("px_text"),
        decimal_strings(trades["sz_lots"].to_numpy(), config.sz_decimals).alias("sz_text"),
    ).select(
        "order",
        "time",
        pl.concat_str(
            pl.lit(f'{{"coin":{coin},"side":"'),
            pl.when(pl.col("side") > 0).then(pl.lit("B")).otherwise(pl.lit("A")),
            pl.lit('","px":"'),
            pl.col("px_text"),
            pl.lit('","sz":"'),
            pl.col("sz_text"),
            pl.lit('","time":'),
            pl.col("time").cast(pl.String),
            pl.lit(',"hash":"'),
            pl.col("hash"),
            pl.lit('","tid":'),
            pl.col("tid").cast(pl.String),
            pl.lit(',"users":["'),
            pl.col("buyer"),
            pl.lit('","'),
            pl.col("seller"),
            pl.lit('"]}'),
        ).alias("print"),
    )
    orders = prints.group_by("order", maintain_order=True).agg(pl.col("time").first(), pl.col("print").str.join(","))
    frame = pl.concat_str(pl.lit('{"channel":"trades","data":['), pl.col("print"), pl.lit("]}"))
    return _framed(orders["time"].to_numpy(), RANK_TRADES, orders.select(frame).to_series())


def bbo_frames(
    config: DemoMarketConfig,
    profile: LevelProfile,
    block_time_ms: np.ndarray,
    bid_ticks: np.ndarray,
    changed: np.ndarray,
) -> pl.DataFrame:
    """A ``bbo`` frame at every block (time, best bid in ticks) flagged ``changed`` (best price or size moved)."""
    coin = json.dumps(config.coin)
    time, bid = block_time_ms[changed], bid_ticks[changed]
    ask = bid + config.spread_ticks
    prefixes, first = price_prefixes(bid, config.spread_ticks, config.tick_decimals)
    best_bid = profile.level_text(prefixes, bid - first, profile.keys(bid, time))
    best_ask = profile.level_text(prefixes, ask - first, profile.keys(ask, time))
    frame = pl.DataFrame({"time": time, "bid": best_bid, "ask": best_ask}).select(
        pl.concat_str(
            pl.lit(f'{{"channel":"bbo","data":{{"coin":{coin},"time":'),
            pl.col("time").cast(pl.String),
            pl.lit(',"bbo":['),
            pl.col("bid"),
            pl.lit(","),
            pl.col("ask"),
            pl.lit("]}}"),
        )
    )
    return _framed(time, RANK_BBO, frame.to_series())


def l2book_frames(
    config: DemoMarketConfig,
    profile: LevelProfile,
    time_ms: np.ndarray,
    block_time_ms: np.ndarray,
    bid_ticks: np.ndarray,
) -> pl.DataFrame:
    """Full ``l2Book`` snapshots (``book_levels`` per side, one per tick) at ``time_ms``, sized as of their block."""
    coin = json.dumps(config.coin)
    depth = config.book_levels
    prefixes, first = price_prefixes(bid_ticks, depth + config.spread_ticks - 1, config.tick_decimals)

    def side_text(price_of_level: list[np.ndarray]) -> pl.Series:
        levels = {
            f"l{j}": profile.level_text(prefixes, price - first, profile.keys(price, block_time_ms))
            for j, price in enumerate(price_of_level)
        }
        return pl.DataFrame(levels).select(pl.concat_str(pl.all(), separator=",")).to_series()

    bids = side_text([bid_ticks - j for j in range(depth)])
    asks = side_text([bid_ticks + config.spread_ticks + j for j in range(depth)])
    frame = pl.DataFrame({"time": time_ms, "bids": bids, "asks": asks}).select(
        pl.concat_str(
            pl.lit(f'{{"channel":"l2Book","data":{{"coin":{coin},"time":'),
            pl.col("time").cast(pl.String),
            pl.lit(',"levels":[['),
            pl.col("bids"),
            pl.lit("],["),
            pl.col("asks"),
            pl.lit("]]}}"),
        )
    )
    return _framed(time_ms, RANK_L2BOOK, frame.to_series())


def ctx_frames(config: DemoMarketConfig, time_ms: np.ndarray, fields: dict[str, np.ndarray]) -> pl.DataFrame:
    """``activeAssetCtx`` frames; ``fields`` holds integer units: prices in ticks, ``mid`` in half ticks,
    ``funding``/``premium`` in 1e-10, ``open_interest``/``day_base_vlm`` in lots, ``day_ntl_vlm`` in tick*lot."""
    coin = json.dumps(config.coin)
    px, sz = config.tick_decimals, config.sz_decimals
    text = {
        "funding": decimal_strings(fields["funding"], 10),
        "openInterest": decimal_strings(fields["open_interest"], sz),
        "prevDayPx": decimal_strings(fields["prev_day_px"], px),
        "dayNtlVlm": decimal_strings(fields["day_ntl_vlm"], px + sz),
        "premium": decimal_strings(fields["premium"], 10),
        "oraclePx": decimal_strings(fields["oracle_px"], px),
        "markPx": decimal_strings(fields["mark_px"], px),
        "midPx": decimal_strings(fields["mid"] * 5, px + 1),
        "impactBid": decimal_strings(fields["impact_bid_px"], px),
        "impactAsk": decimal_strings(fields["impact_ask_px"], px),
        "dayBaseVlm": decimal_strings(fields["day_base_vlm"], sz),
    }
    pieces: list[pl.Expr] = [pl.lit(f'{{"channel":"activeAssetCtx","data":{{"coin":{coin},"ctx":{{')]
    quoted = ("funding", "openInterest", "prevDayPx", "dayNtlVlm", "premium", "oraclePx", "markPx", "midPx")
    for i, name in enumerate(quoted):
        pieces += [pl.lit(f'{"," if i else ""}"{name}":"'), pl.col(name), pl.lit('"')]
    pieces += [pl.lit(',"impactPxs":["'), pl.col("impactBid"), pl.lit('","'), pl.col("impactAsk")]
    pieces += [pl.lit('"],"dayBaseVlm":"'), pl.col("dayBaseVlm"), pl.lit('"}}}')]
    return _framed(time_ms, RANK_CTX, pl.DataFrame(text).select(pl.concat_str(pieces)).to_series())
