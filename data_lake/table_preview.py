"""A table partition as a reader needs it: floats to :data:`SIGNIFICANT_DIGITS` significant figures (a kappa of
1.2e-5 per price unit keeps its digits, a P&L of 1234.5678 loses the noise), epoch times as UTC date-times, a
Markdown preview, and the capture gaps (consecutive times further apart than a minute). Pure polars; the Dagster
assets attach the results as materialisation metadata.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import polars as pl

from data_lake.units import MINUTE_MS

GAP_MS = MINUTE_MS
"""Consecutive times further apart than this are a gap."""
SIGNIFICANT_DIGITS = 4
EPOCH_MS_RANGE = (946_684_800_000, 4_102_444_800_000)
"""Integers of a ``time`` / ``*_ms`` column inside 2000-01-01 .. 2100-01-01 (UTC, epoch ms) are instants; smaller
ones (``mid_age_ms``, ``period_ms``) are durations and stay numbers."""


def iso_ms(ms: int) -> str:
    """An epoch-ms instant as a UTC ISO date-time to the millisecond."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat(timespec="milliseconds")


def time_gaps(times: pl.Series, min_gap_ms: int = GAP_MS) -> pl.DataFrame:
    """Gaps longer than ``min_gap_ms`` between consecutive times: start, end, length in seconds."""
    t = times.drop_nulls().sort()
    frame = pl.DataFrame({"end": t}).with_columns(start=pl.col("end").shift(1))
    return (
        frame.filter((pl.col("end") - pl.col("start")) > min_gap_ms)
        .select("start", "end", seconds=(pl.col("end") - pl.col("start")) / 1000)
        .sort("seconds", descending=True)
    )


def rounded(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """``value`` to ``digits`` significant figures; NaN and infinities unchanged."""
    return float(f"{value:.{digits}g}") if math.isfinite(value) else value


def rounded_metadata(metadata: dict[str, Any], digits: int = SIGNIFICANT_DIGITS) -> dict[str, Any]:
    """``metadata`` with every float, and every float value of a dict value, :func:`rounded`."""

    def fix(value: Any) -> Any:
        if isinstance(value, float):
            return rounded(value, digits)
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value

    return {key: fix(value) for key, value in metadata.items()}


def _is_instant(name: str, values: pl.Series) -> bool:
    if not values.dtype.is_integer() or not (name == "time" or name.endswith(("_ms", "_time"))):
        return False
    present = values.drop_nulls().to_numpy()
    return present.size > 0 and EPOCH_MS_RANGE[0] <= int(present.min()) and int(present.max()) < EPOCH_MS_RANGE[1]


def readable(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` for reading: epoch-ms instant columns as UTC date-times (ms), ``*_time_ns`` as UTC date-times (ns)."""
    return df.with_columns(
        [
            pl.from_epoch(name, time_unit="ms").dt.replace_time_zone("UTC")
            for name in df.columns
            if _is_instant(name, df[name])
        ]
        + [
            pl.from_epoch(name, time_unit="ns").dt.replace_time_zone("UTC")
            for name in df.columns
            if name.endswith("time_ns") and df[name].dtype.is_integer()
        ]
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{SIGNIFICANT_DIGITS + 2}g}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="milliseconds").removesuffix("+00:00")
    return str(value).replace("|", "\\|").replace("\n", " ")


def preview_md(df: pl.DataFrame, rows: int = 5, max_cols: int = 12) -> str:
    """The first ``rows`` rows and ``max_cols`` columns as a Markdown table: UTC times, floats to 6 significant
    figures, ``|`` escaped."""
    head = readable(df.head(rows).select(df.columns[:max_cols]))
    header = "| " + " | ".join(head.columns) + " |\n|" + "---|" * len(head.columns)
    body = "\n".join("| " + " | ".join(_cell(v) for v in row) + " |" for row in head.iter_rows())
    return f"{header}\n{body}" if head.height else "(empty)"
