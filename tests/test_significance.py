"""Known-answer tests of validation.statistics.significance: scipy/statsmodels/arch as oracles, hand computations
else."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from arch.bootstrap import RealityCheck
from scipy import stats

from calibration.fit_result import InsufficientSamples
from validation.statistics.significance import (
    MIN_INDEPENDENT_FILLS,
    _stationary_bootstrap_variance,
    binomial_test,
    component_verdict,
    deflated_sharpe_ratio,
    effective_sample_size,
    expected_maximum_sharpe,
    hac_mean_test,
    newey_west_lags,
    pnl_significance,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_ratio,
    sign_flip_test,
    superior_predictive_ability,
)


def ar1(phi: float, n: int, seed: int) -> np.ndarray:
    e = np.random.default_rng(seed).standard_normal(n)
    x = np.empty(n)
    x[0] = e[0] / math.sqrt(1.0 - phi**2)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def test_newey_west_lag_rule():
    assert newey_west_lags(100) == 4
    assert newey_west_lags(5000) == 9  # 4 * 50 ** (2/9) = 9.54
    assert newey_west_lags(1) == 1  # 4 * 0.01 ** (2/9) = 1.44


def test_binomial_test_known_answer():
    result = binomial_test(60, 100, 0.5, alternative="greater")
    # P(X >= 60), X ~ Bin(100, 1/2), summed by hand
    tail = sum(math.comb(100, k) for k in range(60, 101)) / 2**100
    assert result.p_value == pytest.approx(tail, rel=1e-12)
    assert result.p_value == pytest.approx(0.028443966820490, rel=1e-9)
    # Wilson score interval by its formula
    z, p, n = stats.norm.ppf(0.975), 0.6, 100
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert result.ci == pytest.approx((centre - half, centre + half), rel=1e-9)
    assert result.estimate == 0.6


def test_hac_with_zero_lags_is_the_ordinary_t_test():
    x = np.random.default_rng(3).normal(0.1, 1.0, 300)
    for alternative in ("two-sided", "greater", "less"):
        ours = hac_mean_test(x, maxlags=0, alternative=alternative)
        scipy_t = stats.ttest_1samp(x, 0.0, alternative=alternative)
        assert ours.statistic == pytest.approx(scipy_t.statistic, rel=1e-10)
        assert ours.p_value == pytest.approx(scipy_t.pvalue, rel=1e-10)
    ci = stats.ttest_1samp(x, 0.0).confidence_interval(0.95)
    assert hac_mean_test(x, maxlags=0).ci == pytest.approx((ci.low, ci.high), rel=1e-10)


def test_hac_standard_error_matches_hand_newey_west():
    x = ar1(0.4, 400, seed=1) + 0.05
    n, lags = x.size, 5
    d = x - x.mean()
    lrv = d @ d / n + 2 * sum((1 - k / (lags + 1)) * (d[k:] @ d[:-k]) / n for k in range(1, lags + 1))
    se = math.sqrt(lrv / n * n / (n - 1))
    result = hac_mean_test(x, maxlags=lags, alternative="two-sided")
    assert result.statistic == pytest.approx(x.mean() / se, rel=1e-10)
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(x.mean() / se), n - 1), rel=1e-10)


def test_hac_constant_series():
    assert hac_mean_test(np.zeros(10)).p_value == 1.0
    assert hac_mean_test(np.ones(10)).p_value == 0.0


def test_sign_flip_is_exact_for_small_samples():
    x = np.array([1.0, 2.0, 3.0, 4.0, -0.5])
    flips = np.array(list(itertools.product([-1.0, 1.0], repeat=x.size)))
    means = (flips * x).mean(axis=1)
    exact = np.mean(means >= x.mean() - 1e-12)
    assert sign_flip_test(x, alternative="greater").p_value == pytest.approx(exact)


def test_sign_flip_agrees_with_t_test_on_gaussian_data():
    x = np.random.default_rng(7).normal(0.12, 1.0, 400)
    flip = sign_flip_test(x, alternative="greater", n_resamples=9999, seed=1).p_value
    assert flip == pytest.approx(stats.ttest_1samp(x, 0.0, alternative="greater").pvalue, abs=0.01)


def test_effective_sample_size():
    assert effective_sample_size(np.random.default_rng(0).standard_normal(20_000)) == pytest.approx(20_000, rel=0.05)
    # AR(1): n_eff / n -> (1 - phi) / (1 + phi) = 1/3 with a long enough lag window (Bartlett bias 2/61)
    x = ar1(0.5, 100_000, seed=2)
    assert effective_sample_size(x, maxlags=60) / x.size == pytest.approx(1 / 3, rel=0.1)
    # hand example with one lag: n_eff = n * g0 / (g0 + 2 * (1/2) * g1)
    y = np.array([1.0, 2.0, 3.0, 4.0])
    d = y - y.mean()
    g0, g1 = d @ d / 4, d[1:] @ d[:-1] / 4
    assert effective_sample_size(y, maxlags=1) == pytest.approx(4 * g0 / (g0 + g1))
    # alternating series: negative autocorrelation is not credited
    assert effective_sample_size(np.tile([1.0, -1.0], 100)) == 200.0


def test_fewer_than_200_fills_is_never_significant():
    pnl = np.random.default_rng(0).normal(1.0, 0.1, 150)  # an enormous edge, t ~ 120
    result = pnl_significance(pnl, n_resamples=999)
    assert result.hac.p_value < 1e-50
    assert result.verdict == "insufficient"
    # 1 000 strongly autocorrelated fills carry fewer than 200 independent ones
    persistent = ar1(0.9, 1000, seed=4) + 2.0
    result = pnl_significance(persistent, maxlags=50, n_resamples=999)
    assert result.n_effective < MIN_INDEPENDENT_FILLS
    assert result.verdict == "insufficient"


def test_pnl_significance_verdicts():
    rng = np.random.default_rng(5)
    assert pnl_significance(rng.normal(0.2, 1.0, 2000), n_resamples=999).verdict == "significant"
    noise = pnl_significance(rng.normal(0.0, 1.0, 2000) - 0.05, n_resamples=999)
    assert noise.verdict == "not significant"
    assert noise.win_rate.n == 2000


def test_stationary_bootstrap_variance_matches_hansen_formula():
    d = ar1(0.3, 200, seed=9)[:, None]
    t, p = d.shape[0], 1 / 4
    c = d[:, 0] - d[:, 0].mean()
    expected = c @ c / t
    for i in range(1, t):
        kappa = (1 - i / t) * (1 - p) ** i + (i / t) * (1 - p) ** (t - i)
        expected += 2 * kappa * (c[: t - i] @ c[i:]) / t
    assert _stationary_bootstrap_variance(d, 4)[0] == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_best_of_50_noise_strategies_is_not_significant(seed):
    rng = np.random.default_rng(seed)
    variants = rng.standard_normal((1000, 50))
    spa = superior_predictive_ability(np.zeros(1000), variants, reps=400, seed=seed)
    assert spa.spa_consistent > 0.05
    assert spa.reality_check > 0.05
    dsr = deflated_sharpe_ratio(variants)
    assert dsr.psr > 0.95  # the naive PSR of the best is "significant" ...
    assert dsr.dsr < 0.95  # ... the deflated one is not
    assert not dsr.significant


def test_reality_check_is_arch_white_statistic_and_finds_a_real_edge():
    rng = np.random.default_rng(11)
    variants = rng.standard_normal((1000, 20))
    variants[:, 13] += 0.3
    baseline = rng.standard_normal(1000) * 0.1
    result = superior_predictive_ability(baseline, variants, reps=400, block_size=3, seed=4)
    oracle = RealityCheck(-baseline, -variants, block_size=3, reps=400, studentize=False, seed=4)
    oracle.compute()
    assert result.reality_check == oracle.pvalues["upper"]
    assert result.spa_consistent < 0.01
    assert result.best_variant == 13
    assert result.spa_lower <= result.spa_consistent <= result.spa_upper


def test_superior_predictive_ability_picks_block_length():
    variants = np.column_stack([ar1(0.6, 800, seed=s) for s in range(3)])
    assert superior_predictive_ability(np.zeros(800), variants, reps=100).block_size > 1


def test_psr_and_dsr_known_answers():
    # Bailey & Lopez de Prado (2014) numerical example: annual SR 2.5 over 5 years of daily data
    # (T = 1250), 100 trials with annual V[SR] = 1/2, skew -3, kurtosis 10 -> SR0 = 0.1132 daily, DSR 0.9004
    sr0 = expected_maximum_sharpe(0.5 / 250, 100)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = probabilistic_sharpe_ratio(2.5 / math.sqrt(250), 1250, skewness=-3.0, kurtosis=10.0, sharpe_benchmark=sr0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)
    # normal returns: Lo (2002) standard error sqrt((1 + SR^2 / 2) / (T - 1))
    sr, t = 0.08, 500
    lo = stats.norm.cdf(sr / math.sqrt((1 + sr**2 / 2) / (t - 1)))
    assert probabilistic_sharpe_ratio(sr, t) == pytest.approx(lo, rel=1e-12)
    assert expected_maximum_sharpe(1.0, 1) == 0.0
    assert sharpe_ratio([1.0, 2.0, 3.0]) == pytest.approx(2.0)  # mean 2, sample std 1


def test_deflated_sharpe_ratio_composes_psr_and_expected_maximum():
    rng = np.random.default_rng(3)
    returns = rng.standard_t(5, size=(1600, 50)) * 0.01
    returns[:, 17] += 0.004
    result = deflated_sharpe_ratio(returns)
    sharpes = returns.mean(0) / returns.std(0, ddof=1)
    chosen = returns[:, 17]
    assert result.selected == 17
    assert result.kurtosis == pytest.approx(stats.kurtosis(chosen, fisher=False))
    expected = probabilistic_sharpe_ratio(
        sharpes[17],
        1600,
        stats.skew(chosen),
        stats.kurtosis(chosen, fisher=False),
        expected_maximum_sharpe(np.var(sharpes, ddof=1), 50),
    )
    assert result.dsr == pytest.approx(expected, rel=1e-12)
    assert result.dsr > 0.95 and result.significant


def test_pbo_hand_example():
    # two blocks: whichever configuration wins in-sample loses out of sample -> PBO = 1
    a = np.array([1.0, 1.1, 0.9, 1.2])
    flipped = np.column_stack([np.r_[a, -a], np.r_[-a, a]])
    result = probability_of_backtest_overfitting(flipped, n_splits=2)
    assert result.n_combinations == 2
    assert result.pbo == 1.0
    assert result.logits == pytest.approx([math.log(0.5)] * 2)  # rank 1 of 2: omega = 1/3
    assert result.prob_oos_loss == 1.0
    # a configuration better in both halves: PBO = 0
    consistent = np.column_stack([np.r_[a, a], np.r_[-a, -a]])
    assert probability_of_backtest_overfitting(consistent, n_splits=2).pbo == 0.0


def test_pbo_of_noise_is_one_half_on_average_and_zero_with_a_real_edge():
    pbos = [
        probability_of_backtest_overfitting(np.random.default_rng(s).standard_normal((800, 30)), 8).pbo
        for s in range(30)
    ]
    assert 0.35 <= np.mean(pbos) <= 0.65
    skilled = np.random.default_rng(99).standard_normal((800, 30))
    skilled[:, 4] += 0.25
    assert probability_of_backtest_overfitting(skilled, n_splits=8).pbo < 0.05
    assert probability_of_backtest_overfitting(skilled, n_splits=16).n_combinations == 12_870


def test_pbo_needs_even_splits():
    with pytest.raises(ValueError):
        probability_of_backtest_overfitting(np.zeros((100, 3)), n_splits=5)


def test_component_verdicts():
    rng = np.random.default_rng(21)
    baseline = rng.normal(0.0, 1.0, 2000)
    better = baseline + rng.normal(0.15, 0.5, 2000)
    keep = component_verdict(baseline, better)
    assert keep.decision == "keep"
    assert keep.ci[0] > 0.0 and keep.p_value < 0.05
    assert keep.effect == pytest.approx(np.mean(better - baseline))
    useless = component_verdict(baseline, baseline + rng.normal(0.0, 0.5, 2000))
    assert useless.decision == "remove"
    assert useless.ci[0] <= 0.0  # the 90% interval's lower end agrees with the one-sided 5% test
    few = component_verdict(baseline[:150], better[:150])
    assert few.decision == "insufficient evidence"
    assert component_verdict(baseline, better, n_fills=120).decision == "insufficient evidence"


def test_too_short_inputs_raise_insufficient_samples():
    with pytest.raises(InsufficientSamples):
        hac_mean_test([1.0])
    with pytest.raises(InsufficientSamples):
        superior_predictive_ability(np.zeros(5), np.zeros((5, 2)))
