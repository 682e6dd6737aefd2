"""The lead-lag estimator against known truth: the demo's ``FOLLOW`` coin follows ``DEMO`` by a documented lag and
coefficient; independent coins, a shifted leader and the reverse direction show no lead; the Hayashi-Yoshida sum
equals its definition on a hand-built pair."""

from __future__ import annotations

import datetime as dt
import itertools
import math

import numpy as np
import polars as pl
import pytest

from calibration.lead_lag import (
    INSUFFICIENT,
    NO_LEAD,
    NOT_SIGNIFICANT,
    OK,
    LeadLagConfig,
    fit_lead_lag,
    hy_cross_correlation,
)
from data_lake.demo_market import DemoMarket, demo_coin_configs
from data_lake.demo_market.truth import truth

START = dt.date(2026, 1, 1)
HOUR_MS = 3_600_000
WINDOW_HOURS = 2


@pytest.fixture(scope="module")
def markets(demo_coin_markets: dict[str, DemoMarket]) -> dict[str, DemoMarket]:
    return demo_coin_markets


def _mids(market: DemoMarket) -> pl.DataFrame:
    return market.mids.select("time", "mid")


def _window(market: DemoMarket) -> tuple[int, int]:
    start = market.config.start_ms + HOUR_MS
    return start, start + WINDOW_HOURS * HOUR_MS


def test_truth_names_the_followers_leader_lag_and_beta_and_none_for_the_others(markets: dict[str, DemoMarket]) -> None:
    follow = truth(markets["FOLLOW"])["lead_lag"]
    assert (follow["leader"], follow["lag_ms"], follow["beta"]) == ("DEMO", 2_000, 0.6)
    assert truth(markets["DEMO"])["lead_lag"] is None and truth(markets["NICHE"])["lead_lag"] is None
    assert [c.coin for c in demo_coin_configs(1, 7, START)] == ["DEMO", "NICHE"]  # the follower is opt-in


def test_recovers_the_followers_lag_and_beta_within_their_standard_errors(markets: dict[str, DemoMarket]) -> None:
    expected = truth(markets["FOLLOW"])["lead_lag"]
    result = fit_lead_lag(_mids(markets["DEMO"]), _mids(markets["FOLLOW"]), _window(markets["DEMO"]))
    fit = result.fit
    assert result.status == OK, result.reason
    lag, beta = fit.estimates["lag_ms"], fit.estimates["beta"]
    assert abs(lag - expected["lag_ms"]) <= 2 * fit.std_errors["lag_ms"]
    assert abs(beta - expected["beta"]) <= 3 * fit.std_errors["beta"]
    assert 0 < fit.std_errors["beta"] < 0.05 and fit.std_errors["lag_ms"] < 500
    assert fit.goodness_of_fit["p_value"] <= LeadLagConfig().alpha
    # the curve peaks at the true lag and nowhere else comes close
    curve = np.abs(result.hy_corr)
    assert result.lags_ms[np.argmax(curve)] == expected["lag_ms"]
    assert np.sort(curve)[-2] < 0.2 * curve.max()


def test_independent_coins_show_no_significant_lead(markets: dict[str, DemoMarket]) -> None:
    result = fit_lead_lag(_mids(markets["DEMO"]), _mids(markets["NICHE"]), _window(markets["DEMO"]))
    assert result.status in (NOT_SIGNIFICANT, NO_LEAD), result.reason
    assert result.fit.goodness_of_fit["p_value"] > LeadLagConfig().alpha
    assert abs(result.fit.estimates["hy_corr"]) < 0.02


def test_a_leader_shifted_by_hours_shows_no_significant_lead(markets: dict[str, DemoMarket]) -> None:
    shifted = _mids(markets["DEMO"]).with_columns(pl.col("time") + 5 * HOUR_MS)
    start = markets["DEMO"].config.start_ms + 6 * HOUR_MS
    result = fit_lead_lag(shifted, _mids(markets["FOLLOW"]), (start, start + WINDOW_HOURS * HOUR_MS))
    assert result.status in (NOT_SIGNIFICANT, NO_LEAD), result.reason
    assert result.fit.goodness_of_fit["p_value"] > LeadLagConfig().alpha


def test_the_reverse_direction_is_found_as_the_follower_moving_second(markets: dict[str, DemoMarket]) -> None:
    result = fit_lead_lag(_mids(markets["FOLLOW"]), _mids(markets["DEMO"]), _window(markets["DEMO"]))
    assert result.status == NO_LEAD and result.fit.estimates["lag_ms"] == -2_000
    assert "does not move first" in result.reason


def _random_walk_pair(seconds: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two independent tick-rounded random walks on a 100 ms clock (1 bps/sqrt(s), 0.4 bps ticks), changes only."""
    rng = np.random.default_rng(seed)
    n = seconds * 10
    frames = []
    for _ in range(2):
        price = 25.0 * np.exp(np.cumsum(rng.standard_normal(n) * 1e-4 * math.sqrt(0.1)))
        bid = np.floor(price / 0.001)
        moved = np.concatenate([[True], np.diff(bid) != 0])
        times = np.arange(n, dtype=np.int64)[moved] * 100
        frames.append(pl.DataFrame({"time": times, "mid": (bid[moved] + 0.5) * 0.001}))
    return frames[0], frames[1]


def test_the_shifted_null_holds_its_level_on_independent_pairs() -> None:
    """20 independent pairs at alpha = 0.05: a valid test rejects about once; five or more would happen with
    probability 1.6%."""
    config = LeadLagConfig(alpha=0.05, n_shifts=39, min_shift_ms=300_000, lags_ms=(-2_000, -500, 0, 500, 2_000))
    rejections = sum(
        fit_lead_lag(*_random_walk_pair(1_800, seed), config=config).fit.goodness_of_fit["p_value"] <= config.alpha
        for seed in range(20)
    )
    assert rejections <= 4


def test_thin_data_is_refused_with_its_reason(markets: dict[str, DemoMarket]) -> None:
    leader, follower = _mids(markets["DEMO"]), _mids(markets["FOLLOW"])
    start = markets["DEMO"].config.start_ms
    few = fit_lead_lag(leader.head(50), follower.head(50))
    assert few.status == INSUFFICIENT and "at least 200 required" in few.reason
    short = fit_lead_lag(leader, follower, (start, start + 10 * 60_000))
    assert short.status == INSUFFICIENT and "lead_lag_window_ms" in short.reason
    empty = fit_lead_lag(leader.clear(), follower)
    assert empty.status == INSUFFICIENT and not empty.ok


def test_hayashi_yoshida_sum_matches_its_definition_on_a_hand_built_pair() -> None:
    """Every pair of overlapping return intervals, shifted by the lag, summed by brute force."""
    leader = pl.DataFrame({"time": [0, 300, 450, 1_000, 1_700, 2_000], "mid": [10.0, 10.2, 10.1, 10.4, 10.3, 10.5]})
    follower = pl.DataFrame({"time": [0, 200, 900, 1_100, 1_500, 2_300], "mid": [5.0, 5.1, 5.0, 5.3, 5.2, 5.4]})
    lags = (-400, 0, 150, 500)
    window = (0, 2_400)
    s, x = leader["time"].to_numpy(), np.log(leader["mid"].to_numpy())
    u, y = follower["time"].to_numpy(), np.log(follower["mid"].to_numpy())
    scale = math.sqrt(np.sum(np.diff(x) ** 2) * np.sum(np.diff(y) ** 2))
    for lag, got in zip(lags, hy_cross_correlation(leader, follower, lags, window), strict=True):
        brute = sum(
            (x[i] - x[i - 1]) * (y[j] - y[j - 1])
            for i, j in itertools.product(range(1, s.size), range(1, u.size))
            if u[j - 1] < s[i] + lag and u[j] > s[i - 1] + lag
        )
        assert got == pytest.approx(brute / scale, abs=1e-12)
