"""Markouts on a hand-built book and fill sequence, with answers computed by hand."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from calibration.markouts import maker_side_of_trades, markouts
from calibration.mids import mid_series

NULL = None


def _book() -> pl.DataFrame:
    """Coin X: mids 100 (l2Book, t=1000), 101 (bbo, 1150), 102 (l2Book, 1500), 99 (bbo, 2200), 97 (bbo, 2201),
    110 (l2Book, 7001, the last observation). Coin Y trades near 5000 and must never leak into X."""
    rows = [
        ("X", 1000, "l2Book", 99.0, 101.0),
        ("X", 1150, "bbo", 100.0, 102.0),
        ("X", 1500, "l2Book", 101.0, 103.0),
        ("X", 2200, "bbo", 98.0, 100.0),
        ("X", 2201, "bbo", 96.0, 98.0),
        ("X", 7001, "l2Book", 109.0, 111.0),
        ("Y", 900, "bbo", 4999.0, 5001.0),
        ("Y", 40000, "bbo", 5999.0, 6001.0),
    ]
    return pl.DataFrame(rows, schema=["coin", "time", "source", "bid_px_1", "ask_px_1"], orient="row").sample(
        fraction=1.0, shuffle=True, seed=3
    )


def _fills() -> pl.DataFrame:
    """A: maker buy at 100.5 at t=1200; B: maker sell at 102.5 at t=2000; C: in the last mid's ms; D: before any
    mid."""
    return pl.DataFrame(
        {
            "coin": ["X", "X", "X", "X"],
            "time": [1200, 2000, 7001, 500],
            "side": pl.Series([1, -1, 1, 1], dtype=pl.Int8),
            "px": [100.5, 102.5, 110.0, 100.0],
        }
    )


def test_mid_series_merges_sources_by_time_and_drops_bad_books() -> None:
    book = pl.DataFrame(
        {
            "coin": ["X"] * 5,
            "time": [10, 10, 20, 30, 40],
            "recv_time_ns": [2, 1, 3, 4, 5],
            "source": ["bbo", "l2Book", "bbo", "bbo", "l2Book"],
            "bid_px_1": [100.0, 90.0, None, 101.0, 99.0],
            "ask_px_1": [102.0, 92.0, 103.0, 100.0, 101.0],
        }
    )
    mids = mid_series(book)
    # t=10: the later-received bbo row wins; t=20 one-sided, t=30 crossed: both dropped.
    assert mids.to_dicts() == [{"coin": "X", "time": 10, "mid": 101.0}, {"coin": "X", "time": 40, "mid": 100.0}]


def test_markouts_hand_computed_buy_and_sell() -> None:
    out = markouts(_fills(), mid_series(_book()), fee_bps=1.5)
    a, b, c, d = out.to_dicts()

    # A, buy at 100.5: mid at fill 101 (bbo 1150 fresher than l2Book 1000).
    assert a["mid_at_fill"] == 101.0 and a["mid_age_ms"] == 50
    assert a["spread_capture_bps"] == pytest.approx(0.5 / 101 * 1e4)  # 49.50 bps
    assert a["mid_200ms"] == 101.0 and a["markout_200ms_bps"] == pytest.approx(0.0)
    assert a["mid_1000ms"] == 99.0 and a["markout_1000ms_bps"] == pytest.approx(-2 / 101 * 1e4)  # -198.0
    assert a["mid_5000ms"] == 97.0 and a["markout_5000ms_bps"] == pytest.approx(-4 / 101 * 1e4)  # -396.0
    assert a["adverse_selection_bps"] == pytest.approx(4 / 101 * 1e4)
    assert a["net_200ms_bps"] == pytest.approx(0.5 / 101 * 1e4 - 1.5)
    assert a["net_5000ms_bps"] == pytest.approx((0.5 - 4) / 101 * 1e4 - 1.5)
    assert a["mid_30000ms"] is NULL and a["markout_30000ms_bps"] is NULL and a["net_30000ms_bps"] is NULL

    # B, sell at 102.5: mid at fill 102 (l2Book 1500 fresher than bbo 1150).
    assert b["mid_at_fill"] == 102.0
    assert b["spread_capture_bps"] == pytest.approx(0.5 / 102 * 1e4)  # 49.02 bps
    # t+200 = 2200 sees 99 exactly at the horizon; the 97 at 2201 is after it and must not be used.
    assert b["mid_200ms"] == 99.0 and b["markout_200ms_bps"] == pytest.approx(3 / 102 * 1e4)  # +294.1
    assert b["markout_1000ms_bps"] == pytest.approx(5 / 102 * 1e4)
    # t+5000 = 7000: the 110 at 7001 is 1 ms too late.
    assert b["mid_5000ms"] == 97.0 and b["markout_5000ms_bps"] == pytest.approx(5 / 102 * 1e4)
    assert b["adverse_selection_bps"] == 0.0
    assert b["net_1000ms_bps"] == pytest.approx((0.5 + 5) / 102 * 1e4 - 1.5)

    # C shares its ms with the 110 snapshot, which may already show C: its mid is the one before, 97 (4.8 s old).
    assert c["mid_at_fill"] == 97.0 and c["mid_age_ms"] == 4800
    # Horizons see the 110 while it is at most 5 s old (7001 + 5000 is exactly 5 s), not at 30 s.
    assert [c[f"mid_{h}ms"] for h in (200, 1000, 5000)] == [110.0] * 3 and c["mid_30000ms"] is NULL
    assert c["adverse_selection_bps"] == 0.0
    # D precedes every mid of X (Y's mid at 900 must not leak in).
    assert d["mid_at_fill"] is NULL and d["mid_age_ms"] is NULL and d["spread_capture_bps"] is NULL


def test_maker_view_of_market_trades_matches_own_fill() -> None:
    # A taker buy lifting 102.5 at t=2000: its maker sold, exactly like own fill B.
    trades = pl.DataFrame(
        {"coin": ["X"], "time": [2000], "tid": [7], "px": [102.5], "sz": [3.0], "side": pl.Series([1], dtype=pl.Int8)}
    )
    maker = maker_side_of_trades(trades)
    assert maker["side"].to_list() == [-1] and maker["is_market_trade"].to_list() == [True]
    out = markouts(maker, mid_series(_book())).row(0, named=True)
    own = markouts(_fills(), mid_series(_book()), fee_bps=1.5).row(1, named=True)
    assert out["fee_bps"] == 1.5
    for col in ("spread_capture_bps", "markout_200ms_bps", "markout_5000ms_bps", "net_1000ms_bps"):
        assert out[col] == pytest.approx(own[col])
    assert out["tid"] == 7 and out["sz"] == 3.0


def test_fee_from_fills_table_and_row_order_kept() -> None:
    fills = _fills().with_columns(sz=pl.lit(2.0), fee=pl.col("px") * 2.0 * -0.0001)  # a 1 bp rebate
    shuffled = fills.reverse()
    out = markouts(shuffled, mid_series(_book()))
    assert out["fee_bps"].to_list() == pytest.approx([-1.0] * 4)
    assert out["time"].to_list() == shuffled["time"].to_list()
    expected = markouts(fills, mid_series(_book()), fee_bps=-1.0).reverse()
    assert out.select(pl.exclude("fee", "sz")).equals(expected.select(pl.exclude("fee", "sz")))


def test_no_look_ahead_on_random_data() -> None:
    rng = np.random.default_rng(11)
    t = np.sort(rng.choice(200_000, 5_000, replace=False)).astype(np.int64)
    mids = pl.DataFrame({"time": t, "mid": 100 + np.cumsum(rng.normal(0, 0.01, t.size))})
    fills = pl.DataFrame(
        {"time": rng.integers(0, 200_000, 300), "side": rng.choice([-1, 1], 300), "px": np.full(300, 100.0)}
    )
    base = markouts(fills, mids, fee_bps=0.0)
    for h in (200, 1000, 5000):
        for i in range(0, 300, 37):
            cut = fills["time"][i] + h
            moved = mids.with_columns(pl.when(pl.col("time") > cut).then(pl.col("mid") * 2).otherwise(pl.col("mid")))
            again = markouts(fills[i], moved, fee_bps=0.0)
            assert again[f"markout_{h}ms_bps"].to_list() == base[f"markout_{h}ms_bps"][i : i + 1].to_list()


def test_adverse_horizon_must_be_a_horizon() -> None:
    with pytest.raises(ValueError, match="adverse_horizon_ms"):
        markouts(_fills(), mid_series(_book()), horizons_ms=(1000,), fee_bps=0.0)
    out = markouts(_fills(), mid_series(_book()), horizons_ms=(1000,), fee_bps=0.0, adverse_horizon_ms=None)
    assert "adverse_selection_bps" not in out.columns and "markout_1000ms_bps" in out.columns


def test_no_mid_is_carried_across_a_capture_gap() -> None:
    # Mid 100 every 500 ms to 60 s, a 250 s outage (the review's real capture), then 101 every 500 ms from 310 s.
    times = [*range(0, 60_001, 500), *range(310_000, 400_000, 500)]
    mids = pl.DataFrame({"time": times, "mid": [100.0 if t <= 60_000 else 101.0 for t in times]})
    fills = pl.DataFrame({"time": [58_000, 100_000, 309_000, 310_001], "side": [1, 1, 1, 1], "px": [100.0] * 4})
    rows = markouts(fills, mids, fee_bps=0.0).to_dicts()
    before, inside, last_second, after = rows
    # 58 s: the 1 s and 5 s horizons still see the 60 s mid (<= 5 s old); at 30 s (88 s) the book had been dark 28 s.
    assert [before[f"mid_{h}ms"] for h in (200, 1000, 5000)] == [100.0] * 3 and before["markout_30000ms_bps"] is NULL
    # Inside the outage nothing is known: not the 100 of 40 s earlier, not the 101 after it.
    assert inside["mid_at_fill"] is NULL and inside["spread_capture_bps"] is NULL and inside["mid_age_ms"] is NULL
    # Its horizons land after the outage and only there is a mid; markouts stay null without a mid at the fill.
    assert inside["mid_30000ms"] is NULL and inside["markout_200ms_bps"] is NULL
    assert last_second["mid_at_fill"] is NULL and last_second["mid_1000ms"] == 101.0
    assert last_second["markout_1000ms_bps"] is NULL
    assert after["mid_at_fill"] == 101.0 and after["mid_age_ms"] == 1 and after["markout_5000ms_bps"] == 0.0


def test_own_fills_beside_market_trades_are_charged_the_fee_they_paid() -> None:
    """The markouts asset marks market trades (a hypothetical fee_bps) and own fills (their fee) together; an own
    fill's net markout uses its own fee, not a null one (the held-out quoter's net showed NaN on every fill)."""
    book = pl.DataFrame({"time": [0, 10_000], "mid": [100.0, 100.0]})
    fills = pl.DataFrame(
        {
            "time": [1_000, 2_000],
            "side": [1, -1],
            "px": [99.99, 100.01],
            "sz": [1.0, 2.0],
            "fee_bps": [1.5, None],
            "fee": [None, 1.0e-4 * 100.01 * 2.0],  # the own fill paid 1 bp of its notional
            "is_market_trade": [True, False],
        }
    )
    marked = markouts(fills, book, horizons_ms=(1_000,), adverse_horizon_ms=None)
    assert marked["fee_bps"].to_list() == pytest.approx([1.5, 1.0])
    assert marked["net_1000ms_bps"].null_count() == 0
