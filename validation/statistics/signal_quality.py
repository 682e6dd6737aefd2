"""Is a signal informative about its target, and is that information decaying?

Mutual information (nats) is estimated by a binned plug-in estimator with the Miller-Madow bias correction:
the signal (and a continuous target) is cut into ``B`` equal-frequency bins, so the estimate is invariant
to monotone transforms, and ``MI = H(X) + H(Y) - H(X, Y)`` with each entropy corrected by ``(m - 1) / 2n``
(``m`` non-empty cells; Miller 1955; Paninski 2003, Neural Computation 15:1191-1253). The default
``B = floor(sqrt(n / 20))`` per axis (about 20 observations per cell under independence, clipped to
[2, 64]) keeps the mean estimate under independence below 0.001 nats from n = 1 000 (plug-in: 0.019);
discretisation loses some information, e.g. -0.5 ln(1 - 0.6^2) = 0.223 nats is estimated as about
0.216 at n = 10 000 (simulation, 20 seeds).
A discrete target (fill / no fill, trade sign) is used as its own labels. sklearn's
``mutual_info_score`` on the same labels equals the uncorrected estimate.

Decay is measured over calendar windows (UTC-aligned, ``window_ms`` long): the MI of every window with
enough samples, its linear trend per day with a t interval, and the half-life of an exponential decay
``MI(t) = MI_0 exp(-lambda t)`` fitted by non-linear least squares (half-life ``ln 2 / lambda``; infinite
when the fitted MI does not decay).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from scipy.optimize import curve_fit

from calibration.fit_result import InsufficientSamples
from data_lake.units import DAY_MS

MIN_WINDOW_SAMPLES = 100


def default_bins(n: int) -> int:
    """Equal-frequency bins per axis, ``floor(sqrt(n / 20))`` clipped to [2, 64]."""
    return int(min(64, max(2, math.floor(math.sqrt(n / 20.0)))))


def _entropy(counts: NDArray[np.float64], n: int, bias_correction: bool) -> float:
    nonzero = counts[counts > 0]
    p = nonzero / n
    plug_in = float(-np.sum(p * np.log(p)))
    return plug_in + (nonzero.size - 1) / (2.0 * n) if bias_correction else plug_in


def binned_mutual_information(x_labels: ArrayLike, y_labels: ArrayLike, bias_correction: bool = True) -> float:
    """MI (nats) of two discrete label arrays, plug-in or Miller-Madow corrected (may be slightly negative)."""
    if np.ndim(x_labels) != 1 or np.shape(x_labels) != np.shape(y_labels):
        raise ValueError("label arrays must be 1-D of equal length")
    x = np.unique(np.asarray(x_labels), return_inverse=True)[1]
    y = np.unique(np.asarray(y_labels), return_inverse=True)[1]
    if x.size == 0:
        raise InsufficientSamples("binned_mutual_information", 0, 1)
    return _coded_mutual_information(x, y, bias_correction)


def _coded_mutual_information(x: NDArray[np.intp], y: NDArray[np.intp], bias_correction: bool = True) -> float:
    """MI of non-negative integer codes (the work of :func:`binned_mutual_information`, without re-coding)."""
    n = x.size
    joint = np.bincount(x * (int(y.max()) + 1) + y).astype(float)
    return (
        _entropy(np.bincount(x).astype(float), n, bias_correction)
        + _entropy(np.bincount(y).astype(float), n, bias_correction)
        - _entropy(joint, n, bias_correction)
    )


def quantile_bins(x: ArrayLike, n_bins: int) -> NDArray[np.intp]:
    """Equal-frequency bin label of each value (duplicate quantile edges merged, so ties share a bin)."""
    arr = np.asarray(x, dtype=float)
    edges = np.unique(np.quantile(arr, np.linspace(0.0, 1.0, n_bins + 1)))
    return np.searchsorted(edges[1:-1], arr, side="right")


def _labels(
    signal: NDArray[np.float64], target: NDArray[np.float64], n_bins: int, discrete_target: bool
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    y = np.unique(target, return_inverse=True)[1] if discrete_target else quantile_bins(target, n_bins)
    return quantile_bins(signal, n_bins), y


def mutual_information(
    signal: ArrayLike, target: ArrayLike, n_bins: int | None = None, discrete_target: bool = False
) -> float:
    """Miller-Madow corrected binned MI (nats) of a signal with its target; ``n_bins`` defaults to
    :func:`default_bins`."""
    x = np.asarray(signal, dtype=float)
    y = np.asarray(target, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError("signal and target must be 1-D of equal length")
    bins = default_bins(x.size) if n_bins is None else n_bins
    return binned_mutual_information(*_labels(x, y, bins, discrete_target))


def _permutation_p_value(
    x: NDArray[np.intp], y: NDArray[np.intp], observed: float, n_permutations: int, seed: int
) -> float:
    """Monte Carlo p-value of ``MI > 0`` by shuffling the target labels, ``(1 + #{MI* >= MI}) / (1 + R)``
    (Phipson & Smyth 2010; its minimum is ``1 / (1 + R)``). Shuffling breaks serial dependence too, so it
    assumes exchangeable pairs. A shuffle keeps both margins and changes only the joint table, so the tables are
    drawn directly (:func:`_shuffled_tables`) rather than the n labels shuffled."""
    n = x.size
    rows, cols = np.bincount(x), np.bincount(y)
    margins = _entropy(rows.astype(float), n, True) + _entropy(cols.astype(float), n, True)
    tables = _shuffled_tables(rows, cols, n_permutations, np.random.default_rng(seed))
    exceed = sum(margins - _entropy(t.ravel().astype(float), n, True) >= observed for t in tables)
    return (1.0 + exceed) / (1.0 + n_permutations)


def _shuffled_tables(
    rows: NDArray[np.intp], cols: NDArray[np.intp], n_tables: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """``n_tables`` joint count tables of the labels after a uniform random shuffle of the column labels.

    Given both margins, such a table is a sequence of hypergeometric draws: cell (i, j) takes, from the row's
    remaining count, the column-j labels among the column labels not yet dealt (vectorised over the tables)."""
    tables = np.zeros((n_tables, rows.size, cols.size), dtype=np.int64)
    left = np.tile(cols.astype(np.int64), (n_tables, 1))
    for i, row in enumerate(rows):
        need = np.full(n_tables, row, dtype=np.int64)
        rest = left.sum(axis=1)
        for j in range(cols.size - 1):
            rest -= left[:, j]
            tables[:, i, j] = rng.hypergeometric(left[:, j], rest, need)
            need -= tables[:, i, j]
        tables[:, i, -1] = need
        left -= tables[:, i]
    return tables


def _decay(t: NDArray[np.float64], m0: float, rate: float) -> NDArray[np.float64]:
    return m0 * np.exp(-rate * t)


@dataclass(frozen=True)
class SignalQuality:
    """Information of one signal about its target over a sample, and its evolution over windows.

    ``slope_per_day`` is the OLS slope of window MI on window mid-time (nats per day) with a t interval;
    ``half_life_days`` and its interval come from the exponential-decay fit (``inf`` when not decaying,
    NaN when fewer than three windows or the fit fails).
    """

    n: int
    mutual_information: float
    p_value: float
    n_bins: int
    window_ms: int
    window_start_ms: NDArray[np.int64]
    window_mi: NDArray[np.float64]
    window_n: NDArray[np.int64]
    slope_per_day: float
    slope_ci: tuple[float, float]
    half_life_days: float
    half_life_ci: tuple[float, float]
    confidence: float

    @property
    def is_decaying(self) -> bool:
        """The MI trend is significantly negative (the upper end of its interval is below zero)."""
        return bool(self.slope_ci[1] < 0.0)


def _trend(days: NDArray[np.float64], mi: NDArray[np.float64], confidence: float) -> tuple[float, tuple[float, float]]:
    fit = stats.linregress(days, mi)
    half_width = stats.t.ppf(0.5 + confidence / 2.0, days.size - 2) * fit.stderr
    return float(fit.slope), (float(fit.slope - half_width), float(fit.slope + half_width))


def _half_life(
    days: NDArray[np.float64], mi: NDArray[np.float64], confidence: float
) -> tuple[float, tuple[float, float]]:
    """ln 2 / lambda from ``MI_0 exp(-lambda t)`` (t from the first window); interval by inverting lambda's."""
    t = days - days[0]
    try:
        (m0, rate), cov = curve_fit(_decay, t, mi, p0=(max(float(mi[0]), 1e-6), 0.0), maxfev=10_000)
    except RuntimeError:
        return math.nan, (math.nan, math.nan)
    se = math.sqrt(cov[1, 1]) if np.isfinite(cov[1, 1]) else math.nan
    half_width = stats.t.ppf(0.5 + confidence / 2.0, days.size - 2) * se
    low_rate, high_rate = rate - half_width, rate + half_width

    def to_half_life(r: float) -> float:
        return math.log(2.0) / float(r) if r > 0 else math.inf

    return to_half_life(float(rate)), (to_half_life(float(high_rate)), to_half_life(float(low_rate)))


def signal_quality(
    signal: ArrayLike,
    target: ArrayLike,
    times_ms: ArrayLike,
    window_ms: int = DAY_MS,
    discrete_target: bool = False,
    n_bins: int | None = None,
    n_permutations: int = 199,
    seed: int = 0,
    confidence: float = 0.95,
) -> SignalQuality:
    """MI of ``signal`` with ``target`` over the sample (with a seeded permutation p-value) and per window.

    Windows are ``floor(time / window_ms)``; those with fewer than :data:`MIN_WINDOW_SAMPLES` samples are
    dropped. Every window uses the same number of bins (the default rule at the smallest kept window) so
    that the discretisation bias does not create a trend when window sizes differ.
    """
    x = np.asarray(signal, dtype=float)
    y = np.asarray(target, dtype=float)
    times = np.asarray(times_ms, dtype=np.int64)
    if x.ndim != 1 or x.shape != y.shape or x.shape != times.shape:
        raise ValueError("signal, target and times_ms must be 1-D of equal length")
    if x.size < MIN_WINDOW_SAMPLES:
        raise InsufficientSamples("signal_quality", x.size, MIN_WINDOW_SAMPLES)
    bins = default_bins(x.size) if n_bins is None else n_bins
    x_labels, y_labels = _labels(x, y, bins, discrete_target)
    overall = _coded_mutual_information(x_labels, y_labels)
    p_value = _permutation_p_value(x_labels, y_labels, overall, n_permutations, seed)

    window_id = times // window_ms
    ids, counts = np.unique(window_id, return_counts=True)
    kept = ids[counts >= MIN_WINDOW_SAMPLES]
    window_n = counts[counts >= MIN_WINDOW_SAMPLES]
    window_bins = default_bins(int(window_n.min())) if (n_bins is None and kept.size) else bins
    window_mi = np.array(
        [mutual_information(x[window_id == w], y[window_id == w], window_bins, discrete_target) for w in kept]
    )
    nan2 = (math.nan, math.nan)
    if kept.size >= 3:
        days = (kept + 0.5) * window_ms / DAY_MS
        slope, slope_ci = _trend(days, window_mi, confidence)
        half_life, half_life_ci = _half_life(days, window_mi, confidence)
    else:
        slope, slope_ci, half_life, half_life_ci = math.nan, nan2, math.nan, nan2
    return SignalQuality(
        n=x.size,
        mutual_information=overall,
        p_value=p_value,
        n_bins=bins,
        window_ms=window_ms,
        window_start_ms=(kept * window_ms).astype(np.int64),
        window_mi=window_mi,
        window_n=window_n.astype(np.int64),
        slope_per_day=slope,
        slope_ci=slope_ci,
        half_life_days=half_life,
        half_life_ci=half_life_ci,
        confidence=confidence,
    )
