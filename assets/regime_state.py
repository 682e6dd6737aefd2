"""Regime state shared by assets: the 1 min bars the HMM reads and the causal beliefs a day's stored HMM gives."""

import datetime as dt

import polars as pl

from calibration.regime_storage import fitted_hmm
from calibration.regimes import regime_beliefs
from data_lake.lake import Lake
from data_lake.units import MINUTE_MS, day_bounds_ms


def minute_bars(lake: Lake, coin: str, first: dt.date, last: dt.date) -> pl.DataFrame:
    """1 min feature bars of ``coin`` for the inclusive day range, in time order (the 1 s bars, 60 times as many, are
    left in the files: the filter is pushed down to the scan)."""
    bars = lake.read("features", coins=coin, start=first, end=last, where=pl.col("bar_ms") == MINUTE_MS)
    return bars.sort("time")


def day_regime_beliefs(lake: Lake, coin: str, date: dt.date, params_date: dt.date | None = None) -> pl.DataFrame | None:
    """Causal beliefs (``calibration.regimes.regime_beliefs``: ``time`` = bar end) of ``date``'s 1 min bars under the
    fitted HMM of ``regime_hmm`` partition ``params_date`` (default ``date``; pass the day before for out-of-sample
    params). The previous day's bars warm the filter up. None when no HMM is stored."""
    params = fitted_hmm(lake.read_partition("regime_hmm", coin, params_date or date))
    if params is None:
        return None
    bars = minute_bars(lake, coin, date - dt.timedelta(days=1), date)
    start, end = day_bounds_ms(date)
    return regime_beliefs(bars, params).filter(pl.col("bar_time").is_between(start, end - 1))
