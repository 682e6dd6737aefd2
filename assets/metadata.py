"""Materialisation metadata shared by assets: row counts, time span, gaps, a preview, links to plots in the lake.

Numbers are shown as a reader needs them: floats to :data:`SIGNIFICANT_DIGITS` significant figures (a kappa of
1.2e-5 per price unit keeps its digits, a P&L of 1234.5678 loses the noise) and epoch times as UTC date-times.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import dagster as dg
import polars as pl

from data_lake.lake import Lake
from data_lake.raw_zone import coin_file_name

GAP_MS = 60_000
SIGNIFICANT_DIGITS = 4
EPOCH_MS_RANGE = (946_684_800_000, 4_102_444_800_000)
"""Integers of a ``time`` / ``*_ms`` column inside 2000-01-01 .. 2100-01-01 (UTC, epoch ms) are instants; smaller
ones (``mid_age_ms``, ``period_ms``) are durations and stay numbers."""
SKIPPED = "skipped"
"""Metadata key of a materialisation that could compute nothing: its value is the reason. The asset still succeeds
(writing an empty, schema-correct partition where something downstream reads it), and ``python -m pipelines.run``
prints the reason."""


def _iso(ms: int) -> str:
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
    present = values.drop_nulls()
    return present.len() > 0 and EPOCH_MS_RANGE[0] <= present.min() and present.max() < EPOCH_MS_RANGE[1]


def readable(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` for reading: epoch-ms instant columns as UTC date-times (ms), ``*_time_ns`` as UTC date-times (ns)."""
    return df.with_columns(
        [pl.from_epoch(name, time_unit="ms").dt.replace_time_zone("UTC") for name in df.columns if _is_instant(name, df[name])]
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


def table_metadata(df: pl.DataFrame, uri: str, version: int | None) -> dict[str, Any]:
    """Row count, time span, gaps > 60 s and a preview for a table partition (``df`` as written: the preview
    leaves out ``coin`` and ``date``, which the partition key already says)."""
    meta: dict[str, Any] = {
        "dagster/row_count": df.height,
        "table_uri": dg.MetadataValue.path(uri),
        "delta_version": version if version is not None else -1,
        "preview": dg.MetadataValue.md(preview_md(df.drop("coin", "date", strict=False))),
    }
    if df.height and "time" in df.columns:
        first, last = int(df["time"].min()), int(df["time"].max())
        gaps = time_gaps(df["time"])
        meta.update(
            {
                "first_time": _iso(first),
                "last_time": _iso(last),
                "span_hours": round((last - first) / 3_600_000, 3),
                "gaps_over_60s": gaps.height,
                "longest_gap_s": rounded(float(gaps["seconds"].max())) if gaps.height else 0.0,
                "gaps": dg.MetadataValue.md(
                    preview_md(
                        gaps.head(10).with_columns(
                            pl.from_epoch("start", time_unit="ms").dt.replace_time_zone("UTC"),
                            pl.from_epoch("end", time_unit="ms").dt.replace_time_zone("UTC"),
                        ),
                        rows=10,
                    )
                ),
            }
        )
    return meta


def skipped(reason: str) -> dict[str, Any]:
    """The metadata of a materialisation that computed nothing, and why."""
    return {SKIPPED: dg.MetadataValue.text(reason)}


def plot_url(lake: Lake, png: bytes, *path: str) -> dg.MetadataValue:
    """Write a PNG plot into the lake at ``plots/{path...}.png`` (local or ``s3://``) and return its URL as metadata:
    the event log keeps a link, not the image. ``path`` names the asset, then the partition, then the plot."""
    rel = "plots/" + "/".join(coin_file_name(part).replace(":", "_") for part in path) + ".png"
    files = lake.files()
    files.write(rel, png)
    return dg.MetadataValue.url(files.url(rel))
