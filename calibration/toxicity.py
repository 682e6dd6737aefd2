"""Order-flow toxicity: book imbalance, microprice and VPIN (exact aggressor sides, or bulk volume classification).

VPIN follows Easley, Lopez de Prado & O'Hara (2012, RFS 25(5):1457-1493):
volume buckets of ``V = ADV / 50``, bucket order imbalance ``|V_buy - V_sell|``, and
``VPIN = sum of the last n imbalances / (n * V)`` with ``n = 50``, so VPIN is in [0, 1]. Hyperliquid trades carry
the exact aggressor side; BVC (``V_buy = V * Phi(dP / sigma_dP)``) is for sources without sides. Andersen &
Bondarenko (2014) find VPIN's predictive power mostly mechanical (trading intensity): test it incrementally over
volume and realized volatility. Volumes are in base units (``sz``); VPIN is a trademark of Tudor Investment Corp.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import polars as pl
from scipy.stats import norm

from data_lake.units import DAY_MS

BUCKETS_PER_DAY = 50
"""VPIN bucket size is the average daily volume divided by this."""

VPIN_WINDOW = 50
"""Buckets per VPIN value (about one day of volume)."""

_REL_TOL = 1e-12


def imbalance_expr(levels: int) -> pl.Expr:
    """``(bid size - ask size) / (bid size + ask size)`` over the top ``levels`` levels, in [-1, 1]; null when a
    level is missing (bbo rows have level 1 only)."""
    bid = pl.sum_horizontal([pl.col(f"bid_sz_{i}") for i in range(1, levels + 1)], ignore_nulls=False)
    ask = pl.sum_horizontal([pl.col(f"ask_sz_{i}") for i in range(1, levels + 1)], ignore_nulls=False)
    return ((bid - ask) / (bid + ask)).alias(f"imbalance_{levels}")


def microprice_expr() -> pl.Expr:
    """Size-weighted mid (quote currency): ``(bid_px_1 * ask_sz_1 + ask_px_1 * bid_sz_1) / (bid_sz_1 + ask_sz_1)``,
    which leans towards the side with less size (Stoikov 2018's level-1 weighted mid)."""
    bid_px, ask_px, bid_sz, ask_sz = (pl.col(c) for c in ("bid_px_1", "ask_px_1", "bid_sz_1", "ask_sz_1"))
    return ((bid_px * ask_sz + ask_px * bid_sz) / (bid_sz + ask_sz)).alias("microprice")


BOOK_SIGNAL_COLUMNS = (
    "coin",
    "time",
    "recv_time_ns",
    "bid_px_1",
    "ask_px_1",
    *(f"{side}_sz_{level}" for side in ("bid", "ask") for level in range(1, 6)),
)
"""The ``book`` columns :func:`book_signals` reads."""


def book_signals(book: pl.DataFrame) -> pl.DataFrame:
    """``coin, time, imbalance_1, imbalance_5, microprice`` per book row, sorted by ``coin, time``."""
    order = ["coin", "time", *(["recv_time_ns"] if "recv_time_ns" in book.columns else [])]
    return book.sort(order).select("coin", "time", imbalance_expr(1), imbalance_expr(5), microprice_expr())


def adv_bucket_volume(trades: pl.DataFrame, buckets_per_day: int = BUCKETS_PER_DAY) -> float:
    """VPIN bucket size (base units): the traded ``sz`` scaled to one day over the span of ``trades``, divided by
    ``buckets_per_day``."""
    span_ms = cast(int, trades["time"].max()) - cast(int, trades["time"].min()) if trades.height >= 2 else 0
    if span_ms <= 0:
        raise ValueError("need trades spanning a positive time to estimate the average daily volume")
    return float(trades["sz"].sum()) * DAY_MS / span_ms / buckets_per_day


def vpin_buckets(
    time: np.ndarray, volume: np.ndarray, buy_volume: np.ndarray, bucket_volume: float, window: int = VPIN_WINDOW
) -> pl.DataFrame:
    """Fill volume buckets in time order, splitting a trade (or bar) across a boundary pro rata, and compute VPIN.

    Inputs per trade or bar, sorted by ``time``: total and buyer-initiated volume. Returns one row per complete
    bucket: ``bucket`` (1-based), ``time`` (epoch ms of the trade that completed it), ``buy_volume``,
    ``sell_volume``, ``order_imbalance`` (``|buy - sell|``) and ``vpin`` (null before ``window`` buckets).
    """
    cum_volume = np.concatenate([[0.0], np.cumsum(volume, dtype=np.float64)])
    cum_buy = np.concatenate([[0.0], np.cumsum(buy_volume, dtype=np.float64)])
    n_buckets = int(np.floor(cum_volume[-1] / bucket_volume * (1 + _REL_TOL)))
    bounds = bucket_volume * np.arange(1, n_buckets + 1)
    buy = np.diff(np.interp(bounds, cum_volume, cum_buy), prepend=0.0)
    imbalance = np.abs(2 * buy - bucket_volume)
    rolling = np.cumsum(imbalance)
    rolling[window:] -= rolling[:-window].copy()
    vpin = np.where(np.arange(1, n_buckets + 1) >= window, rolling / (window * bucket_volume), np.nan)
    filled_by = np.searchsorted(cum_volume, bounds * (1 - _REL_TOL), side="left") - 1
    return pl.DataFrame(
        {
            "bucket": np.arange(1, n_buckets + 1),
            "time": np.asarray(time)[filled_by],
            "buy_volume": buy,
            "sell_volume": bucket_volume - buy,
            "order_imbalance": imbalance,
            "vpin": pl.Series(np.clip(vpin, 0.0, 1.0), nan_to_null=True),
        }
    )


def bvc_bars(trades: pl.DataFrame, bar_ms: int = 60_000) -> pl.DataFrame:
    """Bulk volume classification on time bars: ``buy_volume = volume * Phi(dP / sigma_dP)``.

    ``dP`` is the close-to-close change of the last trade price between consecutive bars with trades (0 for the
    first bar) and ``sigma_dP`` its standard deviation over the sample. Returns ``time`` (last ms of the bar, when
    the bar is known), ``volume`` and ``buy_volume``.
    """
    bars = (
        trades.sort("time")
        .group_by((pl.col("time") // bar_ms * bar_ms).alias("start"), maintain_order=True)
        .agg(pl.col("sz").sum().alias("volume"), pl.col("px").last().alias("close"))
    )
    dp = bars["close"].diff().fill_null(0.0).to_numpy()
    sigma = np.std(dp[1:], ddof=1) if dp.size > 2 else np.nan
    share = norm.cdf(dp / sigma) if sigma > 0 else np.full(dp.size, 0.5)
    return bars.select(
        (pl.col("start") + bar_ms - 1).alias("time"), "volume", (pl.col("volume") * share).alias("buy_volume")
    )


def vpin(
    trades: pl.DataFrame,
    bucket_volume: float | None = None,
    window: int = VPIN_WINDOW,
    classification: str = "exact",
    bvc_bar_ms: int = 60_000,
) -> pl.DataFrame:
    """VPIN buckets (:func:`vpin_buckets`) of one coin's ``trades`` (``time``, ``sz``, ``side`` = aggressor, ``px``).

    ``classification``: ``"exact"`` uses the aggressor side of every trade; ``"bvc"`` classifies ``bvc_bar_ms``
    bars (:func:`bvc_bars`). ``bucket_volume`` defaults to :func:`adv_bucket_volume` of ``trades``.
    """
    if "coin" in trades.columns and trades["coin"].n_unique() > 1:
        raise ValueError("vpin takes one coin's trades")
    size = adv_bucket_volume(trades) if bucket_volume is None else bucket_volume
    if classification == "exact":
        flow = trades.sort("time").select(
            "time",
            pl.col("sz").alias("volume"),
            pl.when(pl.col("side") > 0).then(pl.col("sz")).otherwise(0.0).alias("buy_volume"),
        )
    elif classification == "bvc":
        flow = bvc_bars(trades, bvc_bar_ms)
    else:
        raise ValueError(f"classification must be 'exact' or 'bvc', not {classification!r}")
    time, volume, buy = (flow.to_series(i).to_numpy() for i in range(3))
    return vpin_buckets(time, volume, buy, size, window)
