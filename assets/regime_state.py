"""Regime state shared by assets: the HMM stored in ``regime_fit`` and the causal beliefs it gives for a day."""

import datetime as dt
import json

import polars as pl

from assets.quality import day_bounds_ms
from calibration.regimes import MODEL as REGIME_MODEL
from calibration.regimes import RegimeParams, regime_beliefs
from data_lake.lake import Lake
from data_lake.units import MINUTE_MS

PARAMS_JSON = "params_json"
CANDIDATE_JSON = "candidate_json_"
"""Prefix of the ``regime_fit`` rows holding the best HMM of each number of states tried (``candidate_json_<K>``)."""


def minute_bars(lake: Lake, coin: str, first: dt.date, last: dt.date) -> pl.DataFrame:
    """1 min feature bars of ``coin`` for the inclusive day range, in time order."""
    bars = lake.read("features", coins=coin, start=first, end=last)
    return bars.filter(pl.col("bar_ms") == MINUTE_MS).sort("time")


def regime_params(rows: pl.DataFrame) -> RegimeParams | None:
    """The HMM stored in ``regime_fit`` rows (the ``params_json`` row), None when the fit stored none."""
    row = rows.filter(pl.col("model") == REGIME_MODEL, pl.col("param") == PARAMS_JSON, pl.col("status") == "ok")
    return RegimeParams.from_dict(json.loads(row["goodness_of_fit"][0])) if row.height else None


def regime_candidates(rows: pl.DataFrame) -> dict[int, RegimeParams]:
    """The best HMM of every number of states stored in ``regime_fit`` rows (the next night's warm starts)."""
    picked = rows.filter(
        pl.col("model") == REGIME_MODEL, pl.col("param").str.starts_with(CANDIDATE_JSON), pl.col("status") == "ok"
    )
    return {int(v): RegimeParams.from_dict(json.loads(g)) for v, g in picked.select("value", "goodness_of_fit").rows()}


def day_regime_beliefs(
    lake: Lake, coin: str, date: dt.date, params_date: dt.date | None = None
) -> pl.DataFrame | None:
    """Causal beliefs (``calibration.regimes.regime_beliefs``: ``time`` = bar end) of ``date``'s 1 min bars under the
    HMM of ``regime_fit`` partition ``params_date`` (default ``date``; pass the day before for out-of-sample
    params). The previous day's bars warm the filter up. None when no HMM is stored."""
    params = regime_params(lake.read_partition("regime_fit", coin, params_date or date))
    if params is None:
        return None
    bars = minute_bars(lake, coin, date - dt.timedelta(days=1), date)
    start, end = day_bounds_ms(date)
    return regime_beliefs(bars, params).filter(pl.col("bar_time").is_between(start, end - 1))
