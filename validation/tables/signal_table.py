"""The ``signal_quality`` table's rows: which signals are measured against which targets, the measurement of each
(:func:`validation.statistics.signal_quality.signal_quality`: mutual information, its trend and half-life), and a row
read back as the :class:`SignalQuality` it was written from (for the alert rules).

Signals (Cover & Thomas's mutual information in nats, binned; permutation p-value): book imbalance on the maker's
side against the maker's 5 s markout of each market trade, and VPIN (Easley, Lopez de Prado & O'Hara 2012) at a
minute's end against the next minute's realized variance. Times are UTC epoch ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from calibration.fit_result import InsufficientSamples
from data_lake.units import HOUR_MS
from validation.statistics.signal_quality import SignalQuality, signal_quality
from validation.tables.calibration_table import float_or_nan, interval_columns, interval_of


@dataclass(frozen=True)
class SignalQualitySettings:
    """Lookback (days, ending with the measured day), MI trend windows (hours) and permutations of the p-value."""

    lookback_days: int = 7
    window_hours: float = 24.0
    n_permutations: int = 199

    @property
    def window_ms(self) -> int:
        return round(self.window_hours * HOUR_MS)


MARKOUT_COLUMNS = ("time", "side", "is_market_trade", "markout_5000ms_bps", "imbalance_1", "imbalance_5")
"""The ``markouts`` columns :func:`signal_samples` reads."""
BAR_COLUMNS = ("time", "rv", "vpin")
"""The 1 min ``features`` columns :func:`signal_samples` reads."""


def signal_samples(markouts: pl.DataFrame, minute_bars: pl.DataFrame) -> dict[tuple[str, str], pl.DataFrame]:
    """(signal, target) -> ``time, signal, target``: book imbalance on the maker's side against the maker's 5 s
    markout per market trade, and VPIN at a minute's end against the next minute's realized variance."""
    maker = markouts.filter(pl.col("is_market_trade") & pl.col("markout_5000ms_bps").is_not_null())
    bars = minute_bars.sort("time").with_columns(target=pl.col("rv").shift(-1))
    return {
        (f"{name} x maker side", "markout_5000ms_bps"): maker.select(
            "time", signal=pl.col(name) * pl.col("side"), target=pl.col("markout_5000ms_bps")
        ).drop_nulls()
        for name in ("imbalance_1", "imbalance_5")
    } | {("vpin", "next_minute_rv"): bars.select("time", signal=pl.col("vpin"), target="target").drop_nulls()}


def signal_row(quality: SignalQuality) -> dict[str, Any]:
    """The measured figures of one signal's row (without signal, target, n and window_ms)."""
    q = quality
    return {
        "mutual_information": q.mutual_information,
        "p_value": q.p_value,
        "n_bins": q.n_bins,
        "window_start_ms": q.window_start_ms.tolist(),
        "window_mi": q.window_mi.tolist(),
        "window_n": q.window_n.tolist(),
        "slope_per_day": q.slope_per_day,
        **interval_columns("slope", q.slope_ci),
        "half_life_days": q.half_life_days,
        **interval_columns("half_life", q.half_life_ci),
        "confidence": q.confidence,
        "is_decaying": q.is_decaying,
    }


def measured_signal_row(signal: str, target: str, sample: pl.DataFrame, settings: SignalQualitySettings) -> dict:
    """One row of the table: the signal measured on ``sample`` (``time, signal, target``), or only its name, target
    and sample size when the sample is too small to measure (:class:`InsufficientSamples`)."""
    row: dict[str, Any] = {"signal": signal, "target": target, "n": sample.height, "window_ms": settings.window_ms}
    try:
        quality = signal_quality(
            sample["signal"].to_numpy(),
            sample["target"].to_numpy(),
            sample["time"].to_numpy(),
            window_ms=settings.window_ms,
            n_permutations=settings.n_permutations,
        )
    except InsufficientSamples:
        return row
    return row | signal_row(quality)


def signal_rows(markouts: pl.DataFrame, minute_bars: pl.DataFrame, settings: SignalQualitySettings) -> list[dict]:
    """Every signal of :func:`signal_samples` measured (:func:`measured_signal_row`)."""
    samples = signal_samples(markouts, minute_bars)
    return [measured_signal_row(signal, target, sample, settings) for (signal, target), sample in samples.items()]


def signals_markdown(rows: list[dict]) -> str:
    """The measured signals as a Markdown table: sample size, MI (nats), permutation p-value and MI trend per day
    (NaN where a signal was not measured)."""
    lines = ["| signal | target | n | MI (nats) | p | slope/day |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {r['signal']} | {r['target']} | {r['n']} | {float_or_nan(r.get('mutual_information')):.4g} | "
        f"{float_or_nan(r.get('p_value')):.3g} | {float_or_nan(r.get('slope_per_day')):.3g} |"
        for r in rows
    ]
    return "\n".join(lines)


def signal_quality_of(row: dict) -> SignalQuality:
    """The :class:`SignalQuality` a ``signal_quality`` row was written from (one with a measured MI)."""
    return SignalQuality(
        n=row["n"],
        mutual_information=row["mutual_information"],
        p_value=row["p_value"],
        n_bins=row["n_bins"],
        window_ms=row["window_ms"],
        window_start_ms=np.asarray(row["window_start_ms"], dtype=np.int64),
        window_mi=np.asarray(row["window_mi"], dtype=np.float64),
        window_n=np.asarray(row["window_n"], dtype=np.int64),
        slope_per_day=float_or_nan(row["slope_per_day"]),
        slope_ci=interval_of(row, "slope"),
        half_life_days=float_or_nan(row["half_life_days"]),
        half_life_ci=interval_of(row, "half_life"),
        confidence=row["confidence"],
    )
