"""``Lake.read`` with a row predicate: the rows it holds, from the partitions asked for, as the catalogue types."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from data_lake.lake import Lake
from data_lake.units import day_bounds_ms

DAYS = (dt.date(2026, 1, 1), dt.date(2026, 1, 2))


def _trades(day: dt.date, coin: str) -> pl.DataFrame:
    """Ten trades a minute apart from the day's start, tid = minute index (per coin and day)."""
    start, _ = day_bounds_ms(day)
    return pl.DataFrame(
        {
            "coin": coin,
            "date": day,
            "time": [start + 60_000 * i for i in range(10)],
            "tid": list(range(10)),
            "px": 25.0,
            "sz": 1.0,
            "side": 1,
        }
    )


def test_a_predicate_keeps_exactly_its_rows_of_the_partition_asked_for(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake", storage_options={})
    for day in DAYS:
        for coin in ("DEMO", "OTHER"):
            lake.write_partition("trades", _trades(day, coin), coin, day)
    start, _ = day_bounds_ms(DAYS[1])
    head = lake.read("trades", coins="DEMO", start=DAYS[1], end=DAYS[1], where=pl.col("time") < start + 180_000)
    assert head["tid"].to_list() == [0, 1, 2]
    assert set(head["coin"]) == {"DEMO"} and set(head["date"]) == {DAYS[1]}
    whole = lake.read_partition("trades", "DEMO", DAYS[1])
    assert head.schema == whole.schema
    assert head.equals(whole.filter(pl.col("time") < start + 180_000))


def test_partitions_read_back_in_key_order_whatever_order_they_were_committed_in(tmp_path: Path) -> None:
    """Two lakes holding the same rows, committed in opposite orders (parallel workers finish days in any order),
    read back as the same frame, each partition's rows in their stored order; a column subset keeps that order."""
    in_order, reversed_order = Lake(tmp_path / "a", storage_options={}), Lake(tmp_path / "b", storage_options={})
    partitions = [(coin, day) for coin in ("DEMO", "OTHER") for day in DAYS]
    for coin, day in partitions:
        in_order.write_partition("trades", _trades(day, coin).reverse(), coin, day)
    for coin, day in reversed(partitions):
        reversed_order.write_partition("trades", _trades(day, coin).reverse(), coin, day)
    a, b = in_order.read("trades"), reversed_order.read("trades")
    assert a.equals(b)
    assert a.select("coin", "date").unique(maintain_order=True).rows() == [(c, d) for c, d in partitions]
    assert a.filter((pl.col("coin") == "DEMO") & (pl.col("date") == DAYS[0]))["tid"].to_list() == list(range(9, -1, -1))
    subset = reversed_order.read("trades", columns=["sz", "tid"])
    assert subset.columns == ["tid", "sz"]
    assert subset["tid"].to_list() == a["tid"].to_list()
