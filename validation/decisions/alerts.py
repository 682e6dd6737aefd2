"""Alert records derived from calibration and signal-quality results, one row of the ``alerts`` table each.

Every failed criterion gives its own alert, carrying the offending ``value`` and the ``threshold`` it was
compared with, so the table can be filtered and plotted without parsing messages. Severity: "info" (not
enough data to judge), "warning" (a criterion failed), "critical" (the model or signal is worse than
having none: negative Brier skill, or no detectable information).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from validation.statistics.calibration_metrics import (
    MAX_RELATIVE_RELIABILITY,
    MIN_CALIBRATION_SAMPLES,
    AdverseSelectionCalibration,
    CalibrationMetrics,
)
from validation.statistics.signal_quality import SignalQuality

Severity = Literal["info", "warning", "critical"]


class AlertKind(StrEnum):
    MODEL_MISCALIBRATED = "ModelMiscalibrated"
    SIGNAL_DECAYING = "SignalDecaying"
    INSUFFICIENT_SAMPLES = "InsufficientSamples"
    REGIME_SHIFT = "RegimeShift"
    INFORMATION_RATIO_BELOW_ONE = "InformationRatioBelowOne"
    RUN_FAILED = "RunFailed"


@dataclass(frozen=True)
class Alert:
    """One alert: ``time`` is UTC epoch milliseconds; ``value`` was compared with ``threshold``."""

    coin: str
    time: int
    kind: AlertKind
    severity: Severity
    message: str
    value: float
    threshold: float


def _outside(interval: tuple[float, float], value: float) -> bool:
    """True when a finite interval excludes ``value``; an undefined (NaN) interval is also a failure."""
    return not (interval[0] <= value <= interval[1])


def _insufficient(coin: str, time_ms: int, subject: str, n: float, required: float) -> Alert:
    return Alert(
        coin,
        time_ms,
        AlertKind.INSUFFICIENT_SAMPLES,
        "info",
        f"{subject}: {n:g} samples, at least {required:g} required to judge",
        float(n),
        float(required),
    )


def _excluding(
    coin: str,
    time_ms: int,
    severity: Severity,
    subject: str,
    estimate: float,
    interval: tuple[float, float],
    level: str,
    target: float,
    unit: str = "",
) -> list[Alert]:
    """One ModelMiscalibrated alert when the ``level`` confidence interval of ``estimate`` excludes the value a
    calibrated model gives (``target``: 1 for a slope, 0 for a bias or intercept), none otherwise."""
    if not _outside(interval, target):
        return []
    message = f"{subject} {estimate:.3f}{unit}, {level} CI [{interval[0]:.3f}, {interval[1]:.3f}] excludes {target:g}"
    return [Alert(coin, time_ms, AlertKind.MODEL_MISCALIBRATED, severity, message, estimate, target)]


def calibration_alerts(
    metrics: CalibrationMetrics, coin: str, time_ms: int, model: str = "fill probability"
) -> list[Alert]:
    """Alerts for binary forecasts, mirroring :attr:`CalibrationMetrics.is_well_calibrated`.

    Too few forecasts gives a single InsufficientSamples alert (no verdict on calibration). Otherwise one
    ModelMiscalibrated alert per failed criterion: reliability / uncertainty above
    ``MAX_RELATIVE_RELIABILITY``, calibration slope interval excluding 1, calibration-in-the-large interval
    excluding 0. Critical when the Brier skill score is not positive.
    """
    if not metrics.enough_samples:
        return [_insufficient(coin, time_ms, model, metrics.n, MIN_CALIBRATION_SAMPLES)]
    severity: Severity = "critical" if not metrics.skill_score > 0.0 else "warning"
    level = f"{metrics.confidence:.0%}"
    alerts = []
    if not metrics.relative_reliability <= MAX_RELATIVE_RELIABILITY:
        alerts.append(
            Alert(
                coin,
                time_ms,
                AlertKind.MODEL_MISCALIBRATED,
                severity,
                f"{model}: reliability {metrics.reliability:.4g} is {metrics.relative_reliability:.1%} of the "
                f"uncertainty {metrics.uncertainty:.4g} (Brier skill {metrics.skill_score:.3f})",
                metrics.relative_reliability,
                MAX_RELATIVE_RELIABILITY,
            )
        )
    if not metrics.constant_forecast:
        subject = f"{model}: calibration slope"
        alerts += _excluding(coin, time_ms, severity, subject, metrics.slope, metrics.slope_ci, level, 1.0)
    subject = f"{model}: calibration-in-the-large"
    alerts += _excluding(
        coin, time_ms, severity, subject, metrics.intercept, metrics.intercept_ci, level, 0.0, unit=" (logit)"
    )
    return alerts


def adverse_selection_alerts(
    metrics: AdverseSelectionCalibration, coin: str, time_ms: int, model: str = "adverse selection (bps)"
) -> list[Alert]:
    """Alerts for continuous predictions, mirroring :attr:`AdverseSelectionCalibration.is_well_calibrated`:
    InsufficientSamples when too few fills, else ModelMiscalibrated for a bias interval excluding 0 and for
    a Mincer-Zarnowitz slope interval excluding 1 (warnings)."""
    if not metrics.enough_samples:
        return [_insufficient(coin, time_ms, model, metrics.n, MIN_CALIBRATION_SAMPLES)]
    level = f"{metrics.confidence:.0%}"
    subject = f"{model}: realised minus predicted"
    alerts = _excluding(coin, time_ms, "warning", subject, metrics.bias, metrics.bias_ci, level, 0.0)
    if not metrics.constant_forecast:
        subject = f"{model}: slope of realised on predicted"
        alerts += _excluding(coin, time_ms, "warning", subject, metrics.slope, metrics.slope_ci, level, 1.0)
    return alerts


def signal_alerts(
    quality: SignalQuality,
    coin: str,
    time_ms: int,
    signal: str,
    alpha: float = 0.05,
    critical_half_life_days: float = 7.0,
    max_half_life_days: float = 30.0,
) -> list[Alert]:
    """SignalDecaying alerts from :class:`SignalQuality`.

    Critical when the signal has no detectable information (permutation p-value >= ``alpha``; value = MI;
    needs ``n_permutations >= 1 / alpha``). Otherwise, with at least three windows, an alert needs both a
    significantly negative MI trend and a material one, a fitted half-life below ``max_half_life_days``
    (a stable signal shows a significant but slow trend in about 5% of samples); it is critical when the
    half-life is below ``critical_half_life_days`` (value = slope per day, threshold 0). Fewer than three
    windows gives InsufficientSamples.
    """
    if quality.p_value >= alpha:
        return [
            Alert(
                coin,
                time_ms,
                AlertKind.SIGNAL_DECAYING,
                "critical",
                f"{signal}: no detectable information, MI {quality.mutual_information:.4g} nats "
                f"(permutation p = {quality.p_value:.3f})",
                quality.mutual_information,
                0.0,
            )
        ]
    if quality.window_mi.size < 3:
        return [_insufficient(coin, time_ms, f"{signal} MI trend (windows)", quality.window_mi.size, 3)]
    if not (quality.is_decaying and quality.half_life_days < max_half_life_days):
        return []
    fast = quality.half_life_days < critical_half_life_days
    return [
        Alert(
            coin,
            time_ms,
            AlertKind.SIGNAL_DECAYING,
            "critical" if fast else "warning",
            f"{signal}: MI falling by {-quality.slope_per_day:.3g} nats/day "
            f"(CI [{quality.slope_ci[0]:.3g}, {quality.slope_ci[1]:.3g}]), half-life {quality.half_life_days:.1f} days",
            quality.slope_per_day,
            0.0,
        )
    ]


def regime_shift_alert(
    coin: str, time_ms: int, filtered_probabilities: ArrayLike, previous_regime: int, min_probability: float = 0.8
) -> Alert | None:
    """RegimeShift when the most probable current regime (causal, filtered probabilities of the K regimes
    at ``time_ms``) differs from ``previous_regime`` with probability at least ``min_probability``."""
    probabilities = np.asarray(filtered_probabilities, dtype=float)
    current = int(np.argmax(probabilities))
    probability = float(probabilities[current])
    if current == previous_regime or probability < min_probability:
        return None
    return Alert(
        coin,
        time_ms,
        AlertKind.REGIME_SHIFT,
        "warning",
        f"regime {previous_regime} -> {current} (filtered probability {probability:.2f})",
        probability,
        min_probability,
    )


def information_ratio_alert(
    coin: str, time_ms: int, information_ratio: float, subject: str, threshold: float = 1.0
) -> Alert | None:
    """InformationRatioBelowOne for a ratio whose break-even is ``threshold`` (e.g. a strategy's annualised
    information ratio, mean active return / tracking error). Critical when the ratio is not positive.

    Not meant for :attr:`CalibrationMetrics.information_ratio` (resolution / uncertainty), which never
    exceeds 1.
    """
    if math.isnan(information_ratio) or information_ratio >= threshold:
        return None
    return Alert(
        coin,
        time_ms,
        AlertKind.INFORMATION_RATIO_BELOW_ONE,
        "critical" if information_ratio <= 0 else "warning",
        f"{subject}: information ratio {information_ratio:.3f} below {threshold:g}",
        information_ratio,
        threshold,
    )
