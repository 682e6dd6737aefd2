"""Taker orders (side, reach, informed flag) and the trade prints each produces by sweeping the book.

An order's reach beyond the best quote is Exponential(kappa) in price units; it takes every level (one per tick)
up to its reach, so level j (0 = best, depth half_spread + j*tick from the mid) is swept iff reach >= j*tick.
The passive side of each print is one of ``n_makers`` maker addresses, drawn uniformly.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from data_lake.demo_market.config import DemoMarketConfig
from data_lake.demo_market.identities import hex_strings, unique_tids
from data_lake.units import MINUTE_MS

TAKER_POOL = 400


def draw_orders(
    config: DemoMarketConfig, times_s: np.ndarray, regime_path: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    """One row per taker order: exact Hawkes time, exchange time (ms, the next ms), side, reach, regime, informed."""
    n = len(times_s)
    regime = regime_path[(times_s * 1000 // MINUTE_MS).astype(np.int64)]
    reach = rng.exponential(1 / config.kappa_per_price, n)
    informed = rng.random(n) < np.asarray(config.informed_prob)[regime]
    low, high = config.informed_delay_s
    return pl.DataFrame(
        {
            "time_s": times_s,
            "time": config.start_ms + np.ceil(times_s * 1000).astype(np.int64),
            "side": np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8),
            "reach": reach,
            "levels": (1 + np.floor(reach * 10**config.tick_decimals)).astype(np.int32),
            "regime": regime,
            "informed": informed,
            "jump_delay_s": np.where(informed, rng.uniform(low, high, n), np.nan),
        }
    )


def assign_takers(orders: pl.DataFrame, rng: np.random.Generator) -> list[str]:
    """A taker address per order; two orders sharing (time, side) always get different takers."""
    pool = hex_strings(rng, TAKER_POOL, 20)
    index = rng.integers(0, TAKER_POOL, orders.height)
    time, side = orders["time"].to_numpy(), orders["side"].to_numpy()
    for i in np.flatnonzero((time[1:] == time[:-1]) & (side[1:] == side[:-1])) + 1:
        if index[i] == index[i - 1]:
            index[i] = (index[i] + 1) % TAKER_POOL
    return [pool[i] for i in index]


def sweep_prints(config: DemoMarketConfig, orders: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """One trade print per swept level: same time, side, hash and taker per order; distinct tids and makers.

    ``orders`` needs ``bid_ticks`` (the displayed best bid the order met), ``hash`` and ``taker``.
    """
    levels = orders["levels"].to_numpy()
    order = np.repeat(np.arange(orders.height), levels)
    level = np.arange(len(order)) - np.repeat(np.cumsum(levels) - levels, levels)
    side = orders["side"].to_numpy()[order]
    bid = orders["bid_ticks"].to_numpy()[order]
    px_ticks = np.where(side > 0, bid + config.spread_ticks + level, bid - level)
    lot = 10.0**-config.sz_decimals
    log_median = np.log(config.print_size_median / lot)
    lots = np.maximum(1, np.rint(rng.lognormal(log_median, config.print_size_sigma, len(order))))
    makers = pl.Series(hex_strings(rng, config.n_makers, 20)).gather(rng.integers(0, config.n_makers, len(order)))
    takers = orders["taker"].gather(order)
    buy = pl.Series(side > 0)
    scale = 10**config.tick_decimals
    return pl.DataFrame(
        {
            "time": orders["time"].to_numpy()[order],
            "tid": unique_tids(rng, len(order)),
            "px_ticks": px_ticks,
            "px": px_ticks / scale,
            "sz_lots": lots.astype(np.int64),
            "sz": lots / 10**config.sz_decimals,
            "side": side,
            "buyer": takers.zip_with(buy, makers),
            "seller": makers.zip_with(buy, takers),
            "hash": orders["hash"].gather(order),
            "order": order,
            "level": level.astype(np.int32),
            "depth": (2 * level + config.spread_ticks) / (2 * scale),
        }
    )
