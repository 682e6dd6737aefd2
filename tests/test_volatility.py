"""Volatility estimators against hand-computed answers, pandas, and simulated paths with known truth."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from calibration.volatility import (
    MU_43,
    bar_mids,
    ewma_variance,
    log_returns,
    realized_measures,
    window_realized_measures,
)


def test_bar_mids_last_per_bar_forward_filled_per_coin() -> None:
    mids = pl.DataFrame(
        {
            "coin": ["A"] * 5 + ["B"] * 2,
            "time": [100, 900, 1100, 3500, 3999, 0, 2500],
            "mid": [1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 11.0],
        }
    )
    bars = log_returns(bar_mids(mids, 1000))
    assert bars.select("coin", "time", "mid").rows() == [
        ("A", 0, 2.0), ("A", 1000, 3.0), ("A", 2000, 3.0), ("A", 3000, 5.0),
        ("B", 0, 10.0), ("B", 1000, 10.0), ("B", 2000, 11.0),
    ]  # fmt: skip
    assert bars["log_return"].to_list() == pytest.approx(
        [None, math.log(1.5), 0.0, math.log(5 / 3), None, 0.0, math.log(1.1)], nan_ok=True
    )


def test_ewma_matches_pandas_and_hand_recursion() -> None:
    r = np.array([np.nan, 0.01, -0.02, 0.005, np.nan, 0.03, -0.01])
    half_life = 3.0
    ours = ewma_variance(r, half_life)
    lam = 0.5 ** (1 / half_life)
    expected = pd.Series(r**2).ewm(alpha=1 - lam, adjust=False, ignore_na=True).mean().to_numpy()
    present = ~np.isnan(r)
    np.testing.assert_allclose(ours[present], expected[present], rtol=1e-12)
    assert np.isnan(ours[~present]).all()
    v2 = lam * 0.01**2 + (1 - lam) * 0.02**2  # by hand: started at the first squared return
    assert ours[2] == pytest.approx(v2, rel=1e-12)
    assert ours[5] == pytest.approx(lam * (lam * v2 + (1 - lam) * 0.005**2) + (1 - lam) * 0.03**2, rel=1e-12)


def test_realized_measures_hand_computed() -> None:
    r = np.array([1.0, -2.0, 3.0, -1.0]) * 1e-3
    m = realized_measures(r)
    assert m["n"] == 4
    assert m["rv"] == pytest.approx(15e-6)
    bv = math.pi / 2 * 4 / 3 * (2 + 6 + 3) * 1e-6
    assert m["bv"] == pytest.approx(bv)
    tq = 4 * MU_43**-3 * 4 / 2 * 2 * 6 ** (4 / 3) * 1e-12
    assert m["tq"] == pytest.approx(tq)
    rj = (15e-6 - bv) / 15e-6
    assert m["jump_ratio"] == pytest.approx(15e-6 / bv)
    theta = (math.pi / 2) ** 2 + math.pi - 5
    assert m["ht_z"] == pytest.approx(rj / math.sqrt(theta / 4 * max(1.0, tq / bv**2)))
    # A missing return at the start of a window changes nothing but n's meaning.
    padded = realized_measures(np.concatenate([[np.nan], r]))
    for key in ("n", "rv", "bv", "tq", "ht_z"):
        assert padded[key] == pytest.approx(m[key])


def test_bipower_close_to_rv_without_jumps_and_far_below_with_jumps() -> None:
    rng = np.random.default_rng(7)
    sigma = 1e-4 * np.exp(np.cumsum(rng.normal(0, 0.01, 100_000)))  # slowly varying volatility
    r = sigma * rng.standard_normal(sigma.size)
    clean = realized_measures(r)
    assert clean["jump_ratio"] == pytest.approx(1.0, abs=0.02)
    day = r[:1440].copy()
    day[[100, 700, 1200]] += np.array([0.01, -0.008, 0.012])  # three jumps, each ~ 100 return sds
    jumpy = realized_measures(day)
    assert jumpy["jump_ratio"] > 1.5
    assert jumpy["ht_pvalue"] < 1e-6


def test_huang_tauchen_false_positive_rate_at_5pct() -> None:
    """2000 jump-free days of 1440 one-minute returns, U-shaped intraday and random daily volatility."""
    rng = np.random.default_rng(2024)
    days, m = 2000, 1440
    u = np.linspace(-1, 1, m)
    intraday = np.sqrt(0.6 + 0.8 * u**2)
    daily = 0.01 * np.exp(rng.normal(0, 0.3, (days, 1)))
    r = daily / math.sqrt(m) * intraday * rng.standard_normal((days, m))
    z = realized_measures(r)["ht_z"]
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.1
    rate = np.mean(realized_measures(r)["ht_pvalue"] < 0.05)
    assert 0.03 <= rate <= 0.07


def test_window_realized_measures_per_minute_of_1s_returns() -> None:
    rng = np.random.default_rng(3)
    times = np.arange(30_000, 180_000, 1000)  # starts mid-minute: the first window holds 30 returns
    returns = pl.DataFrame({"coin": "X", "time": times, "log_return": rng.normal(0, 1e-4, times.size)}).with_columns(
        pl.when(pl.col("time") == 30_000).then(None).otherwise(pl.col("log_return")).alias("log_return")
    )
    out = window_realized_measures(returns, window_ms=60_000, bar_ms=1000)
    assert out["time"].to_list() == [0, 60_000, 120_000]
    assert out["n"].to_list() == [29, 60, 60]
    for i, start in enumerate((0, 60_000, 120_000)):
        chunk = returns.filter(pl.col("time").is_between(start, start + 59_999))["log_return"].drop_nulls().to_numpy()
        expected = realized_measures(chunk)
        assert out["rv"][i] == pytest.approx(expected["rv"]) and out["bv"][i] == pytest.approx(expected["bv"])
    with pytest.raises(ValueError, match="multiple"):
        window_realized_measures(returns, window_ms=60_000, bar_ms=7000)
