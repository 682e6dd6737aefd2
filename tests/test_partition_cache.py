"""The partition cache: a stored frame is served equal to the derived one (floats, NaNs, nulls and row order) without
deriving again; a rewritten partition or another code version derives again and leaves one entry; an unreadable
entry is derived again with a warning; a partition without files is derived and nothing is stored; pruning deletes
exactly one coin's entries before a day; a window's named day frames come back per derivation in day order."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from data_lake.lake import Lake
from data_lake.partition_cache import ROOT, PartitionCache, cached_day_frames, prune_before
from data_lake.units import day_bounds_ms

COIN = "DEMO"
DAYS = (dt.date(2026, 1, 1), dt.date(2026, 1, 2))


def _trades(day: dt.date, px: float = 25.0) -> pl.DataFrame:
    """Ten trades a minute apart from the day's start, newest first (a stored order that is not the time order)."""
    start, _ = day_bounds_ms(day)
    return pl.DataFrame(
        {
            "coin": COIN,
            "date": day,
            "time": [start + 60_000 * i for i in range(10)][::-1],
            "tid": list(range(10)),
            "px": px,
            "sz": [0.1 * (i + 1) for i in range(10)],
            "side": 1,
        }
    )


class Counted:
    """A derivation that counts its calls: the day's trades with values a Parquet round trip must keep exactly."""

    def __init__(self, day: dt.date):
        self.day, self.calls = day, 0

    def __call__(self, lake: Lake, version: int | None) -> pl.DataFrame:
        self.calls += 1
        trades = lake.read("trades", coins=COIN, start=self.day, end=self.day, version=version)
        return trades.select(
            "time",
            "tid",
            third=pl.col("px") * pl.col("sz") / 3.0,
            nan=pl.when(pl.col("tid") % 2 == 0).then(float("nan")).otherwise(pl.col("sz")),
            null=pl.when(pl.col("tid") % 3 == 0).then(None).otherwise(pl.col("tid")),
        )


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path / "lake", storage_options={})
    for day in DAYS:
        lake.write_partition("trades", _trades(day), COIN, day)
    return lake


def _entries(lake: Lake, day: dt.date) -> list[str]:
    return [f.rel for f in lake.files().list_files(f"{ROOT}/{COIN}/{day.isoformat()}")]


def test_a_stored_frame_is_served_equal_to_the_derived_one_without_deriving_again(lake: Lake) -> None:
    derive = Counted(DAYS[0])
    derived = PartitionCache(lake, "trades", "code-1").frame("sample", COIN, DAYS[0], derive)
    served = PartitionCache(lake, "trades", "code-1").frame("sample", COIN, DAYS[0], derive)
    assert derive.calls == 1
    assert_frame_equal(served, derived, check_exact=True)
    assert served["time"].to_list() == sorted(served["time"].to_list(), reverse=True)  # the stored row order
    assert served["nan"].is_nan().sum() == 5 and served["null"].null_count() == 4
    assert len(_entries(lake, DAYS[0])) == 1 and _entries(lake, DAYS[1]) == []


def test_a_rewritten_partition_is_derived_again_and_its_stale_entry_deleted(lake: Lake) -> None:
    first, second = Counted(DAYS[0]), Counted(DAYS[1])
    for derive in (first, second):
        PartitionCache(lake, "trades", "code-1").frame("sample", COIN, derive.day, derive)
    stale = _entries(lake, DAYS[0])
    lake.write_partition("trades", _trades(DAYS[0], px=30.0), COIN, DAYS[0])
    cache = PartitionCache(lake, "trades", "code-1")
    fresh = cache.frame("sample", COIN, DAYS[0], first)
    cache.frame("sample", COIN, DAYS[1], second)
    assert (first.calls, second.calls) == (2, 1)  # the untouched day is served
    assert fresh["third"].to_list() == pytest.approx([30.0 * 0.1 * (i + 1) / 3.0 for i in range(10)])
    entries = _entries(lake, DAYS[0])
    assert len(entries) == 1 and entries != stale


def test_another_code_version_derives_again(lake: Lake) -> None:
    derive = Counted(DAYS[0])
    for code in ("code-1", "code-2", "code-2"):
        PartitionCache(lake, "trades", code).frame("sample", COIN, DAYS[0], derive)
    assert derive.calls == 2
    assert len(_entries(lake, DAYS[0])) == 1


def test_an_unreadable_entry_is_derived_again_with_a_warning(lake: Lake, caplog: pytest.LogCaptureFixture) -> None:
    derive = Counted(DAYS[0])
    derived = PartitionCache(lake, "trades", "code-1").frame("sample", COIN, DAYS[0], derive)
    (entry,) = _entries(lake, DAYS[0])
    lake.files().write(entry, b"not parquet")
    with caplog.at_level(logging.WARNING, logger="data_lake.partition_cache"):
        again = PartitionCache(lake, "trades", "code-1").frame("sample", COIN, DAYS[0], derive)
    assert derive.calls == 2
    assert_frame_equal(again, derived, check_exact=True)
    assert "unreadable partition cache entry" in caplog.text
    served = PartitionCache(lake, "trades", "code-1").frame("sample", COIN, DAYS[0], derive)
    assert derive.calls == 2 and served.equals(derived)  # the entry was stored again


def test_a_partition_without_files_is_derived_and_nothing_is_stored(lake: Lake) -> None:
    absent_day = dt.date(2026, 1, 3)
    derive = Counted(absent_day)
    for _ in range(2):
        assert PartitionCache(lake, "trades", "code-1").frame("sample", COIN, absent_day, derive).height == 0
    absent_table = Counted(DAYS[0])  # a table that does not exist: its partitions have no files either
    assert PartitionCache(lake, "book", "code-1").frame("sample", COIN, DAYS[0], absent_table).height == 10
    assert (derive.calls, absent_table.calls) == (2, 1)
    assert lake.files().list_files(ROOT) == []


def test_pruning_deletes_exactly_the_coins_entries_before_the_day(lake: Lake) -> None:
    lake.write_partition("trades", _trades(DAYS[0]).with_columns(coin=pl.lit("OTHER")), "OTHER", DAYS[0])
    for coin, day in ((COIN, DAYS[0]), (COIN, DAYS[1]), ("OTHER", DAYS[0])):
        PartitionCache(lake, "trades", "code-1").frame("sample", coin, day, Counted(day))
        PartitionCache(lake, "trades", "code-1").frame("other_sample", coin, day, Counted(day))
    assert prune_before(lake, COIN, DAYS[1]) == 2
    assert _entries(lake, DAYS[0]) == [] and len(_entries(lake, DAYS[1])) == 2
    assert len(lake.files().list_files(f"{ROOT}/OTHER")) == 2
    assert prune_before(lake, COIN, DAYS[1]) == 0


def test_a_windows_day_frames_come_back_by_derivation_in_day_order_and_are_served_the_next_time(lake: Lake) -> None:
    """Each named derivation of each day's columns, in the order the days are asked (the last day first here); a
    second window derives nothing; a day without a partition is derived and not stored."""
    calls: list[str] = []

    def first_time(trades: pl.DataFrame) -> pl.DataFrame:
        calls.append("first_time")
        return trades.select(pl.col("time").min())

    def notional(trades: pl.DataFrame) -> pl.DataFrame:
        calls.append("notional")
        return trades.select(notional=(pl.col("px") * pl.col("sz")).sum(), n=pl.len())

    days = (DAYS[1], dt.date(2026, 1, 3), DAYS[0])
    derivations = {"first_time": first_time, "notional": notional}
    for _ in range(2):
        frames = cached_day_frames(lake, "trades", COIN, days, ["time", "px", "sz"], derivations, "code-1")
        assert list(frames) == ["first_time", "notional"]
        starts = [day_bounds_ms(DAYS[1])[0], None, day_bounds_ms(DAYS[0])[0]]
        assert [f["time"].item() for f in frames["first_time"]] == starts
        assert [f["n"].item() for f in frames["notional"]] == [10, 0, 10]
        assert frames["notional"][0]["notional"].item() == pytest.approx(25.0 * 0.1 * 55)
    assert calls == ["first_time", "notional"] * 4  # three days, then only the day without a partition again
    assert len(_entries(lake, DAYS[0])) == len(_entries(lake, DAYS[1])) == 2
