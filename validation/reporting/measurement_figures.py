"""Figures of the measured calibration, as PNG bytes for the Dagster UI and the walk-forward report: the markout
curve by horizon (:func:`validation.statistics.baseline_table.markout_curve`) and the reliability diagram
(:func:`validation.statistics.calibration_metrics.reliability_diagram`).

They live here rather than beside the statistics they draw, so the statistics modules never load matplotlib.
"""

from __future__ import annotations

import io

import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from validation.statistics.calibration_metrics import ReliabilityDiagram, diagram_range


def plot_markout_curve(curve: pl.DataFrame, title: str) -> bytes:
    """PNG of mean markout vs horizon with CI bands, one line per population and side (the Agg canvas directly,
    no pyplot global state)."""
    fig = Figure(figsize=(7, 4), dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for (population, side), frame in curve.group_by("population", "side", maintain_order=True):
        label = f"{population}, {'buy' if side == 1 else 'sell'} fills"
        h = frame["horizon_ms"].to_numpy() / 1000
        ax.plot(h, frame["mean_bps"].to_numpy(), marker="o", label=label)
        ax.fill_between(h, frame["ci_low"].to_numpy(), frame["ci_high"].to_numpy(), alpha=0.2)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("horizon (s)")
    ax.set_ylabel("mean markout (bps, + = favourable to the filled party)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def plot_reliability_diagram(diagram: ReliabilityDiagram, title: str = "Reliability diagram") -> bytes:
    """PNG bytes of the diagram: observed frequency vs mean forecast with Wilson bars and the diagonal, on
    :func:`diagram_range`, and the bin counts below (uses the Agg canvas directly, no pyplot global state)."""
    figure = Figure(figsize=(5.0, 6.0), dpi=100)
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    low, high = diagram_range(diagram)
    top.plot([low, high], [low, high], linestyle="--", color="grey", label="perfect calibration")
    filled = diagram.counts > 0
    x = diagram.mean_forecast[filled]
    y = diagram.observed_frequency[filled]
    errors = np.vstack([y - diagram.ci_low[filled], diagram.ci_high[filled] - y])
    top.errorbar(x, y, yerr=errors, marker="o", capsize=3, label=f"observed ({diagram.confidence:.0%} Wilson)")
    top.set_ylabel("observed frequency")
    top.set_xlim(low, high)
    top.set_ylim(low, high)
    top.set_title(title)
    top.legend(loc="upper left")
    widths = np.diff(diagram.bin_edges)
    bottom.bar(diagram.bin_edges[:-1], diagram.counts, width=widths, align="edge", edgecolor="black")
    bottom.set_xlabel("forecast probability")
    bottom.set_ylabel("count")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
