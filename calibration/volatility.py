"""Mid-price volatility: bars, log returns, EWMA variance, realized variance, bipower variation and jump tests.

Returns are log returns of the mid (dimensionless, per bar); variances are in squared log return per bar (or per
window for the realized measures). Formulas: J.P. Morgan RiskMetrics (1996) for the EWMA; Barndorff-Nielsen &
Shephard 2004 (J. Fin. Econometrics 2:1-37), 2006 (4:1-30); Huang & Tauchen 2005 (J. Fin. Econometrics 3:456-499).

The model in the project's words, with its papers: ``docs/volatility.md``.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from scipy.stats import norm

from calibration.mids import MID_MAX_AGE_MS, mid_index

MU_1 = math.sqrt(2 / math.pi)
"""E|Z| for a standard normal Z."""

MU_43 = 2 ** (2 / 3) * math.gamma(7 / 6) / math.gamma(1 / 2)
"""E|Z|^(4/3) = 0.830861."""

THETA = (math.pi / 2) ** 2 + math.pi - 5
"""Asymptotic variance factor of the bipower jump statistics, 0.608994."""

REALIZED_COLUMNS = ("n", "rv", "bv", "tq", "jump_ratio", "relative_jump", "ht_z", "ht_pvalue")
"""Columns of :func:`realized_measures` and :func:`window_realized_measures`."""


def bar_mids(mids: pl.DataFrame, bar_ms: int, max_age_ms: int = MID_MAX_AGE_MS) -> pl.DataFrame:
    """Mid per bar: the mid at each bar's last ms by :mod:`calibration.mids`' rule (the last observed at or before
    it, at most ``max_age_ms`` old), null for a bar inside a capture gap: never carried across the gap.

    ``mids`` is ``coin, time, mid`` sorted by ``coin, time`` (:func:`calibration.mids.mid_series`). Returns
    ``coin, time, mid`` on a complete grid from each coin's first to last bar; ``time`` is the bar start (epoch ms).
    """
    return bar_last(mids, ["mid"], bar_ms, max_age_ms=max_age_ms)


def bar_last(
    frame: pl.DataFrame,
    columns: list[str],
    bar_ms: int,
    grid: pl.DataFrame | None = None,
    max_age_ms: int = MID_MAX_AGE_MS,
) -> pl.DataFrame:
    """Each column's latest value known at each bar's end: its last non-null value at or before the bar's last ms,
    null when that value is more than ``max_age_ms`` old (:func:`calibration.mids.mid_index`); of rows at the same
    time the last wins. ``grid`` (``coin, time``: bar starts) defaults to :func:`bar_grid` of ``frame``."""
    starts = frame.select("coin", (pl.col("time") // bar_ms * bar_ms).alias("time"))
    bars = bar_grid(starts, bar_ms) if grid is None else grid.select("coin", "time")
    parts = []
    for (coin,), coin_bars in bars.partition_by("coin", as_dict=True, maintain_order=True).items():
        rows = frame.filter(pl.col("coin") == coin).sort("time", maintain_order=True)
        bar_end = coin_bars["time"].to_numpy() + bar_ms - 1
        values = []
        for column in columns:
            known = rows.filter(pl.col(column).is_not_null())
            found = mid_index(known["time"].to_numpy(), bar_end, max_age_ms=max_age_ms)
            values.append(known[column].gather(pl.Series(found).replace(-1, None)))
        parts.append(coin_bars.with_columns(values))
    return pl.concat(parts) if parts else bars.with_columns(frame.select(columns).clear().get_columns())


def bar_grid(frame: pl.DataFrame, bar_ms: int) -> pl.DataFrame:
    """Every bar start (``time``, epoch ms) from each coin's first to last bar of ``frame``."""
    return (
        frame.group_by("coin", maintain_order=True)
        .agg(pl.int_ranges(pl.col("time").min(), pl.col("time").max() + bar_ms, bar_ms).first().alias("time"))
        .explode("time")
    )


def log_returns(bars: pl.DataFrame) -> pl.DataFrame:
    """Adds ``log_return = ln(mid_t / mid_{t-1})`` per coin: null on each coin's first bar and on both sides of a
    null mid, so on :func:`bar_mids`' complete grid no return spans a capture gap."""
    return bars.with_columns(pl.col("mid").log().diff().over("coin").alias("log_return"))


def ewma_variance_expr(returns: pl.Expr, half_life_bars: float) -> pl.Expr:
    """EWMA of squared returns, ``v_t = lam * v_{t-1} + (1 - lam) * r_t**2`` with ``lam = 0.5**(1/half_life)``,
    started at the first return squared; nulls are skipped (RiskMetrics; pandas ``ewm(adjust=False)``)."""
    return returns.pow(2).ewm_mean(half_life=half_life_bars, adjust=False, ignore_nulls=True)


def ewma_variance(returns: np.ndarray, half_life_bars: float) -> np.ndarray:
    """:func:`ewma_variance_expr` on an array: the value at ``t`` uses returns up to and including ``t`` (the
    RiskMetrics forecast for ``t + 1``); NaN where the return is NaN."""
    series = pl.Series(returns, dtype=pl.Float64, nan_to_null=True)
    return series.to_frame("r").select(ewma_variance_expr(pl.col("r"), half_life_bars))["r"].to_numpy()


def realized_measures(returns: np.ndarray) -> dict[str, np.ndarray]:
    """Realized measures of each window along the last axis of ``returns`` (NaN = missing return).

    ``rv = sum r_i^2``; ``bv = mu1^-2 * M/(M-1) * sum |r_i||r_{i-1}|``; ``tq = M * mu43^-3 * M/(M-2) *
    sum |r_i r_{i-1} r_{i-2}|^(4/3)``; ``jump_ratio = rv / bv``; ``relative_jump = (rv - bv) / rv``; Huang-Tauchen
    ``ht_z = relative_jump / sqrt(theta / M * max(1, tq / bv^2))`` ~ N(0, 1) without jumps, ``ht_pvalue`` its
    one-sided p-value (Huang & Tauchen 2005). ``M`` is the count ``n`` of returns present; with
    missing returns the sums are the means over the complete pairs and triples times ``M - 1`` and ``M - 2``.
    """
    r = np.asarray(returns, dtype=np.float64)
    a = np.abs(r)
    n = np.sum(~np.isnan(r), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rv = np.where(n > 0, np.nansum(r * r, axis=-1), np.nan)
        bv = MU_1**-2 * n * _mean_present(a[..., 1:] * a[..., :-1])
        tq = n * n * MU_43**-3 * _mean_present((a[..., 2:] * a[..., 1:-1] * a[..., :-2]) ** (4 / 3))
        relative_jump = (rv - bv) / rv
        ht_z = relative_jump / np.sqrt(THETA / n * np.maximum(1.0, tq / bv**2))
    return {
        "n": n,
        "rv": rv,
        "bv": bv,
        "tq": tq,
        "jump_ratio": rv / np.where(bv > 0, bv, np.nan),
        "relative_jump": relative_jump,
        "ht_z": ht_z,
        "ht_pvalue": norm.sf(ht_z),
    }


def window_realized_measures(
    returns: pl.DataFrame, window_ms: int, bar_ms: int, column: str = "log_return"
) -> pl.DataFrame:
    """:func:`realized_measures` per coin and ``window_ms`` window of ``bar_ms`` bar returns (e.g. per minute of 1 s
    returns, per day of 1 min returns); ``returns`` has ``coin, time`` (bar start, epoch ms) and ``column``.

    Returns ``coin, time`` (window start) and :data:`REALIZED_COLUMNS` (null where undefined, e.g. RV/BV with
    BV = 0); bars missing from a window count as missing returns.
    """
    if window_ms % bar_ms:
        raise ValueError(f"window_ms={window_ms} is not a multiple of bar_ms={bar_ms}")
    frame = returns.select(
        "coin",
        (pl.col("time") // window_ms * window_ms).alias("window"),
        ((pl.col("time") % window_ms) // bar_ms).alias("pos"),
        pl.col(column).cast(pl.Float64),
    )
    new_window = (pl.col("window") != pl.col("window").shift()) | (pl.col("coin") != pl.col("coin").shift())
    frame = frame.with_columns((new_window.fill_null(True).cum_sum() - 1).alias("wid"))
    windows = frame.filter(pl.col("wid") != pl.col("wid").shift().fill_null(-1))
    grid = np.full((windows.height, window_ms // bar_ms), np.nan)
    grid[frame["wid"].to_numpy(), frame["pos"].to_numpy()] = frame[column].fill_null(np.nan).to_numpy()
    measures = realized_measures(grid)
    return windows.select("coin", pl.col("window").alias("time")).with_columns(
        pl.Series(name, measures[name], nan_to_null=True) for name in REALIZED_COLUMNS
    )


def _mean_present(x: np.ndarray) -> np.ndarray:
    """Mean over the last axis of the non-NaN terms (NaN when none is present)."""
    return np.nansum(x, axis=-1) / np.sum(~np.isnan(x), axis=-1)
