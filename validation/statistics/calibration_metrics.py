"""How well calibrated are the quoter's forecasts? Brier score decompositions, reliability diagrams, and the
same questions for continuous predictions of adverse selection (predicted vs realised bps).

Binary forecasts (e.g. "this quote fills within its life"): outcome ``o_i`` in {0, 1}, forecast ``f_i`` in
[0, 1]. Two decompositions of the Brier score ``BS = mean((f - o)^2)``:

* binned (Murphy 1973, with the two within-bin terms of Stephenson, Coelho & Jolliffe 2008, Weather and
  Forecasting 23:752-757): ``BS = REL - RES + UNC + WBV - WBC`` holds exactly; the classical three terms
  alone are exact only when forecasts are constant within bins;
* CORP (Dimitriadis, Gneiting & Jordan 2021, PNAS 118(8) e2016191118): recalibrate the forecasts by
  isotonic regression of outcomes on forecasts (pool-adjacent-violators, ties pooled); then
  ``MCB = BS(f) - BS(f_rc)``, ``DSC = UNC - BS(f_rc)``, ``UNC = ō(1 - ō)`` and ``BS = MCB - DSC + UNC``
  exactly, with ``MCB, DSC >= 0``. This is the exact variant for continuous forecasts and the one
  :func:`calibration_metrics` reports as reliability (MCB) and resolution (DSC).

Walk-forward windows. A forecast re-estimated on each training window carries that window's estimation error as a
level shared by every forecast of its test window. Pooled over windows, that noise looks like resolution the
outcomes do not follow, and the pooled calibration (Cox / Mincer-Zarnowitz) slope is attenuated towards 0 however
good the model is within a window (errors in variables: Fuller 1987, *Measurement Error Models*, ch. 1). Given
``windows`` (one label per forecast), the slope is therefore estimated *within* windows, with one intercept per
window: it judges the resolution the forecast claims at decision time (depth, regime), while the level, including
the windows' level errors, is judged by the pooled calibration-in-the-large and by the CORP reliability. Because
that error is shared by every forecast of a window, the level's interval (calibration-in-the-large, bias) is then
cluster-robust by window with Student-t quantiles on (windows - 1) degrees of freedom (Cameron & Miller 2015,
J. Human Resources 50(2)): a serial-correlation (HAC) interval over thousands of forecasts would treat one window's
error as thousands of independent ones, and reject an unbiased estimation method far more often than its stated
level. The within-window slope keeps its HAC interval: the window intercepts absorb the shared level, and a
cluster-robust variance is degenerate when the within-window variation sits in one or two windows.

The model in the project's words, with its papers: ``docs/forecast-calibration.md``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from scipy.optimize import isotonic_regression
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant

from calibration.fit_result import InsufficientSamples
from validation.statistics.significance import MIN_INDEPENDENT_FILLS, newey_west_lags

MIN_CALIBRATION_SAMPLES = MIN_INDEPENDENT_FILLS
"""Fewer forecasts than this are never "well calibrated" (nor declared miscalibrated: too few to tell)."""

MAX_RELATIVE_RELIABILITY = 0.15
"""Largest CORP reliability (miscalibration) as a share of the uncertainty for a well-calibrated forecast.

CORP's MCB is biased upwards by the isotonic fit: for perfectly calibrated Beta(2, 5) forecasts MCB / UNC
has median 0.064 (95th percentile 0.092) at n = 200, 0.023 at n = 1 000 and 0.008 at n = 5 000.
"""

BinStrategy = Literal["uniform", "quantile"]


def _binary_inputs(outcomes: ArrayLike, forecasts: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    o = np.asarray(outcomes, dtype=float)
    f = np.asarray(forecasts, dtype=float)
    if o.ndim != 1 or o.shape != f.shape:
        raise ValueError(f"outcomes and forecasts must be 1-D of equal length, got {o.shape} and {f.shape}")
    if not np.all((o == 0.0) | (o == 1.0)):
        raise ValueError("outcomes must be 0 or 1")
    if not np.all((f >= 0.0) & (f <= 1.0)):
        raise ValueError("forecasts must lie in [0, 1]")
    if o.size == 0:
        raise InsufficientSamples("brier", 0, 1)
    return o, f


def brier_score(outcomes: ArrayLike, forecasts: ArrayLike) -> float:
    """Brier (1950) score ``mean((f - o)^2)`` of probability forecasts of binary outcomes."""
    o, f = _binary_inputs(outcomes, forecasts)
    return float(np.mean((f - o) ** 2))


class BrierSkill:
    """Skill and information of a Brier decomposition against climatology (Murphy 1973, J. Appl. Meteor.
    12:595-600), for every record that holds its ``brier``, ``resolution`` and ``uncertainty`` terms."""

    brier: float
    resolution: float
    uncertainty: float

    @property
    def skill_score(self) -> float:
        """Brier skill score against climatology, ``1 - BS / UNC`` (NaN when UNC = 0)."""
        return 1.0 - self.brier / self.uncertainty if self.uncertainty > 0 else math.nan

    @property
    def information_ratio(self) -> float:
        """Share of the outcome uncertainty the forecast resolves, ``RES / UNC`` in [0, 1] (NaN when UNC = 0)."""
        return self.resolution / self.uncertainty if self.uncertainty > 0 else math.nan


@dataclass(frozen=True)
class BrierDecomposition(BrierSkill):
    """``brier = reliability - resolution + uncertainty + within_bin_variance - within_bin_covariance``.

    The two within-bin terms are zero for the CORP method and for bin-constant forecasts.
    """

    method: Literal["binned", "corp"]
    n: int
    brier: float
    reliability: float
    resolution: float
    uncertainty: float
    within_bin_variance: float = 0.0
    within_bin_covariance: float = 0.0


def _bin_edges(forecasts: NDArray[np.float64], n_bins: int, strategy: BinStrategy) -> NDArray[np.float64]:
    """Bin edges: ``n_bins`` equal widths on [0, 1], or forecast quantiles (duplicate edges merged)."""
    if n_bins < 1:
        raise ValueError("n_bins must be positive")
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1, dtype=np.float64)
    if strategy == "quantile":
        return np.unique(np.quantile(forecasts, np.linspace(0.0, 1.0, n_bins + 1)))
    raise ValueError(f"unknown bin strategy {strategy!r}")


def _assign_bins(forecasts: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.intp]:
    """Bin ``k`` holds ``edges[k] <= f < edges[k + 1]``; the last bin is closed on the right."""
    return np.searchsorted(edges[1:-1], forecasts, side="right")


def murphy_decomposition(
    outcomes: ArrayLike, forecasts: ArrayLike, n_bins: int = 10, strategy: BinStrategy = "uniform"
) -> BrierDecomposition:
    """Binned Murphy (1973) decomposition with the Stephenson et al. (2008) within-bin terms.

    With bins k of size n_k, mean forecast f̄_k and event frequency ō_k: ``REL = Σ n_k (f̄_k - ō_k)^2 / N``,
    ``RES = Σ n_k (ō_k - ō)^2 / N``, ``UNC = ō (1 - ō)``, ``WBV = Σ_k Σ_i (f_i - f̄_k)^2 / N``,
    ``WBC = 2 Σ_k Σ_i (o_i - ō_k)(f_i - f̄_k) / N``. Murphy, A. H. (1973), J. Applied Meteorology 12:595-600.
    """
    o, f = _binary_inputs(outcomes, forecasts)
    edges = _bin_edges(f, n_bins, strategy)
    k = _assign_bins(f, edges)
    size = len(edges) - 1
    counts = np.bincount(k, minlength=size).astype(float)
    occupied = counts > 0
    f_bar = np.divide(np.bincount(k, weights=f, minlength=size), counts, where=occupied, out=np.zeros(size))
    o_bar = np.divide(np.bincount(k, weights=o, minlength=size), counts, where=occupied, out=np.zeros(size))
    n = o.size
    base = o.mean()
    return BrierDecomposition(
        method="binned",
        n=n,
        brier=float(np.mean((f - o) ** 2)),
        reliability=float(np.sum(counts * (f_bar - o_bar) ** 2) / n),
        resolution=float(np.sum(counts * (o_bar - base) ** 2) / n),
        uncertainty=float(base * (1.0 - base)),
        within_bin_variance=float(np.sum((f - f_bar[k]) ** 2) / n),
        within_bin_covariance=float(2.0 * np.sum((o - o_bar[k]) * (f - f_bar[k])) / n),
    )


def isotonic_recalibration(outcomes: ArrayLike, forecasts: ArrayLike) -> NDArray[np.float64]:
    """PAV (isotonic) recalibration: the non-decreasing function of the forecast closest to the outcomes.

    Equal forecasts are pooled first (CORP's tie rule), then :func:`scipy.optimize.isotonic_regression`
    (Ayer et al. 1955, pool-adjacent-violators) runs on the pooled event frequencies weighted by counts.
    Returns the recalibrated forecast of every observation.
    """
    o, f = _binary_inputs(outcomes, forecasts)
    values, inverse, counts = np.unique(f, return_inverse=True, return_counts=True)
    frequencies = np.bincount(inverse, weights=o) / counts
    fitted = isotonic_regression(frequencies, weights=counts.astype(float), increasing=True).x
    return fitted[inverse]


def corp_decomposition(outcomes: ArrayLike, forecasts: ArrayLike) -> BrierDecomposition:
    """Exact CORP decomposition ``BS = MCB - DSC + UNC`` (Dimitriadis, Gneiting & Jordan 2021).

    ``MCB = BS(f) - BS(f_rc)`` (reliability, >= 0), ``DSC = UNC - BS(f_rc)`` (resolution, >= 0) with ``f_rc``
    the isotonic recalibration. No binning choices; a climatological (constant) forecast has DSC = 0.
    """
    o, f = _binary_inputs(outcomes, forecasts)
    recalibrated = isotonic_recalibration(o, f)
    base = o.mean()
    uncertainty = float(base * (1.0 - base))
    score = float(np.mean((f - o) ** 2))
    score_rc = float(np.mean((recalibrated - o) ** 2))
    return BrierDecomposition(
        method="corp",
        n=o.size,
        brier=score,
        reliability=score - score_rc,
        resolution=uncertainty - score_rc,
        uncertainty=uncertainty,
    )


@dataclass(frozen=True)
class ReliabilityDiagram:
    """Per-bin data of a reliability diagram; empty bins have count 0 and NaN means and intervals.

    ``ci_low`` / ``ci_high`` are Wilson score intervals of each bin's event frequency (the consistency band:
    how far a perfectly calibrated forecast's frequency would stray with that many events).
    """

    bin_edges: NDArray[np.float64]
    counts: NDArray[np.int64]
    mean_forecast: NDArray[np.float64]
    observed_frequency: NDArray[np.float64]
    ci_low: NDArray[np.float64]
    ci_high: NDArray[np.float64]
    confidence: float


def reliability_diagram(
    outcomes: ArrayLike,
    forecasts: ArrayLike,
    n_bins: int = 10,
    strategy: BinStrategy = "quantile",
    confidence: float = 0.95,
) -> ReliabilityDiagram:
    """Reliability diagram data: mean forecast vs observed frequency per bin, with counts and Wilson CIs.

    Quantile bins (the default) keep every bin populated when forecasts cluster, as fill probabilities do.
    The (mean forecast, frequency) pairs equal sklearn's ``calibration_curve`` for the same bins.
    """
    o, f = _binary_inputs(outcomes, forecasts)
    edges = _bin_edges(f, n_bins, strategy)
    k = _assign_bins(f, edges)
    size = len(edges) - 1
    counts = np.bincount(k, minlength=size)
    events = np.bincount(k, weights=o, minlength=size)
    mean_forecast = np.full(size, math.nan)
    frequency = np.full(size, math.nan)
    low = np.full(size, math.nan)
    high = np.full(size, math.nan)
    for b in np.flatnonzero(counts):
        mean_forecast[b] = f[k == b].mean()
        frequency[b] = events[b] / counts[b]
        interval = stats.binomtest(int(events[b]), int(counts[b])).proportion_ci(confidence, method="wilson")
        low[b], high[b] = interval.low, interval.high
    return ReliabilityDiagram(edges, counts.astype(np.int64), mean_forecast, frequency, low, high, confidence)


def diagram_range(diagram: ReliabilityDiagram, margin: float = 0.05) -> tuple[float, float]:
    """The probability range a reliability diagram is drawn on: the populated bins' edges and Wilson intervals,
    widened by ``margin`` of its width on each side and clipped to [0, 1]. Fill probabilities cluster near a few
    percent, where a 0-1 axis squeezes every point into a corner; one range serves both axes, so the diagonal
    stays at 45 degrees."""
    filled = diagram.counts > 0
    if not filled.any():
        return 0.0, 1.0
    left = diagram.bin_edges[:-1][filled]
    right = diagram.bin_edges[1:][filled]
    low = float(min(left.min(), np.nanmin(diagram.ci_low[filled])))
    high = float(max(right.max(), np.nanmax(diagram.ci_high[filled])))
    pad = margin * max(high - low, 1e-6)
    return max(low - pad, 0.0), min(high + pad, 1.0)


def expected_calibration_error(
    outcomes: ArrayLike, forecasts: ArrayLike, n_bins: int = 10, strategy: BinStrategy = "uniform"
) -> float:
    """ECE ``Σ_k (n_k / N) |f̄_k - ō_k|`` over bins (Naeini, Cooper & Hauskrecht 2015, AAAI; Guo et al. 2017)."""
    o, f = _binary_inputs(outcomes, forecasts)
    edges = _bin_edges(f, n_bins, strategy)
    k = _assign_bins(f, edges)
    size = len(edges) - 1
    gap = np.abs(np.bincount(k, weights=f, minlength=size) - np.bincount(k, weights=o, minlength=size))
    return float(gap.sum() / o.size)


def _ci_of(fit: Any, confidence: float, parameter: int) -> tuple[float, float]:
    """Two-sided Wald interval (low, high) of parameter ``parameter`` of a fitted statsmodels OLS or GLM."""
    low, high = np.asarray(fit.conf_int(alpha=1.0 - confidence))[parameter]
    return float(low), float(high)


def _robust_cov(maxlags: int, windows: NDArray[Any] | None, **hac: Any) -> dict[str, Any]:
    """statsmodels ``fit`` arguments: cluster-robust by window (t on windows - 1 df) given two or more windows, else
    Newey-West HAC with ``maxlags`` (module docstring)."""
    if windows is not None and np.unique(windows).size >= 2:
        return {
            "cov_type": "cluster",
            "cov_kwds": {"groups": np.unique(windows, return_inverse=True)[1]},
            "use_t": True,
        }
    return {"cov_type": "HAC", "cov_kwds": {"maxlags": maxlags, **hac}}


def _window_dummies(windows: NDArray[Any] | None, n: int) -> NDArray[np.float64]:
    """One indicator column per window label (a single constant column without windows)."""
    if windows is None:
        return np.ones((n, 1))
    _, index = np.unique(windows, return_inverse=True)
    return (index[:, None] == np.arange(index.max() + 1)[None, :]).astype(float)


def _varies_within(x: NDArray[np.float64], dummies: NDArray[np.float64]) -> bool:
    """Whether ``x`` takes more than one value inside at least one window (the within-window slope is defined);
    differences below 1e-9 of its scale are rounding, not variation."""
    tolerance = 1e-9 * max(1.0, float(np.abs(x).max(initial=0.0)))
    members = dummies.astype(bool)
    return any(np.ptp(x[m]) > tolerance for m in members.T if m.sum() > 1)


def _p_value_of(fit: Any, column: int, value: float) -> float:
    """Two-sided Wald p-value of ``H0: parameter[column] = value`` under the fit's covariance and reference
    distribution (the same as its intervals: :func:`_robust_cov`)."""
    restriction = np.zeros((1, len(fit.params)))
    restriction[0, column] = 1.0
    return float(np.squeeze(fit.t_test((restriction, np.array([value]))).pvalue))


@dataclass(frozen=True)
class _Recalibration:
    """The Cox recalibration's figures (NaN where the fit is not defined)."""

    slope: float = math.nan
    slope_ci: tuple[float, float] = (math.nan, math.nan)
    slope_p_value: float = math.nan
    intercept: float = math.nan
    intercept_ci: tuple[float, float] = (math.nan, math.nan)
    intercept_p_value: float = math.nan


def _logistic_recalibration(
    o: NDArray[np.float64],
    f: NDArray[np.float64],
    maxlags: int,
    confidence: float,
    windows: NDArray[Any] | None = None,
) -> _Recalibration:
    """Cox (1958) recalibration ``logit P(o=1) = a_w + b logit(f)``: slope b (within windows when given, see the
    module docstring), and the calibration-in-the-large intercept with b fixed at 1 (offset) over all forecasts,
    each with a Wald interval (:func:`_robust_cov`) and the p-value of its perfect-calibration value (b = 1,
    intercept = 0)."""
    clipped = np.clip(f, 1e-6, 1.0 - 1e-6)
    logit = np.log(clipped / (1.0 - clipped))
    if np.ptp(o) == 0.0:
        return _Recalibration()
    level_cov, slope_cov = _robust_cov(maxlags, windows), _robust_cov(maxlags, None)
    family = families.Binomial()
    dummies = _window_dummies(windows, o.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        large = GLM(o, np.ones((o.size, 1)), family=family, offset=logit).fit(**level_cov)
        in_the_large = _Recalibration(
            intercept=float(large.params[0]),
            intercept_ci=_ci_of(large, confidence, 0),
            intercept_p_value=_p_value_of(large, 0, 0.0),
        )
        if not _varies_within(logit, dummies):
            return in_the_large
        try:
            full = GLM(o, np.column_stack([logit, dummies]), family=family).fit(**slope_cov)
        except (np.linalg.LinAlgError, ValueError):
            return in_the_large
        return replace(
            in_the_large,
            slope=float(full.params[0]),
            slope_ci=_ci_of(full, confidence, 0),
            slope_p_value=_p_value_of(full, 0, 1.0),
        )


def _covers(interval: tuple[float, float], value: float) -> bool:
    return bool(interval[0] <= value <= interval[1])


@dataclass(frozen=True)
class CalibrationMetrics(BrierSkill):
    """Calibration of one model's probability forecasts over one window.

    ``reliability``/``resolution``/``uncertainty`` are the exact CORP terms (``brier = reliability -
    resolution + uncertainty``); ``ece`` uses 10 uniform bins; ``slope`` is the Cox calibration slope and
    ``intercept`` the calibration-in-the-large (slope fixed at 1), both on the logit scale with HAC (or, over
    walk-forward windows, window-clustered) intervals at ``confidence``. ``windows`` is the number of walk-forward
    windows the slope was estimated within (1: pooled; see the module docstring). ``slope_p_value`` and
    ``intercept_p_value`` are the two-sided Wald p-values of perfect calibration (slope 1, intercept 0) under the
    same covariances; NaN where the figure is.
    """

    n: int
    base_rate: float
    brier: float
    reliability: float
    resolution: float
    uncertainty: float
    ece: float
    slope: float
    slope_ci: tuple[float, float]
    intercept: float
    intercept_ci: tuple[float, float]
    confidence: float
    windows: int = 1
    slope_p_value: float = math.nan
    intercept_p_value: float = math.nan

    @property
    def relative_reliability(self) -> float:
        """``reliability / uncertainty``: the share of the climatological Brier score lost to miscalibration."""
        return self.reliability / self.uncertainty if self.uncertainty > 0 else math.nan

    @property
    def enough_samples(self) -> bool:
        return self.n >= MIN_CALIBRATION_SAMPLES

    @property
    def constant_forecast(self) -> bool:
        """The forecast did not vary (within each window, when windows were given) while the outcomes did: the
        calibration slope is not identified (NaN) but the calibration-in-the-large is."""
        return math.isnan(self.slope) and all(math.isnan(x) for x in self.slope_ci) and not math.isnan(self.intercept)

    @property
    def is_well_calibrated(self) -> bool:
        """All four: at least ``MIN_CALIBRATION_SAMPLES`` forecasts; ``reliability <= MAX_RELATIVE_RELIABILITY
        * uncertainty``; the calibration-slope interval covers 1; the calibration-in-the-large interval
        covers 0. A constant forecast claims no resolution: its calibration is its level (as for
        :class:`AdverseSelectionCalibration`); it has no skill, which ``skill_score`` and ``information_ratio``
        say. Other NaN intervals (constant outcomes) fail. With two 95% intervals a perfectly calibrated forecast
        fails about 5-10% of windows by chance."""
        slope_ok = self.constant_forecast or _covers(self.slope_ci, 1.0)
        return (
            self.enough_samples
            and self.relative_reliability <= MAX_RELATIVE_RELIABILITY
            and slope_ok
            and _covers(self.intercept_ci, 0.0)
        )


def _window_labels(windows: ArrayLike | None, n: int) -> NDArray[Any] | None:
    if windows is None:
        return None
    labels = np.asarray(windows)
    if labels.shape != (n,):
        raise ValueError(f"windows must label every forecast: {labels.shape} labels for {n} forecasts")
    return labels


def calibration_metrics(
    outcomes: ArrayLike,
    forecasts: ArrayLike,
    confidence: float = 0.95,
    maxlags: int | None = None,
    windows: ArrayLike | None = None,
) -> CalibrationMetrics:
    """Every calibration figure of binary forecasts; HAC lags default to :func:`newey_west_lags` of n.
    ``windows``: the walk-forward window of each forecast, for a within-window slope (module docstring)."""
    o, f = _binary_inputs(outcomes, forecasts)
    labels = _window_labels(windows, o.size)
    corp = corp_decomposition(o, f)
    lags = newey_west_lags(o.size) if maxlags is None else maxlags
    cox = _logistic_recalibration(o, f, lags, confidence, labels)
    return CalibrationMetrics(
        n=o.size,
        base_rate=float(o.mean()),
        brier=corp.brier,
        reliability=corp.reliability,
        resolution=corp.resolution,
        uncertainty=corp.uncertainty,
        ece=expected_calibration_error(o, f),
        slope=cox.slope,
        slope_ci=cox.slope_ci,
        intercept=cox.intercept,
        intercept_ci=cox.intercept_ci,
        confidence=confidence,
        windows=1 if labels is None else int(np.unique(labels).size),
        slope_p_value=cox.slope_p_value,
        intercept_p_value=cox.intercept_p_value,
    )


@dataclass(frozen=True)
class AdverseSelectionCalibration:
    """Predicted vs realised adverse selection (bps): bias, Mincer-Zarnowitz line, Theil MSE decomposition.

    ``bias = mean(realised - predicted)``; ``realised = intercept + slope * predicted + e`` by OLS with
    HAC intervals; ``mse = mse_bias + mse_regression + mse_disturbance`` exactly, with ``mse_bias = bias^2``,
    ``mse_regression = (1 - slope)^2 Var(predicted)``, ``mse_disturbance = Var(e)`` (population variances).
    With ``windows > 1`` the slope is the within-window one (one intercept per window, see the module docstring);
    ``intercept`` and the Theil decomposition stay the pooled line's (the decomposition is exact only for it).
    ``bias_p_value`` and ``slope_p_value`` are the two-sided t-test p-values of ``bias = 0`` and ``slope = 1``
    under the covariances of their intervals (NaN where the figure is).
    """

    n: int
    bias: float
    bias_ci: tuple[float, float]
    intercept: float
    intercept_ci: tuple[float, float]
    slope: float
    slope_ci: tuple[float, float]
    mse: float
    mse_bias: float
    mse_regression: float
    mse_disturbance: float
    confidence: float
    windows: int = 1
    bias_p_value: float = math.nan
    slope_p_value: float = math.nan

    @property
    def enough_samples(self) -> bool:
        return self.n >= MIN_CALIBRATION_SAMPLES

    @property
    def constant_forecast(self) -> bool:
        """Every prediction (within each window, when windows were given) was the same number: the
        Mincer-Zarnowitz slope is not identified (NaN)."""
        return math.isnan(self.slope) and all(math.isnan(x) for x in self.slope_ci)

    @property
    def is_well_calibrated(self) -> bool:
        """At least ``MIN_CALIBRATION_SAMPLES`` fills, the bias interval covers 0 and the slope interval
        covers 1 (unbiased on average and along the range of predictions). A constant forecast has no range: its
        calibration is its unbiasedness."""
        slope_ok = self.constant_forecast or _covers(self.slope_ci, 1.0)
        return self.enough_samples and _covers(self.bias_ci, 0.0) and slope_ok


def adverse_selection_calibration(
    predicted_bps: ArrayLike,
    realised_bps: ArrayLike,
    confidence: float = 0.95,
    maxlags: int | None = None,
    windows: ArrayLike | None = None,
) -> AdverseSelectionCalibration:
    """Calibration of continuous predictions (Mincer & Zarnowitz 1969; Theil 1966, *Applied Economic
    Forecasting*, ch. 2). Intervals are Newey-West HAC (markouts of consecutive fills overlap) with
    ``maxlags`` (default :func:`newey_west_lags`) and Student-t quantiles. ``windows``: the walk-forward window
    of each prediction, for a within-window slope and window-clustered intervals (module docstring)."""
    p = np.asarray(predicted_bps, dtype=float)
    r = np.asarray(realised_bps, dtype=float)
    if p.ndim != 1 or p.shape != r.shape:
        raise ValueError(f"predicted and realised must be 1-D of equal length, got {p.shape} and {r.shape}")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(r))):
        raise ValueError("predicted and realised must be finite")
    n = p.size
    if n < 3:
        raise InsufficientSamples("adverse_selection_calibration", n, 3)
    labels = _window_labels(windows, n)
    dummies = _window_dummies(labels, n)
    lags = newey_west_lags(n) if maxlags is None else maxlags
    cov = {"use_t": True, **_robust_cov(lags, labels, use_correction=True)}
    slope_cov = {"use_t": True, **_robust_cov(lags, None, use_correction=True)}
    error = r - p
    bias_fit = OLS(error, np.ones(n)).fit(**cov)
    nan2 = (math.nan, math.nan)
    if np.ptp(p) > 0.0:
        pooled = OLS(r, add_constant(p)).fit(**cov)
        intercept, pooled_slope = map(float, pooled.params)
        intercept_ci = _ci_of(pooled, confidence, 0)
        residual = r - intercept - pooled_slope * p
        regression = (1.0 - pooled_slope) ** 2 * float(np.var(p))
    else:
        intercept, pooled_slope, intercept_ci = float(r.mean()), math.nan, nan2
        residual, regression = r - r.mean(), 0.0
    slope, slope_ci, slope_p = math.nan, nan2, math.nan
    if _varies_within(p, dummies):
        within = OLS(r, np.column_stack([p, dummies])).fit(**slope_cov) if labels is not None else pooled
        slope_at = 0 if labels is not None else 1
        slope, slope_ci = float(within.params[slope_at]), _ci_of(within, confidence, slope_at)
        slope_p = _p_value_of(within, slope_at, 1.0)
    bias = float(error.mean())
    return AdverseSelectionCalibration(
        n=n,
        bias=bias,
        bias_ci=_ci_of(bias_fit, confidence, 0),
        intercept=intercept,
        intercept_ci=intercept_ci,
        slope=slope,
        slope_ci=slope_ci,
        mse=float(np.mean(error**2)),
        mse_bias=bias**2,
        mse_regression=regression,
        mse_disturbance=float(np.var(residual)),
        confidence=confidence,
        windows=int(dummies.shape[1]),
        bias_p_value=_p_value_of(bias_fit, 0, 0.0) if np.ptp(error) > 0.0 else float(error[0] == 0.0),
        slope_p_value=slope_p,
    )
