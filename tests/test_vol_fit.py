"""Volatility per regime against simulated paths with known sigma per regime, and against the demo market's truth."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from calibration.vol_fit import fit_volatility, minute_measures
from calibration.volatility import bar_mids, ewma_variance_expr, log_returns
from data_lake.demo_market import DemoMarketConfig, simulate

SIGMA = (0.5, 2.0)  # bps per sqrt(s) of the calm and volatile regime
TRANSMAT = np.array([[0.98, 0.02], [0.05, 0.95]])
NAMES = ("calm", "volatile")
T0 = 1_767_225_600_000


def regime_path(rng: np.random.Generator, n_minutes: int) -> np.ndarray:
    states = np.zeros(n_minutes, dtype=int)
    for t in range(1, n_minutes):
        states[t] = rng.choice(2, p=TRANSMAT[states[t - 1]])
    return states


def bars_from_returns(r: np.ndarray, half_life_1s: float = 300.0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``features``-like 1 s and 1 min bars (coin, time, log_return, ewma_var) of 1 s log returns ``r``."""
    n = r.size
    bars_1s = pl.DataFrame({"coin": "X", "time": T0 + 1000 * np.arange(n), "log_return": r}).with_columns(
        ewma_var=ewma_variance_expr(pl.col("log_return"), half_life_1s)
    )
    minute = r.reshape(-1, 60).sum(axis=1)
    bars_1min = pl.DataFrame({"coin": "X", "time": T0 + 60_000 * np.arange(n // 60), "log_return": minute})
    return bars_1s, bars_1min


def one_hot_beliefs(states: np.ndarray) -> pl.DataFrame:
    """Beliefs in ``regime_beliefs`` layout that know the true state of every minute."""
    bar_time = T0 + 60_000 * np.arange(states.size)
    return pl.DataFrame(
        {
            "coin": "X",
            "time": bar_time + 60_000,
            "bar_time": bar_time,
            "belief_calm": (states == 0).astype(float),
            "belief_volatile": (states == 1).astype(float),
            "belief_cascade": pl.Series([None] * states.size, dtype=pl.Float64),
            "regime": np.asarray(NAMES)[states],
        }
    )


def simulate_regimes(seed: int, n_minutes: int = 3000, jump_bps: float = 0.0, jump_share: float = 0.0):
    """1 s Gaussian returns with the regime's sigma; optionally one jump of ``jump_bps`` in a share of minutes."""
    rng = np.random.default_rng(seed)
    states = regime_path(rng, n_minutes)
    sigma = np.repeat(np.asarray(SIGMA)[states], 60) * 1e-4
    r = rng.standard_normal(n_minutes * 60) * sigma
    jumped = rng.random(n_minutes) < jump_share
    where = np.flatnonzero(jumped) * 60 + rng.integers(0, 60, jumped.sum())
    r[where] += jump_bps * 1e-4 * rng.choice([-1, 1], jumped.sum())
    return *bars_from_returns(r), states, jumped


def test_sigmas_recover_each_regime_within_their_standard_errors() -> None:
    bars_1s, bars_1min, states, _ = simulate_regimes(0)
    fits = fit_volatility(bars_1s, bars_1min, one_hot_beliefs(states))
    assert set(fits) == {"all", "regime=calm", "regime=volatile"}  # no cascade column, no cascade segment
    for k, name in enumerate(NAMES):
        fit = fits[f"regime={name}"]
        assert fit.ok and fit.n == int(np.sum(states == k))
        for param in ("sigma_rv", "sigma_bv", "sigma_1min"):
            z = (fit.estimates[param] - SIGMA[k]) / fit.std_errors[param]
            assert abs(z) < 3, (name, param, z)
            assert fit.units[param] == "bps/sqrt(s)"
        # Gaussian returns: RV/BV near 1 and the Huang-Tauchen test rejects at about its level
        assert fit.estimates["jump_ratio_p10"] < 1 < fit.estimates["jump_ratio_p90"]
        assert abs(fit.estimates["jump_ratio_p50"] - 1) < 0.05
        assert abs(fit.estimates["jump_share"] - 0.01) < 3 * fit.std_errors["jump_share"] + 0.005
    # the 5 min EWMA drags volatile variance into the calm minutes after each volatile spell, and says so
    calm = fits["regime=calm"]
    assert calm.estimates["sigma_ewma"] > SIGMA[0] + 5 * calm.std_errors["sigma_ewma"]
    assert any("EWMA" in w for w in calm.warnings)
    overall = fits["all"].estimates["sigma_rv"] ** 2
    share = np.mean(states == 1)
    assert overall == pytest.approx((1 - share) * SIGMA[0] ** 2 + share * SIGMA[1] ** 2, rel=0.05)


def test_standard_errors_match_the_spread_over_seeds() -> None:
    z = {param: [] for param in ("sigma_rv", "sigma_bv", "sigma_1min")}
    for seed in range(20):
        bars_1s, bars_1min, states, _ = simulate_regimes(100 + seed, n_minutes=1500)
        fits = fit_volatility(bars_1s, bars_1min, one_hot_beliefs(states))
        for k, name in enumerate(NAMES):
            fit = fits[f"regime={name}"]
            for param in z:
                z[param].append((fit.estimates[param] - SIGMA[k]) / fit.std_errors[param])
    for param, values in z.items():
        values = np.asarray(values)
        assert abs(values.mean()) < 0.5 and 0.7 < values.std() < 1.4, (param, values.mean(), values.std())


def test_bipower_sigma_ignores_jumps_that_inflate_realized_sigma() -> None:
    bars_1s, bars_1min, states, jumped = simulate_regimes(1, jump_bps=15.0, jump_share=0.1)
    calm = fit_volatility(bars_1s, bars_1min, one_hot_beliefs(states))["regime=calm"]
    assert calm.estimates["sigma_rv"] > 1.3 * SIGMA[0]
    assert calm.estimates["sigma_bv"] == pytest.approx(SIGMA[0], rel=0.06)
    truly_jumped = np.mean(jumped[states == 0])
    assert calm.estimates["jump_share"] == pytest.approx(truly_jumped + 0.01, abs=0.03)
    assert calm.estimates["jump_ratio_p90"] > 2


def test_too_few_minutes_are_insufficient_not_a_number() -> None:
    bars_1s, bars_1min, states, _ = simulate_regimes(2, n_minutes=200)
    states = np.zeros_like(states)
    states[:10] = 1  # ten volatile minutes, below min_minutes
    fits = fit_volatility(bars_1s, bars_1min, one_hot_beliefs(states), min_minutes=30)
    assert fits["regime=calm"].ok
    assert fits["regime=volatile"].status == "insufficient_samples" and not fits["regime=volatile"].estimates
    assert fits["regime=volatile"].n == 10
    empty = fit_volatility(bars_1s.head(0), bars_1min.head(0))
    assert set(empty) == {"all"} and empty["all"].status == "insufficient_samples"


def test_minute_measures_line_up_minutes_and_regimes() -> None:
    bars_1s, bars_1min, states, _ = simulate_regimes(3, n_minutes=50)
    minutes = minute_measures(bars_1s, bars_1min, one_hot_beliefs(states))
    assert minutes.height == 50 and minutes["n"].to_list() == [60] * 50
    r = bars_1s["log_return"].to_numpy().reshape(50, 60)
    np.testing.assert_allclose(minutes["rv"].to_numpy(), (r**2).sum(axis=1))
    np.testing.assert_allclose(minutes["r2_1min"].to_numpy(), r.sum(axis=1) ** 2)
    assert minutes["regime"].to_list() == list(np.asarray(NAMES)[states])


@pytest.mark.slow
def test_demo_market_total_sigma_per_regime() -> None:
    """Two demo days: the 1 min sigma per true regime is the truth's total sigma (diffusion plus informed jumps)
    within 3 SE; the 1 s RV sits within 5% (the one-tick mid adds rounding noise)."""
    config = DemoMarketConfig(seed=5, days=2)
    market = simulate(config)
    mids = market.mids.select(pl.lit(config.coin).alias("coin"), "time", "mid")
    bars_1s = log_returns(bar_mids(mids, 1000)).with_columns(ewma_var=ewma_variance_expr(pl.col("log_return"), 300))
    bars_1min = log_returns(bar_mids(mids, 60_000))
    states = market.regimes.filter(pl.col("time").is_in(bars_1min["time"].implode()))["state"].to_numpy()
    beliefs = one_hot_beliefs(states).with_columns(bar_time=bars_1min["time"], time=bars_1min["time"] + 60_000)
    fits = fit_volatility(bars_1s, bars_1min, beliefs)
    for k, truth in enumerate(config.total_sigma_bps_per_sqrt_s):
        fit = fits[f"regime={NAMES[k]}"]
        assert abs(fit.estimates["sigma_1min"] - truth) < 3 * fit.std_errors["sigma_1min"], (k, fit.estimates)
        assert fit.estimates["sigma_rv"] == pytest.approx(truth, rel=0.05)
        assert fit.estimates["sigma_bv"] < fit.estimates["sigma_rv"]  # informed jumps
    assert fits["regime=calm"].estimates["jump_share"] > fits["regime=volatile"].estimates["jump_share"]


def test_the_price_move_across_a_capture_gap_is_no_return() -> None:
    """A 1 bps/sqrt(s) walk observed every 500 ms for an hour, a 250 s outage over which the price moves 5 %, and
    another hour: the sigmas are the walk's (carried across the gap, the 5 % would count ~46 hours of variance)."""
    rng = np.random.default_rng(8)
    t = np.concatenate([np.arange(0, 3_600_000, 500), np.arange(3_850_000, 7_450_000, 500)])
    steps = rng.normal(0.0, 1e-4 * np.sqrt(0.5), t.size)
    steps[t.size // 2] = np.log(1.05)  # the first mid after the outage
    mids = pl.DataFrame({"coin": "X", "time": T0 + t, "mid": 25.0 * np.exp(np.cumsum(steps))})
    bars_1s = log_returns(bar_mids(mids, 1000)).with_columns(ewma_var=ewma_variance_expr(pl.col("log_return"), 300))
    bars_1min = log_returns(bar_mids(mids, 60_000))
    fit = fit_volatility(bars_1s.drop_nulls("mid"), bars_1min.drop_nulls("mid"))["all"]
    assert bars_1s["log_return"].abs().max() < 0.01
    assert fit.estimates["sigma_rv"] == pytest.approx(1.0, rel=0.05)
    assert abs(fit.estimates["sigma_1min"] - 1.0) < 3 * fit.std_errors["sigma_1min"]
    assert fit.estimates["sigma_ewma"] == pytest.approx(1.0, rel=0.1)
