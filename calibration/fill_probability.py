"""Reach curves of resting quotes at a fixed price: the calibration of the fill probability the quoter predicts.

For every decision time t of a window (every ``horizon_ms``), with m the mid of the last book row at or before t
(at most ``MID_MAX_AGE_MS`` old, :func:`calibration.mids.mid_index`: a t inside a capture gap is left out), a bid
d bps deep, at ``m (1 - d / 1e4)``, counts as reached when a sell print at or below that price happens in
``[t + latency_ms, t + latency_ms + horizon_ms)``; an ask likewise with buy prints at or above ``m (1 + d / 1e4)``.
This is exactly the event :func:`validation.experiments.interval_scoring.quote_outcomes` scores, so the price stays
where it was quoted while the mid moves, and the latency and horizon are the quoter's. Each interval and side gives a
reach in bps of m (the deepest price touched; -inf without a print): a quote d deep is reached iff reach >= d.

Per regime, :func:`fit_reach_curves` fits ``P(reach >= d) = 1 - exp(-exp(g(d)))`` with g piecewise linear between
depth knots (binomial GLM on the knots' hat functions, complementary log-log link, statsmodels) to the counts over
a grid of depths, each interval weighted by its causal regime belief, so that the belief-weighted blend of the
regime curves is the prediction for a mixed belief.

The model in the project's words, with its papers: ``docs/fill-intensity.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl
from numba import njit
from numpy.typing import NDArray
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM

from calibration.fit_result import InsufficientSamples
from calibration.mids import mid_index

BPS_PER_UNIT = 1e4
"""Basis points in one unit of relative price (glft.BPS is its inverse)."""
DEPTH_GRID_POINTS = 60
KNOTS = 7
"""Depth knots of the piecewise-linear log intensity, at evenly spaced quantiles of the finite reaches."""
MIN_INTERVALS = 30
"""Fewest belief-weighted intervals a regime needs for its own curve (else it takes the pooled curve)."""
MULTIPLIER_BINS = 10
"""Quantile bins of the log intensity multiplier whose mean is each bin's offset (:func:`fit_reach_curves`)."""


@dataclass(frozen=True)
class ReachCurve:
    """``P(reach >= d) = 1 - exp(-exp(g(d)))``, g interpolating ``log_intensity`` at the shared knots (bps),
    fitted on ``n_intervals`` (belief-weighted) decision intervals, both sides."""

    log_intensity: tuple[float, ...]
    n_intervals: float
    pooled: bool
    """True when the regime had too few intervals and carries the curve of all intervals."""


def interval_extremes(trades: pl.DataFrame, start_ms: int, horizon_ms: int, latency_ms: int) -> pl.DataFrame:
    """Lowest sell-aggressor and highest buy-aggressor print in ``[t + latency, t + latency + horizon)`` per decision
    time t = ``start_ms`` + k horizon (``time`` = t; times without a print are absent)."""
    shifted = start_ms + latency_ms
    return (
        trades.filter(pl.col("time") >= shifted)
        .group_by(time=(pl.col("time") - shifted) // horizon_ms * horizon_ms + start_ms)
        .agg(
            lowest_sell=pl.col("px").filter(pl.col("side") < 0).min(),
            highest_buy=pl.col("px").filter(pl.col("side") > 0).max(),
        )
    )


def prints_reached(
    trades: pl.DataFrame, side: np.ndarray, px: np.ndarray, start_ms: np.ndarray, end_ms: np.ndarray
) -> np.ndarray:
    """Per quote, whether a market print reached its price in ``[start_ms, end_ms)``: for a bid (``side`` +1) a sell
    print at or below ``px``, for an ask (-1) a buy print at or above it. The same event as :func:`interval_extremes`
    for windows of any start (``trades``: ``time`` ms, ``px``, ``side`` +1 buy / -1 sell aggressor)."""
    out = np.zeros(side.size, dtype=bool)
    ordered = trades.select("time", "px", "side").sort("time")
    for quote_side, aggressor in ((1, -1), (-1, 1)):
        prints = ordered.filter(pl.col("side") == aggressor)
        rows = np.flatnonzero(side == quote_side)
        out[rows] = _reached(
            prints["time"].to_numpy(),
            prints["px"].to_numpy(),
            np.asarray(px, dtype=np.float64)[rows],
            np.asarray(start_ms, dtype=np.int64)[rows],
            np.asarray(end_ms, dtype=np.int64)[rows],
            quote_side > 0,
        )
    return out


@njit(cache=True)
def _reached(time, trade_px, px, start, end, is_bid):  # pragma: no cover - compiled
    out = np.zeros(px.size, np.bool_)
    for k in range(px.size):
        i = np.searchsorted(time, start[k])
        while i < time.size and time[i] < end[k]:
            if (trade_px[i] <= px[k]) if is_bid else (trade_px[i] >= px[k]):
                out[k] = True
                break
            i += 1
    return out


def reach_events(
    book: pl.DataFrame, trades: pl.DataFrame, window: tuple[int, int], horizon_ms: int, latency_ms: int
) -> pl.DataFrame:
    """Per decision time t in ``window`` (every ``horizon_ms`` from its start, whose scored interval ends by the
    window's end): ``time`` = t, ``mid``, ``bid_reach_bps`` and ``ask_reach_bps`` (-inf without a print)."""
    start, end = window
    n = max((end - start - latency_ms) // horizon_ms, 0)
    times: NDArray[np.int64] = start + horizon_ms * np.arange(n, dtype=np.int64)
    book = book.select("time", "mid").filter(pl.col("mid") > 0).sort("time", maintain_order=True)
    rows = mid_index(book["time"].to_numpy(), times)
    keep = rows >= 0
    times, mid = times[keep], book["mid"].to_numpy()[rows[keep]]
    reach = interval_extremes(trades, start, horizon_ms, latency_ms)
    frame = pl.DataFrame({"time": times, "mid": mid}).join(reach, on="time", how="left")
    return frame.select(
        "time",
        "mid",
        bid_reach_bps=((pl.col("mid") - pl.col("lowest_sell")) / pl.col("mid") * BPS_PER_UNIT).fill_null(-math.inf),
        ask_reach_bps=((pl.col("highest_buy") - pl.col("mid")) / pl.col("mid") * BPS_PER_UNIT).fill_null(-math.inf),
    )


def hat_basis(depths: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """(depths x knots) linear-interpolation weights: ``basis @ values`` interpolates ``values`` given at ``knots``
    (and extends the end segments linearly), as :func:`quoting.core.fill_prediction.reach_probability` evaluates
    them."""
    segment = np.clip(np.searchsorted(knots, depths, side="left") - 1, 0, knots.size - 2)
    w = (depths - knots[segment]) / (knots[segment + 1] - knots[segment])
    basis = np.zeros((depths.size, knots.size))
    rows = np.arange(depths.size)
    basis[rows, segment] = 1.0 - w
    basis[rows, segment + 1] = w
    return basis


def _fit_cloglog(
    basis: np.ndarray, reached: np.ndarray, trials: np.ndarray, offset: np.ndarray | None = None
) -> tuple[float, ...]:
    """Knot values of the binomial GLM ``cloglog P = offset + basis @ values`` on weighted counts (statsmodels
    IRLS)."""
    keep = (trials > 0) & (reached > 0)
    endog = np.column_stack([reached[keep], trials[keep] - reached[keep]])
    link = families.links.CLogLog()
    result = GLM(
        endog, basis[keep], family=families.Binomial(link=link), offset=None if offset is None else offset[keep]
    ).fit()
    return tuple(float(v) for v in result.params)


def _multiplier_bins(log_multiplier: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per interval its bin among :data:`MULTIPLIER_BINS` quantile bins of ``log_multiplier``, and each bin's mean
    log multiplier (the bin's offset)."""
    edges = np.unique(np.quantile(log_multiplier, np.linspace(0, 1, MULTIPLIER_BINS + 1)[1:-1]))
    bins = np.searchsorted(edges, log_multiplier, side="right")
    counts = np.bincount(bins, minlength=edges.size + 1)
    means = np.bincount(bins, weights=log_multiplier, minlength=edges.size + 1) / np.maximum(counts, 1)
    return bins, means


def _fit_offset_cloglog(
    basis: np.ndarray, hit: np.ndarray, weights: np.ndarray, bins: np.ndarray, offsets: np.ndarray
) -> tuple[float, ...]:
    """:func:`_fit_cloglog` with the intervals grouped by multiplier bin, each bin's counts offset by its mean log
    multiplier: the knot values of the curve at m = 1."""
    stacked = [
        (
            basis,
            (weights * (bins == b)) @ hit,
            np.full(basis.shape[0], float(weights[bins == b].sum())),
            np.full(basis.shape[0], offsets[b]),
        )
        for b in range(offsets.size)
    ]
    return _fit_cloglog(*(np.concatenate([part[k] for part in stacked]) for k in range(4)))


def fit_reach_curves(
    events: pl.DataFrame, beliefs: np.ndarray, min_depth_bps: float = 0.0, log_multiplier: np.ndarray | None = None
) -> tuple[np.ndarray, list[ReachCurve]]:
    """The depth knots (bps) and one :class:`ReachCurve` per column of ``beliefs`` (n_events x K, rows aligned with
    ``events``).

    ``log_multiplier`` (per event, aligned): the log of the intensity multiplier m(t) the quoter will scale the
    curve with at each decision (:mod:`quoting.core.hawkes_intensity`); the curves are then fitted with it as an offset
    (``P = 1 - exp(-m exp(g(d)))``, intervals grouped in :data:`MULTIPLIER_BINS` quantile bins of log m, each
    with its mean), so that g is the curve at m = 1. None: no offset.

    Depths on a grid from ``min_depth_bps`` (shallower quotes sit inside the spread and are not placed) to the
    99.5% quantile of the finite reaches; knots at evenly spaced quantiles of the finite reaches in that range.
    Raises InsufficientSamples with fewer than :data:`MIN_INTERVALS` intervals or no reach at all.
    """
    reach = np.concatenate([events["bid_reach_bps"].to_numpy(), events["ask_reach_bps"].to_numpy()])
    weights = np.concatenate([beliefs, beliefs])
    finite = reach[np.isfinite(reach)]
    if events.height < MIN_INTERVALS or finite.size < 2:
        raise InsufficientSamples("reach_curve", int(min(events.height, finite.size)), MIN_INTERVALS)
    deepest = max(float(np.quantile(finite, 0.995)), min_depth_bps + 1e-6)
    grid = np.linspace(min_depth_bps, deepest, DEPTH_GRID_POINTS)
    in_range = finite[(finite >= min_depth_bps) & (finite <= deepest)]
    inner = np.quantile(in_range, np.linspace(0, 1, KNOTS)[1:-1]) if in_range.size else np.array([])
    knots = np.unique(np.concatenate([[min_depth_bps], inner, [deepest]]))
    knots = knots[np.concatenate([[True], np.diff(knots) > 1e-6 * max(deepest, 1.0)])]
    basis = hat_basis(grid, knots)
    hit = (reach[:, None] >= grid[None, :]).astype(np.float64)  # (2n x depths)
    if log_multiplier is None:

        def fit(w: np.ndarray) -> tuple[float, ...]:
            return _fit_cloglog(basis, w @ hit, np.full(grid.size, float(w.sum())))
    else:
        bins, offsets = _multiplier_bins(np.concatenate([log_multiplier, log_multiplier]))

        def fit(w: np.ndarray) -> tuple[float, ...]:
            return _fit_offset_cloglog(basis, hit, w, bins, offsets)

    pooled = fit(np.ones(reach.size))
    curves = []
    for k in range(weights.shape[1]):
        w = weights[:, k]
        n_intervals = float(w.sum()) / 2
        if n_intervals < MIN_INTERVALS:
            curves.append(ReachCurve(pooled, n_intervals=n_intervals, pooled=True))
            continue
        curves.append(ReachCurve(fit(w), n_intervals, False))
    return knots, curves
