"""Known-answer tests of validation.statistics.signal_quality (sklearn as the plug-in oracle, closed forms else)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import mutual_info_score

from calibration.fit_result import InsufficientSamples
from validation.statistics.signal_quality import (
    DAY_MS,
    _coded_mutual_information,
    _shuffled_tables,
    binned_mutual_information,
    default_bins,
    mutual_information,
    quantile_bins,
    signal_quality,
)


def gaussian_pair(rho: float, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal(n)
    return x, rho * x + math.sqrt(1.0 - rho**2) * rng.standard_normal(n)


def decaying_signal(
    seed: int, days: int = 20, per_day: int = 1500, half_life: float = 10.0, mi0: float = 0.3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian signal/target whose true MI on day d is mi0 * 2 ** (-(d + 1/2) / half_life)
    (inverting MI = -ln(1 - rho^2) / 2); half_life = inf gives a constant MI."""
    rng = np.random.default_rng(seed)
    xs, ys, ts = [], [], []
    for day in range(days):
        mi = mi0 * 2.0 ** (-(day + 0.5) / half_life)
        x, y = gaussian_pair(math.sqrt(1.0 - math.exp(-2.0 * mi)), per_day, rng)
        xs.append(x)
        ys.append(y)
        ts.append(day * DAY_MS + rng.integers(0, DAY_MS, per_day))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ts)


def test_plug_in_estimate_matches_sklearn():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 7, 2000)
    y = (x + rng.integers(0, 3, 2000)) % 5
    assert binned_mutual_information(x, y, bias_correction=False) == pytest.approx(mutual_info_score(x, y), rel=1e-12)


def test_miller_madow_hand_examples():
    # independent 2 x 2 table, each cell once: plug-in 0, correction (1 + 1 - 3) / (2 * 4) = -1/8
    assert binned_mutual_information([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.125)
    # identical labels: plug-in ln 2, correction (1 + 1 - 1) / 8
    assert binned_mutual_information([0, 0, 1, 1], [0, 0, 1, 1]) == pytest.approx(math.log(2) + 0.125)


def test_gaussian_mutual_information_closed_form():
    rng = np.random.default_rng(1)
    x, y = gaussian_pair(0.6, 10_000, rng)
    truth = -0.5 * math.log(1.0 - 0.6**2)  # 0.2231 nats
    assert mutual_information(x, y) == pytest.approx(truth, abs=0.02)
    # invariant to monotone transforms of either variable
    assert mutual_information(np.exp(x), y**3) == pytest.approx(mutual_information(x, y), abs=1e-12)
    independent = mutual_information(rng.standard_normal(10_000), rng.standard_normal(10_000))
    assert abs(independent) < 0.005


def test_discrete_target_known_answer():
    x = np.random.default_rng(2).standard_normal(1000)
    y = (x > np.median(x)).astype(float)  # the target is a function of the signal: MI = H(Y) = ln 2
    # median is a bin edge; cells: 10 (x), 2 (y), 10 (joint) -> correction (9 + 1 - 9) / (2 n)
    assert mutual_information(x, y, n_bins=10, discrete_target=True) == pytest.approx(math.log(2) + 1 / 2000, rel=1e-12)


def test_default_bins():
    assert default_bins(20_000) == 31
    assert default_bins(10) == 2
    assert default_bins(10**8) == 64


def test_decaying_signal_half_life_and_trend():
    q = signal_quality(*decaying_signal(3), n_permutations=49)
    assert q.is_decaying
    assert q.slope_ci[1] < 0.0
    assert q.half_life_ci[0] <= 10.0 <= q.half_life_ci[1]
    assert q.half_life_days == pytest.approx(10.0, rel=0.2)
    assert q.p_value == pytest.approx(1 / 50)
    assert q.window_mi.size == 20
    assert list(q.window_start_ms[:2]) == [0, DAY_MS]
    assert q.window_n.sum() == q.n


def test_stable_signal_is_not_decaying():
    q = signal_quality(*decaying_signal(4, half_life=math.inf), n_permutations=49)
    assert not q.is_decaying
    assert q.slope_ci[0] <= 0.0 <= q.slope_ci[1]
    assert q.half_life_ci[1] == math.inf


def test_noise_signal_is_not_informative():
    rng = np.random.default_rng(5)
    times = rng.integers(0, 5 * DAY_MS, 3000)
    q = signal_quality(rng.standard_normal(3000), rng.standard_normal(3000), times, n_permutations=99)
    assert q.p_value > 0.05
    assert abs(q.mutual_information) < 0.01


def test_small_windows_are_dropped_and_few_windows_give_no_trend():
    rng = np.random.default_rng(6)
    x, y = gaussian_pair(0.5, 450, rng)
    times = np.r_[np.zeros(200), np.full(200, DAY_MS), np.full(50, 2 * DAY_MS)].astype(np.int64)
    q = signal_quality(x, y, times, n_permutations=19)
    assert list(q.window_n) == [200, 200]
    assert math.isnan(q.slope_per_day) and math.isnan(q.half_life_days)
    with pytest.raises(InsufficientSamples):
        signal_quality(x[:50], y[:50], times[:50])


def test_shuffled_tables_follow_the_law_of_shuffled_labels():
    """The permutation test draws contingency tables directly: margins fixed, cells hypergeometric, and the MI of
    the tables distributed as the MI of shuffled labels."""
    rng = np.random.default_rng(8)
    n = 300
    x, y = quantile_bins(rng.standard_normal(n), 4), quantile_bins(rng.standard_normal(n), 3)
    rows, cols = np.bincount(x), np.bincount(y)
    tables = _shuffled_tables(rows, cols, 20_000, np.random.default_rng(9)).astype(float)
    assert (tables.sum(axis=2) == rows).all() and (tables.sum(axis=1) == cols).all()
    r, c = rows[:, None], cols[None, :]
    np.testing.assert_allclose(tables.mean(axis=0), r * c / n, rtol=0.02)
    np.testing.assert_allclose(tables.var(axis=0), r * c * (n - r) * (n - c) / (n**2 * (n - 1)), rtol=0.05)
    joint = tables.reshape(len(tables), -1)
    drawn = [
        _coded_mutual_information(np.repeat(np.arange(12) // 3, t), np.repeat(np.arange(12) % 3, t))
        for t in joint[:2000].astype(int)
    ]
    shuffled = [_coded_mutual_information(x, rng.permutation(y)) for _ in range(2000)]
    assert stats.ks_2samp(drawn, shuffled).pvalue > 0.01
