"""Alerts derived from real calibration and signal-quality results on data with a known answer."""

from __future__ import annotations

import math

import numpy as np

from validation.decisions.alerts import (
    AlertKind,
    adverse_selection_alerts,
    calibration_alerts,
    information_ratio_alert,
    regime_shift_alert,
    signal_alerts,
)
from validation.statistics.calibration_metrics import adverse_selection_calibration, calibration_metrics
from validation.statistics.signal_quality import DAY_MS, signal_quality

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def forecasts(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = rng.beta(2.0, 5.0, n)
    return (rng.random(n) < f).astype(float), f


def test_well_calibrated_forecasts_raise_nothing():
    o, f = forecasts(5000, 0)
    metrics = calibration_metrics(o, f)
    assert metrics.is_well_calibrated
    assert calibration_alerts(metrics, "BTC", T0) == []


def test_overconfident_forecasts_raise_model_miscalibrated():
    o, f = forecasts(5000, 1)
    sharpened = 1.0 / (1.0 + np.exp(-2.0 * np.log(f / (1.0 - f))))
    alerts = calibration_alerts(calibration_metrics(o, sharpened), "HYPE", T0)
    slope = [a for a in alerts if a.threshold == 1.0]
    assert len(slope) == 1
    alert = slope[0]
    assert alert.kind is AlertKind.MODEL_MISCALIBRATED and alert.kind == "ModelMiscalibrated"
    assert (alert.coin, alert.time) == ("HYPE", T0)
    assert abs(alert.value - 0.5) < 0.07
    assert "excludes 1" in alert.message


def test_constant_forecasts_are_flagged_as_miscalibrated():
    o, _ = forecasts(1000, 2)
    alerts = calibration_alerts(calibration_metrics(o, np.full(o.size, 0.9)), "ETH", T0)
    assert {a.kind for a in alerts} == {AlertKind.MODEL_MISCALIBRATED}
    assert any(a.severity == "critical" for a in alerts)  # worse than climatology


def test_too_few_forecasts_give_insufficient_samples_only():
    o, f = forecasts(120, 3)
    (alert,) = calibration_alerts(calibration_metrics(o, f), "BTC", T0)
    assert alert.kind is AlertKind.INSUFFICIENT_SAMPLES
    assert (alert.value, alert.threshold, alert.severity) == (120.0, 200.0, "info")


def test_biased_adverse_selection_predictions():
    rng = np.random.default_rng(4)
    predicted = rng.normal(2.0, 1.0, 2000)
    biased = adverse_selection_calibration(predicted, predicted + 0.5 + rng.normal(0, 1, 2000))
    (alert,) = adverse_selection_alerts(biased, "BTC", T0)
    assert alert.kind is AlertKind.MODEL_MISCALIBRATED and alert.threshold == 0.0
    assert abs(alert.value - 0.5) < 0.1
    calibrated = adverse_selection_calibration(predicted, predicted + rng.normal(0, 1, 2000))
    assert adverse_selection_alerts(calibrated, "BTC", T0) == []


def _signal(seed: int, half_life: float, rho0: float = 0.7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    days, per_day = 15, 1000
    times = np.repeat(np.arange(days) * DAY_MS, per_day) + rng.integers(0, DAY_MS, days * per_day)
    mi = -0.5 * math.log(1 - rho0**2) * 2.0 ** (-(times / DAY_MS) / half_life)
    rho = np.sqrt(1.0 - np.exp(-2.0 * mi))
    x = rng.standard_normal(times.size)
    return x, rho * x + np.sqrt(1.0 - rho**2) * rng.standard_normal(times.size), times


def test_signal_alerts():
    fast = signal_quality(*_signal(5, half_life=4.0), n_permutations=99)
    (alert,) = signal_alerts(fast, "BTC", T0, "book imbalance")
    assert alert.kind is AlertKind.SIGNAL_DECAYING and alert.severity == "critical"
    assert alert.value < 0.0 and alert.threshold == 0.0
    slow = signal_quality(*_signal(6, half_life=12.0), n_permutations=99)
    (alert,) = signal_alerts(slow, "BTC", T0, "book imbalance")
    assert alert.severity == "warning"
    assert signal_alerts(signal_quality(*_signal(7, half_life=math.inf), n_permutations=99), "BTC", T0, "x") == []
    rng = np.random.default_rng(8)
    times = np.arange(2000) * 1000
    noise = signal_quality(rng.standard_normal(2000), rng.standard_normal(2000), times, n_permutations=99)
    (alert,) = signal_alerts(noise, "BTC", T0, "noise")
    assert alert.severity == "critical" and "no detectable information" in alert.message


def test_regime_shift_alert():
    alert = regime_shift_alert("BTC", T0, [0.05, 0.92, 0.03], previous_regime=0)
    assert alert is not None and alert.kind is AlertKind.REGIME_SHIFT
    assert alert.value == 0.92 and alert.threshold == 0.8
    assert regime_shift_alert("BTC", T0, [0.4, 0.6], previous_regime=0) is None
    assert regime_shift_alert("BTC", T0, [0.1, 0.9], previous_regime=1) is None


def test_information_ratio_alert():
    assert information_ratio_alert("BTC", T0, 1.3, "GLFT") is None
    warning = information_ratio_alert("BTC", T0, 0.6, "GLFT")
    assert warning is not None and warning.severity == "warning" and warning.kind == "InformationRatioBelowOne"
    critical = information_ratio_alert("BTC", T0, -0.2, "GLFT")
    assert critical is not None and critical.severity == "critical"
