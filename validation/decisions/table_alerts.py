"""The alert rules applied to the lake's tables of a (coin, day): each table's rows read back as the results they
were written from, judged by :mod:`validation.decisions.alerts`, and the ``alerts`` table's frame.

Each rule returns ``(subject, alert)`` pairs: the subject names what was judged (``live fill_probability``,
``vpin -> next_minute_rv``, ``run <id> (<job>)``). Times are UTC epoch ms.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from validation.decisions.alerts import (
    Alert,
    AlertKind,
    adverse_selection_alerts,
    calibration_alerts,
    information_ratio_alert,
    signal_alerts,
)
from validation.experiments.variant_types import BASELINE
from validation.experiments.walk_forward_run import POOLED
from validation.statistics.calibration_metrics import CalibrationMetrics
from validation.statistics.signal_quality import MIN_WINDOW_SAMPLES
from validation.tables.calibration_table import calibration_metrics_of, float_or_nan
from validation.tables.signal_table import signal_quality_of

Subjected = list[tuple[str, Alert]]
ALERTS_SCHEMA = {
    "coin": pl.String,
    "date": pl.Date,
    "time": pl.Int64,
    "kind": pl.String,
    "severity": pl.String,
    "subject": pl.String,
    "message": pl.String,
    "value": pl.Float64,
    "threshold": pl.Float64,
}


def calibration_table_alerts(rows: pl.DataFrame, coin: str) -> Subjected:
    """(subject, alert) for every ``calibration_metrics`` row: ModelMiscalibrated or InsufficientSamples."""
    out = []
    for row in rows.iter_rows(named=True):
        subject = f"{row['source']} {row['model']}"
        metrics = calibration_metrics_of(row)
        alerts = (
            calibration_alerts(metrics, coin, row["time"], subject)
            if isinstance(metrics, CalibrationMetrics)
            else adverse_selection_alerts(metrics, coin, row["time"], subject)
        )
        out += [(subject, a) for a in alerts]
    return out


def signal_table_alerts(rows: pl.DataFrame, coin: str) -> Subjected:
    """(subject, alert) for every ``signal_quality`` row: SignalDecaying, or InsufficientSamples without an MI."""
    out = []
    for row in rows.iter_rows(named=True):
        subject = f"{row['signal']} -> {row['target']}"
        if row["mutual_information"] is None:
            out.append(
                (
                    subject,
                    Alert(
                        coin,
                        row["time"],
                        AlertKind.INSUFFICIENT_SAMPLES,
                        "info",
                        f"{subject}: {row['n']} samples, too few to measure information",
                        float(row["n"]),
                        float(MIN_WINDOW_SAMPLES),
                    ),
                )
            )
        else:
            out += [(subject, a) for a in signal_alerts(signal_quality_of(row), coin, row["time"], subject)]
    return out


def walk_forward_alerts(rows: pl.DataFrame, coin: str) -> Subjected:
    """InformationRatioBelowOne for the baseline strategy's annualised out-of-sample Sharpe (pooled row)."""
    pooled = rows.filter((pl.col("fold") == POOLED) & (pl.col("variant") == BASELINE))
    out = []
    for row in pooled.iter_rows(named=True):
        subject = "walk_forward baseline (annualised Sharpe per period)"
        alert = information_ratio_alert(coin, row["test_end_ms"], float_or_nan(row["information_ratio"]), subject)
        out += [(subject, alert)] if alert else []
    return out


def run_failure_alerts(rows: pl.DataFrame, coin: str) -> Subjected:
    """A critical RunFailed alert per ``run_failures`` row (one per failed run of the partition)."""
    return [
        (
            f"run {r['run_id']} ({r['job_name']})",
            Alert(
                coin,
                r["time"],
                AlertKind.RUN_FAILED,
                "critical",
                f"run {r['run_id']} of job {r['job_name']} failed: {r['message']}",
                float("nan"),
                float("nan"),
            ),
        )
        for r in rows.sort("time").iter_rows(named=True)
    ]


def alerts_frame(alerts: Subjected, coin: str, date: dt.date) -> pl.DataFrame:
    """The ``alerts`` table's rows of (coin, date)."""
    return pl.DataFrame(
        [
            {
                "coin": coin,
                "date": date,
                "time": a.time,
                "kind": str(a.kind),
                "severity": a.severity,
                "subject": s,
                "message": a.message,
                "value": a.value,
                "threshold": a.threshold,
            }
            for s, a in alerts
        ],
        schema=ALERTS_SCHEMA,
    )
