"""The leaders' mids the walk-forward reads (``leader_mids``): which UTC days a fold needs them on, and the rows a
lead-lag shift reads (every change of the mid and the first mid of each second) at a fraction of a busy leader's
rows. Times UTC epoch ms."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from data_lake.units import DAY_MS, HOUR_MS, utc_day
from validation.experiments.walk_forward import Fold

LEADER_MIDS_SCHEMA = {"leader": pl.String, "time": pl.Int64, "mid": pl.Float64}


def thinned_mids(mids: pl.DataFrame) -> pl.DataFrame:
    """Every change of the mid and the first mid of each second: what a lead-lag shift reads (the mid as of an
    instant, and whether it is fresh), at a fraction of a busy leader's rows."""
    second = pl.col("time") // 1_000
    changed = (pl.col("mid") != pl.col("mid").shift(1)).fill_null(True)
    return mids.filter(changed | (second != second.shift(1)).fill_null(True))


def leader_days(folds: Sequence[Fold], fit_hours: float) -> list[dt.date]:
    """The UTC days, in order, on which some fold uses the leaders' mids: the last ``fit_hours`` of its train window
    (the lead-lag fit) and its test window (the shift)."""
    days: set[dt.date] = set()
    for fold in folds:
        first = max(fold.train_end_ms - round(fit_hours * HOUR_MS), fold.train_start_ms)
        days.update(utc_day(ms) for ms in range(first - first % DAY_MS, fold.test_end_ms, DAY_MS))
    return sorted(days)
