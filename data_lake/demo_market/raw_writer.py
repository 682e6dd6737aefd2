"""Write the demo market into the raw zone, one lz4 file per receive hour, plus its ground-truth JSON."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from data_lake.demo_market.book import level_profile
from data_lake.demo_market.capture import day_frames, hourly_series
from data_lake.demo_market.config import DemoMarketConfig
from data_lake.demo_market.market import DemoMarket, simulate
from data_lake.demo_market.streams import Stream, stream
from data_lake.demo_market.truth import write_truth
from data_lake.demo_market.wire import envelope_lines
from data_lake.raw_zone import raw_path, write_lines
from data_lake.units import DAY_MS, HOUR_MS, NS_PER_MS

SOURCE = "ws"
LINES_SCHEMA = {"recv_ns": pl.Int64, "line": pl.String}


def simulate_to_raw(config: DemoMarketConfig, raw_root: str | Path, leader: DemoMarket | None = None) -> Path:
    """Simulate ``config`` (following ``leader``, when it has one) and write
    ``raw/ws/{YYYYMMDD}/{H}/{coin}.jsonl.lz4``; returns the truth JSON's path."""
    market = simulate(config, leader)
    write_raw(market, raw_root)
    return write_truth(market, raw_root)


def simulate_coins_to_raw(configs: Sequence[DemoMarketConfig], raw_root: str | Path) -> list[Path]:
    """:func:`simulate_to_raw` for every config, each leader simulated before its followers (and kept in memory only
    while a follower needs it); the truth JSONs' paths in the order of ``configs``."""
    by_coin = {c.coin: c for c in configs}
    missing = sorted({c.leader for c in configs if c.leader and c.leader not in by_coin})
    if missing:
        raise ValueError(f"leaders {missing} are not among the simulated coins {sorted(by_coin)}")
    leaders = {c.leader for c in configs if c.leader}
    kept: dict[str, DemoMarket] = {}

    def market(coin: str, chain: tuple[str, ...] = ()) -> DemoMarket:
        if coin in chain:
            raise ValueError(f"leaders form a cycle: {' -> '.join((*chain, coin))}")
        if coin in kept:
            return kept[coin]
        config = by_coin[coin]
        simulated = simulate(config, market(config.leader, (*chain, coin)) if config.leader else None)
        if coin in leaders:
            kept[coin] = simulated
        return simulated

    paths = []
    for config in configs:
        simulated = market(config.coin)
        write_raw(simulated, raw_root)
        paths.append(write_truth(simulated, raw_root))
    return paths


def write_raw(market: DemoMarket, raw_root: str | Path) -> list[Path]:
    """The recorder's files for ``market``: frames in receive order, split by receive hour."""
    config = market.config
    profile = level_profile(config, stream(config.seed, Stream.BOOK))
    hourly = hourly_series(config, stream(config.seed, Stream.HOURLY))
    pending = pl.DataFrame(schema=LINES_SCHEMA)
    last_recv_ns = 0
    written: list[Path] = []
    for day in range(config.days):
        rng = stream(config.seed, Stream.CAPTURE, day)
        frames = day_frames(config, market, profile, hourly, day, rng)
        recv_ns = _receive_times(config, frames["time"].to_numpy(), last_recv_ns, rng)
        last_recv_ns = int(recv_ns[-1])
        day_lines = pl.DataFrame({"recv_ns": recv_ns, "line": envelope_lines(recv_ns, frames["frame"])})
        lines = pl.concat([pending, day_lines])
        day_end_ns = (config.start_ms + (day + 1) * DAY_MS) * NS_PER_MS
        written += _write_hours(config, lines.filter(pl.col("recv_ns") < day_end_ns), raw_root)
        pending = lines.filter(pl.col("recv_ns") >= day_end_ns)
    return written


def _receive_times(
    config: DemoMarketConfig, time_ms: np.ndarray, after_ns: int, rng: np.random.Generator
) -> np.ndarray:
    """Exchange time + a random latency, kept non-decreasing: one WS connection delivers frames in order."""
    latency_ms = config.latency_min_ms + rng.exponential(config.latency_extra_mean_ms, len(time_ms))
    recv_ns = time_ms * NS_PER_MS + np.rint(latency_ms * NS_PER_MS).astype(np.int64)
    return np.maximum.accumulate(np.maximum(recv_ns, after_ns))


def _write_hours(config: DemoMarketConfig, lines: pl.DataFrame, raw_root: str | Path) -> list[Path]:
    hour_index = lines["recv_ns"].to_numpy() // (HOUR_MS * NS_PER_MS)
    bounds = np.flatnonzero(np.diff(hour_index)) + 1
    written = []
    for start, stop in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(hour_index)]]), strict=True):
        hour_start = dt.datetime.fromtimestamp(int(hour_index[start]) * HOUR_MS / 1000, tz=dt.UTC)
        path = raw_path(raw_root, SOURCE, hour_start.date(), hour_start.hour, config.coin)
        written.append(write_lines(path, lines["line"][int(start) : int(stop)].to_list()))
    return written
