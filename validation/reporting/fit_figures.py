"""Figures of the nightly fits, as PNG bytes for the Dagster UI: the fill-intensity curve, the regime timeline
and the Hawkes residuals' Q-Q plot.

They live here rather than beside their estimators so that :mod:`calibration` (which the quoter imports for the
causal regime filter) never loads matplotlib; only the assets and reports draw.
"""

from __future__ import annotations

import io
import math

import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from calibration.fill_intensity import DepthUnit
from calibration.fit_result import FitResult
from calibration.hawkes_gof import exponential_qq
from calibration.regimes import BELIEF_STATES


def png_bytes(fig: Figure) -> bytes:
    """``fig`` laid out tightly and rendered to PNG."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def fill_intensity_figure(table: pl.DataFrame, fit: FitResult, *, unit: DepthUnit = "bps", title: str = "") -> bytes:
    """PNG of the empirical intensity by depth (:func:`calibration.fill_intensity.fill_intensity_table`, 95%
    intervals) and the fitted curve."""
    a, kappa, d0 = fit.estimates["A"], fit.estimates[f"kappa_{unit}"], fit.estimates["d0"]
    depth = table["depth"].to_numpy()
    rate = table["intensity"].to_numpy()
    lo, hi = table["intensity_lo"].to_numpy(), table["intensity_hi"].to_numpy()
    shown = rate > 0
    fig = Figure(figsize=(6.4, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.errorbar(
        depth[shown],
        rate[shown],
        yerr=[rate[shown] - lo[shown], hi[shown] - rate[shown]],
        fmt="o",
        ms=3,
        color="C0",
        label="taker orders reaching depth (95% CI)",
    )
    curve = np.linspace(max(d0, depth.min()), depth.max(), 200)
    ax.plot(curve, a * np.exp(-kappa * curve), color="C3", label="fit A·exp(−κd)")
    ax.axvline(d0, color="grey", ls=":", lw=1, label=f"d0 = {d0:g} {unit}")
    ax.set_yscale("log")
    ax.set_xlabel(f"depth from mid ({unit})")
    ax.set_ylabel("intensity (1/s per side)")
    se_a, se_k = fit.std_errors["A"], fit.std_errors[f"kappa_{unit}"]
    p = fit.goodness_of_fit.get("pearson_p", math.nan)
    summary = f"A = {a:.3g} ± {se_a:.2g} /s, κ = {kappa:.3g} ± {se_k:.2g} /{unit}, n = {fit.n}, GoF p = {p:.2g}"
    ax.set_title(title or summary)
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    return png_bytes(fig)


def regime_timeline_figure(bars: pl.DataFrame, beliefs: pl.DataFrame, *, title: str = "") -> bytes:
    """PNG of the bars' mid (``time`` = bar start, ``mid``) shaded by the causal regime, above the stacked beliefs
    of :func:`calibration.regimes.regime_beliefs`; x axis: hours since the first bar's end."""
    frame = beliefs.sort("time").join(bars.select(pl.col("time").alias("bar_time"), "mid"), on="bar_time", how="left")
    hours = (frame["time"].to_numpy() - frame["time"].min()) / 3.6e6
    states = [s for s in BELIEF_STATES if frame[f"belief_{s}"].null_count() < frame.height]
    colours = dict(zip(BELIEF_STATES, ("#cfe8cf", "#f7d9a8", "#f4a6a6"), strict=True))
    fig = Figure(figsize=(9, 5), dpi=90)
    FigureCanvasAgg(fig)
    price, prob = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    regime = frame["regime"].to_numpy()
    starts = np.flatnonzero(np.r_[True, regime[1:] != regime[:-1]])
    step = float(np.median(np.diff(hours))) if len(hours) > 1 else 0.0
    left, right = hours[starts] - step, hours[np.r_[starts[1:], len(regime)] - 1]
    for state in np.unique(regime):  # one collection of runs per state: hundreds of axvspan patches draw slowly
        run = regime[starts] == state
        spans = np.c_[left[run], right[run] - left[run]]
        price.broken_barh(spans, (0, 1), transform=price.get_xaxis_transform(), color=colours[state], lw=0)
    price.plot(hours, frame["mid"].to_numpy(), color="black", lw=0.7)
    price.set_ylabel("mid")
    price.set_title(title, fontsize=9)
    stacked = [frame[f"belief_{s}"].to_numpy() for s in states]
    prob.stackplot(hours, *stacked, labels=states, colors=[colours[s] for s in states])
    prob.set_ylim(0, 1)
    prob.set_ylabel("causal belief")
    prob.set_xlabel("hours since the first bar's end")
    prob.legend(fontsize=8, loc="upper right")
    return png_bytes(fig)


def hawkes_qq_figure(residuals: np.ndarray, *, title: str = "") -> bytes:
    """PNG Q-Q plot of time-rescaled inter-event times against Exp(1) (on the diagonal when the model is right)."""
    theoretical, empirical = exponential_qq(residuals)
    fig = Figure(figsize=(5, 5), dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(theoretical, empirical, ".", ms=2, color="C0", label="compensator increments")
    top = float(max(theoretical.max(), empirical.max()))
    ax.plot([0, top], [0, top], color="C3", lw=1, label="Exp(1)")
    ax.set_xlabel("Exp(1) quantile")
    ax.set_ylabel("empirical quantile")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return png_bytes(fig)
