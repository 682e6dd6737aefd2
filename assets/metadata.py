"""Materialisation metadata shared by assets: row counts, time span, gaps, a preview, plots."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import dagster as dg
import polars as pl

GAP_MS = 60_000
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


def preview_md(df: pl.DataFrame, rows: int = 5, max_cols: int = 12) -> str:
    head = df.head(rows).select(df.columns[:max_cols])
    header = "| " + " | ".join(head.columns) + " |\n|" + "---|" * len(head.columns)
    body = "\n".join("| " + " | ".join(str(v) for v in row) + " |" for row in head.iter_rows())
    return f"{header}\n{body}" if head.height else "(empty)"


def table_metadata(df: pl.DataFrame, uri: str, version: int | None) -> dict[str, Any]:
    """Row count, time span, gaps > 60 s and a preview for a clean table partition."""
    meta: dict[str, Any] = {
        "dagster/row_count": df.height,
        "table_uri": dg.MetadataValue.path(uri),
        "delta_version": version if version is not None else -1,
        "preview": dg.MetadataValue.md(preview_md(df)),
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
                "longest_gap_s": float(gaps["seconds"].max()) if gaps.height else 0.0,
                "gaps": dg.MetadataValue.md(
                    preview_md(
                        gaps.head(10).with_columns(pl.from_epoch("start", time_unit="ms"), pl.from_epoch("end", time_unit="ms")),
                        rows=10,
                    )
                ),
            }
        )
    return meta


def skipped(reason: str) -> dict[str, Any]:
    """The metadata of a materialisation that computed nothing, and why."""
    return {SKIPPED: dg.MetadataValue.text(reason)}


def png_md(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG embedded in Markdown metadata so the UI shows the plot inline."""
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")
