"""Hawkes fits on covered time, the hour-of-day baseline and the tie convention, against simulated truth and a
direct O(N²) evaluation of the likelihood's definition."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from calibration.coverage import LOW_COVERAGE, InsufficientCoverage
from calibration.fit_result import InsufficientSamples
from calibration.hawkes import (
    hawkes_exp_compensator,
    hawkes_exp_gradient,
    hawkes_exp_hessian,
    hawkes_exp_loglik,
    hawkes_exp_residuals,
)
from calibration.hawkes_bivariate import (
    hawkes_exp_bivariate_gradient,
    hawkes_exp_bivariate_loglik,
    hawkes_exp_bivariate_residuals,
    spectral_radius,
)
from calibration.hawkes_bivariate_fit import fit_hawkes_exp_bivariate
from calibration.hawkes_fit import fit_hawkes_exp

DAY = 86_400.0
MU, ALPHA, BETA = 0.5, 0.9, 1.5  # n = 0.6


def simulate(
    rng: np.random.Generator,
    baselines: list[Callable[[np.ndarray], np.ndarray]],
    peak: list[float],
    branching: np.ndarray,
    beta: float,
    end: float,
) -> list[np.ndarray]:
    """Exact multivariate exponential Hawkes on [0, end) by its cluster representation (Hawkes & Oakes 1974):
    immigrants of component i from the Poisson process of rate baselines[i](t) <= peak[i] (thinning), and every event
    of component j has Poisson(branching[i, j]) children of component i after Exp(beta) delays."""
    d = len(baselines)
    generation = []
    for i in range(d):
        t = rng.uniform(0.0, end, rng.poisson(peak[i] * end))
        generation.append(t[rng.uniform(0.0, peak[i], t.size) < baselines[i](t)])
    events = [list(g) for g in generation]
    while any(g.size for g in generation):
        children: list[list[np.ndarray]] = [[] for _ in range(d)]
        for j, parents in enumerate(generation):
            for i in range(d):
                born = np.repeat(parents, rng.poisson(branching[i, j], parents.size))
                born = born + rng.exponential(1.0 / beta, born.size)
                children[i].append(born[born < end])
        generation = [np.concatenate(c) for c in children]
        for i in range(d):
            events[i].extend(generation[i])
    return [np.sort(np.asarray(e, dtype=np.float64)) for e in events]


def constant(rate: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda t: np.full(t.shape, rate)


def inside(times: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """The events a capture with these covered intervals saw (the process ran on through the gaps)."""
    keep = np.zeros(times.size, bool)
    for start, end in covered:
        keep |= (times >= start) & (times < end)
    return times[keep]


def naive_loglik(times, covered, hour_rate, alpha, beta) -> float:
    """ℓ by its definition: λ(t_i) = μ(t_i) + Σ α e^{-β(t_i - t_j)} over t_j < t_i strictly in the same covered
    interval; the compensator integrates μ hour by hour and each event's kernel to its interval's end."""
    total = 0.0
    for start, end in covered:
        t = times[(times >= start) & (times <= end)]
        for i, x in enumerate(t):
            earlier = t[:i][t[:i] < x]
            total += math.log(hour_rate[int(x % DAY // 3600)] + alpha * np.exp(-beta * (x - earlier)).sum())
            total -= alpha / beta * (1.0 - math.exp(-beta * (end - x)))
        edges = np.unique(np.concatenate([[start, end], np.arange(math.ceil(start / 3600), end / 3600) * 3600.0]))
        edges = edges[(edges >= start) & (edges <= end)]
        for lo, hi in zip(edges[:-1], edges[1:]):
            total -= hour_rate[int(lo % DAY // 3600)] * (hi - lo)
    return total


# ---------------------------------------------------------------- the likelihood on covered time


@pytest.fixture(scope="module")
def gappy():
    """A day with ties, three covered intervals across hour boundaries and a 24-value hour-of-day baseline."""
    rng = np.random.default_rng(2)
    hour_rate = rng.uniform(0.02, 0.08, 24)
    times = simulate(rng, [lambda t: hour_rate[(t // 3600).astype(int) % 24]], [0.08], np.array([[0.5]]), 0.3, DAY)[0]
    times = np.round(times[times < 12_000.0], 0)  # whole seconds: ties
    covered = np.array([[500.0, 3_700.5], [5_000.0, 8_000.0], [9_000.0, 12_000.0]])  # across hour boundaries
    return inside(times, covered), covered, hour_rate


def test_loglik_on_covered_intervals_matches_its_definition_with_ties(gappy):
    times, covered, hour_rate = gappy
    assert times.size > 500 and np.count_nonzero(np.diff(times) == 0) > 10
    for rate in (hour_rate, 0.05):
        rates = np.broadcast_to(rate, 24)
        ours = hawkes_exp_loglik(times, 12_000.0, rate, 0.15, 0.3, covered=covered)
        assert ours == pytest.approx(naive_loglik(times, covered, rates, 0.15, 0.3), rel=1e-10)


def test_gradient_and_hessian_with_hourly_baseline_and_gaps(gappy):
    times, covered, hour_rate = gappy
    theta = np.concatenate([hour_rate, [0.12, 0.35]])

    def loglik(th):
        return hawkes_exp_loglik(times, 12_000.0, th[:24], th[24], th[25], covered=covered)

    def gradient(th):
        return hawkes_exp_gradient(times, 12_000.0, th[:24], th[24], th[25], covered=covered)

    def central(function):
        steps = zip(1e-6 * np.abs(theta) + 1e-9, np.eye(26))
        return np.array([(function(theta + h * e) - function(theta - h * e)) / (2 * h) for h, e in steps])

    np.testing.assert_allclose(gradient(theta), central(loglik), rtol=1e-5, atol=1e-6)
    numeric_h = central(gradient)
    np.testing.assert_allclose(
        hawkes_exp_hessian(times, 12_000.0, theta[:24], 0.12, 0.35, covered=covered), numeric_h, rtol=1e-5, atol=1e-6
    )


def test_each_covered_segment_starts_empty_and_its_residuals_sum_to_its_compensator(gappy):
    times, covered, hour_rate = gappy
    tau = hawkes_exp_residuals(times, 12_000.0, hour_rate, 0.15, 0.3, covered=covered)
    assert tau.size == times.size and np.all(tau >= 0)
    for start, end in covered:
        mine = (times >= start) & (times <= end)
        last = times[mine][-1]
        alone = hawkes_exp_compensator(times[mine], 12_000.0, hour_rate, 0.15, 0.3, covered=[[start, last]])
        assert tau[mine].sum() == pytest.approx(alone, rel=1e-9)  # nothing carried in from the segment before
    total = hawkes_exp_compensator(times, 12_000.0, hour_rate, 0.15, 0.3, covered=covered)
    pieces = sum(hawkes_exp_compensator(times, 12_000.0, hour_rate, 0.15, 0.3, covered=[c]) for c in covered)
    assert total == pytest.approx(pieces, rel=1e-12)


def test_bivariate_gradient_with_hourly_baselines_gaps_and_ties(gappy):
    times, covered, hour_rate = gappy
    buys, sells = times[::2], times[1::2]
    mu = np.stack([hour_rate, 0.8 * hour_rate[::-1]])
    alpha = np.array([[0.08, 0.03], [0.02, 0.1]])
    theta = np.concatenate([mu.ravel(), alpha.ravel(), [0.3]])

    def loglik(th):
        return hawkes_exp_bivariate_loglik(
            buys, sells, 12_000.0, th[:48].reshape(2, 24), th[48:52].reshape(2, 2), th[52], covered=covered
        )

    steps = zip(1e-6 * np.abs(theta), np.eye(theta.size))
    numeric = np.array([(loglik(theta + h * e) - loglik(theta - h * e)) / (2 * h) for h, e in steps])
    analytic = hawkes_exp_bivariate_gradient(buys, sells, 12_000.0, mu, alpha, 0.3, covered=covered)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- ties (item 9a)


def test_tied_timestamps_do_not_excite_each_other():
    mu, alpha, beta = 0.7, 0.9, 1.5
    times = np.array([1.0, 1.0, 2.0])
    by_hand = (
        2 * math.log(mu)  # both events at t = 1 see λ(1-) = μ: neither excites the other
        + math.log(mu + 2 * alpha * math.exp(-beta))
        - 3.0 * mu
        - alpha / beta * (2 * (1 - math.exp(-2 * beta)) + (1 - math.exp(-beta)))
    )
    assert hawkes_exp_loglik(times, 3.0, mu, alpha, beta) == pytest.approx(by_hand, rel=1e-14)
    assert hawkes_exp_residuals(times, 3.0, mu, alpha, beta)[1] == 0.0


def test_bivariate_likelihood_does_not_depend_on_the_order_of_ties():
    rng = np.random.default_rng(4)
    buys, sells = (np.sort(np.round(rng.uniform(0, 500, 400))) for _ in range(2))
    assert np.intersect1d(buys, sells).size > 50  # many buys and sells share their second
    mu, alpha, beta = np.array([0.4, 0.3]), np.array([[0.6, 0.4], [0.2, 0.8]]), 2.0
    forward = hawkes_exp_bivariate_loglik(buys, sells, 500.0, mu, alpha, beta)
    swapped = hawkes_exp_bivariate_loglik(sells, buys, 500.0, mu[::-1], alpha[::-1, ::-1], beta)
    assert forward == pytest.approx(swapped, rel=1e-12)
    tau_buy, tau_sell = hawkes_exp_bivariate_residuals(buys, sells, 500.0, mu, alpha, beta)
    tau_sell_2, tau_buy_2 = hawkes_exp_bivariate_residuals(sells, buys, 500.0, mu[::-1], alpha[::-1, ::-1], beta)
    np.testing.assert_allclose(tau_buy, tau_buy_2, rtol=1e-12)
    np.testing.assert_allclose(tau_sell, tau_sell_2, rtol=1e-12)


# ---------------------------------------------------------------- (a) a capture with gaps


@pytest.fixture(scope="module")
def capture_with_gaps():
    """20,000 s of a stationary process (μ 0.5, n 0.6) seen by a recorder that was down for two 3,000 s spells."""
    rng = np.random.default_rng(5)
    times = simulate(rng, [constant(MU)], [MU], np.array([[ALPHA / BETA]]), BETA, 20_000.0)[0]
    covered = np.array([[0.0, 5_000.0], [8_000.0, 13_000.0], [16_000.0, 20_000.0]])
    return inside(times, covered), covered


def test_coverage_aware_fit_recovers_the_truth_where_the_calendar_fit_is_biased(capture_with_gaps):
    times, covered = capture_with_gaps
    fit = fit_hawkes_exp(times, 20_000.0, covered=covered)
    assert fit.ok and fit.goodness_of_fit["covered_fraction"] == pytest.approx(0.7)
    truth = {"mu": MU, "alpha": ALPHA, "beta": BETA, "branching_ratio": ALPHA / BETA}
    for name, value in truth.items():
        assert abs(fit.estimates[name] - value) < 3 * fit.std_errors[name], (name, fit.estimates[name])
    assert fit.goodness_of_fit["ks_pvalue"] > 0.01
    calendar = fit_hawkes_exp(times, 20_000.0, baseline="constant")  # the gaps read as quiet spells
    assert (MU - calendar.estimates["mu"]) > 10 * calendar.std_errors["mu"]  # μ about 0.7 of the truth
    assert calendar.goodness_of_fit["ks_pvalue"] < 1e-3


def test_bivariate_coverage_aware_fit_recovers_the_truth_where_the_calendar_fit_is_biased():
    rng = np.random.default_rng(9)
    alpha, beta = np.array([[0.6, 0.4], [0.2, 0.8]]), 2.0
    buys, sells = simulate(rng, [constant(0.4), constant(0.3)], [0.4, 0.3], alpha / beta, beta, 30_000.0)
    covered = np.array([[0.0, 10_000.0], [15_000.0, 30_000.0]])
    buys, sells = inside(buys, covered), inside(sells, covered)
    fit = fit_hawkes_exp_bivariate(buys, sells, 30_000.0, covered=covered)
    est, se = fit.estimates, fit.std_errors
    truth = {"mu_buy": 0.4, "mu_sell": 0.3, "beta": beta, "alpha_buy_from_sell": 0.4, "alpha_sell_from_buy": 0.2}
    for name, value in truth.items():
        assert abs(est[name] - value) < 3 * se[name], (name, est[name], se[name])
    assert fit.ok and fit.goodness_of_fit["compensator_ratio_buy"] == pytest.approx(1.0, rel=1e-3)
    calendar = fit_hawkes_exp_bivariate(buys, sells, 30_000.0)
    assert 0.4 - calendar.estimates["mu_buy"] > 5 * calendar.std_errors["mu_buy"]


# ---------------------------------------------------------------- (b) a short capture in a long window


def test_half_hour_capture_in_a_day_window_gives_the_right_mu_and_is_flagged():
    rng = np.random.default_rng(7)
    times = simulate(rng, [constant(MU)], [MU], np.array([[ALPHA / BETA]]), BETA, DAY)[0]
    covered = np.array([[12 * 3600.0, 12.5 * 3600.0]])
    seen = inside(times, covered)
    fit = fit_hawkes_exp(seen, DAY, covered=covered)
    assert abs(fit.estimates["mu"] - MU) < 3 * fit.std_errors["mu"]
    assert abs(fit.estimates["branching_ratio"] - ALPHA / BETA) < 3 * fit.std_errors["branching_ratio"]
    assert fit.status == LOW_COVERAGE and not fit.ok
    assert fit.warnings[0].startswith("low coverage: the data cover 0.50 h of the 24.00 h window")
    assert fit.goodness_of_fit["covered_fraction"] == pytest.approx(1 / 48)
    calendar = fit_hawkes_exp(seen, DAY, baseline="constant")
    assert calendar.estimates["mu"] < MU / 20  # exposure 48 times too long


def test_too_little_covered_time_or_too_few_events_are_refused_with_the_reason():
    rng = np.random.default_rng(8)
    times = simulate(rng, [constant(2.0)], [2.0], np.array([[0.5]]), 2.0, 3600.0)[0]
    five_minutes = np.array([[0.0, 300.0]])
    with pytest.raises(InsufficientCoverage, match="300 s of covered time .gaps excluded., at least 600 s"):
        fit_hawkes_exp(inside(times, five_minutes), 3600.0, covered=five_minutes)
    with pytest.raises(InsufficientCoverage):
        fit_hawkes_exp_bivariate(times[::2], times[1::2], 3600.0, covered=five_minutes)
    quiet = np.array([[0.0, 3600.0]])
    with pytest.raises(InsufficientSamples, match="hawkes_exp: 150 samples"):
        fit_hawkes_exp(times[:150], 3600.0, covered=quiet)


def test_events_outside_the_covered_intervals_are_counted_and_left_out(capture_with_gaps):
    times, covered = capture_with_gaps
    stray = np.sort(np.concatenate([times, [6_000.0, 14_000.5]]))  # two rows in the gaps (another source)
    fit = fit_hawkes_exp(stray, 20_000.0, covered=covered, baseline="constant")
    reference = fit_hawkes_exp(times, 20_000.0, covered=covered, baseline="constant")
    assert fit.n == times.size and fit.goodness_of_fit["events_outside_coverage"] == 2
    assert "2 events outside the covered intervals were left out" in fit.warnings
    assert fit.estimates["mu"] == pytest.approx(reference.estimates["mu"], rel=1e-9)


# ---------------------------------------------------------------- (c) intraday seasonality


@pytest.fixture(scope="module")
def seasonal_day():
    """One day of μ(t) = μ0 (1 + 0.8 sin(2π t / 1 day)), n = 0.5, kernel memory 1/β = 10 s."""
    mu0, n, beta = 0.05, 0.5, 0.1
    rng = np.random.default_rng(0)
    baseline = lambda t: mu0 * (1 + 0.8 * np.sin(2 * np.pi * t / DAY))  # noqa: E731
    return simulate(rng, [baseline], [1.8 * mu0], np.array([[n]]), beta, DAY)[0], mu0, n, beta


def test_seasonal_day_the_hourly_baseline_is_chosen_and_recovers_the_branching_ratio(seasonal_day):
    times, mu0, n, beta = seasonal_day
    fit = fit_hawkes_exp(times, DAY)
    gof, est, se = fit.goodness_of_fit, fit.estimates, fit.std_errors
    # the constant baseline reads the daily swing as clustering: n pushed towards 1, its residuals not Exp(1)
    assert gof["branching_ratio_constant"] > n + 10 * se["branching_ratio"]
    assert gof["ks_pvalue_constant"] < 0.01
    # the hour-of-day baseline is chosen by the likelihood ratio, recovers n and passes the time-rescaling test
    assert est["baseline_bins"] == 24 and gof["lr_pvalue"] < 1e-10 and gof["lr_df"] == 23
    # 30 simulated days: z = (n̂ - n)/SE has mean -0.5, sd 0.8, |z| < 2 in 29 of 30 (24 baseline rates cost a
    # small downward bias, the same with a truth that is itself hourly steps); this day's z is -2.4
    assert abs(est["branching_ratio"] - n) < 2.5 * se["branching_ratio"]
    assert abs(est["beta"] - beta) < 3 * se["beta"]
    assert abs(est["mu"] - mu0) < 3 * se["mu"]  # the sine averages out over the day
    assert gof["ks_pvalue"] > 0.05 and gof["ks_pvalue"] == gof["ks_pvalue_hourly"]
    assert est["mu_h05"] > 1.5 * est["mu_h17"]  # the profile's peak (06:00) and trough (18:00)
    assert gof["bic_hourly"] < gof["bic_constant"]


def test_a_constant_baseline_stays_constant(capture_with_gaps):
    times, covered = capture_with_gaps
    fit = fit_hawkes_exp(times, 20_000.0, covered=covered)
    assert fit.estimates["baseline_bins"] == 1 and fit.goodness_of_fit["lr_pvalue"] > 1e-3
    assert fit.goodness_of_fit["lr_df"] == 5  # six covered hours of the day, one rate each


def test_seasonal_day_bivariate_hourly_baselines_recover_the_spectral_radius():
    """Buys and sells share the daily swing μ_i(t) = μ_i (1 + 0.8 sin(2π t / 1 day)); ρ(Γ) = 0.45."""
    branching, beta = np.array([[0.3, 0.15], [0.1, 0.35]]), 0.1
    rng = np.random.default_rng(1)
    swing = [lambda t, m=m: m * (1 + 0.8 * np.sin(2 * np.pi * t / DAY)) for m in (0.03, 0.025)]
    buys, sells = simulate(rng, swing, [0.054, 0.045], branching, beta, DAY)
    fit = fit_hawkes_exp_bivariate(buys, sells, DAY)
    gof, est, se = fit.goodness_of_fit, fit.estimates, fit.std_errors
    truth = spectral_radius(branching)
    assert gof["spectral_radius_constant"] > truth + 5 * se["spectral_radius"]  # seasonality read as excitation
    assert est["baseline_bins"] > 1 and gof["lr_pvalue"] < 1e-10
    # 8 simulated days: z of ρ̂ has mean -0.8, sd 1.2 (48 baseline rates cost a small downward bias, as in the
    # univariate fit), |z| < 2.5 in 7 of 8; this day's z is -0.7; the constant fits give ρ 0.77-0.79
    assert abs(est["spectral_radius"] - truth) < 2.5 * se["spectral_radius"]
    assert abs(est["n_buy_from_sell"] - 0.15) < 3 * se["n_buy_from_sell"]
    assert abs(est["mu_buy"] - 0.03) < 3 * se["mu_buy"]
    assert gof["ks_pvalue_buy"] > 0.01 and gof["ks_pvalue_sell"] > 0.01
