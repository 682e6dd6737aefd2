"""The seed's FillLog: each marked-out fill with the market state known at the fill (volatility, imbalance, regime).

Every state value is taken as of the fill time from information available then: bar values are joined on the
bar's END (a 1 s bar starting at t is known at t + 1000 ms), book signals on the last book row at or before the
fill, and regime beliefs from the causal filter only; none is carried across a capture gap.
"""

from __future__ import annotations

import polars as pl

from calibration.mids import MID_MAX_AGE_MS

BELIEF_COLUMNS = ("belief_calm", "belief_volatile", "belief_cascade")
BELIEF_MAX_AGE_MS = 60_000 + MID_MAX_AGE_MS
"""A belief is stamped at the end of its 1 min bar: it stands for the next minute, and the mid's age limit after."""


def _asof(left: pl.DataFrame, right: pl.DataFrame, on_right: str, columns: list[str], max_age_ms: int) -> pl.DataFrame:
    """Backward as-of join of ``columns`` from ``right`` (keyed by coin and ``on_right``) onto ``left``, from a
    ``right`` row at most ``max_age_ms`` before the ``left`` row (null otherwise: never across a capture gap).

    The join runs on ``left``'s keys alone (row, coin, time), sorted and put back in row order, and the found columns
    are then added to ``left``: the wide fill log itself is never sorted."""
    right = right.select("coin", pl.col(on_right).alias("_asof_time"), *columns).sort("coin", "_asof_time")
    found = (
        left.select("coin", _asof_time=pl.col("time"))
        .with_row_index("_row")
        .sort("coin", "_asof_time")
        .join_asof(right, on="_asof_time", by="coin", strategy="backward", tolerance=max_age_ms, check_sortedness=False)
        .sort("_row")
    )
    return left.with_columns(found.select(columns).get_columns())


def enrich_fill_log(
    marked: pl.DataFrame,
    bars_1s: pl.DataFrame,
    book_signals: pl.DataFrame,
    beliefs: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Add ``sigma_bps_per_sqrt_s``, ``imbalance_1``, ``imbalance_5`` and the regime beliefs at each fill.

    ``bars_1s`` needs coin, time (bar start) and ewma_var (log-return variance per 1 s bar); ``book_signals``
    coin, time, imbalance_1, imbalance_5; ``beliefs`` (optional, causal filter output) coin, time (the end of its
    1 min bar) and the belief columns. Without beliefs the belief columns are null, never invented. A value older
    than ``MID_MAX_AGE_MS`` at the fill (a belief: older than its minute plus that) is null, as a mid would be
    (:mod:`calibration.mids`).
    """
    vol = bars_1s.select(
        "coin",
        bar_end=pl.col("time") + 1000,
        sigma_bps_per_sqrt_s=pl.col("ewma_var").sqrt() * 1e4,
    )
    out = _asof(marked, vol, "bar_end", ["sigma_bps_per_sqrt_s"], MID_MAX_AGE_MS)
    book = book_signals.unique(["coin", "time"], keep="last", maintain_order=True)
    for column in ("imbalance_1", "imbalance_5"):
        out = _asof(out, book.drop_nulls(column), "time", [column], MID_MAX_AGE_MS)
    if beliefs is not None and beliefs.height:
        out = _asof(out.drop(BELIEF_COLUMNS, strict=False), beliefs, "time", list(BELIEF_COLUMNS), BELIEF_MAX_AGE_MS)
    else:
        out = out.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in BELIEF_COLUMNS if c not in out.columns)
    return out
