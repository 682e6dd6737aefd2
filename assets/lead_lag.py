"""Lead-lag per (coin, day): how each configured leader's mid leads the coin's, and the leaders' mids the walk-forward
reads.

``lead_lag_fit`` fits :func:`calibration.lead_lag.fit_lead_lag` of every leader of the coin
(:mod:`data_lake.leaders`: ``$SMALLFISH_LEADERS``, by default BTC and ETH) over the partition's UTC day, from the
clean ``book`` of both coins (mids of the freshest ``bbo``/``l2Book`` rows). A leader is only read, never fitted
itself: its captures go through the same ingest as any coin's, and a day without its clean book leaves a
``no_leader_data`` row saying so. :func:`leader_mids_for_folds` gives the walk-forward's ``leader_mids`` frame.
"""

import datetime as dt
import math
import time
from collections.abc import Sequence

import dagster as dg
import polars as pl

from assets.partitions import COIN_DAY, coin_and_date
from data_lake.units import day_bounds_ms
from assets.resources import DataLakeResource
from calibration.fit_result import code_version
from calibration.lead_lag import LeadLagConfig, LeadLagResult, fit_lead_lag
from calibration.mids import mid_series
from data_lake.lake import Lake
from data_lake.leaders import leaders_of
from data_lake.tables import LEAD_LAG_FIT
from data_lake.units import DAY_MS, HOUR_MS
from validation.walk_forward import Fold

GROUP = "calibration"
BOOK_COLUMNS = ["time", "recv_time_ns", "bid_px_1", "ask_px_1", "mid"]
NO_LEADER_DATA = "no_leader_data"


class LeadLagFitConfig(dg.Config):
    """Level and null size of the daily lead-lag test (the lag grid and response window are the estimator's)."""

    alpha: float = 0.01
    n_shifts: int = 99


def day_mids(lake: Lake, coin: str, date: dt.date) -> pl.DataFrame:
    """``time, mid`` of ``coin``'s clean book on ``date`` (empty when the lake holds none)."""
    return mid_series(lake.read_partition("book", coin, date, columns=BOOK_COLUMNS)).select("time", "mid")


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
    return {"leader": leader, "window_start_ms": window[0], "window_end_ms": window[1], "status": NO_LEADER_DATA,
            "reason": reason}


def lead_lag_rows(coin: str, date: dt.date, follower: pl.DataFrame, leaders: dict[str, pl.DataFrame],
                  config: LeadLagConfig) -> pl.DataFrame:
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


@dg.asset(partitions_def=COIN_DAY, group_name=GROUP, deps=["book"], kinds={"delta", "polars"})
def lead_lag_fit(
    context: dg.AssetExecutionContext, config: LeadLagFitConfig, data_lake: DataLakeResource
) -> dg.MaterializeResult:
    """Lead time, response coefficient, their SEs and the shifted-null p-value of each configured leader over the
    coin's day (leaders: ``$SMALLFISH_LEADERS``, default BTC and ETH)."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    leaders = leaders_of(coin)
    follower = day_mids(lake, coin, date)
    table = lead_lag_rows(coin, date, follower, {leader: day_mids(lake, leader, date) for leader in leaders},
                          LeadLagConfig(alpha=config.alpha, n_shifts=config.n_shifts))
    version = lake.write_partition("lead_lag_fit", table, coin, date)
    lines = ["| leader | status | lag ms (SE) | beta (SE) | p |", "|---|---|---|---|---|"]
    lines += [
        f"| {r['leader']} | {r['status']} | {_num(r['lag_ms'])} ({_num(r['lag_se_ms'])}) | "
        f"{_num(r['beta'])} ({_num(r['beta_se'])}) | {_num(r['p_value'])} |"
        for r in table.iter_rows(named=True)
    ]
    for r in table.filter(pl.col("status") != "ok").iter_rows(named=True):
        context.log.info(f"{coin} led by {r['leader']} on {date}: {r['status']}: {r['reason']}")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": table.height,
        "delta_version": version,
        "leaders": ", ".join(leaders) or "none configured",
        "fits": dg.MetadataValue.md("\n".join(lines) if table.height else "no leaders configured"),
    })


def _num(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4g}"


def _thinned(mids: pl.DataFrame) -> pl.DataFrame:
    """Every change of the mid and the first mid of each second: what a lead-lag shift reads (the mid as of an
    instant, and whether it is fresh), at a fraction of a busy leader's rows."""
    second = pl.col("time") // 1_000
    changed = (pl.col("mid") != pl.col("mid").shift(1)).fill_null(True)
    return mids.filter(changed | (second != second.shift(1)).fill_null(True))


def leader_mids_for_folds(lake: Lake, leaders: Sequence[str], folds: Sequence[Fold], fit_hours: float) -> pl.DataFrame:
    """The walk-forward's ``leader_mids`` (``leader, time, mid``): each leader's mids on the days a fold uses
    them, the last ``fit_hours`` of its train window (the lead-lag fit) and its test window (the shift)."""
    days: set[dt.date] = set()
    for fold in folds:
        first = max(fold.train_end_ms - round(fit_hours * HOUR_MS), fold.train_start_ms)
        days.update(_utc_day(ms) for ms in range(first - first % DAY_MS, fold.test_end_ms, DAY_MS))
    frames = [
        _thinned(day_mids(lake, leader, day)).select(pl.lit(leader).alias("leader"), "time", "mid")
        for leader in leaders
        for day in sorted(days)
    ]
    empty = pl.DataFrame(schema={"leader": pl.String, "time": pl.Int64, "mid": pl.Float64})
    return pl.concat([empty, *frames])


def _utc_day(ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).date()
