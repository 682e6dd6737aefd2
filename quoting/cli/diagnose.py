"""``smallfish diagnose``: a coin's component verdicts from the lake's ``component_verdict`` table, largest
weakness first, with each row's reason and what changed since the verdicts before."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from data_lake.lake import Lake
from validation.decisions.verdict_text import morning_text

TABLE = "diagnosis"


def diagnose_main(lake_root: str | Path, coin: str, date: dt.date | None = None) -> tuple[str, int]:
    """The verdict text of ``coin`` on ``date`` (default: its latest day with verdicts) and the exit code: 0, or 1
    when the lake holds no verdicts for it (the text then says what there is)."""
    lake = Lake(lake_root)
    rows = lake.read(TABLE, coins=coin)
    if rows.height == 0:
        return (
            f"no component verdicts for {coin} in {lake.root}: the nightly job's walk_forward_assets writes "
            "them (diagnosis)"
        ), 1
    days = sorted(set(rows["date"]))
    day = date or days[-1]
    if day not in days:
        return f"no component verdicts for {coin} on {day}; days with verdicts: {', '.join(map(str, days))}", 1
    earlier = [d for d in days if d < day]
    previous = rows.filter(pl.col("date") == earlier[-1]) if earlier else None
    return morning_text(rows.filter(pl.col("date") == day), coin, day, previous, earlier[-1] if earlier else None), 0
