"""Book imbalance, microprice and VPIN against hand-computed answers and flows of known toxicity."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm

from calibration.toxicity import adv_bucket_volume, book_signals, bvc_bars, vpin, vpin_buckets


def _trades(side: np.ndarray, sz: np.ndarray, px: np.ndarray | None = None) -> pl.DataFrame:
    n = side.size
    return pl.DataFrame(
        {
            "coin": "X",
            "time": np.arange(n, dtype=np.int64) * 100,
            "px": np.full(n, 100.0) if px is None else px,
            "sz": sz,
            "side": side.astype(np.int8),
        }
    )


def test_imbalance_and_microprice_hand_computed() -> None:
    l2 = {"coin": "X", "time": 2, "bid_px_1": 99.0, "ask_px_1": 101.0, "bid_sz_1": 3.0, "ask_sz_1": 1.0}
    l2 |= {f"bid_sz_{i}": 1.0 for i in range(2, 6)} | {f"ask_sz_{i}": 2.0 for i in range(2, 6)}
    bbo = {"coin": "X", "time": 1, "bid_px_1": 99.5, "ask_px_1": 100.5, "bid_sz_1": 1.0, "ask_sz_1": 4.0}
    bbo |= {f"{side}_sz_{i}": None for side in ("bid", "ask") for i in range(2, 6)}
    bbo_row, l2_row = book_signals(pl.DataFrame([l2, bbo])).to_dicts()  # sorted by time
    assert l2_row["imbalance_1"] == pytest.approx((3 - 1) / 4)
    assert l2_row["imbalance_5"] == pytest.approx((7 - 9) / 16)
    assert l2_row["microprice"] == pytest.approx((99 * 1 + 101 * 3) / 4)  # 100.5: leans to the thin ask
    assert bbo_row["imbalance_1"] == pytest.approx(-3 / 5)
    assert bbo_row["imbalance_5"] is None
    assert bbo_row["microprice"] == pytest.approx((99.5 * 4 + 100.5 * 1) / 5)


def test_buckets_split_trades_pro_rata_by_hand() -> None:
    # buy 3, sell 2, buy 5 with V = 4: bucket 1 = 3 buy + 1 sell (done by trade 2), bucket 2 = 1 sell + 3 buy.
    out = vpin_buckets(np.array([10, 20, 30]), np.array([3.0, 2.0, 5.0]), np.array([3.0, 0.0, 5.0]), 4.0, window=2)
    assert out["time"].to_list() == [20, 30]
    assert out["buy_volume"].to_list() == pytest.approx([3.0, 3.0])
    assert out["sell_volume"].to_list() == pytest.approx([1.0, 1.0])
    assert out["order_imbalance"].to_list() == pytest.approx([2.0, 2.0])
    assert out["vpin"].to_list() == [None, pytest.approx((2 + 2) / (2 * 4))]


def test_bucket_completed_exactly_by_a_trade_is_dated_by_that_trade() -> None:
    # 0.1 + 0.7 = 0.7999999999999999 in floating point: still two full buckets of 0.4, both done by trade 2.
    out = vpin_buckets(np.array([1, 2]), np.array([0.1, 0.7]), np.array([0.1, 0.0]), 0.4, window=1)
    assert out["time"].to_list() == [2, 2]
    assert out["buy_volume"].to_list() == pytest.approx([0.1, 0.0])
    assert out["vpin"].to_list() == pytest.approx([(0.3 - 0.1) / 0.4, 1.0])  # |buy - sell| / V


def test_vpin_one_sided_balanced_and_skewed_flow() -> None:
    rng = np.random.default_rng(5)
    n = 100_000
    sz = rng.exponential(1.0, n)
    one_sided = vpin(_trades(np.ones(n), sz), bucket_volume=sz.sum() / 100, window=50)
    assert one_sided["vpin"].drop_nulls().to_numpy() == pytest.approx(1.0)
    alternating = vpin(_trades(np.tile([1, -1], n // 2), np.ones(n)), bucket_volume=100.0, window=50)
    assert alternating["vpin"].drop_nulls().max() == pytest.approx(0.0, abs=1e-9)
    balanced = vpin(_trades(rng.choice([-1, 1], n), sz), bucket_volume=sz.sum() / 100, window=50)
    skewed = vpin(_trades(np.where(rng.random(n) < 0.75, 1, -1), sz), bucket_volume=sz.sum() / 100, window=50)
    for out in (balanced, skewed):
        values = out["vpin"].drop_nulls()
        assert values.len() == 100 - 49 and 0.0 <= values.min() and values.max() <= 1.0
        assert out["buy_volume"].sum() + out["sell_volume"].sum() == pytest.approx(sz.sum())
    assert balanced["vpin"].drop_nulls().max() < 0.1
    assert skewed["vpin"].drop_nulls().mean() == pytest.approx(0.5, abs=0.05)  # E|B - S| / V = 0.75 - 0.25


def test_adv_bucket_volume() -> None:
    trades = pl.DataFrame({"time": [0, 43_200_000], "sz": [40.0, 60.0]})  # 100 in half a day
    assert adv_bucket_volume(trades) == pytest.approx(200 / 50)


def test_bvc_classifies_by_standardized_price_change() -> None:
    # Minute bars closing at 100, 101, 100, 103 (one trade each, volume 1): dP = 0, +1, -1, +3, sigma_dP = 2.
    px = np.array([100.0, 101.0, 100.0, 103.0])
    trades = _trades(np.zeros(4), np.ones(4), px).with_columns(pl.col("time") * 600)
    bars = bvc_bars(trades, bar_ms=60_000)
    assert bars["time"].to_list() == [59_999, 119_999, 179_999, 239_999]
    assert bars["buy_volume"].to_list() == pytest.approx([0.5, norm.cdf(0.5), norm.cdf(-0.5), norm.cdf(1.5)])
    rises = np.abs(np.random.default_rng(1).normal(0, 1, 2000))
    trending = _trades(np.zeros(2000), np.ones(2000), 100 + np.cumsum(rises))
    out = vpin(trending.with_columns(pl.col("time") * 600), bucket_volume=20.0, window=10, classification="bvc")
    values = out["vpin"].drop_nulls()
    assert 0.0 <= values.min() and values.max() <= 1.0
    assert values.mean() > 0.5  # every bar up: the classification leans buy throughout
