"""1 s and 1 min bar features on a hand-built book and tape, with answers computed by hand."""

from __future__ import annotations

import math

import polars as pl
import pytest

from calibration.bars import FEATURES_SCHEMA, bar_coverage, features, features_1min


def _book() -> pl.DataFrame:
    """X: l2Book at 100 ms (99/101, sizes 3/1, deeper 1/2), bbo at 1500 (100/102, 1/1), bbo at 3200 (98/100, 2/2).
    Y: one far-away bbo row that must stay in its own bars."""
    deep = {f"{side}_sz_{i}": sz for side, sz in (("bid", 1.0), ("ask", 2.0)) for i in range(2, 6)}
    none = {name: None for name in deep}
    rows = [
        {"coin": "X", "time": 100, "bid_px_1": 99.0, "ask_px_1": 101.0, "bid_sz_1": 3.0, "ask_sz_1": 1.0, **deep},
        {"coin": "X", "time": 1500, "bid_px_1": 100.0, "ask_px_1": 102.0, "bid_sz_1": 1.0, "ask_sz_1": 1.0, **none},
        {"coin": "X", "time": 3200, "bid_px_1": 98.0, "ask_px_1": 100.0, "bid_sz_1": 2.0, "ask_sz_1": 2.0, **none},
        {"coin": "Y", "time": 50, "bid_px_1": 9.0, "ask_px_1": 11.0, "bid_sz_1": 1.0, "ask_sz_1": 1.0, **none},
    ]
    return pl.DataFrame(rows)


def _trades() -> pl.DataFrame:
    """X: buy 2 at 500 ms, sell 1 at 600 ms, buy 1 at 2500 ms (aggressor sides)."""
    return pl.DataFrame(
        {
            "coin": ["X", "X", "X"],
            "time": [500, 600, 2500],
            "px": [101.0, 100.0, 102.0],
            "sz": [2.0, 1.0, 1.0],
            "side": pl.Series([1, -1, 1], dtype=pl.Int8),
        }
    )


def test_features_1s_by_hand() -> None:
    # ADV = 4 * 86_400_000 / 2000 ms span = 172_800; / 86_400 buckets a day = buckets of 2: bucket 1 (buy 2) done
    # at 500 ms -> VPIN 1; bucket 2 (sell 1, buy 1) done at 2500 ms -> VPIN 0 (window of 1 bucket).
    out = features(_trades(), _book(), bar_ms=1000, half_life_bars=2.0, buckets_per_day=86_400, vpin_window=1)
    assert out.columns == list(FEATURES_SCHEMA) and out.schema == pl.Schema(FEATURES_SCHEMA)
    x = out.filter(pl.col("coin") == "X")
    assert x["time"].to_list() == [0, 1000, 2000, 3000] and set(x["bar_ms"]) == {1000}
    assert x["mid"].to_list() == [100.0, 101.0, 101.0, 99.0]
    r1, r3 = math.log(1.01), math.log(99 / 101)
    assert x["log_return"].to_list() == [None, pytest.approx(r1), 0.0, pytest.approx(r3)]
    lam = 0.5**0.5
    v2 = lam * r1**2
    v3 = lam * v2 + (1 - lam) * r3**2
    assert x["ewma_var"].to_list() == [None, pytest.approx(r1**2), pytest.approx(v2), pytest.approx(v3)]
    assert x["n_buys"].to_list() == [1, 0, 1, 0] and x["n_sells"].to_list() == [1, 0, 0, 0]
    assert x["buy_volume"].to_list() == [2.0, 0.0, 1.0, 0.0] and x["sell_volume"].to_list() == [1.0, 0.0, 0.0, 0.0]
    assert x["imbalance_1"].to_list() == [0.5, 0.0, 0.0, 0.0]
    assert x["imbalance_5"].to_list() == [pytest.approx(-2 / 16)] * 4  # bbo rows carry no depth: last l2Book value
    assert x["microprice"].to_list() == [100.5, 101.0, 101.0, 99.0]
    assert x["vpin"].to_list() == [1.0, 1.0, 0.0, 0.0]
    assert x.select("rv", "bv", "jump_ratio").null_count().row(0) == (4, 4, 4)
    y = out.filter(pl.col("coin") == "Y")
    assert y.select("time", "mid", "n_buys", "vpin").rows() == [(0, 10.0, 0, None)]


def test_features_1min_realized_from_1s_returns() -> None:
    # The 3200 ms mid carries over the 1 s bars ending up to 5 s later; a bbo at 59 s keeps the minute's end observed.
    last = pl.DataFrame({"coin": ["X"], "time": [59_000], "bid_px_1": [98.0], "ask_px_1": [100.0]})
    out = features_1min(_trades(), pl.concat([_book(), last], how="diagonal")).filter(pl.col("coin") == "X")
    assert out.height == 1 and out["bar_ms"][0] == 60_000
    row = out.row(0, named=True)
    assert row["mid"] == 99.0 and row["log_return"] is None
    assert (row["n_buys"], row["n_sells"], row["buy_volume"], row["sell_volume"]) == (2, 1, 3.0, 1.0)
    assert row["rv"] == pytest.approx(math.log(1.01) ** 2 + math.log(99 / 101) ** 2)
    assert row["bv"] == 0.0 and row["jump_ratio"] is None  # the zero 1 s returns break every pair


def _outage_book() -> pl.DataFrame:
    """Mid 100 every 500 ms up to 60 s, a 250 s outage, then mid 101 every 500 ms from 310 s to 419.5 s."""
    times = [*range(0, 60_001, 500), *range(310_000, 420_000, 500)]
    mid = [100.0 if t <= 60_000 else 101.0 for t in times]
    return pl.DataFrame(
        {"coin": "X", "time": times, "bid_px_1": [m - 0.5 for m in mid], "ask_px_1": [m + 0.5 for m in mid]}
    ).with_columns(pl.lit(1.0).alias(f"{side}_sz_{i}") for side in ("bid", "ask") for i in range(1, 6))


def test_bars_inside_a_capture_gap_do_not_exist_and_no_return_spans_it() -> None:
    no_trades = pl.DataFrame(
        schema={"coin": pl.String, "time": pl.Int64, "px": pl.Float64, "sz": pl.Float64, "side": pl.Int8}
    )
    seconds = features(no_trades, _outage_book(), bar_ms=1000, half_life_bars=5.0)
    # The 60 s mid stays the mid of bars ending at most 5 s later (through the 64 s bar), then nothing until 310 s.
    assert seconds["time"].to_list() == [*range(0, 65_000, 1000), *range(310_000, 420_000, 1000)]
    assert seconds.filter(pl.col("time") == 310_000)["log_return"].to_list() == [None]
    assert seconds["log_return"].drop_nulls().abs().max() == 0.0  # ln(101/100) across the gap is never taken
    assert seconds["ewma_var"].drop_nulls().max() == 0.0
    minutes = features_1min(no_trades, _outage_book())
    assert minutes["time"].to_list() == [0, 300_000, 360_000]  # the minutes ending inside the outage do not exist
    assert minutes["log_return"].to_list() == [None, None, 0.0]
    # Minute 300 s holds the 1 s returns of 311..359 s only: its RV is 0, not ln(1.01)^2.
    assert minutes.filter(pl.col("time") == 300_000).select("rv", "bv").row(0) == (0.0, 0.0)


def test_features_table_schema_is_the_bars_schema_plus_the_date_partition() -> None:
    from data_lake.tables import FEATURES

    assert {k: v for k, v in FEATURES.schema.items() if k != "date"} == dict(FEATURES_SCHEMA)


def test_bar_coverage_counts_bars_gaps_and_trades_outside_bars() -> None:
    seconds = pl.DataFrame(
        {
            "bar_ms": 1000,
            "time": [0, 1000, 2000, 5000],
            "n_buys": [1, 0, 2, 1],
            "n_sells": [0, 1, 0, 0],
            "jump_ratio": None,
            "vpin": None,
        },
        schema_overrides={"jump_ratio": pl.Float64, "vpin": pl.Float64},
    )
    minute = pl.DataFrame(
        {
            "bar_ms": 60_000,
            "time": [0, 60_000, 120_000],
            "n_buys": 0,
            "n_sells": 0,
            "jump_ratio": [1.0, 3.0, None],
            "vpin": [0.2, 0.4, None],
        }
    )
    found = bar_coverage(pl.concat([seconds, minute], how="vertical_relaxed"), day_trades=7)
    assert found == {
        "bars_1s": 4,
        "bars_1min": 3,
        "bars_1s_missing_in_gaps": 2,
        "trades_outside_bars": 2,
        "median_jump_ratio_1min": 2.0,
        "vpin_last": 0.4,
    }
    empty = bar_coverage(seconds.head(0), day_trades=3)
    assert empty["bars_1s"] == 0 and empty["trades_outside_bars"] == 3 and math.isnan(empty["vpin_last"])
