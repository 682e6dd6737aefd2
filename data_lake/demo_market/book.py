"""Resting sizes and order counts of the displayed book: a stationary lognormal profile that refreshes per level.

The size at a price is a lookup ``table[key(price, time)]`` whose key changes every ``level_refresh_ms`` at a
price-specific phase, so a level keeps its size while it stays in the book and bbo and l2Book always agree.
The profile is cosmetic: fills never deplete it (the constant spread and the reach law are the model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from data_lake.demo_market.config import DemoMarketConfig
from data_lake.demo_market.wire import decimal_strings

TABLE_BITS = 16
_MIX_PRICE = np.uint64(0x9E3779B97F4A7C15)
_MIX_BUCKET = np.uint64(0xC2B2AE3D27D4EB4F)


@dataclass(frozen=True)
class LevelProfile:
    """Preformatted level text: ``suffixes[key]`` is ``","sz":"<size>","n":<count>}`` for every table key."""

    refresh_ms: int
    suffixes: pl.Series

    def keys(self, price_ticks: np.ndarray, time_ms: np.ndarray) -> np.ndarray:
        """Table key of each (price, time): constant within a price's refresh bucket."""
        price = np.asarray(price_ticks).astype(np.uint64)
        mixed = price * _MIX_PRICE
        phase = (mixed >> np.uint64(40)) % np.uint64(self.refresh_ms)
        bucket = (np.asarray(time_ms).astype(np.uint64) + phase) // np.uint64(self.refresh_ms)
        return ((mixed ^ (bucket * _MIX_BUCKET)) >> np.uint64(64 - TABLE_BITS)).astype(np.int64)

    def level_text(self, price_prefixes: pl.Series, price_index: np.ndarray, keys: np.ndarray) -> pl.Series:
        """``{"px":..,"sz":..,"n":..}`` for each level, from preformatted ``{"px":"<px>`` prefixes."""
        return price_prefixes.gather(price_index) + self.suffixes.gather(keys)


def level_profile(config: DemoMarketConfig, rng: np.random.Generator) -> LevelProfile:
    """Draw the size table (lognormal, in lots, >= 1 lot) and order counts (1 + Poisson(size / order size))."""
    lot = 10.0**-config.sz_decimals
    size = 1 << TABLE_BITS
    lots = np.maximum(1, np.rint(rng.lognormal(np.log(config.level_size_median / lot), config.level_size_sigma, size)))
    counts = 1 + rng.poisson(lots * lot / config.level_order_size)
    text = pl.DataFrame({"sz": decimal_strings(lots.astype(np.int64), config.sz_decimals), "n": counts}).select(
        pl.concat_str(pl.lit('","sz":"'), pl.col("sz"), pl.lit('","n":'), pl.col("n").cast(pl.String), pl.lit("}"))
    )
    return LevelProfile(config.level_refresh_ms, text.to_series())


def price_prefixes(ticks: np.ndarray, margin: int, tick_decimals: int) -> tuple[pl.Series, int]:
    """``{"px":"<price>`` for every tick within ``margin`` of ``ticks``, and the tick at index 0."""
    first = int(ticks.min()) - margin if len(ticks) else 0
    last = int(ticks.max()) + margin if len(ticks) else 0
    return '{"px":"' + decimal_strings(np.arange(first, last + 1), tick_decimals), first
