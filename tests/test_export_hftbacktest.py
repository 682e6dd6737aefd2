"""``smallfish export hftbacktest``: a lake coin-day becomes hftbacktest events that replay, in hftbacktest itself, to
the lake's book at every snapshot and to its trades with their aggressor sides."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("hftbacktest", reason="hftbacktest (the reference extra) is not installed")

from hftbacktest import (  # noqa: E402
    BUY_EVENT,
    DEPTH_CLEAR_EVENT,
    DEPTH_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
    BacktestAsset,
    HashMapMarketDepthBacktest,
)

from data_lake.export_hftbacktest import event_counts, grid_step, hftbacktest_events  # noqa: E402
from data_lake.lake import Lake  # noqa: E402
from quoting.cli.main import main  # noqa: E402

MS = 1_000_000
BOTH = EXCH_EVENT | LOCAL_EVENT


def _book(rows: list[tuple[int, list[tuple[float, float]], list[tuple[float, float]]]]) -> pl.DataFrame:
    """A book frame with the lake's level columns from (time ms, bids, asks), levels best first."""
    depth = max(max(len(b), len(a)) for _, b, a in rows)
    columns: dict[str, list] = {"time": [t for t, _, _ in rows]}
    for side, index in (("bid", 1), ("ask", 2)):
        for level in range(depth):
            columns[f"{side}_px_{level + 1}"] = [r[index][level][0] if level < len(r[index]) else None for r in rows]
            columns[f"{side}_sz_{level + 1}"] = [r[index][level][1] if level < len(r[index]) else None for r in rows]
    return pl.DataFrame(columns, schema_overrides={c: pl.Float64 for c in columns if c != "time"})


@pytest.mark.slow  # the first call compiles hftbacktest's converters (about 5 s)
def test_first_snapshot_is_cleared_and_later_ones_are_diffs() -> None:
    book = _book(
        [
            (1_000, [(100.0, 1.0), (99.0, 1.0)], [(101.0, 1.0), (102.0, 1.0)]),
            (1_500, [(100.0, 2.0), (99.0, 1.0)], [(101.0, 1.0), (103.0, 1.0)]),  # bid size change, ask level 2 replaced
            (2_000, [(101.0, 1.0), (100.0, 1.0)], [(102.0, 1.0), (103.0, 1.0)]),  # the book moves up one tick
            (2_500, [(99.0, 1.0)], [(100.0, 3.0), (101.0, 1.0)]),  # and down two, the bid side thinning to one level
        ]
    )
    trades = pl.DataFrame({"time": [1_500, 1_700], "px": [101.0, 100.0], "sz": [0.5, 0.25], "side": [1, -1]})
    events = hftbacktest_events(book, trades, tick_size=1.0, lot_size=0.1, feed_latency_ms=10)
    assert event_counts(events) == {"depth_clear": 2, "depth_snapshot": 4, "depth": 15, "trade": 2}
    assert (events["ev"] & BOTH == BOTH).all()  # a constant latency keeps one order on both clocks
    assert (events["local_ts"] - events["exch_ts"] == 10 * MS).all()
    buy, sell = BUY_EVENT, SELL_EVENT
    expected = [
        (1_000, DEPTH_CLEAR_EVENT | buy, 99.0, 0.0),
        (1_000, DEPTH_SNAPSHOT_EVENT | buy, 100.0, 1.0),
        (1_000, DEPTH_SNAPSHOT_EVENT | buy, 99.0, 1.0),
        (1_000, DEPTH_CLEAR_EVENT | sell, 102.0, 0.0),
        (1_000, DEPTH_SNAPSHOT_EVENT | sell, 101.0, 1.0),
        (1_000, DEPTH_SNAPSHOT_EVENT | sell, 102.0, 1.0),
        (1_500, TRADE_EVENT | buy, 101.0, 0.5),  # a trade in the snapshot's millisecond comes first
        (1_500, DEPTH_EVENT | sell, 102.0, 0.0),
        (1_500, DEPTH_EVENT | buy, 100.0, 2.0),
        (1_500, DEPTH_EVENT | sell, 103.0, 1.0),
        (1_700, TRADE_EVENT | sell, 100.0, 0.25),
        (2_000, DEPTH_EVENT | buy, 99.0, 0.0),
        (2_000, DEPTH_EVENT | sell, 101.0, 0.0),  # removals before insertions
        (2_000, DEPTH_EVENT | buy, 101.0, 1.0),
        (2_000, DEPTH_EVENT | buy, 100.0, 1.0),
        (2_000, DEPTH_EVENT | sell, 102.0, 1.0),
        (2_500, DEPTH_EVENT | buy, 101.0, 0.0),
        (2_500, DEPTH_EVENT | buy, 100.0, 0.0),
        (2_500, DEPTH_EVENT | sell, 102.0, 0.0),
        (2_500, DEPTH_EVENT | sell, 103.0, 0.0),
        (2_500, DEPTH_EVENT | buy, 99.0, 1.0),
        (2_500, DEPTH_EVENT | sell, 100.0, 3.0),
        (2_500, DEPTH_EVENT | sell, 101.0, 1.0),
    ]
    got = [(int(e["exch_ts"] // MS), int(e["ev"]) & ~BOTH, float(e["px"]), float(e["qty"])) for e in events]
    assert got == expected


def test_grid_step_is_the_data_tick() -> None:
    assert grid_step(np.array([25.123, 25.1, 30.0, np.nan])) == 0.001
    assert grid_step(np.array([105_000.0, 105_001.0])) == 1.0
    assert grid_step(np.array([0.001234, 0.0012])) == 1e-6


def _random_day(coin: str, day: dt.date, seed: int = 3) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Lake-shaped book (l2Book snapshots every 500 ms, 2-5 levels a side on a 0.01 grid, plus one bbo row) and trades,
    with receive times jittered so trades and snapshots sometimes arrive in another order than they happened."""
    rng = np.random.default_rng(seed)
    start_ms = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000) + 3_600_000
    rows, best_bid = [], 2_500
    for k in range(120):
        best_bid += int(rng.choice([-2, -1, 0, 0, 1, 2]))
        best_ask = best_bid + int(rng.integers(1, 4))
        bids = [
            ((best_bid - i - (i > 1)) / 100, round(float(rng.integers(1, 60)) / 10, 1))
            for i in range(int(rng.integers(2, 6)))
        ]
        asks = [
            ((best_ask + i + (i > 2)) / 100, round(float(rng.integers(1, 60)) / 10, 1))
            for i in range(int(rng.integers(2, 6)))
        ]
        rows.append((start_ms + 500 * k, bids, asks))
    book = _book(rows).with_columns(
        pl.lit("l2Book").alias("source"),
        (pl.col("time") * MS + pl.Series(rng.integers(20, 60, len(rows))) * MS).alias("recv_time_ns"),
    )
    bbo = book.slice(50, 1).with_columns(
        pl.lit("bbo").alias("source"), pl.col("time") + 1, pl.col("recv_time_ns") + MS, bid_px_1=pl.lit(1.0)
    )
    book = pl.concat([book, bbo.select(book.columns)]).sort("time")
    times = np.sort(rng.integers(start_ms, start_ms + 500 * len(rows), 90))
    trades = pl.DataFrame(
        {
            "time": times,
            "tid": np.arange(len(times)),
            "px": np.round(25 + rng.normal(0, 0.05, len(times)), 2),
            "sz": np.round(rng.integers(1, 30, len(times)) / 10, 1),
            "side": rng.choice([-1, 1], len(times)).astype(np.int8),
            "recv_time_ns": times * MS + rng.integers(10, 90, len(times)) * MS,
            "source": ["ws"] * len(times),
        }
    )
    return book, trades


def _levels(row: dict, side: str) -> set[tuple[float, float]]:
    return {
        (row[f"{side}_px_{i}"], row[f"{side}_sz_{i}"]) for i in range(1, 6) if row.get(f"{side}_px_{i}") is not None
    }


def _depth_levels(hbt: object) -> tuple[set[tuple[float, float]], set[tuple[float, float]]]:
    depth = hbt.depth(0)  # type: ignore[attr-defined]
    snapshot = depth.snapshot()
    levels = snapshot.copy()
    depth.snapshot_free(snapshot)
    bids = {(round(float(e["px"]), 2), float(e["qty"])) for e in levels if e["ev"] & BUY_EVENT and e["qty"] > 0}
    asks = {(round(float(e["px"]), 2), float(e["qty"])) for e in levels if e["ev"] & SELL_EVENT and e["qty"] > 0}
    return bids, asks


@pytest.mark.slow
def test_exported_day_replays_in_hftbacktest_to_the_lake_book_and_trades(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coin, day = "NICHE", dt.date(2026, 3, 2)
    book, trades = _random_day(coin, day)
    lake = Lake(tmp_path / "lake", storage_options={})
    lake.write_partition("book", book.with_columns(pl.lit(coin).alias("coin"), pl.lit(day).alias("date")), coin, day)
    lake.write_partition(
        "trades", trades.with_columns(pl.lit(coin).alias("coin"), pl.lit(day).alias("date")), coin, day
    )
    other_day = day + dt.timedelta(days=1)
    lake.write_partition(
        "trades",
        trades.head(5).with_columns(pl.lit(coin).alias("coin"), pl.lit(other_day).alias("date")),
        coin,
        other_day,
    )
    out = tmp_path / "niche.npz"
    assert (
        main(
            [
                "export",
                "hftbacktest",
                "--coin",
                coin,
                "--date",
                day.isoformat(),
                "--lake",
                str(tmp_path / "lake"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "from 120 snapshots and 90 trades" in printed and "tick size 0.01, lot size 0.1" in printed

    events = np.load(out)["data"]
    snapshots = book.filter(pl.col("source") == "l2Book").sort("time")
    first = snapshots.row(0, named=True)
    kind = events["ev"] & 0xFF
    assert np.sum(kind == DEPTH_CLEAR_EVENT) == 2
    assert np.sum(kind == DEPTH_SNAPSHOT_EVENT) == len(_levels(first, "bid")) + len(_levels(first, "ask"))
    for clock in (EXCH_EVENT, LOCAL_EVENT):  # events seen in another order on the two clocks are split, none lost
        assert np.sum((kind == TRADE_EVENT) & (events["ev"] & clock > 0)) == trades.height
    assert np.sum((events["ev"] & BOTH) != BOTH) > 0

    asset = (
        BacktestAsset()
        .data(str(out))
        .linear_asset(1.0)
        .constant_order_latency(0, 0)
        .risk_adverse_queue_model()
        .no_partial_fill_exchange()
        .trading_value_fee_model(0.0, 0.0)
        .tick_size(0.01)
        .lot_size(0.1)
        .last_trades_capacity(1_000)
    )
    hbt = HashMapMarketDepthBacktest([asset])
    hbt.elapse(0)
    replayed_trades = []
    for row in snapshots.iter_rows(named=True):
        hbt.elapse(row["recv_time_ns"] - hbt.current_timestamp)
        assert (
            hbt.current_timestamp == row["recv_time_ns"]
        )  # trades arrive after the last snapshot: never the data's end
        depth = hbt.depth(0)
        assert (depth.best_bid, depth.best_ask) == pytest.approx((row["bid_px_1"], row["ask_px_1"]))
        assert _depth_levels(hbt) == (_levels(row, "bid"), _levels(row, "ask"))
        replayed_trades += [
            (round(float(t["px"]), 2), float(t["qty"]), 1 if t["ev"] & BUY_EVENT else -1) for t in hbt.last_trades(0)
        ]
        hbt.clear_last_trades(0)
    hbt.elapse(10_000 * MS)
    replayed_trades += [
        (round(float(t["px"]), 2), float(t["qty"]), 1 if t["ev"] & BUY_EVENT else -1) for t in hbt.last_trades(0)
    ]
    hbt.close()
    assert sorted(replayed_trades) == sorted(trades.select("px", "sz", pl.col("side").cast(pl.Int64)).rows())


def test_export_of_an_empty_day_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "lake").mkdir()
    assert (
        main(
            [
                "export",
                "hftbacktest",
                "--coin",
                "NONE",
                "--date",
                "2026-03-02",
                "--lake",
                str(tmp_path / "lake"),
                "--out",
                str(tmp_path / "x.npz"),
            ]
        )
        == 2
    )
    assert "no l2Book snapshots or trades for NONE on 2026-03-02" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()
