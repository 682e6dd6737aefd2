"""Materialisation metadata shared by assets: row counts, time span, gaps, a preview, links to plots in the lake,
and the ``skipped`` reason. The figures come from :mod:`data_lake.table_preview` (rounding, UTC times, gaps)."""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl

from data_lake.lake import Lake
from data_lake.raw_zone import coin_file_name
from data_lake.scalars import as_float, as_int
from data_lake.table_preview import iso_ms, preview_md, rounded, time_gaps

SKIPPED = "skipped"
"""Metadata key of a materialisation that could compute nothing: its value is the reason. The asset still succeeds
(writing an empty, schema-correct partition where something downstream reads it), and ``python -m pipelines.run``
prints the reason."""


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
        first, last = as_int(df["time"].min(), "first time"), as_int(df["time"].max(), "last time")
        gaps = time_gaps(df["time"])
        meta.update(
            {
                "first_time": iso_ms(first),
                "last_time": iso_ms(last),
                "span_hours": round((last - first) / 3_600_000, 3),
                "gaps_over_60s": gaps.height,
                "longest_gap_s": rounded(as_float(gaps["seconds"].max(), "longest gap")) if gaps.height else 0.0,
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
