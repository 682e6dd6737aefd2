"""The quoter's logged fill predictions, scored on the event they predict.

A quoting decision in the ``quoter_log`` table (``quoterQuote``, :mod:`quoting.runtime.quote_log`) logs per side the
price of the order resting there once its actions land and ``pred_fill_prob``, the reach model's probability that a
market print reaches that price (a sell at or below the bid, a buy at or above the ask) in ``[book_time + latency,
book_time + latency + tau)``. That is the event the reach curves were fitted on and the walk-forward's
:func:`validation.experiments.interval_scoring.quote_outcomes` counts, so it is the event counted here
(:func:`calibration.fill_probability.prints_reached`). The quoter's own fills are a queue-thinned subset of those
prints (the size ahead in the queue trades first), reported beside them and never as the predicted event.

Decisions come at most once per requote interval, which is shorter than a window, so consecutive windows of a side
overlap and share their outcome; only the first decision after the previous scored window of that side ended is
scored, which keeps the outcomes close to independent.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from calibration.fill_probability import prints_reached
from data_lake.scalars import as_int
from validation.statistics.calibration_metrics import CalibrationMetrics, calibration_metrics

MIN_SCORED_SIDES = 30
"""Fewest scored quoted sides the nightly calibration of the quoter's predictions is computed on."""

_SIDE_QUOTE = pl.Struct({"px": pl.Float64(), "pred_fill_prob": pl.Float64()})
_QUOTE_FRAME = pl.Struct(
    {
        "pull_reason": pl.String(),
        "book_time": pl.Int64(),
        "tau_s": pl.Float64(),
        "latency_ms": pl.Float64(),
        "bid": _SIDE_QUOTE,
        "ask": _SIDE_QUOTE,
    }
)


def quoted_sides(quote_log: pl.DataFrame) -> pl.DataFrame:
    """One row per predicted side of every ``quoterQuote`` decision: ``time`` (ms, feed clock), ``side`` (+1 bid, -1
    ask), ``px``, ``pred_fill_prob`` and the window it predicts, ``window_start_ms`` / ``window_end_ms`` = t +
    latency, t + latency + tau, t the decision's ``book_time`` (its ``time`` in logs written before the field
    existed). Pulled decisions and sides without a price or prediction are left out."""
    frames = (
        quote_log.filter(pl.col("channel") == "quoterQuote")
        .select("time", pl.col("payload").str.json_decode(_QUOTE_FRAME).alias("q"))
        .unnest("q")
        .filter(pl.col("pull_reason").is_null() & pl.col("tau_s").is_not_null())
    )
    sides = [
        frames.select(
            "time",
            "book_time",
            pl.lit(sign, pl.Int8).alias("side"),
            pl.col(name).struct.field("px"),
            pl.col(name).struct.field("pred_fill_prob"),
            "tau_s",
            "latency_ms",
        )
        for name, sign in (("bid", 1), ("ask", -1))
    ]
    start = pl.coalesce("book_time", "time") + pl.col("latency_ms").fill_null(0.0).round().cast(pl.Int64)
    return (
        pl.concat(sides)
        .filter(pl.col("px").is_not_null() & pl.col("pred_fill_prob").is_not_null())
        .select(
            "time",
            "side",
            "px",
            "pred_fill_prob",
            start.alias("window_start_ms"),
            (start + (pl.col("tau_s") * 1000).round().cast(pl.Int64)).alias("window_end_ms"),
        )
        .sort("side", "time")
    )


def _non_overlapping(start_ms: np.ndarray, end_ms: np.ndarray) -> np.ndarray:
    """Indices of windows (sorted by start) taken greedily so that each starts at or after the last taken one's end."""
    taken, free_from = [], -np.inf
    for i, (start, end) in enumerate(zip(start_ms.tolist(), end_ms.tolist(), strict=True)):
        if start >= free_from:
            taken.append(i)
            free_from = end
    return np.asarray(taken, dtype=np.int64)


def scored_fill_predictions(sides: pl.DataFrame, trades: pl.DataFrame, own_fills: pl.DataFrame) -> pl.DataFrame:
    """``sides`` (:func:`quoted_sides`) thinned per side to non-overlapping windows, with ``filled`` = a market print
    reached the side's price in its window (the predicted event; ``trades``: the ``trades`` table's ``time``, ``px``,
    ``side``) and ``own_filled`` = an own fill of that side in it (``own_fills``: ``time`` ms, ``side`` +1 bought /
    -1 sold)."""
    thinned = []
    for _, frame in sides.group_by("side"):
        frame = frame.sort("window_start_ms")
        thinned.append(frame[_non_overlapping(frame["window_start_ms"].to_numpy(), frame["window_end_ms"].to_numpy())])
    if not thinned:
        return sides.with_columns(filled=pl.lit(False), own_filled=pl.lit(False))
    scored = pl.concat(thinned).sort("time")
    side = scored["side"].to_numpy()
    start, end = scored["window_start_ms"].to_numpy(), scored["window_end_ms"].to_numpy()
    own = np.zeros(scored.height, dtype=bool)
    for sign in (1, -1):
        rows = np.flatnonzero(side == sign)
        times = np.sort(own_fills.filter(pl.col("side") == sign)["time"].to_numpy())
        own[rows] = np.searchsorted(times, end[rows], side="left") > np.searchsorted(times, start[rows], side="left")
    return scored.with_columns(
        filled=pl.Series(prints_reached(trades, side, scored["px"].to_numpy(), start, end)),
        own_filled=pl.Series(own),
    )


def live_fill_calibration(
    quote_log: pl.DataFrame, trades: pl.DataFrame, own_fills: pl.DataFrame, min_scored: int = MIN_SCORED_SIDES
) -> tuple[CalibrationMetrics, tuple[int, int]] | None:
    """Cox calibration of the quoter's logged fill probabilities on the events they predict
    (:func:`scored_fill_predictions`), with the time span scored (first window start, last window end, ms); None
    with fewer than ``min_scored`` scored sides or when every one of them was reached, or none."""
    if quote_log.height == 0:
        return None
    scored = scored_fill_predictions(quoted_sides(quote_log), trades, own_fills)
    reached = scored["filled"].to_numpy() if scored.height else np.zeros(0, dtype=bool)
    if scored.height < min_scored or reached.all() or not reached.any():
        return None
    metrics = calibration_metrics(reached.astype(float), scored["pred_fill_prob"].to_numpy())
    window = (
        as_int(scored["window_start_ms"].min(), "window start"),
        as_int(scored["window_end_ms"].max(), "window end"),
    )
    return metrics, window
