"""The per-day frames the fill-intensity and Hawkes window fits derive, and the columns of the day's partition each
reads: pure functions of one day's book or trades, so the partition cache (:mod:`data_lake.partition_cache`) can keep
them and a night derives only its new day.

Prints of one taker order share their ms, so grouping orders (:func:`calibration.fill_intensity.grouped_taker_orders`)
and merging arrival ties (:func:`calibration.window_fits.order_arrival_times`) one day at a time and concatenating
equals doing it over the window. The orders' depths need the window's tick and the mids up to ``MID_MAX_AGE_MS``
before the day, so :func:`order_depths_by_day` measures them after the days are derived.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl

from calibration.fill_intensity import order_depths
from calibration.fit_result import code_version
from calibration.mids import MID_COLUMNS, MID_MAX_AGE_MS, mid_series
from calibration.window_fits import order_arrival_times
from data_lake.units import day_bounds_ms

BOOK_COLUMNS = list(MID_COLUMNS)
"""What :func:`day_mids` and :func:`quoted_prices` read of a day's book: the columns of
:func:`calibration.mids.mid_series`, which include the best quotes :func:`quoted_prices` reads."""
TRADE_COLUMNS = ["coin", "time", "tid", "px", "sz", "side", "buyer", "seller", "hash"]
"""What :func:`calibration.fill_intensity.grouped_taker_orders` reads of a day's trades."""
ARRIVAL_COLUMNS = ["time", "tid", "side", "buyer", "seller", "hash"]
"""What :func:`arrival_frame` reads of a day's trades."""


def day_frames_code() -> str:
    """Version of the code a cached day frame comes from (part of its cache key): these derivations and the estimators
    they call (``calibration``), and the lake's read of the partition (``data_lake``)."""
    return code_version(("calibration", "data_lake"))


def day_mids(book: pl.DataFrame) -> pl.DataFrame:
    """A day's mid series, ``time, mid`` (:func:`calibration.mids.mid_series`)."""
    return mid_series(book).select("time", "mid")


def window_mids(by_day: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """The window's mids (``time, mid``) from its days' :func:`day_mids`, in day order (empty without days)."""
    return pl.concat(by_day) if by_day else pl.DataFrame(schema={"time": pl.Int64, "mid": pl.Float64})


def quoted_prices(book: pl.DataFrame) -> pl.DataFrame:
    """The distinct best bid and ask prices of a day's book, ``price`` (the tick is inferred from the window's)."""
    return pl.concat([book["bid_px_1"], book["ask_px_1"]]).drop_nulls().unique().alias("price").to_frame()


def arrival_frame(trades: pl.DataFrame) -> pl.DataFrame:
    """:func:`calibration.window_fits.order_arrival_times` of a day's trades as one frame (``side``, ``time`` in epoch
    ms), buys first."""
    arrivals = order_arrival_times(trades)
    return pl.DataFrame(
        {
            "side": np.repeat(np.array([1, -1], np.int8), [arrivals[1].size, arrivals[-1].size]),
            "time": np.concatenate([arrivals[1], arrivals[-1]]),
        }
    )


def arrivals_by_side(by_day: Sequence[pl.DataFrame]) -> dict[int, np.ndarray]:
    """The window's taker-order arrival times (epoch ms) per aggressor side (+1, -1) from its days'
    :func:`arrival_frame`, in day order."""
    return {
        side: np.concatenate(
            [f.filter(pl.col("side") == side)["time"].to_numpy() for f in by_day] or [np.empty(0, np.int64)]
        )
        for side in (1, -1)
    }


def order_depths_by_day(
    days: Sequence[dt.date], grouped_by_day: Sequence[pl.DataFrame], mids: pl.DataFrame, *, tick_size: float
) -> pl.DataFrame:
    """Each day's grouped taker orders measured (:func:`calibration.fill_intensity.order_depths`) from the window's
    ``mids`` of that day and of the ``MID_MAX_AGE_MS`` before it, concatenated in day order."""
    orders = []
    for day, grouped in zip(days, grouped_by_day, strict=True):
        start, end = day_bounds_ms(day)
        near = mids.filter(pl.col("time").is_between(start - MID_MAX_AGE_MS, end, closed="left"))
        orders.append(order_depths(grouped, near, tick_size=tick_size))
    return pl.concat(orders)
