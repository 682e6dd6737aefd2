"""What a WS recorder subscribed to trades, bbo, l2Book and activeAssetCtx would have seen on one simulated day.

bbo: a frame at every 100 ms block whose best price or best size changed. l2Book: snapshots every
``book_interval_ms`` plus an exponential jitter, showing the book as of their block. activeAssetCtx: every
``ctx_interval_ms`` +- ``ctx_jitter_ms``, with the hour's funding rate, open interest, oracle/mark/impact prices
near the mid and rolling 24 h volumes of the simulated trades.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from data_lake.demo_market.book import LevelProfile
from data_lake.demo_market.config import DemoMarketConfig
from data_lake.demo_market.frames import FRAME_SCHEMA, bbo_frames, ctx_frames, l2book_frames, trades_frames
from data_lake.demo_market.market import DemoMarket, bid_ticks_at
from data_lake.units import DAY_MS, HOUR_MS


def hourly_series(config: DemoMarketConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Funding rate per hour (1e-10 units, changes on the hour) and open interest anchors per hour (coins)."""
    n_hours = config.days * 24
    funding = config.funding_hourly_mean + config.funding_hourly_sd * rng.standard_normal(n_hours)
    steps = np.concatenate([[0.0], config.open_interest_hourly_sd * rng.standard_normal(n_hours)])
    open_interest = np.maximum(config.open_interest_start + np.cumsum(steps), 0.1 * config.open_interest_start)
    return {"funding": np.rint(funding * 1e10).astype(np.int64), "open_interest": open_interest}


def day_frames(
    config: DemoMarketConfig,
    market: DemoMarket,
    profile: LevelProfile,
    hourly: dict[str, np.ndarray],
    day: int,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Every frame with exchange time in the ``day``-th simulated day, sorted by (time, rank)."""
    day_start = config.start_ms + day * DAY_MS
    day_end = day_start + DAY_MS
    trades = market.trades.filter(pl.col("time").is_between(day_start, day_end, closed="left"))
    frames = [
        trades_frames(config, trades) if trades.height else pl.DataFrame(schema=FRAME_SCHEMA),
        _bbo(config, market, profile, day_start, day_end),
        _l2book(config, market, profile, day_start, day_end, rng),
        _ctx(config, market, hourly, day_start, day_end, rng),
    ]
    return pl.concat(frames).sort("time", "rank", maintain_order=True)


def _bbo(
    config: DemoMarketConfig, market: DemoMarket, profile: LevelProfile, day_start: int, day_end: int
) -> pl.DataFrame:
    block_time = np.arange(day_start - config.block_ms, day_end, config.block_ms, dtype=np.int64)
    bid = bid_ticks_at(market.mids, block_time)
    bid_key, ask_key = profile.keys(bid, block_time), profile.keys(bid + config.spread_ticks, block_time)
    changed = (bid[1:] != bid[:-1]) | (bid_key[1:] != bid_key[:-1]) | (ask_key[1:] != ask_key[:-1])
    if day_start == config.start_ms:
        changed[0] = True
    return bbo_frames(config, profile, block_time[1:], bid[1:], changed)


def _l2book(
    config: DemoMarketConfig,
    market: DemoMarket,
    profile: LevelProfile,
    day_start: int,
    day_end: int,
    rng: np.random.Generator,
) -> pl.DataFrame:
    count = int(DAY_MS / config.book_interval_ms) + 1
    gaps = config.book_interval_ms + np.rint(rng.exponential(config.book_jitter_mean_ms, count)).astype(np.int64)
    time = day_start + int(rng.integers(0, config.book_interval_ms)) + np.cumsum(gaps) - gaps[0]
    time = time[time < day_end]
    block_time = time - (time - config.start_ms) % config.block_ms
    return l2book_frames(config, profile, time, block_time, bid_ticks_at(market.mids, time))


def _ctx(
    config: DemoMarketConfig,
    market: DemoMarket,
    hourly: dict[str, np.ndarray],
    day_start: int,
    day_end: int,
    rng: np.random.Generator,
) -> pl.DataFrame:
    count = int(DAY_MS / (config.ctx_interval_ms - config.ctx_jitter_ms)) + 1
    gaps = config.ctx_interval_ms + rng.integers(-config.ctx_jitter_ms, config.ctx_jitter_ms + 1, count)
    time = day_start + int(rng.integers(0, config.ctx_interval_ms)) + np.cumsum(gaps) - gaps[0]
    time = time[time < day_end]
    n = len(time)
    bid = bid_ticks_at(market.mids, time)
    hour = (time - config.start_ms) // HOUR_MS
    anchors = config.start_ms + np.arange(len(hourly["open_interest"])) * HOUR_MS
    open_interest = np.interp(time, anchors, hourly["open_interest"])
    half = config.spread_ticks / 2
    oracle = np.rint(bid + half + 1.5 * rng.standard_normal(n)).astype(np.int64)
    impact_bid = bid - (rng.geometric(0.6, n) - 1)
    impact_ask = bid + config.spread_ticks + (rng.geometric(0.6, n) - 1)
    premium = ((impact_bid + impact_ask) / 2 - oracle) / oracle
    prev_day = bid_ticks_at(market.mids, np.maximum(time - DAY_MS, config.start_ms))
    day_ntl, day_base = _rolling_day_volumes(market.trades, time)
    fields = {
        "funding": hourly["funding"][hour],
        "open_interest": np.rint(open_interest * 10**config.sz_decimals).astype(np.int64),
        "prev_day_px": prev_day,
        "day_ntl_vlm": day_ntl,
        "premium": np.rint(premium * 1e10).astype(np.int64),
        "oracle_px": oracle,
        "mark_px": np.rint(bid + half + 0.5 * rng.standard_normal(n)).astype(np.int64),
        "mid": 2 * bid + config.spread_ticks,
        "impact_bid_px": impact_bid,
        "impact_ask_px": impact_ask,
        "day_base_vlm": day_base,
    }
    return ctx_frames(config, time, fields)


def _rolling_day_volumes(trades: pl.DataFrame, time_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Notional (tick*lot units) and base (lots) volume of the trades in (t - 24 h, t], over the simulated span."""
    trade_time = trades["time"].to_numpy()
    notional = np.concatenate([[0], np.cumsum(trades["px_ticks"].to_numpy() * trades["sz_lots"].to_numpy())])
    base = np.concatenate([[0], np.cumsum(trades["sz_lots"].to_numpy())])
    upper = np.searchsorted(trade_time, time_ms, side="right")
    lower = np.searchsorted(trade_time, time_ms - DAY_MS, side="right")
    return notional[upper] - notional[lower], base[upper] - base[lower]
