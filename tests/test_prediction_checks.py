"""The "does the simple version fail" checks on simulated truth: each fails when the prediction is wrong by a known
amount, measures that amount, and passes when the prediction is right."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from validation.experiments.prediction_checks import (
    LeaderMoves,
    VolatilityForecast,
    adverse_selection_check,
    fill_probability_check,
    leader_move_check,
    regime_edge_check,
    volatility_check,
)

MINUTE_MS = 60_000
HORIZON_MS = 5_000
NET = "net_5000ms_bps"
ALPHA = 0.05


def minute_bars(sigma_per_sqrt_s: float, n_minutes: int, seed: int, start_ms: int = 0) -> pl.DataFrame:
    """1 min bars whose ``rv`` sums 60 squared 1 s log returns of volatility ``sigma_per_sqrt_s``."""
    returns = np.random.default_rng(seed).normal(0.0, sigma_per_sqrt_s, (n_minutes, 60))
    return pl.DataFrame(
        {
            "bar_ms": MINUTE_MS,
            "time": start_ms + MINUTE_MS * np.arange(n_minutes, dtype=np.int64),
            "rv": (returns**2).sum(axis=1),
        }
    )


def two_windows(sigma: float) -> list[VolatilityForecast]:
    return [VolatilityForecast(0, 300 * MINUTE_MS, sigma), VolatilityForecast(300 * MINUTE_MS, 600 * MINUTE_MS, sigma)]


def test_volatility_check_measures_how_far_realised_variance_is_from_the_forecast() -> None:
    forecast = 1e-4
    wrong = volatility_check(minute_bars(1.5e-4, 600, seed=1), two_windows(forecast))
    assert wrong.fails(ALPHA) and wrong.n == 600
    assert wrong.effect == pytest.approx(2.25, rel=0.03)  # (1.5 / 1)^2
    right = volatility_check(minute_bars(forecast, 600, seed=2), two_windows(forecast))
    assert not right.fails(ALPHA) and right.evaluated
    assert right.effect == pytest.approx(1.0, abs=0.03)


def test_volatility_check_needs_enough_minutes() -> None:
    short = volatility_check(minute_bars(3e-4, 100, seed=3), two_windows(1e-4))
    assert not short.evaluated and not short.fails(ALPHA)
    assert "too little evidence" in short.not_evaluated and "100" in short.not_evaluated
    none = volatility_check(minute_bars(1e-4, 10, seed=3).clear(), two_windows(1e-4))
    assert not none.evaluated and "no realised variance" in none.not_evaluated
    half = [VolatilityForecast(0, 300 * MINUTE_MS, float("nan")), two_windows(1.5e-4)[1]]  # a fold without sigma
    rest = volatility_check(minute_bars(1.5e-4, 600, seed=4), half)
    assert rest.n == 300 and rest.effect == pytest.approx(1.0, abs=0.05)


def quotes(scale: float, seed: int, n: int = 20_000) -> pl.DataFrame:
    """Quotes of four walk-forward folds predicted to fill with p ~ U(0.02, 0.3); they fill with probability
    scale * p."""
    rng = np.random.default_rng(seed)
    predicted = rng.uniform(0.02, 0.3, n)
    return pl.DataFrame(
        {
            "fold": np.repeat(np.arange(4), n // 4).astype(np.int32),
            "pred_fill_prob": predicted,
            "filled": rng.uniform(size=n) < scale * predicted,
        }
    )


def test_fill_probability_check_fails_a_forecast_half_the_true_rate() -> None:
    calibrated = fill_probability_check(quotes(1.0, seed=4))
    assert calibrated.evaluated and not calibrated.fails(ALPHA)
    assert calibrated.effect == pytest.approx(0.0, abs=0.01)
    too_low = fill_probability_check(quotes(1.5, seed=5))
    assert too_low.fails(ALPHA) and too_low.p_value < 1e-3  # the level is tested on 4 folds (t, 3 df)
    assert too_low.effect == pytest.approx(0.5 * 0.16, abs=0.01)  # 1.5x the mean prediction 0.16
    assert too_low.statistic > 3.0  # the z of the binding (calibration-in-the-large) p-value: fills above forecast


def fills(n: int, seed: int, realised_shift: float) -> pl.DataFrame:
    """Fills 2 s apart over two folds whose predicted adverse selection is constant per fold (1.0, 1.5 bps) and
    realised = predicted + realised_shift + exponential noise of mean 0 (centred)."""
    rng = np.random.default_rng(seed)
    predicted = np.repeat([1.0, 1.5], n // 2)
    return pl.DataFrame(
        {
            "fold": np.repeat([0, 1], n // 2).astype(np.int32),
            "time": 2_000 * np.arange(n, dtype=np.int64),
            "pred_adverse_bps": predicted,
            "realised_adverse_bps": predicted + realised_shift + rng.exponential(2.0, n) - 2.0,
        }
    )


def test_adverse_selection_check_fails_a_blindsiding_bias() -> None:
    unbiased = adverse_selection_check(fills(4_000, seed=6, realised_shift=0.0), HORIZON_MS)
    assert unbiased.evaluated and not unbiased.fails(ALPHA)
    blindsided = adverse_selection_check(fills(4_000, seed=7, realised_shift=1.0), HORIZON_MS)
    assert blindsided.fails(ALPHA)
    assert blindsided.effect == pytest.approx(1.0, abs=0.15)
    assert "constant forecast" in blindsided.summary  # the baseline predicts one number per fold: no slope


def regime_tape(calm_bps: float, volatile_bps: float, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """3 000 fills 1 s apart; the causal belief alternates calm / volatile every 10 minutes (known at the switch)."""
    rng = np.random.default_rng(seed)
    times = 1_000 * np.arange(3_000, dtype=np.int64)
    volatile = (times // 600_000) % 2 == 1
    net = np.where(volatile, volatile_bps, calm_bps) + rng.normal(0.0, 3.0, times.size)
    switches = 600_000 * np.arange(6, dtype=np.int64)
    odd = (np.arange(6) % 2).astype(float)
    beliefs = pl.DataFrame({"time": switches, "belief_calm": 1.0 - odd, "belief_volatile": odd})
    return pl.DataFrame({"time": times, NET: net}), beliefs


def test_regime_check_finds_the_edge_that_depends_on_the_regime() -> None:
    tape, beliefs = regime_tape(1.0, -1.0, seed=8)
    differs = regime_edge_check(tape, beliefs, NET, HORIZON_MS)
    assert differs.fails(ALPHA) and differs.n == 3_000
    assert differs.effect == pytest.approx(2.0, abs=0.4)
    assert "calm +" in differs.summary and "volatile -" in differs.summary
    tape, beliefs = regime_tape(0.5, 0.5, seed=9)
    same = regime_edge_check(tape, beliefs, NET, HORIZON_MS)
    assert same.evaluated and not same.fails(ALPHA)
    missing = regime_edge_check(tape, None, NET, HORIZON_MS)
    assert not missing.evaluated and "+hmm_blending" in missing.not_evaluated


def leader_tape(loss_after_move_bps: float, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A leader mid (1 bp random walk per second, 20 planted 30 bp jumps) and 3 600 fills 2 s apart; fills within
    5 s after a jump earn ``loss_after_move_bps`` less than the +1 bps of the others."""
    rng = np.random.default_rng(seed)
    seconds = np.arange(7_300)
    steps = rng.normal(0.0, 1e-4, seconds.size)
    jumps = rng.choice(np.arange(100, 7_200), 20, replace=False)
    steps[jumps] += 30e-4 * rng.choice([-1.0, 1.0], 20)
    mids = pl.DataFrame({"time": 1_000 * seconds.astype(np.int64), "mid": 100.0 * np.exp(np.cumsum(steps))})
    times = 2_000 * np.arange(1, 3_601, dtype=np.int64)
    since_jump = times[:, None] - 1_000 * jumps[None, :]
    after = ((since_jump >= 0) & (since_jump < 5_000)).any(axis=1)
    net = 1.0 - loss_after_move_bps * after + rng.normal(0.0, 2.0, times.size)
    return pl.DataFrame({"time": times, NET: net}), mids


PLANTED = LeaderMoves(quantile=0.997)
"""The top 0.3 % of 7 300 one-second returns: about the 20 planted jumps."""


def test_leader_check_finds_the_loss_after_leader_moves() -> None:
    tape, mids = leader_tape(5.0, seed=10)
    hurt = leader_move_check(tape, mids, NET, HORIZON_MS, "BTC", PLANTED)
    assert hurt.fails(ALPHA) and hurt.p_value < 1e-6
    assert hurt.effect == pytest.approx(-5.0, abs=1.0)
    tape, mids = leader_tape(0.0, seed=11)
    harmless = leader_move_check(tape, mids, NET, HORIZON_MS, "BTC", PLANTED)
    assert harmless.evaluated and not harmless.fails(ALPHA)


def test_leader_check_without_leader_data_says_so() -> None:
    tape, _ = leader_tape(5.0, seed=12)
    for mids in (None, pl.DataFrame(schema={"time": pl.Int64, "mid": pl.Float64})):
        result = leader_move_check(tape, mids, NET, HORIZON_MS, "BTC")
        assert not result.evaluated and result.not_evaluated.startswith("no leader data (BTC")
