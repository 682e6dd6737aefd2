"""Helpers of the niche-selection tests: raw demo captures -> clean tables and maker-side markouts in a lake."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl

from assets.resources import DataLakeResource
from calibration.markouts import maker_side_of_trades, markouts
from calibration.mids import mid_series
from data_lake.cleaning import clean_partition
from data_lake.lake import Lake


def ingest_day(raw_root: Path, lake: Lake, coin: str, date: dt.date) -> None:
    """Clean one (coin, day) into the lake and write the market trades' maker-side markouts (the markouts table)."""
    clean = clean_partition(raw_root, coin, date)
    assert clean.accounting.balanced
    for name in ("trades", "book", "asset_ctx"):
        lake.write_partition(name, clean.tables[name], coin, date)
    marked = markouts(maker_side_of_trades(clean.tables["trades"]), mid_series(clean.tables["book"]))
    lake.write_partition("markouts", marked.with_columns(date=pl.lit(date)), coin, date)


def materialize_daily(
    assets: list, date: dt.date, lake_root: Path, raw_root: Path, run_config: dict | None = None
) -> dg.ExecuteInProcessResult:
    """Materialise daily-partitioned assets for ``date`` on an ephemeral instance against a real tmp lake."""
    resources = {"data_lake": DataLakeResource(lake_root=str(lake_root), raw_root=str(raw_root))}
    result = dg.materialize(assets, partition_key=date.isoformat(), resources=resources, run_config=run_config or {})
    assert result.success
    return result
