"""When to quote: spread, fill intensity, adverse selection and volatility by UTC hour of day, weekday vs weekend and
minutes to the next hourly funding payment, with CIs, n and a significance test per coin.

Observations are pooled into cells first (a UTC hour of one day, a day, or a funding-window bucket of one hour):
trades, markouts and book states inside a cell are strongly dependent, cells far less so. A bucket's value is the
ratio of its cells' sums (e.g. sum of -markout / trades); its 95% CI is the cluster-robust (by cell) interval of
that ratio with t(G - 1) quantiles, G = cells. Metrics: ``spread_bps`` (time-weighted quoted spread),
``trades_per_minute`` (market trades, i.e. maker fills, per observed minute), ``adverse_selection_5s_bps`` (mean
of -markout_5s of market trades seen by their maker: positive = the mid moved against the maker) and
``volatility_bps_per_sqrt_s`` (from 10 s mid returns; CI bounds are the square roots of the variance's).

Significance (:func:`group_effect_test`): a permutation test of "the metric does not depend on the bucket". Cell
values are demeaned within blocks (the day for hour of day, the hour for the funding window, nothing for
weekday/weekend), bucket labels are permuted within blocks, and the statistic is Welch's studentized
between-bucket statistic. It needs no normality and is robust to dependence inside cells, to day-level shifts and
to buckets of unequal precision; with one day of data the hour-of-day test has no power (p = 1 by construction).
Per-bucket p-values against the rest are Holm-adjusted across buckets (use >= 999 permutations for 24 buckets).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats

from data_lake.tables import TIME_OF_DAY
from validation.screening.market_screen import book_spells, grid_log_returns


@dataclass(frozen=True)
class TimeStructureSettings:
    """The time-structure study: trailing window in days (ending on the studied day), bucket width of the funding
    window in minutes, permutations of the significance test and its seed."""

    lookback_days: int = 28
    bucket_minutes: int = 10
    n_permutations: int = 999
    seed: int = 0


DIMENSIONS = ("hour_of_day", "day_type", "minutes_to_funding")
FUNDING_PERIOD_MINUTES = 60
"""Hyperliquid pays funding every hour, on the hour (UTC)."""
VOL_STEP_MS = 10_000
ADVERSE_HORIZON_COLUMN = "markout_5000ms_bps"


@dataclass(frozen=True)
class Metric:
    """A metric as a ratio of cell sums, with its observation count and an optional transform of the ratio."""

    numerator: str
    denominator: str
    count: str
    transform: Callable[[float], float] | None = None


METRICS = {
    "spread_bps": Metric("spread_bps_ms", "observed_ms", "book_states"),
    "trades_per_minute": Metric("trades", "observed_minutes", "trades"),
    "adverse_selection_5s_bps": Metric("adverse_sum_bps", "markouts", "markouts"),
    "volatility_bps_per_sqrt_s": Metric("var_bps2", "var_seconds", "returns", math.sqrt),
}
SUM_COLUMNS = (
    "spread_bps_ms",
    "observed_ms",
    "book_states",
    "trades",
    "adverse_sum_bps",
    "markouts",
    "var_bps2",
    "var_seconds",
    "returns",
)
ROW_SCHEMA = {"coin": pl.String(), **TIME_OF_DAY.columns_without("date", "coin", "window_start_ms", "window_end_ms")}


def cell_sums(
    trades: pl.DataFrame, book: pl.DataFrame, markouts: pl.DataFrame, end_ms: int, cell_minutes: int = 10
) -> pl.DataFrame:
    """Per coin and ``cell_minutes`` cell (``cell`` = its start, UTC epoch ms) the sums behind every metric:
    ``spread_bps_ms`` / ``observed_ms`` / ``book_states`` (book), ``trades``, ``adverse_sum_bps`` / ``markouts``
    (sum of -markout_5s), ``var_bps2`` / ``var_seconds`` / ``returns`` (10 s mid returns), ``observed_minutes``.

    A book state counts in the cell where it starts (states last at most a minute); ``observed_ms`` is the time
    covered by book states, so capture gaps do not read as a quiet market.
    """
    width = cell_minutes * 60_000
    cell = (pl.col("time") // width * width).alias("cell")
    spells = book_spells(book, end_ms)
    parts = [
        spells.group_by("coin", cell).agg(
            (pl.col("spread_bps") * pl.col("duration_ms")).sum().alias("spread_bps_ms"),
            pl.col("duration_ms").sum().cast(pl.Float64).alias("observed_ms"),
            pl.len().cast(pl.Int64).alias("book_states"),
        ),
        trades.group_by("coin", cell).agg(pl.len().cast(pl.Int64).alias("trades")),
        markouts.filter(pl.col("is_market_trade") & pl.col(ADVERSE_HORIZON_COLUMN).is_not_null())
        .group_by("coin", cell)
        .agg(
            (-pl.col(ADVERSE_HORIZON_COLUMN)).sum().alias("adverse_sum_bps"), pl.len().cast(pl.Int64).alias("markouts")
        ),
        grid_log_returns(spells.select("coin", "time", pl.col("mid").alias("price")), VOL_STEP_MS)
        .group_by("coin", cell)
        .agg(
            ((pl.col("log_return") * 1e4) ** 2).sum().alias("var_bps2"),
            (pl.len() * VOL_STEP_MS / 1000).cast(pl.Float64).alias("var_seconds"),
            pl.len().cast(pl.Int64).alias("returns"),
        ),
    ]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.join(part, on=["coin", "cell"], how="full", coalesce=True)
    filled = joined.with_columns(pl.col(c).fill_null(0) for c in SUM_COLUMNS)
    return filled.with_columns((pl.col("observed_ms") / 60_000).alias("observed_minutes")).sort("coin", "cell")


def analysis_cells(cells: pl.DataFrame, dimension: str, bucket_minutes: int = 10) -> pl.DataFrame:
    """:func:`cell_sums` cells (``cell_minutes`` dividing ``bucket_minutes``) pooled per analysis cell of one
    dimension, with its ``bucket`` label, ``bucket_index`` (sort order) and ``block``:

    ``hour_of_day``: a UTC hour of one day, bucket = the hour, block = the day. ``day_type``: a day, bucket =
    weekday / weekend (Saturday, Sunday UTC), one block. ``minutes_to_funding``: ``bucket_minutes`` of one hour,
    bucket = minutes to the next hourly payment, e.g. ``0-10`` (the last ten minutes before it), block = the hour.
    """
    when = pl.from_epoch("cell", time_unit="ms")
    if dimension == "hour_of_day":
        index, block, label = when.dt.hour().cast(pl.Int32), when.dt.date().cast(pl.String), None
    elif dimension == "day_type":
        index = (when.dt.weekday() >= 6).cast(pl.Int32)
        block, label = pl.lit("all"), pl.when(index == 1).then(pl.lit("weekend")).otherwise(pl.lit("weekday"))
    elif dimension == "minutes_to_funding":
        if FUNDING_PERIOD_MINUTES % bucket_minutes:
            raise ValueError(f"bucket_minutes must divide {FUNDING_PERIOD_MINUTES}")
        to_go = FUNDING_PERIOD_MINUTES - when.dt.minute()
        index = ((to_go - 1) // bucket_minutes).cast(pl.Int32)
        block = when.dt.truncate("1h").cast(pl.String)
        label = pl.format("{}-{}", index * bucket_minutes, (index + 1) * bucket_minutes)
    else:
        raise ValueError(f"unknown dimension {dimension!r}; expected one of {DIMENSIONS}")
    keyed = cells.with_columns(
        index.alias("bucket_index"),
        block.alias("block"),
        (label if label is not None else pl.format("{}", index.cast(pl.String).str.zfill(2))).alias("bucket"),
        (when.dt.date().cast(pl.Datetime("ms")) if dimension == "day_type" else when.dt.truncate("1h")).alias("_key"),
    )
    sums = [pl.col(c).sum() for c in (*SUM_COLUMNS, "observed_minutes")]
    return keyed.group_by("coin", "_key", "bucket", "bucket_index", "block").agg(sums).drop("_key")


@dataclass(frozen=True)
class GroupEffect:
    """Permutation test of "no bucket effect": statistic, p-value, and per bucket (``groups``, sorted codes) the
    Holm-adjusted p-value of its difference from the rest; ``n_cells`` used (cells in blocks of one are dropped)."""

    statistic: float
    p_value: float
    groups: np.ndarray
    p_vs_rest: np.ndarray
    n_cells: int


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values."""
    order = np.argsort(p)
    scaled = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(scaled, 1.0)
    return adjusted


def _group_statistics(
    labels: np.ndarray, wr: np.ndarray, w: np.ndarray, n_groups: int, studentize: bool
) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``labels`` (one labelling of the cells): the omnibus statistic and per group |deviation|,
    studentized by the group's cluster-robust variance when ``studentize``."""
    rows = (labels + n_groups * np.arange(labels.shape[0])[:, None]).ravel()
    size = labels.shape[0] * n_groups

    def total(x: np.ndarray) -> np.ndarray:
        return np.bincount(rows, np.tile(x, labels.shape[0]), minlength=size).reshape(-1, n_groups)

    s, weight = total(wr), total(w)
    mean = s / weight
    if not studentize:
        return (s**2 / weight).sum(axis=1), np.abs(mean)
    cells = total(np.ones_like(w))
    spread = total(wr**2) - 2 * mean * total(w * wr) + mean**2 * total(w**2)
    variance = cells / (cells - 1) * np.maximum(spread, 0.0) / weight**2
    precision = 1 / np.maximum(variance, 1e-12 * variance.mean(axis=1, keepdims=True) + 1e-300)
    centre = (precision * mean).sum(axis=1, keepdims=True) / precision.sum(axis=1, keepdims=True)
    deviation = (mean - centre) * np.sqrt(precision)
    return (deviation**2).sum(axis=1), np.abs(deviation)


def group_effect_test(
    values: np.ndarray,
    weights: np.ndarray,
    groups: np.ndarray,
    blocks: np.ndarray,
    n_permutations: int = 999,
    seed: int = 0,
) -> GroupEffect:
    """Within-block permutation test that the weighted mean of ``values`` is the same in every group.

    Values are demeaned within blocks (weighted). With at least two cells in every group the statistic is Welch's
    (Welch 1951): sum over groups of (m_g - m)^2 / V_g, m_g the group's weighted mean, V_g its cluster-robust
    variance, m the precision-weighted centre; a studentized permutation test is exact under exchangeability and
    stays valid when buckets differ in variance, e.g. through trade intensity (Chung & Romano 2013, Annals of
    Statistics 41(2)). Otherwise it is sum of S_g^2 / W_g (S_g, W_g: group sums of w * value and of w).
    p = (1 + #permuted >= observed) / (1 + n_permutations). Cells with a non-finite value or zero weight, and
    blocks holding a single cell, carry no information and are dropped.
    """
    v, w = np.asarray(values, dtype=float), np.asarray(weights, dtype=float)
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    _, b = np.unique(np.asarray(blocks), return_inverse=True)
    keep = np.isfinite(v) & (w > 0)
    keep &= np.bincount(b[keep], minlength=b.max(initial=0) + 1)[b] >= 2
    codes = np.unique(np.asarray(groups)[keep])
    if codes.size < 2:
        return GroupEffect(math.nan, math.nan, codes, np.full(codes.size, math.nan), int(keep.sum()))
    v, w = v[keep], w[keep]
    g = np.unique(g[keep], return_inverse=True)[1]
    b = np.unique(b[keep], return_inverse=True)[1]
    block_mean = np.bincount(b, w * v) / np.bincount(b, w)
    wr = w * (v - block_mean[b])
    studentize = bool(np.bincount(g).min() >= 2)
    order = np.argsort(b, kind="stable")
    wr, w, g, b = wr[order], w[order], g[order], b[order]
    rng = np.random.default_rng(seed)
    shuffled = np.argsort(b[None, :] + rng.random((n_permutations, b.size)), axis=1)
    stat_obs, dev_obs = _group_statistics(g[None, :], wr, w, codes.size, studentize)
    stat_perm, dev_perm = _group_statistics(g[shuffled], wr, w, codes.size, studentize)
    p_value = (1 + int((stat_perm >= stat_obs[0] * (1 - 1e-12)).sum())) / (n_permutations + 1)
    p_each = (1 + (dev_perm >= dev_obs[0] * (1 - 1e-12)).sum(axis=0)) / (n_permutations + 1)
    return GroupEffect(float(stat_obs[0]), p_value, codes, _holm(p_each), int(v.size))


def _ratio_ci(numerators: np.ndarray, denominators: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Ratio of sums and its cluster-robust CI over cells (null interval with fewer than two cells)."""
    total = denominators.sum()
    value = numerators.sum() / total
    cells = numerators.size
    if cells < 2:
        return value, math.nan, math.nan
    residual = numerators - value * denominators
    se = math.sqrt(cells / (cells - 1) * float((residual**2).sum())) / total
    half = float(stats.t.ppf(0.5 + confidence / 2, cells - 1)) * se
    return value, value - half, value + half


def _metric_rows(
    cells: pl.DataFrame, name: str, metric: Metric, n_permutations: int, seed: int, confidence: float
) -> list[dict]:
    """One row per bucket of one coin's analysis cells for ``metric``."""
    usable = cells.filter(pl.col(metric.denominator) > 0)
    if usable.height == 0:
        return []
    num, den = usable[metric.numerator].to_numpy().astype(float), usable[metric.denominator].to_numpy().astype(float)
    test = group_effect_test(
        num / den, den, usable["bucket_index"].to_numpy(), usable["block"].to_numpy(), n_permutations, seed
    )
    p_rest = dict(zip(test.groups.tolist(), test.p_vs_rest.tolist(), strict=True))
    transform = metric.transform or (lambda x: x)

    def shown(x: float) -> float:
        return transform(max(x, 0.0)) if metric.transform and math.isfinite(x) else x

    overall = shown(num.sum() / den.sum())
    rows = []
    for (bucket, index), part in usable.group_by("bucket", "bucket_index", maintain_order=True):
        value, low, high = _ratio_ci(
            part[metric.numerator].to_numpy().astype(float),
            part[metric.denominator].to_numpy().astype(float),
            confidence,
        )
        rows.append(
            {
                "bucket": bucket,
                "bucket_index": index,
                "metric": name,
                "value": shown(value),
                "ci_low": shown(low),
                "ci_high": shown(high),
                "effect": shown(value) - overall,
                "n": int(part[metric.count].sum()),
                "n_cells": part.height,
                "p_value": test.p_value,
                "p_value_vs_rest": p_rest.get(index, math.nan),
            }
        )
    return rows


def time_structure(
    cells: pl.DataFrame, bucket_minutes: int = 10, n_permutations: int = 999, seed: int = 0, confidence: float = 0.95
) -> pl.DataFrame:
    """Per coin, dimension, bucket and metric: value, CI, effect (bucket minus all buckets), n (observations),
    n_cells, the dimension's permutation p-value and the bucket's Holm-adjusted p-value against the rest."""
    rows = []
    for dimension in DIMENSIONS:
        by_cell = analysis_cells(cells, dimension, bucket_minutes)
        for (coin,), part in by_cell.group_by("coin", maintain_order=True):
            for name, metric in METRICS.items():
                rows += [
                    {"coin": coin, "dimension": dimension, **r}
                    for r in _metric_rows(part, name, metric, n_permutations, seed, confidence)
                ]
    table = pl.DataFrame(rows, schema=ROW_SCHEMA).fill_nan(None)
    return table.sort("coin", "dimension", "metric", "bucket_index")


def lowest_buckets(
    table: pl.DataFrame, metric: str = "adverse_selection_5s_bps", dimension: str = "hour_of_day", level: float = 0.05
) -> pl.DataFrame:
    """Per coin: the bucket with the lowest ``metric``, the dimension's p-value, whether the dimension matters at
    ``level``, and the buckets significantly below the rest (Holm-adjusted, only when the dimension matters)."""
    rows = table.filter((pl.col("metric") == metric) & (pl.col("dimension") == dimension))
    below = (pl.col("p_value") < level) & (pl.col("p_value_vs_rest") < level) & (pl.col("effect") < 0)
    return (
        rows.sort("coin", "value")
        .group_by("coin", maintain_order=True)
        .agg(
            pl.col("bucket").first().alias("lowest_bucket"),
            pl.col("value").first().alias("lowest_value"),
            pl.col("p_value").first(),
            (pl.col("p_value").first() < level).alias("significant"),
            pl.col("bucket").filter(below).sort().alias("significantly_lower"),
        )
        .with_columns(pl.lit(metric).alias("metric"), pl.lit(dimension).alias("dimension"))
    )
