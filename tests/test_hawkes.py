"""Hawkes estimators against known truth (simulations) and the reference implementation (tick 0.8)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.diagnostic import acorr_ljungbox

from calibration.fit_result import InsufficientSamples
from calibration.hawkes import (
    hawkes_exp_compensator,
    hawkes_exp_gradient,
    hawkes_exp_hessian,
    hawkes_exp_loglik,
    hawkes_exp_residuals,
    merge_ties,
)
from calibration.hawkes_bivariate import (
    hawkes_exp_bivariate_gradient,
    hawkes_exp_bivariate_loglik,
    hawkes_exp_bivariate_residuals,
    spectral_radius,
)
from calibration.hawkes_bivariate_fit import fit_hawkes_exp_bivariate
from calibration.hawkes_fit import fit_hawkes_exp
from calibration.hawkes_gof import exponential_qq, ljung_box, time_rescaling_tests
from calibration.hawkes_moments import count_moments, fit_hawkes_exp_moments, hawkes_exp_fano_factor

hawkes = pytest.importorskip("tick.hawkes", reason="tick is the reference implementation (extra 'reference')")

MU, ALPHA, BETA = 0.5, 0.9, 1.5  # n = 0.6, as in statistics.md §2.4 and §9


def simulate(mu: float, alpha: float, beta: float, end_time: float, seed: int) -> np.ndarray:
    """Exact simulation by tick (Ogata thinning), the reference."""
    simulation = hawkes.SimuHawkesExpKernels(
        adjacency=np.array([[alpha / beta]]),
        decays=np.array([[beta]]),
        baseline=np.array([mu]),
        end_time=end_time,
        seed=seed,
        verbose=False,
    )
    simulation.simulate()
    return simulation.timestamps[0]


def simulate_bivariate(mu, alpha, beta, end_time, seed):
    simulation = hawkes.SimuHawkesExpKernels(
        adjacency=np.asarray(alpha) / beta,
        decays=np.full((2, 2), beta),
        baseline=np.asarray(mu),
        end_time=end_time,
        seed=seed,
        verbose=False,
    )
    simulation.simulate()
    return simulation.timestamps


@pytest.fixture(scope="module")
def events() -> np.ndarray:
    return simulate(MU, ALPHA, BETA, 50_000.0, seed=3)


@pytest.fixture(scope="module")
def fit(events):
    return fit_hawkes_exp(events, 50_000.0)


def tick_loglik(events: list[np.ndarray], end_time: float, mu, alpha, beta: float) -> float:
    """ℓ from tick's loss, which is -(ℓ + D T)/N (tick issue #449)."""
    model = hawkes.ModelHawkesExpKernLogLik(beta)
    model.fit(events, end_times=end_time)
    coeffs = np.concatenate([np.atleast_1d(mu), (np.atleast_2d(alpha) / beta).ravel()])
    n = sum(len(e) for e in events)
    return -model.loss(coeffs) * n - len(events) * end_time


def central_difference(function, x: np.ndarray, relative_step: float = 1e-5) -> np.ndarray:
    """Fourth-order central differences, columns are ∂/∂x_k."""
    columns = []
    for k in range(x.size):
        h = relative_step * x[k]
        shifted = [x + s * h * np.eye(x.size)[k] for s in (-2, -1, 1, 2)]
        values = [np.asarray(function(p)) for p in shifted]
        columns.append((values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * h))
    return np.stack(columns, axis=-1)


# ---------------------------------------------------------------- likelihood and derivatives


@pytest.mark.parametrize("theta", [(MU, ALPHA, BETA), (0.3, 1.2, 2.0), (1.0, 0.1, 10.0)])
def test_loglik_matches_tick(events, theta):
    ours = hawkes_exp_loglik(events, 50_000.0, *theta)
    reference = tick_loglik([events], 50_000.0, *theta)
    assert ours == pytest.approx(reference, rel=1e-6)


def test_loglik_matches_published_value(events):
    # statistics.md §1.1 pitfall 4: same simulation (tick seed 3), ℓ = -34780.91 at the truth.
    assert hawkes_exp_loglik(events, 50_000.0, MU, ALPHA, BETA) == pytest.approx(-34780.91, abs=0.01)


def test_gradient_matches_finite_differences(events):
    theta = np.array([0.45, 0.8, 1.7])
    analytic = hawkes_exp_gradient(events, 50_000.0, *theta)
    numeric = central_difference(lambda th: hawkes_exp_loglik(events, 50_000.0, *th), theta)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6)


def test_hessian_matches_finite_differences(events):
    theta = np.array([0.45, 0.8, 1.7])
    analytic = hawkes_exp_hessian(events, 50_000.0, *theta)
    numeric = central_difference(lambda th: hawkes_exp_gradient(events, 50_000.0, *th), theta)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6)
    np.testing.assert_array_equal(analytic, analytic.T)


# ---------------------------------------------------------------- maximum likelihood


def test_mle_recovers_truth(fit):
    assert fit.ok and fit.model == "hawkes_exp"
    truth = {"mu": MU, "alpha": ALPHA, "beta": BETA, "branching_ratio": ALPHA / BETA}
    for name, value in truth.items():
        assert abs(fit.estimates[name] - value) < 3 * fit.std_errors[name], name
    # statistics.md §2.4 (same data): θ̂ = (0.4915, 0.8989, 1.4838), SE = (0.0054, 0.0118, 0.0209).
    np.testing.assert_allclose([fit.estimates[k] for k in ("mu", "alpha", "beta")], [0.4915, 0.8989, 1.4838], atol=1e-4)
    np.testing.assert_allclose(
        [fit.std_errors[k] for k in ("mu", "alpha", "beta")], [0.0054, 0.0118, 0.0209], atol=1e-4
    )
    assert fit.units["mu"] == "1/s" and fit.warnings == ()


def test_fitted_compensator_equals_event_count(fit, events):
    # μ∂ℓ/∂μ + α∂ℓ/∂α = N - Λ(0,T) vanishes at an interior maximum.
    estimates = fit.estimates
    compensator = hawkes_exp_compensator(events, 50_000.0, estimates["mu"], estimates["alpha"], estimates["beta"])
    assert compensator == pytest.approx(events.size, rel=1e-3)
    assert fit.goodness_of_fit["compensator_total"] == pytest.approx(events.size, rel=1e-6)
    assert fit.goodness_of_fit["log_likelihood"] >= hawkes_exp_loglik(events, 50_000.0, MU, ALPHA, BETA)


def test_wald_intervals_cover_truth_at_nominal_rate():
    truth = {"mu": MU, "alpha": ALPHA, "beta": BETA, "branching_ratio": ALPHA / BETA}
    covered = dict.fromkeys(truth, 0)
    seeds = range(20)
    for seed in seeds:
        result = fit_hawkes_exp(simulate(MU, ALPHA, BETA, 10_000.0, seed=100 + seed), 10_000.0)
        for name, value in truth.items():
            covered[name] += abs(result.estimates[name] - value) <= 2 * result.std_errors[name]
    assert all(count >= 17 for count in covered.values()), covered


def test_window_offset_gives_the_same_fit(events):
    # A whole number of days keeps every event's hour of day, so the hour-of-day baseline too.
    days = 19_675 * 86_400.0  # 2023-11-14 00:00 UTC in epoch seconds
    shifted = fit_hawkes_exp(events[:5000] + days, days + 4000.0, start_time=days)
    plain = fit_hawkes_exp(events[:5000], 4000.0)
    assert shifted.estimates.keys() == plain.estimates.keys()
    for name in plain.estimates:
        assert shifted.estimates[name] == pytest.approx(plain.estimates[name], rel=1e-5)
    # The constant baseline does not depend on the time of day at all.
    constant = fit_hawkes_exp(events[:5000] + 1.7e9, 1.7e9 + 4000.0, start_time=1.7e9, baseline="constant")
    plain = fit_hawkes_exp(events[:5000], 4000.0, baseline="constant")
    for name in plain.estimates:
        assert constant.estimates[name] == pytest.approx(plain.estimates[name], rel=1e-5)


def test_too_few_events_raise():
    with pytest.raises(InsufficientSamples) as error:
        fit_hawkes_exp(np.sort(np.random.default_rng(0).uniform(0, 100, 150)), 100.0)
    assert error.value.n == 150 and error.value.required == 200
    with pytest.raises(InsufficientSamples):
        fit_hawkes_exp_moments(np.arange(10.0), 10.0)


def test_unsorted_or_outside_events_rejected():
    with pytest.raises(ValueError, match="sorted"):
        fit_hawkes_exp(np.array([1.0, 3.0, 2.0]), 10.0, min_events=1)
    with pytest.raises(ValueError, match="lie in"):
        fit_hawkes_exp(np.array([1.0, 2.0, 30.0]), 10.0, min_events=1)


def test_branching_ratio_warning_fires_outside_band():
    weak = fit_hawkes_exp(simulate(1.0, 0.6, 2.0, 5000.0, seed=2), 5000.0)  # n = 0.3
    assert weak.estimates["branching_ratio"] < 0.5
    assert len(weak.warnings) == 1 and weak.warnings[0].startswith("data warning: branching ratio")
    near_critical = fit_hawkes_exp(simulate(0.02, 2.94, 3.0, 40_000.0, seed=4), 40_000.0)  # n = 0.98
    assert near_critical.estimates["branching_ratio"] > 0.95
    assert any("above the usual" in w for w in near_critical.warnings)
    assert near_critical.estimates["branching_ratio"] < 1  # stationarity by construction


# ---------------------------------------------------------------- goodness of fit


def test_time_rescaling_accepts_the_true_model(fit):
    gof = fit.goodness_of_fit
    assert gof["ks_pvalue"] > 0.05 and gof["ks_statistic"] < 0.01
    assert gof["ljung_box_pvalue"] > 0.01
    assert gof["residual_mean"] == pytest.approx(1.0, abs=0.01)


def test_time_rescaling_rejects_a_misspecified_model(events):
    # Underdispersed renewal data (Gamma(5) gaps): no Hawkes process fits, the best one is near Poisson.
    regular = np.cumsum(np.random.default_rng(5).gamma(5.0, 0.2, 5000))
    result = fit_hawkes_exp(regular, float(np.ceil(regular[-1])))
    assert result.goodness_of_fit["ks_pvalue"] < 1e-6
    # Clustered data judged by a Poisson model of the right mean rate.
    tests = time_rescaling_tests(hawkes_exp_residuals(events, 50_000.0, events.size / 50_000.0, 0.0, 1.0))
    assert tests["ks_pvalue"] < 1e-10 and tests["ljung_box_pvalue"] < 1e-10


def test_residuals_sum_to_compensator(events):
    tau = hawkes_exp_residuals(events, 50_000.0, MU, ALPHA, BETA)
    up_to_last = hawkes_exp_compensator(events, events[-1], MU, ALPHA, BETA)
    assert tau.sum() == pytest.approx(up_to_last, rel=1e-10)


def test_ljung_box_equals_statsmodels():
    x = np.random.default_rng(1).exponential(size=3000)
    x[1:] += 0.1 * x[:-1]
    reference = acorr_ljungbox(x, lags=[10])
    statistic, pvalue = ljung_box(x, lags=10)
    assert statistic == pytest.approx(reference["lb_stat"].iloc[0], rel=1e-10)
    assert pvalue == pytest.approx(reference["lb_pvalue"].iloc[0], rel=1e-8)


def test_exponential_qq_lies_on_the_diagonal(fit, events):
    estimates = fit.estimates
    tau = hawkes_exp_residuals(events, 50_000.0, estimates["mu"], estimates["alpha"], estimates["beta"])
    theoretical, empirical = exponential_qq(tau, n_quantiles=200)
    assert theoretical.shape == empirical.shape == (200,)
    assert np.all(np.diff(theoretical) > 0)
    np.testing.assert_allclose(empirical[:190], theoretical[:190], rtol=0.05, atol=0.01)


# ---------------------------------------------------------------- moments


@pytest.fixture(scope="module")
def long_events() -> np.ndarray:
    return simulate(MU, ALPHA, BETA, 200_000.0, seed=7)


def test_fano_factor_formula_matches_simulation(long_events):
    widths = np.array([1.0, 5.0, 20.0])
    mean, var, _ = count_moments(long_events, 200_000.0, widths)
    np.testing.assert_allclose(mean, MU / (1 - ALPHA / BETA) * widths, rtol=0.02)
    np.testing.assert_allclose(var / mean, hawkes_exp_fano_factor(widths, MU, ALPHA, BETA), rtol=0.05)


def test_moments_estimator_close_to_truth(long_events):
    result = fit_hawkes_exp_moments(long_events, 200_000.0)
    estimates = result.estimates
    assert result.model == "hawkes_exp_moments" and result.warnings == ()
    assert estimates["branching_ratio"] == pytest.approx(ALPHA / BETA, abs=0.03)
    assert estimates["beta"] == pytest.approx(BETA, rel=0.1)
    assert estimates["mu"] == pytest.approx(MU, rel=0.1)
    assert estimates["branching_ratio_model_free"] == pytest.approx(ALPHA / BETA, abs=0.05)
    narrower = fit_hawkes_exp_moments(long_events, 200_000.0, model_free_width=20.0)
    assert narrower.estimates["branching_ratio_model_free"] == pytest.approx(ALPHA / BETA, abs=0.03)


# ---------------------------------------------------------------- ties


def test_merge_ties_merges_one_sweep():
    # One taker sweeps three makers at 1000 ms; two other takers trade at 1005 ms; a lone print at 1010 ms.
    times = np.array([1000, 1000, 1000, 1005, 1005, 1005, 1010])
    takers = np.array(["0xa", "0xa", "0xa", "0xb", "0xc", "0xb", "0xa"])
    np.testing.assert_array_equal(merge_ties(times, takers), [1000, 1005, 1005, 1010])
    np.testing.assert_array_equal(merge_ties(times), [1000, 1005, 1010])
    np.testing.assert_array_equal(merge_ties(times, pl.Series(takers)), [1000, 1005, 1005, 1010])
    with pytest.raises(ValueError, match="differ in length"):
        merge_ties(times, takers[:3])


# ---------------------------------------------------------------- bivariate

BI_MU = np.array([0.4, 0.3])
BI_ALPHA = np.array([[0.6, 0.4], [0.2, 0.8]])  # α_ij: effect of a j event on λ_i
BI_BETA = 2.0


@pytest.fixture(scope="module")
def bivariate_events():
    return simulate_bivariate(BI_MU, BI_ALPHA, BI_BETA, 20_000.0, seed=11)


def test_bivariate_loglik_and_gradient(bivariate_events):
    buys, sells = bivariate_events
    mu, alpha, beta = np.array([0.35, 0.25]), np.array([[0.5, 0.3], [0.3, 0.7]]), 1.8
    ours = hawkes_exp_bivariate_loglik(buys, sells, 20_000.0, mu, alpha, beta)
    assert ours == pytest.approx(tick_loglik([buys, sells], 20_000.0, mu, alpha, beta), rel=1e-6)
    theta = np.concatenate([mu, alpha.ravel(), [beta]])
    numeric = central_difference(
        lambda th: hawkes_exp_bivariate_loglik(buys, sells, 20_000.0, th[:2], th[2:6].reshape(2, 2), th[6]), theta
    )
    analytic = hawkes_exp_bivariate_gradient(buys, sells, 20_000.0, mu, alpha, beta)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6)


def test_bivariate_recovers_cross_excitation(bivariate_events):
    result = fit_hawkes_exp_bivariate(*bivariate_events, 20_000.0)
    assert result.ok and result.model == "hawkes_exp_bivariate"
    est, se = result.estimates, result.std_errors
    truth = {"mu_buy": 0.4, "mu_sell": 0.3, "beta": BI_BETA, "spectral_radius": spectral_radius(BI_ALPHA / BI_BETA)}
    for i, p in enumerate(("buy", "sell")):
        for j, q in enumerate(("buy", "sell")):
            truth[f"alpha_{p}_from_{q}"] = BI_ALPHA[i, j]
            truth[f"n_{p}_from_{q}"] = BI_ALPHA[i, j] / BI_BETA
    for name, value in truth.items():
        assert abs(est[name] - value) < 3 * se[name], (name, est[name], se[name])
    # Asymmetry is identified: sells excite buys (0.2) more than buys excite sells (0.1).
    assert est["n_buy_from_sell"] - est["n_sell_from_buy"] > 2 * np.hypot(se["n_buy_from_sell"], se["n_sell_from_buy"])
    for side in ("buy", "sell"):
        assert result.goodness_of_fit[f"compensator_ratio_{side}"] == pytest.approx(1.0, rel=1e-3)
        assert result.goodness_of_fit[f"ks_pvalue_{side}"] > 0.01


def test_bivariate_residuals_reduce_to_univariate_without_cross_excitation(bivariate_events):
    buys, sells = bivariate_events
    alpha = np.array([[0.6, 0.0], [0.0, 0.8]])
    tau_buy, tau_sell = hawkes_exp_bivariate_residuals(buys, sells, 20_000.0, BI_MU, alpha, BI_BETA)
    np.testing.assert_allclose(tau_buy, hawkes_exp_residuals(buys, 20_000.0, 0.4, 0.6, BI_BETA), rtol=1e-9)
    np.testing.assert_allclose(tau_sell, hawkes_exp_residuals(sells, 20_000.0, 0.3, 0.8, BI_BETA), rtol=1e-9)


def test_bivariate_too_few_events_raise(bivariate_events):
    buys, sells = bivariate_events
    with pytest.raises(InsufficientSamples) as error:
        fit_hawkes_exp_bivariate(buys, sells[sells < 100.0], 20_000.0)
    assert error.value.model == "hawkes_exp_bivariate"
