"""The demo market in memory: taker orders, trade prints, displayed mids and the regime path, from one seed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from data_lake.demo_market.config import DemoMarketConfig
from data_lake.demo_market.hawkes import simulate_hawkes
from data_lake.demo_market.identities import hex_strings
from data_lake.demo_market.price_path import lagged_response, simulate_bid_changes
from data_lake.demo_market.regimes import simulate_regime_path
from data_lake.demo_market.streams import Stream, stream
from data_lake.demo_market.taker_flow import assign_takers, draw_orders, sweep_prints
from data_lake.scalars import as_float
from data_lake.units import DAY_MS, MINUTE_MS


@dataclass(frozen=True, eq=False)
class DemoMarket:
    """Everything the simulation decided, as polars frames (times in UTC epoch ms, prices in quote currency).

    ``orders``: one row per taker order (``time_s`` is the exact Hawkes time in s since the start, ``reach`` the
    price distance beyond the best quote, ``bid_ticks``/``mid`` the book it met, ``jump_time`` when its informed
    jump became visible). ``trades``: one row per print (``order`` indexes ``orders``, ``level`` 0 is the best,
    ``depth`` is the price distance from the pre-order mid). ``mids``: the displayed book top at block 0 and at
    every block where it moved. ``regimes``: the state of every minute. ``log_price``: the latent log price at the end
    of every block (what a follower of this coin responds to).
    """

    config: DemoMarketConfig
    orders: pl.DataFrame
    trades: pl.DataFrame
    mids: pl.DataFrame
    regimes: pl.DataFrame
    log_price: np.ndarray

    def bid_ticks_at(self, times_ms: np.ndarray, strictly_before: bool = False) -> np.ndarray:
        """Best bid in ticks shown at ``times_ms`` (the state after every block at or before it, or strictly before)."""
        return bid_ticks_at(self.mids, times_ms, strictly_before)

    def mid_at(self, times_ms: np.ndarray) -> np.ndarray:
        """Displayed mid (quote currency) at ``times_ms``."""
        return (2 * self.bid_ticks_at(times_ms) + self.config.spread_ticks) / (2 * 10**self.config.tick_decimals)


def bid_ticks_at(mids: pl.DataFrame, times_ms: np.ndarray, strictly_before: bool = False) -> np.ndarray:
    """Best bid in ticks of the ``mids`` path at ``times_ms``; before the first block, the first state."""
    side: Literal["left", "right"] = "left" if strictly_before else "right"
    index = np.searchsorted(mids["time"].to_numpy(), times_ms, side=side) - 1
    return mids["bid_ticks"].to_numpy()[np.maximum(index, 0)]


def simulate(config: DemoMarketConfig, leader: DemoMarket | None = None) -> DemoMarket:
    """Run the model: regimes, Hawkes taker orders, informed jumps, the displayed book path and the sweeps; a coin
    with a ``leader`` also follows that coin's simulated market (same start, days and block clock)."""
    response = _leader_response(config, leader)
    n_minutes = config.days * DAY_MS // MINUTE_MS
    transition = np.asarray(config.transition_per_minute)
    regime_path = simulate_regime_path(
        transition, config.stationary_distribution, n_minutes, stream(config.seed, Stream.REGIMES)
    )
    horizon_s = config.days * DAY_MS / 1000 - 0.001
    mu, alpha, beta = config.hawkes_mu_per_s, config.hawkes_alpha_per_s, config.hawkes_beta_per_s
    times_s = simulate_hawkes(mu, alpha, beta, horizon_s, stream(config.seed, Stream.HAWKES))
    orders = draw_orders(config, times_s, regime_path, stream(config.seed, Stream.ORDERS))

    jump_block = _informed_jump_blocks(config, orders)
    visible = jump_block >= 0
    jump_log_size = orders["side"].to_numpy() * config.informed_jump_bps * 1e-4
    impact_block, impact_size = _impacts(config, orders)
    change_blocks, change_bids, log_price = simulate_bid_changes(
        config,
        regime_path,
        jump_block[visible],
        jump_log_size[visible],
        stream(config.seed, Stream.PRICE),
        impact_block,
        impact_size,
        response,
    )
    mids = _mids_frame(config, change_blocks, change_bids)
    regimes = pl.DataFrame(
        {"time": config.start_ms + np.arange(n_minutes, dtype=np.int64) * MINUTE_MS, "state": regime_path}
    )

    prints_rng = stream(config.seed, Stream.PRINTS)
    bid_ticks = bid_ticks_at(mids, orders["time"].to_numpy(), strictly_before=True)
    orders = orders.with_columns(
        pl.Series("bid_ticks", bid_ticks),
        pl.Series("mid", (2 * bid_ticks + config.spread_ticks) / (2 * 10**config.tick_decimals)),
        pl.when(pl.Series(visible)).then(pl.Series(config.start_ms + jump_block * config.block_ms)).alias("jump_time"),
        pl.Series("hash", hex_strings(prints_rng, orders.height, 32)),
        pl.Series("taker", assign_takers(orders, prints_rng)),
    )
    trades = sweep_prints(config, orders, prints_rng)
    _check_price_range(config, mids, trades)
    return DemoMarket(config, orders, trades, mids, regimes, log_price)


def _leader_response(config: DemoMarketConfig, leader: DemoMarket | None) -> np.ndarray | None:
    """The follower's log move per block driven by its leader's latent log price; None for a coin without one."""
    if not config.leader:
        if leader is not None:
            raise ValueError(f"{config.coin} has no leader, yet a leader market was given")
        return None
    if leader is None or leader.config.coin != config.leader:
        raise ValueError(f"{config.coin} follows {config.leader}: simulate {config.leader} first and pass it")
    clock = ("start", "days", "block_ms")
    if any(getattr(leader.config, name) != getattr(config, name) for name in clock):
        raise ValueError(f"{config.coin} and its leader {config.leader} need the same {', '.join(clock)}")
    return lagged_response(leader.log_price, config.leader_lag_ms // config.block_ms, config.leader_beta)


def _informed_jump_blocks(config: DemoMarketConfig, orders: pl.DataFrame) -> np.ndarray:
    """Block in which each informed order's jump becomes visible; -1 if uninformed or after the simulated span."""
    jump_ms = (orders["time_s"] + orders["jump_delay_s"]).to_numpy() * 1000
    block = np.ceil(np.nan_to_num(jump_ms, nan=-1.0) / config.block_ms).astype(np.int64)
    n_blocks = config.days * DAY_MS // config.block_ms
    return np.where(orders["informed"].to_numpy() & (block < n_blocks), block, -1)


def _impacts(config: DemoMarketConfig, orders: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(block, signed price move) of every order whose regime has an impact and whose move becomes visible within
    the simulated span: side * impact * (half_spread + reach), after a delay uniform in ``informed_delay_s``."""
    impact = config.impact_by_regime[orders["regime"].to_numpy()]
    if not impact.any():
        return np.empty(0, np.int64), np.empty(0)
    low, high = config.informed_delay_s
    delay_s = stream(config.seed, Stream.IMPACT).uniform(low, high, orders.height)
    block = np.ceil((orders["time_s"].to_numpy() + delay_s) * 1000 / config.block_ms).astype(np.int64)
    size = orders["side"].to_numpy() * impact * (config.half_spread + orders["reach"].to_numpy())
    keep = (impact > 0) & (block < config.days * DAY_MS // config.block_ms)
    return block[keep], size[keep]


def _mids_frame(config: DemoMarketConfig, change_blocks: np.ndarray, change_bids: np.ndarray) -> pl.DataFrame:
    scale = 10**config.tick_decimals
    return pl.DataFrame(
        {
            "time": config.start_ms + change_blocks * config.block_ms,
            "bid_ticks": change_bids,
            "bid_px": change_bids / scale,
            "ask_px": (change_bids + config.spread_ticks) / scale,
            "mid": (2 * change_bids + config.spread_ticks) / (2 * scale),
        }
    )


def _check_price_range(config: DemoMarketConfig, mids: pl.DataFrame, trades: pl.DataFrame) -> None:
    """Fail loudly if the path left the range where the fixed tick keeps Hyperliquid's 5 significant figures."""
    deepest_ask = as_float(mids["ask_px"].max(), missing=0.0) + config.book_levels * config.tick
    highest = max(deepest_ask, as_float(trades["px"].max(), missing=0.0))
    deepest_bid = as_float(mids["bid_px"].min(), missing=0.0) - config.book_levels * config.tick
    lowest = min(deepest_bid, as_float(trades["px"].min(), missing=math.inf))
    if highest >= config.max_price or lowest <= 0:
        raise ValueError(
            f"price left (0, {config.max_price}) where a {config.tick} tick is valid; use fewer days or another seed"
        )
