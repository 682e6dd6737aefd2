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
from collections.abc import Sequence

import dagster as dg
import polars as pl

from assets.partitions import COIN_DAY, coin_and_date
from assets.resources import DataLakeResource
from calibration.lead_lag import LeadLagConfig
from calibration.lead_lag_rows import lead_lag_rows
from calibration.mids import mid_series
from data_lake.lake import Lake
from data_lake.leaders import leaders_of
from validation.experiments.leader_mids import LEADER_MIDS_SCHEMA, leader_days, thinned_mids
from validation.experiments.walk_forward import Fold

GROUP = "calibration"
BOOK_COLUMNS = ["time", "recv_time_ns", "bid_px_1", "ask_px_1", "mid"]


class LeadLagFitConfig(dg.Config):
    """Level and null size of the daily lead-lag test (:class:`calibration.lead_lag.LeadLagConfig`; the lag grid and
    response window are the estimator's)."""

    alpha: float = LeadLagConfig.alpha
    n_shifts: int = LeadLagConfig.n_shifts


def day_mids(lake: Lake, coin: str, date: dt.date) -> pl.DataFrame:
    """``time, mid`` of ``coin``'s clean book on ``date`` (empty when the lake holds none)."""
    return mid_series(lake.read_partition("book", coin, date, columns=BOOK_COLUMNS)).select("time", "mid")


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
    table = lead_lag_rows(
        coin,
        date,
        follower,
        {leader: day_mids(lake, leader, date) for leader in leaders},
        LeadLagConfig(alpha=config.alpha, n_shifts=config.n_shifts),
    )
    version = lake.write_partition("lead_lag_fit", table, coin, date)
    lines = ["| leader | status | lag ms (SE) | beta (SE) | p |", "|---|---|---|---|---|"]
    lines += [
        f"| {r['leader']} | {r['status']} | {_num(r['lag_ms'])} ({_num(r['lag_se_ms'])}) | "
        f"{_num(r['beta'])} ({_num(r['beta_se'])}) | {_num(r['p_value'])} |"
        for r in table.iter_rows(named=True)
    ]
    for r in table.filter(pl.col("status") != "ok").iter_rows(named=True):
        context.log.info(f"{coin} led by {r['leader']} on {date}: {r['status']}: {r['reason']}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "delta_version": version,
            "leaders": ", ".join(leaders) or "none configured",
            "fits": dg.MetadataValue.md("\n".join(lines) if table.height else "no leaders configured"),
        }
    )


def _num(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4g}"


def leader_mids_for_folds(lake: Lake, leaders: Sequence[str], folds: Sequence[Fold], fit_hours: float) -> pl.DataFrame:
    """The walk-forward's ``leader_mids`` (``leader, time, mid``): each leader's mids on the days a fold uses
    them (:func:`validation.experiments.leader_mids.leader_days`), thinned to what a lead-lag shift reads."""
    frames = [
        thinned_mids(day_mids(lake, leader, day)).select(pl.lit(leader).alias("leader"), "time", "mid")
        for leader in leaders
        for day in leader_days(folds, fit_hours)
    ]
    return pl.concat([pl.DataFrame(schema=LEADER_MIDS_SCHEMA), *frames])
