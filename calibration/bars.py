"""Per-bar market features (1 s and 1 min) from the ``trades`` and ``book`` tables: the ``features`` table's rows.

Every value describes what was known at the bar's end (``time + bar_ms``): mids and book signals are the latest
observed in or before the bar and at most ``MID_MAX_AGE_MS`` old (:mod:`calibration.mids`), VPIN the latest completed
bucket. A bar whose end falls in a capture gap (no mid in the last ``MID_MAX_AGE_MS``) does not exist: it is not a
zero-return bar, and the first bar after the gap has no return (none spans the gap). Columns
(:data:`FEATURES_SCHEMA`):

| column | unit | meaning |
|---|---|---|
| coin | | Hyperliquid coin |
| bar_ms | ms | bar length (1000 or 60000); key with coin and time |
| time | epoch ms | bar start (UTC) |
| mid | quote currency | last mid at or before the bar's end, bbo and l2Book merged |
| log_return | | ``ln(mid / previous bar's mid)`` (null on the first bar and after a gap) |
| n_buys, n_sells | trades | trade prints by aggressor side in the bar |
| buy_volume, sell_volume | base units | traded size by aggressor side in the bar |
| ewma_var | log return^2 per bar | EWMA of squared bar returns, ``half_life_bars`` |
| rv, bv, jump_ratio | log return^2 per bar | realized variance, bipower variation, RV/BV of the bar's 1 s returns |
| | | (1 min bars only; null on 1 s bars, where one return makes no window) |
| imbalance_1, imbalance_5 | [-1, 1] | book size imbalance over the top 1 / 5 levels (level 5 from l2Book rows) |
| microprice | quote currency | level-1 size-weighted mid |
| vpin | [0, 1] | exact-side VPIN of the latest bucket completed by the bar's end (null before 50 buckets) |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from calibration.mids import mid_series
from calibration.toxicity import BUCKETS_PER_DAY, VPIN_WINDOW, adv_bucket_volume, book_signals, vpin
from calibration.volatility import (
    bar_last,
    bar_mids,
    ewma_variance_expr,
    log_returns,
    window_realized_measures,
)
from data_lake.tables import FEATURES


@dataclass(frozen=True)
class BarSettings:
    """EWMA half-lives of the bars' variance, in bars: 300 one-second bars (5 min) and 60 one-minute bars (1 h)."""

    half_life_1s_bars: float = 300.0
    half_life_1min_bars: float = 60.0


FEATURES_SCHEMA: dict[str, pl.DataType] = FEATURES.columns_without("date")
"""Columns of :func:`features_1s` and :func:`features_1min`, in order (key: coin, bar_ms, time)."""


TRADE_COLUMNS = ("coin", "time", "side", "sz")
"""The ``trades`` columns :func:`features` reads (counts, volumes and the exact-side VPIN)."""


def features_1s(
    trades: pl.DataFrame, book: pl.DataFrame, half_life_bars: float = BarSettings.half_life_1s_bars
) -> pl.DataFrame:
    """1 s bar features (:data:`FEATURES_SCHEMA`); EWMA half-life 300 bars = 5 min by default."""
    return features(trades, book, bar_ms=1000, half_life_bars=half_life_bars)


def features_1min(
    trades: pl.DataFrame, book: pl.DataFrame, half_life_bars: float = BarSettings.half_life_1min_bars
) -> pl.DataFrame:
    """1 min bar features (:data:`FEATURES_SCHEMA`) with RV, BV and RV/BV of each minute's sixty 1 s returns;
    EWMA half-life 60 bars = 1 h by default."""
    return features(trades, book, bar_ms=60_000, half_life_bars=half_life_bars, realized_bar_ms=1000)


def features(
    trades: pl.DataFrame,
    book: pl.DataFrame,
    bar_ms: int,
    half_life_bars: float,
    realized_bar_ms: int | None = None,
    buckets_per_day: int = BUCKETS_PER_DAY,
    vpin_window: int = VPIN_WINDOW,
) -> pl.DataFrame:
    """Bar features of ``trades`` and ``book`` (one or more coins) on ``bar_ms`` bars spanning each coin's mids,
    without the bars inside capture gaps (none at all without a mid: a trades-only day has no bars).

    ``realized_bar_ms`` set: rv/bv/jump_ratio per bar from returns on that finer grid. VPIN buckets are
    ``adv_bucket_volume(trades of the coin, buckets_per_day)``, windows of ``vpin_window`` buckets; trades before
    the first bar only warm VPIN up, so pass a day of earlier trades or VPIN stays null until ~1 ADV has traded.
    """
    mids = mid_series(book)
    bars = log_returns(bar_mids(mids, bar_ms)).with_columns(
        ewma_variance_expr(pl.col("log_return"), half_life_bars).over("coin").alias("ewma_var")
    )
    signals = ["imbalance_1", "imbalance_5", "microprice"]
    bars = bars.join(bar_last(book_signals(book), signals, bar_ms, grid=bars), on=["coin", "time"], how="left")
    bars = bars.join(_trade_counts(trades, bar_ms), on=["coin", "time"], how="left").with_columns(
        pl.col("n_buys", "n_sells", "buy_volume", "sell_volume").fill_null(0)
    )
    realized = ["rv", "bv", "jump_ratio"]
    if realized_bar_ms is None:
        bars = bars.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in realized)
    else:
        fine = log_returns(bar_mids(mids, realized_bar_ms))
        measures = window_realized_measures(fine, bar_ms, realized_bar_ms).select("coin", "time", *realized)
        bars = bars.join(measures, on=["coin", "time"], how="left")
    bars = _with_vpin(bars.with_columns(pl.lit(bar_ms).alias("bar_ms")), trades, bar_ms, buckets_per_day, vpin_window)
    return bars.filter(pl.col("mid").is_not_null()).select(
        pl.col(name).cast(dtype) for name, dtype in FEATURES_SCHEMA.items()
    )


def _trade_counts(trades: pl.DataFrame, bar_ms: int) -> pl.DataFrame:
    """Trade prints and size by aggressor side per coin and bar."""
    buy, sell = pl.col("side") > 0, pl.col("side") < 0
    return trades.group_by("coin", (pl.col("time") // bar_ms * bar_ms).alias("time")).agg(
        buy.sum().cast(pl.Int64).alias("n_buys"),
        sell.sum().cast(pl.Int64).alias("n_sells"),
        pl.col("sz").filter(buy).sum().alias("buy_volume"),
        pl.col("sz").filter(sell).sum().alias("sell_volume"),
    )


def _with_vpin(
    bars: pl.DataFrame, trades: pl.DataFrame, bar_ms: int, buckets_per_day: int, window: int
) -> pl.DataFrame:
    """Adds ``vpin``: per coin, the latest exact-side VPIN whose bucket completed at or before the bar's last ms."""
    parts = []
    for (coin,), coin_bars in bars.partition_by("coin", as_dict=True, maintain_order=True).items():
        coin_trades = trades.filter(pl.col("coin") == coin)
        values = np.full(coin_bars.height, np.nan)
        if coin_trades["time"].n_unique() > 1:
            buckets = vpin(coin_trades, adv_bucket_volume(coin_trades, buckets_per_day), window)
            bucket_vpin = buckets["vpin"].fill_null(np.nan).to_numpy()
            bar_end = coin_bars["time"].to_numpy() + bar_ms - 1
            idx = np.searchsorted(buckets["time"].to_numpy(), bar_end, side="right") - 1
            values[idx >= 0] = bucket_vpin[idx[idx >= 0]]
        parts.append(coin_bars.with_columns(pl.Series("vpin", values, nan_to_null=True)))
    return pl.concat(parts) if parts else bars.with_columns(vpin=pl.lit(None, dtype=pl.Float64))


def bar_coverage(bars: pl.DataFrame, day_trades: int) -> dict[str, Any]:
    """Bar counts, the 1 s bars missing inside capture gaps (between the first and last bar), the day's trades
    outside every 1 s bar, and the 1 min median jump ratio and last VPIN (NaN when undefined): how much of a day
    the bars hold, for the features asset's metadata."""
    seconds = bars.filter(pl.col("bar_ms") == 1000)
    minute = bars.filter(pl.col("bar_ms") == 60_000)
    times = seconds["time"].to_numpy()
    span = (int(times.max()) - int(times.min())) // 1000 + 1 if seconds.height else 0
    in_bars = int(seconds.select(pl.col("n_buys") + pl.col("n_sells")).sum().item()) if seconds.height else 0
    jump = minute["jump_ratio"].drop_nulls()
    vpin = minute["vpin"].drop_nulls()
    return {
        "bars_1s": seconds.height,
        "bars_1min": minute.height,
        "bars_1s_missing_in_gaps": span - seconds.height,
        "trades_outside_bars": day_trades - in_bars,
        "median_jump_ratio_1min": float(np.median(jump.to_numpy())) if jump.len() else float("nan"),
        "vpin_last": float(vpin[-1]) if vpin.len() else float("nan"),
    }
