"""Markouts of fills against the mid: spread capture, post-fill mid moves and net edge, all in bps.

Sign convention (stated once for the project): ``side`` is the *filled party's* side (+1 bought, -1 sold) and a
positive number is favourable to that party.

- ``spread_capture_bps = side * (mid_at_fill - px) / mid_at_fill * 1e4``: what the fill price earned against the
  mid at the fill (positive for a maker buying below / selling above the mid).
- ``markout_{h}ms_bps = side * (mid_{h}ms - mid_at_fill) / mid_at_fill * 1e4``: how the mid moved ``h`` ms later
  (negative when the market moved against the filled party).
- ``net_{h}ms_bps = spread_capture_bps + markout_{h}ms_bps - fee_bps`` (``fee_bps`` negative for a rebate).
- ``adverse_selection_bps = max(-markout_5000ms_bps, 0)``: the negative part of the 5 s markout, as a positive cost.

Mids come from the freshest of the ``bbo`` and ``l2Book`` rows (Cartea, Jaimungal & Penalva 2015, ch. 10: markouts
from the mid; a 1 s markout needs mids finer than ``l2Book``'s 0.5 s) by the rule
of :mod:`calibration.mids`: ``mid_at_fill`` is the mid before the fill (the last one strictly before it: a snapshot
in the fill's own ms may already show the fill), ``mid_{h}ms`` the mid at the instant ``time + h`` (the last one at
or before it, never a later one); each is null when that mid is more than ``MID_MAX_AGE_MS`` old (a capture gap)
or there is none. The 200 ms horizon reports the immediate post-trade jump.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from calibration.mids import mid_before_trade, mid_index
from data_lake.fees import MAKER_FEE_BPS
from data_lake.tables import MARKOUT_HORIZONS_MS

HORIZONS_MS: tuple[int, ...] = MARKOUT_HORIZONS_MS
"""Default markout horizons in ms: the immediate jump (<= 200 ms), then 1 s, 5 s and 30 s."""

ADVERSE_HORIZON_MS = 5000
"""The horizon whose negative markout is reported as adverse selection."""


def maker_side_of_trades(trades: pl.DataFrame, maker_fee_bps: float = MAKER_FEE_BPS) -> pl.DataFrame:
    """Market trades seen by their passive (maker) side: ``side = -aggressor side``, ready for :func:`markouts`.

    Adds ``is_market_trade = True`` and ``fee_bps = maker_fee_bps`` (a hypothetical base-tier maker).
    """
    return trades.with_columns(
        (-pl.col("side")).cast(pl.Int8).alias("side"),
        pl.lit(True).alias("is_market_trade"),
        pl.lit(float(maker_fee_bps)).alias("fee_bps"),
    )


def markouts(
    fills: pl.DataFrame,
    mids: pl.DataFrame,
    horizons_ms: Sequence[int] = HORIZONS_MS,
    fee_bps: float | None = None,
    adverse_horizon_ms: int | None = ADVERSE_HORIZON_MS,
) -> pl.DataFrame:
    """Per fill: mid at the fill and at each horizon, markouts, spread capture and net edge in bps.

    ``fills`` needs ``time`` (epoch ms), ``side`` (filled party, +1 buy) and ``px``; with ``coin`` in both frames
    mids are looked up per coin. ``mids`` is :func:`calibration.mids.mid_series` output (sorted by ``[coin,]
    time``). Fees: the ``fee_bps`` argument, else a ``fee_bps`` column, else ``fee / (px * sz) * 1e4`` from the
    ``fills`` table. Returns ``fills`` (same rows, same order) plus ``mid_at_fill`` (the mid before the fill),
    ``mid_age_ms`` (its age at the fill), ``mid_{h}ms``, ``markout_{h}ms_bps``, ``spread_capture_bps``,
    ``fee_bps``, ``net_{h}ms_bps`` and ``adverse_selection_bps``
    (``adverse_horizon_ms`` must be one of the horizons; None leaves it out).
    """
    horizons = [int(h) for h in horizons_ms]
    if adverse_horizon_ms is not None and adverse_horizon_ms not in horizons:
        raise ValueError(f"adverse_horizon_ms={adverse_horizon_ms} is not one of the horizons {horizons}")
    fee = _fee_bps(fills, fee_bps)
    times = fills["time"].to_numpy()
    offsets = np.array([0, *horizons], dtype=np.int64)
    values, age = _mids_at(fills, mids, times, offsets)
    side = fills["side"].to_numpy().astype(np.float64)
    mid0 = values[0]
    spread = side * (mid0 - fills["px"].to_numpy()) / mid0 * 1e4
    markout = {h: side * (values[k + 1] - mid0) / mid0 * 1e4 for k, h in enumerate(horizons)}
    columns = {
        "mid_at_fill": mid0,
        **{f"mid_{h}ms": values[k + 1] for k, h in enumerate(horizons)},
        **{f"markout_{h}ms_bps": markout[h] for h in horizons},
        "spread_capture_bps": spread,
        "fee_bps": fee,
        **{f"net_{h}ms_bps": spread + markout[h] - fee for h in horizons},
    }
    if adverse_horizon_ms is not None:
        m = markout[adverse_horizon_ms]
        columns["adverse_selection_bps"] = np.where(np.isnan(m), np.nan, np.maximum(-m, 0.0))
    added = [pl.Series(name, col, nan_to_null=True) for name, col in columns.items()]
    added.insert(1, age)
    return fills.drop([s.name for s in added], strict=False).with_columns(added)


def _fee_bps(fills: pl.DataFrame, fee_bps: float | None) -> np.ndarray:
    """Fee per fill in bps of notional (negative = rebate)."""
    if fee_bps is not None:
        return np.full(fills.height, float(fee_bps))
    charged = pl.col("fee").cast(pl.Float64) / (pl.col("px") * pl.col("sz")) * 1e4
    if "fee_bps" in fills.columns and {"fee", "px", "sz"} <= set(fills.columns):
        # market trades carry a hypothetical fee_bps, own fills the fee they paid: each row its own
        return fills.select(pl.coalesce(pl.col("fee_bps").cast(pl.Float64), charged))["fee_bps"].to_numpy()
    if "fee_bps" in fills.columns:
        return fills["fee_bps"].cast(pl.Float64).to_numpy()
    if {"fee", "px", "sz"} <= set(fills.columns):
        return fills.select(charged.alias("fee"))["fee"].to_numpy()
    raise ValueError("no fee: pass fee_bps or give fills a fee_bps column or fee, px and sz columns")


def _mids_at(
    fills: pl.DataFrame, mids: pl.DataFrame, times: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, pl.Series]:
    """Mid before the fill (offset 0) and at ``times + offset`` for the other offsets (shape offsets x fills, NaN
    where unknown), by :mod:`calibration.mids`' rule, and the age in ms of the mid before the fill (null where
    unknown)."""
    values = np.full((offsets.size, times.size), np.nan)
    age = np.full(times.size, -1, dtype=np.int64)
    mid_t = mids["time"].to_numpy()
    mid_v = mids["mid"].to_numpy()
    if "coin" in fills.columns and "coin" in mids.columns:
        runs = mids.select(pl.col("coin").rle()).unnest("coin")
        if runs["value"].n_unique() != runs.height:
            raise ValueError("mids must be sorted by coin, then time")
        ends = np.cumsum(runs["len"].to_numpy())
        for coin, lo, hi in zip(runs["value"].to_list(), ends - runs["len"].to_numpy(), ends, strict=True):
            rows = (fills["coin"] == coin).arg_true().to_numpy().astype(np.int64)
            _lookup(mid_t[lo:hi], mid_v[lo:hi], times[rows], offsets, rows, values, age)
    else:
        _lookup(mid_t, mid_v, times, offsets, np.arange(times.size), values, age)
    return values, pl.Series("mid_age_ms", age).replace(-1, None)


def _lookup(
    mid_t: np.ndarray,
    mid_v: np.ndarray,
    t: np.ndarray,
    offsets: np.ndarray,
    rows: np.ndarray,
    values: np.ndarray,
    age: np.ndarray,
) -> None:
    """Fill ``values[:, rows]`` and ``age[rows]`` for fills at ``t`` from one coin's sorted mid series."""
    for k, offset in enumerate(offsets):
        if offset == 0:
            found = mid_before_trade(mid_t, t)
        else:
            found = mid_index(mid_t, t + offset)
        known = found >= 0
        values[k, rows[known]] = mid_v[found[known]]
        if offset == 0:
            age[rows[known]] = t[known] - mid_t[found[known]]
