"""Figures of the niche selection, as PNG bytes for the Dagster UI: the market screen's volume-spread scatter
(:func:`validation.screening.market_screen.screen`) and the time-structure heatmaps
(:func:`validation.screening.time_structure`).

They live apart from the computations they draw, so computing a screen never loads matplotlib.
"""

from __future__ import annotations

import io

import numpy as np
import polars as pl

from validation.screening.market_screen import ScreenThresholds
from validation.screening.time_structure import METRICS


def plot_screen(screened: pl.DataFrame, thresholds: ScreenThresholds, title: str) -> bytes:
    """PNG: daily volume (log) against median spread per coin, coloured by maker edge, the criteria as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = screened.filter(pl.col("volume_quote").is_not_null() & pl.col("spread_median_bps").is_not_null())
    fig, ax = plt.subplots(figsize=(8, 5))
    points = ax.scatter(
        shown["volume_quote"].to_numpy(),
        shown["spread_median_bps"].to_numpy(),
        c=shown["edge_bps"].fill_null(float("nan")).to_numpy(),
        cmap="RdYlGn",
        s=40,
    )
    for coin, x, y in shown.select("coin", "volume_quote", "spread_median_bps").iter_rows():
        ax.annotate(coin, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    for volume in (thresholds.min_volume_quote, thresholds.max_volume_quote):
        ax.axvline(volume, color="grey", ls="--", lw=0.8)
    ax.axhline(thresholds.min_spread_bps, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("daily volume (quote currency)")
    ax.set_ylabel("median quoted spread (bps)")
    ax.set_title(title)
    fig.colorbar(points, ax=ax, label="maker edge after fee (bps)")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def plot_heatmaps(table: pl.DataFrame, dimension: str, title: str) -> bytes:
    """PNG: one heatmap per metric, coins x buckets of ``dimension``; '*' marks buckets significantly different from
    the rest (dimension p < 0.05 and Holm-adjusted bucket p < 0.05)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table.filter(pl.col("dimension") == dimension)
    coins = sorted(rows["coin"].unique().to_list())
    buckets = rows.select("bucket_index", "bucket").unique().sort("bucket_index")
    fig, axes = plt.subplots(2, 2, figsize=(max(8, 0.45 * buckets.height + 4), 2 + 0.9 * len(coins)), squeeze=False)
    for ax, name in zip(axes.ravel(), METRICS, strict=True):
        grid = np.full((len(coins), buckets.height), np.nan)
        starred = np.zeros_like(grid, dtype=bool)
        position = {b: j for j, b in enumerate(buckets["bucket_index"].to_list())}
        for r in rows.filter(pl.col("metric") == name).iter_rows(named=True):
            i, j = coins.index(r["coin"]), position[r["bucket_index"]]
            grid[i, j] = np.nan if r["value"] is None else r["value"]
            starred[i, j] = (r["p_value"] or 1) < 0.05 and (r["p_value_vs_rest"] or 1) < 0.05
        image = ax.imshow(grid, aspect="auto", cmap="viridis")
        for i, j in zip(*np.nonzero(starred), strict=True):
            ax.text(j, i, "*", ha="center", va="center", color="white", fontsize=12)
        ax.set_xticks(range(buckets.height), buckets["bucket"].to_list(), rotation=90, fontsize=7)
        ax.set_yticks(range(len(coins)), coins, fontsize=8)
        ax.set_title(name, fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.04)
    fig.suptitle(title)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()
