"""Known-answer tests of validation.statistics.calibration_metrics (sklearn/scipy as oracles, hand computations
else)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss

from calibration.fit_result import InsufficientSamples
from validation.reporting.measurement_figures import plot_reliability_diagram
from validation.statistics.calibration_metrics import (
    MAX_RELATIVE_RELIABILITY,
    adverse_selection_calibration,
    brier_score,
    calibration_metrics,
    corp_decomposition,
    expected_calibration_error,
    isotonic_recalibration,
    murphy_decomposition,
    reliability_diagram,
)


def calibrated_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts f ~ Beta(2, 5) and outcomes o ~ Bernoulli(f): perfectly calibrated by construction."""
    rng = np.random.default_rng(seed)
    f = rng.beta(2.0, 5.0, n)
    return (rng.random(n) < f).astype(float), f


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1.0 - p))


def expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def test_brier_score_matches_sklearn():
    o, f = calibrated_sample(1000, 0)
    assert brier_score(o, f) == pytest.approx(brier_score_loss(o, f), rel=1e-12)


def test_murphy_hand_example():
    o = np.array([0.0, 1.0, 1.0, 1.0])
    f = np.array([0.1, 0.1, 0.9, 0.9])
    d = murphy_decomposition(o, f)
    # bins {0.1: n 2, o-bar 0.5}, {0.9: n 2, o-bar 1}; o-bar 0.75
    assert d.reliability == pytest.approx((2 * 0.4**2 + 2 * 0.1**2) / 4)
    assert d.resolution == pytest.approx((2 * 0.25**2 + 2 * 0.25**2) / 4)
    assert d.uncertainty == pytest.approx(0.75 * 0.25)
    assert d.brier == pytest.approx(0.21)
    assert d.reliability - d.resolution + d.uncertainty == pytest.approx(d.brier, abs=1e-15)
    assert expected_calibration_error(o, f) == pytest.approx((2 * 0.4 + 2 * 0.1) / 4)


def test_corp_hand_example_with_pooling():
    o = np.array([0.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    f = np.array([0.2, 0.2, 0.4, 0.4, 0.6, 0.6])
    # frequencies 0.5, 0, 1 violate monotonicity: PAV pools the first two groups to 0.25
    assert isotonic_recalibration(o, f) == pytest.approx([0.25, 0.25, 0.25, 0.25, 1.0, 1.0])
    d = corp_decomposition(o, f)
    assert d.brier == pytest.approx(1.32 / 6)
    assert d.uncertainty == pytest.approx(0.25)
    assert d.resolution == pytest.approx(0.25 - 0.75 / 6)
    assert d.reliability == pytest.approx(1.32 / 6 - 0.75 / 6)


def test_pav_matches_sklearn_isotonic_regression_with_ties():
    o, f = calibrated_sample(3000, 1)
    f = np.round(f, 2)  # many ties: both pool them before fitting
    expected = IsotonicRegression(out_of_bounds="clip").fit(f, o).predict(f)
    assert isotonic_recalibration(o, f) == pytest.approx(expected, abs=1e-12)


def test_decompositions_sum_to_the_brier_score_exactly():
    o, f = calibrated_sample(5000, 2)
    for strategy in ("uniform", "quantile"):
        d = murphy_decomposition(o, f, n_bins=10, strategy=strategy)
        five = d.reliability - d.resolution + d.uncertainty + d.within_bin_variance - d.within_bin_covariance
        assert five == pytest.approx(d.brier, abs=1e-12)
    corp = corp_decomposition(o, f)
    assert corp.reliability - corp.resolution + corp.uncertainty == pytest.approx(corp.brier, abs=1e-12)
    assert corp.reliability >= 0.0 and corp.resolution >= 0.0


def test_three_terms_are_exact_for_bin_constant_forecasts():
    rng = np.random.default_rng(3)
    f = rng.choice([0.05, 0.25, 0.45, 0.65, 0.85], size=4000)
    o = (rng.random(4000) < f).astype(float)
    d = murphy_decomposition(o, f, n_bins=10)
    assert d.within_bin_variance == pytest.approx(0.0, abs=1e-15)
    assert d.within_bin_covariance == pytest.approx(0.0, abs=1e-15)
    assert d.reliability - d.resolution + d.uncertainty == pytest.approx(d.brier, abs=1e-12)


def test_perfectly_calibrated_forecast():
    o, f = calibrated_sample(5000, 4)
    m = calibration_metrics(o, f)
    assert m.relative_reliability < 0.02  # CORP's small-sample bias only (median 0.008 at n = 5 000)
    assert m.slope_ci[0] <= 1.0 <= m.slope_ci[1]
    assert m.intercept_ci[0] <= 0.0 <= m.intercept_ci[1]
    assert m.is_well_calibrated
    assert 0.0 < m.information_ratio < 1.0
    assert m.ece < 0.03


def test_climatology_has_no_resolution():
    o, _ = calibrated_sample(2000, 5)
    climatology = np.full(o.size, o.mean())
    for d in (murphy_decomposition(o, climatology), corp_decomposition(o, climatology)):
        assert d.resolution == pytest.approx(0.0, abs=1e-15)
        assert d.reliability == pytest.approx(0.0, abs=1e-15)
        assert d.brier == pytest.approx(d.uncertainty, abs=1e-15)
    m = calibration_metrics(o, climatology)
    assert m.information_ratio == pytest.approx(0.0, abs=1e-12) and m.skill_score == pytest.approx(0.0, abs=1e-12)
    # calibrated but without resolution: judged by its level alone, like a constant adverse-selection forecast
    assert np.isnan(m.slope) and m.constant_forecast and m.is_well_calibrated
    off = calibration_metrics(o, np.full(o.size, o.mean() + 0.1))
    assert off.constant_forecast and not off.is_well_calibrated


def test_cox_recalibration_recovers_known_miscalibration():
    # outcomes drawn with logit P = 0.3 + 0.7 logit f: slope 0.7, its 95% interval covers 0.7 ~95% of the time
    slopes, covered = [], 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        f = rng.beta(2.0, 5.0, 5000)
        o = (rng.random(f.size) < expit(0.3 + 0.7 * logit(f))).astype(float)
        m = calibration_metrics(o, f)
        slopes.append(m.slope)
        covered += m.slope_ci[0] <= 0.7 <= m.slope_ci[1]
        assert not m.is_well_calibrated
    assert np.mean(slopes) == pytest.approx(0.7, abs=0.02)
    assert 0.85 <= covered / 40 <= 1.0


def test_overconfident_and_biased_forecasts_are_not_well_calibrated():
    o, f = calibrated_sample(5000, 7)
    overconfident = calibration_metrics(o, expit(2.0 * logit(f)))
    assert overconfident.slope == pytest.approx(0.5, abs=0.07)
    assert not overconfident.is_well_calibrated
    shifted = calibration_metrics(o, np.clip(f + 0.08, 0.0, 1.0))
    assert shifted.intercept_ci[1] < 0.0
    assert shifted.relative_reliability < MAX_RELATIVE_RELIABILITY  # REL alone would not catch it
    assert not shifted.is_well_calibrated


def test_few_samples_are_never_well_calibrated():
    o, f = calibrated_sample(150, 8)
    m = calibration_metrics(o, f)
    assert not m.enough_samples and not m.is_well_calibrated


def test_reliability_diagram_matches_sklearn_calibration_curve():
    o, f = calibrated_sample(3000, 9)
    for strategy in ("uniform", "quantile"):
        diagram = reliability_diagram(o, f, n_bins=8, strategy=strategy)
        prob_true, prob_pred = calibration_curve(o, f, n_bins=8, strategy=strategy)
        filled = diagram.counts > 0
        assert diagram.observed_frequency[filled] == pytest.approx(prob_true, abs=1e-12)
        assert diagram.mean_forecast[filled] == pytest.approx(prob_pred, abs=1e-12)
        assert diagram.counts.sum() == o.size
    b = int(np.argmax(diagram.counts))
    events = round(diagram.observed_frequency[b] * diagram.counts[b])
    wilson = stats.binomtest(events, int(diagram.counts[b])).proportion_ci(0.95, method="wilson")
    assert (diagram.ci_low[b], diagram.ci_high[b]) == pytest.approx((wilson.low, wilson.high))


def test_reliability_plot_is_a_png():
    o, f = calibrated_sample(500, 10)
    png = plot_reliability_diagram(reliability_diagram(o, f, n_bins=10, strategy="uniform"))
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_input_validation():
    with pytest.raises(ValueError):
        brier_score([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError):
        brier_score([0, 1], [0.1, 1.2])
    with pytest.raises(InsufficientSamples):
        brier_score([], [])


def test_adverse_selection_known_line_and_exact_mse_decomposition():
    rng = np.random.default_rng(11)
    predicted = rng.normal(2.0, 1.0, 3000)
    realised = 1.0 + 0.5 * predicted + rng.normal(0.0, 1.0, 3000)
    a = adverse_selection_calibration(predicted, realised)
    line = stats.linregress(predicted, realised)
    assert a.slope == pytest.approx(line.slope, rel=1e-10)
    assert a.intercept == pytest.approx(line.intercept, rel=1e-10)
    assert a.slope_ci[0] <= 0.5 <= a.slope_ci[1]
    assert a.bias == pytest.approx(np.mean(realised - predicted))
    assert a.mse == pytest.approx(np.mean((realised - predicted) ** 2))
    assert a.mse_bias + a.mse_regression + a.mse_disturbance == pytest.approx(a.mse, rel=1e-12)
    assert not a.is_well_calibrated


def test_adverse_selection_calibrated_predictions():
    rng = np.random.default_rng(12)
    predicted = rng.normal(3.0, 2.0, 2000)
    realised = predicted + rng.normal(0.0, 1.5, 2000)
    a = adverse_selection_calibration(predicted, realised)
    assert a.is_well_calibrated
    assert a.mse_disturbance / a.mse > 0.95
    few = adverse_selection_calibration(predicted[:100], realised[:100])
    assert not few.is_well_calibrated


def test_a_constant_adverse_selection_forecast_is_judged_by_its_bias_alone() -> None:
    rng = np.random.default_rng(5)
    realised = rng.normal(1.2, 2.0, 2_000)
    unbiased = adverse_selection_calibration(np.full(2_000, 1.2), realised)
    assert unbiased.constant_forecast and math.isnan(unbiased.slope) and unbiased.is_well_calibrated
    biased = adverse_selection_calibration(np.full(2_000, 2.5), realised)
    assert biased.constant_forecast and not biased.is_well_calibrated


def windowed_forecasts(
    seed: int, resolution: float, level_sd: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Twelve walk-forward windows of 4 000 forecasts. The forecast's level is off by its window's estimation error
    ``level_w ~ N(0, level_sd^2)``, shared by the window and unbiased over windows. ``resolution`` scales the
    within-window spread of the forecasts' logit relative to the truth's (1: right)."""
    rng = np.random.default_rng(seed)
    windows = np.repeat(np.arange(12), 4_000)
    level = rng.normal(0.0, level_sd, 12)[windows]
    shape = rng.normal(0.0, 0.15, windows.size)
    truth = expit(-2.5 + shape)
    forecast = expit(-2.5 + level + resolution * shape)
    return (rng.random(windows.size) < truth).astype(float), forecast, windows


@pytest.mark.slow  # Monte Carlo: 20 simulated datasets, two fits each
def test_window_level_noise_attenuates_the_pooled_slope_but_not_the_within_window_one():
    # the forecasts resolve exactly what the truth does inside each window; their level noise is common per window
    rejected_pooled = kept_within = 0
    for seed in range(20):
        o, f, windows = windowed_forecasts(seed, resolution=1.0)
        pooled = calibration_metrics(o, f)
        within = calibration_metrics(o, f, windows=windows)
        assert within.windows == 12 and pooled.windows == 1
        assert within.intercept == pooled.intercept  # the level is judged over every forecast either way
        rejected_pooled += not (pooled.slope_ci[0] <= 1.0 <= pooled.slope_ci[1])
        kept_within += within.slope_ci[0] <= 1.0 <= within.slope_ci[1]
    assert kept_within >= 17  # a 95% interval: about 19 of 20
    assert rejected_pooled >= 4  # the errors-in-variables attenuation the windows remove


@pytest.mark.slow  # Monte Carlo: 40 simulated datasets, two fits each
def test_window_clustered_intervals_hold_their_level_under_unbiased_window_errors():
    # an unbiased estimation method whose level error is shared by each window: the calibration-in-the-large
    # interval must cover 0 about 95% of the time; a HAC interval counts each window's error thousands of times
    covered_clustered = covered_hac = 0
    for seed in range(40):
        o, f, windows = windowed_forecasts(100 + seed, resolution=1.0, level_sd=0.15)
        clustered = calibration_metrics(o, f, windows=windows)
        hac = calibration_metrics(o, f)
        covered_clustered += clustered.intercept_ci[0] <= 0.0 <= clustered.intercept_ci[1]
        covered_hac += hac.intercept_ci[0] <= 0.0 <= hac.intercept_ci[1]
    assert covered_clustered >= 34  # 95% of 40 is 38; binomial 1st percentile 34
    assert covered_hac <= 28


def test_a_forecast_that_over_resolves_within_windows_is_still_rejected():
    o, f, windows = windowed_forecasts(3, resolution=2.0)
    m = calibration_metrics(o, f, windows=windows)
    assert m.slope == pytest.approx(0.5, abs=0.15) and m.slope_ci[1] < 1.0
    assert not m.is_well_calibrated
    with pytest.raises(ValueError, match="label every forecast"):
        calibration_metrics(o, f, windows=windows[:-1])


def test_adverse_selection_forecast_constant_within_windows_is_judged_by_its_bias():
    # per-window estimates of a constant truth: pure estimation noise between windows, nothing to resolve
    rng = np.random.default_rng(21)
    windows = np.repeat(np.arange(10), 1_500)
    predicted = (1.0 + rng.normal(0.0, 0.08, 10))[windows]
    realised = rng.normal(1.0, 2.0, windows.size)
    pooled = adverse_selection_calibration(predicted, realised)
    within = adverse_selection_calibration(predicted, realised, windows=windows)
    assert within.constant_forecast and within.windows == 10 and within.is_well_calibrated
    assert not pooled.constant_forecast
    assert within.mse_bias + within.mse_regression + within.mse_disturbance == pytest.approx(within.mse, rel=1e-12)


def test_adverse_selection_within_window_slope_recovers_a_known_line():
    rng = np.random.default_rng(22)
    windows = np.repeat(np.arange(8), 2_000)
    signal = rng.normal(0.0, 1.5, windows.size)
    predicted = 2.0 + signal + rng.normal(0.0, 0.3, 8)[windows]
    realised = 2.0 + 0.6 * signal + rng.normal(0.0, 1.0, windows.size)
    a = adverse_selection_calibration(predicted, realised, windows=windows)
    assert a.slope_ci[0] <= 0.6 <= a.slope_ci[1] and a.slope_ci[1] < 1.0
    assert not a.is_well_calibrated
