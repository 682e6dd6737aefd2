"""The ``calibration_metrics`` table's rows: calibration results -> rows, rows -> results, and the rows of a
walk-forward run and of the live quoter.

A row holds one model's calibration (``fill_probability``: :class:`CalibrationMetrics`, Brier decomposition and
Cox slope/intercept; ``adverse_selection``: :class:`AdverseSelectionCalibration`, Mincer-Zarnowitz bias, slope and
MSE decomposition) over the window [window_start_ms, window_end_ms) of one ``source``: the walk-forward's evidence
variant (:data:`WALK_FORWARD_SOURCE`) or the live quoter (:data:`LIVE_SOURCE`). Reading a row back gives the
metrics it was written from (missing figures as NaN), which the alert rules and the promotion gate
judge.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from validation.experiments.walk_forward_run import WalkForwardRun
from validation.statistics.calibration_metrics import (
    AdverseSelectionCalibration,
    CalibrationMetrics,
    adverse_selection_calibration,
)
from validation.statistics.quoter_scoring import live_fill_calibration

WALK_FORWARD_SOURCE = "walk_forward:{variant}"
"""``source`` of the walk-forward's calibration rows, by evidence variant (the candidate when it ran)."""
LIVE_SOURCE = "live"
BRIER_FIELDS = ("base_rate", "brier", "reliability", "resolution", "uncertainty", "ece")
MSE_FIELDS = ("mse", "mse_bias", "mse_regression", "mse_disturbance")
MIN_LIVE_ADVERSE_FILLS = 3
"""Fewest own fills with a predicted and a realised adverse selection before the live prediction is scored."""


def calibration_row(metrics: CalibrationMetrics | AdverseSelectionCalibration, model: str, source: str) -> dict:
    """The row of one model's calibration (without window, coin, date and time)."""
    row: dict[str, Any] = {
        "source": source,
        "model": model,
        "n": metrics.n,
        "slope": metrics.slope,
        **interval_columns("slope", metrics.slope_ci),
        "intercept": metrics.intercept,
        **interval_columns("intercept", metrics.intercept_ci),
        "confidence": metrics.confidence,
        "well_calibrated": metrics.is_well_calibrated,
    }
    if isinstance(metrics, CalibrationMetrics):
        return row | {name: getattr(metrics, name) for name in (*BRIER_FIELDS, "skill_score")}
    return row | {
        "bias": metrics.bias,
        **interval_columns("bias", metrics.bias_ci),
        **{name: getattr(metrics, name) for name in MSE_FIELDS},
    }


def float_or_nan(value: float | None) -> float:
    """``value`` as a float, NaN when it is missing (null); infinities (an unbounded interval, a half-life of a
    signal that does not decay) stay what they were."""
    return math.nan if value is None else float(value)


def interval_columns(name: str, interval: tuple[float, float]) -> dict[str, float]:
    """A confidence interval as the two columns ``{name}_ci_low`` and ``{name}_ci_high`` of a validation table."""
    return {f"{name}_ci_low": interval[0], f"{name}_ci_high": interval[1]}


def interval_of(row: dict, name: str) -> tuple[float, float]:
    """The confidence interval stored by :func:`interval_columns` (NaN for a null bound)."""
    return float_or_nan(row[f"{name}_ci_low"]), float_or_nan(row[f"{name}_ci_high"])


def calibration_metrics_of(row: dict) -> CalibrationMetrics | AdverseSelectionCalibration:
    """The metrics object a ``calibration_metrics`` row was written from (:func:`calibration_row`)."""
    common: dict[str, Any] = {
        "n": row["n"],
        "slope": float_or_nan(row["slope"]),
        "slope_ci": interval_of(row, "slope"),
        "intercept": float_or_nan(row["intercept"]),
        "intercept_ci": interval_of(row, "intercept"),
        "confidence": row["confidence"],
    }
    if row["model"] == "fill_probability":
        brier: dict[str, Any] = {k: float_or_nan(row[k]) for k in BRIER_FIELDS}
        return CalibrationMetrics(**common, **brier)
    mse: dict[str, Any] = {k: float_or_nan(row[k]) for k in MSE_FIELDS}
    return AdverseSelectionCalibration(
        **common, bias=float_or_nan(row["bias"]), bias_ci=interval_of(row, "bias"), **mse
    )


def calibration_rows(
    run: WalkForwardRun, live: pl.DataFrame, quote_log: pl.DataFrame, trades: pl.DataFrame
) -> list[dict]:
    """Calibration of the walk-forward evidence's out-of-sample predictions and of the live quoter's: its logged fill
    probabilities scored on the prints they predict (``quote_log``: the ``quoter_log`` table, ``trades`` the
    market's prints, :mod:`validation.statistics.quoter_scoring`) and its own fills' ``pred_adverse_bps`` (``live``)."""
    complete = [f for f in run.folds if f.index in run.complete_folds]
    window = {
        "window_start_ms": min((f.test_start_ms for f in complete), default=None),
        "window_end_ms": max((f.test_end_ms for f in complete), default=None),
    }
    predictions = (("fill_probability", run.fill_calibration), ("adverse_selection", run.adverse_calibration))
    rows = [
        calibration_row(metrics, model, WALK_FORWARD_SOURCE.format(variant=run.evidence_variant)) | window
        for model, metrics in predictions
        if metrics is not None
    ]
    fill = live_fill_calibration(quote_log, trades, live)
    if fill is not None:
        fill_metrics, (start, end) = fill
        rows.append(
            calibration_row(fill_metrics, "fill_probability", LIVE_SOURCE)
            | {"window_start_ms": start, "window_end_ms": end}
        )
    scored = live.filter(pl.col("pred_adverse_bps").is_not_null() & pl.col("adverse_selection_bps").is_not_null())
    if scored.height >= MIN_LIVE_ADVERSE_FILLS:
        adverse = adverse_selection_calibration(
            scored["pred_adverse_bps"].to_numpy(), scored["adverse_selection_bps"].to_numpy()
        )
        times = scored["time"].to_numpy()
        live_window = {"window_start_ms": int(times.min()), "window_end_ms": int(times.max()) + 1}
        rows.append(calibration_row(adverse, "adverse_selection", LIVE_SOURCE) | live_window)
    return rows
