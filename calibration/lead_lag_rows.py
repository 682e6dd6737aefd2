"""The ``lead_lag_fit`` table's rows of a (coin, day): one per configured leader, the fit of
:func:`calibration.lead_lag.fit_lead_lag` over the UTC day or, when the lake holds no clean book of the leader or
the coin that day, a :data:`NO_LEADER_DATA` row saying which. Lags in ms, times UTC epoch ms."""

from __future__ import annotations

import datetime as dt
import math
import time

import polars as pl

from calibration.fit_result import code_version
from calibration.lead_lag import LeadLagConfig, LeadLagResult, fit_lead_lag
from data_lake.tables import LEAD_LAG_FIT
from data_lake.units import day_bounds_ms

NO_LEADER_DATA = "no_leader_data"


def _row(leader: str, result: LeadLagResult) -> dict:
    fit, gof = result.fit, result.fit.goodness_of_fit

    def count(name: str) -> int | None:
        value = gof.get(name, math.nan)
        return int(value) if math.isfinite(value) else None

    return {
        "leader": leader,
        "window_start_ms": result.window[0],
        "window_end_ms": result.window[1],
        "status": fit.status,
        "reason": result.reason,
        "lag_ms": fit.estimates.get("lag_ms"),
        "lag_se_ms": fit.std_errors.get("lag_ms"),
        "beta": fit.estimates.get("beta"),
        "beta_se": fit.std_errors.get("beta"),
        "hy_corr": fit.estimates.get("hy_corr"),
        "p_value": gof.get("p_value"),
        "alpha": gof.get("alpha"),
        "null_p95": gof.get("null_p95"),
        "null_draws": count("null_draws"),
        "n_windows": count("n_windows"),
        "r2": gof.get("r2"),
        "n_leader_returns": count("n_leader_returns"),
        "n_follower_returns": count("n_follower_returns"),
        "lags_ms": [int(lag) for lag in result.lags_ms],
        "hy_corr_by_lag": [float(c) for c in result.hy_corr],
    }


def _missing_row(leader: str, window: tuple[int, int], reason: str) -> dict:
    return {
        "leader": leader,
        "window_start_ms": window[0],
        "window_end_ms": window[1],
        "status": NO_LEADER_DATA,
        "reason": reason,
    }


def lead_lag_rows(
    coin: str, date: dt.date, follower: pl.DataFrame, leaders: dict[str, pl.DataFrame], config: LeadLagConfig
) -> pl.DataFrame:
    """The ``lead_lag_fit`` rows of (coin, date): one per leader, fitted over the UTC day (trimmed to the span both
    mids cover), or saying which mids were missing."""
    window = day_bounds_ms(date)
    rows = []
    for leader, mids in leaders.items():
        if mids.height == 0 or follower.height == 0:
            absent = leader if mids.height == 0 else coin
            rows.append(_missing_row(leader, window, f"no clean book of {absent} on {date} in the lake"))
        else:
            rows.append(_row(leader, fit_lead_lag(mids, follower, window, config)))
    stamp = {"coin": coin, "date": date, "code_version": code_version(), "fitted_at_ms": int(time.time() * 1000)}
    if not rows:
        return LEAD_LAG_FIT.empty()
    return LEAD_LAG_FIT.conform(pl.DataFrame([row | stamp for row in rows], infer_schema_length=None))
