"""Fill intensity of a resting quote: taker orders, their depth, and the curve Lambda(d) = A * exp(-kappa * d).

Model (Avellaneda & Stoikov 2008, Quant. Finance 8(3):217-224; Gueant, Lehalle & Fernandez-Tapia 2013,
Math. Financ. Econ. 7(4):477-507). On one side of the book, taker orders arrive at a stationary rate (Poisson, or
clustered with a known count dispersion). Each order has a *reach* D, independent of its timing: the depth of its
deepest print, measured from the mid just before the order. A quote resting at depth d from the mid is reached by
every order with D >= d, so it is reached at the rate

    Lambda(d) = A * exp(-kappa * d)        for d >= d0,

where d0 is the threshold from which the exponential model is fitted (at or beyond the usual half-spread: no quote
rests inside the touch). Equivalently, orders with D >= d0 arrive at rate lambda0 = A * exp(-kappa * d0) and their
excess reach D - d0 is exponential with rate kappa. A is the extrapolated rate at the mid (d = 0), per second and
per side, the unit GLFT needs. For Poisson arrivals a quote at depth d is reached within tau with probability
1 - exp(-Lambda(d) * tau).

Estimation is by maximum likelihood on the orders, never by least squares on log intensities: the log-linear fit of
hftbacktest's tutorial is biased by the log of small counts and by dropping empty levels
(``tests/test_fill_intensity.py`` shows it), and hummingbot's volume-by-level curve is not an intensity at all.

The model in the project's words, with its papers: ``docs/fill-intensity.md``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import polars as pl
from numba import njit
from scipy import optimize, stats
from statsmodels.stats.diagnostic import lilliefors

from calibration.coverage import Coverage, judged
from calibration.fit_result import FitResult, InsufficientSamples
from calibration.mids import MID_MAX_AGE_MS, mid_before_trade

DepthUnit = Literal["bps", "ticks", "px"]
"""Depth units: basis points of the mid, exchange ticks, or price (quote currency) units."""

MODEL = "fill_intensity"
_MIN_EXPECTED_PER_BIN = 5.0


# ---------------------------------------------------------------------------------------------------------------
# (a) the seed's online estimator


@njit(cache=True)
def _ewma(x: np.ndarray, alpha: float, initial: float) -> np.ndarray:
    out = np.empty(x.size)
    m = initial
    for i in range(x.size):
        if np.isfinite(x[i]):
            m = x[i] if np.isnan(m) else (1.0 - alpha) * m + alpha * x[i]
        out[i] = m
    return out


def ewma_kappa(depth_beyond_best: np.ndarray, *, halflife_orders: float, initial_mean: float = math.nan) -> np.ndarray:
    """The seed's online kappa: ``kappa_i = 1 / m_i`` with ``m_i = (1 - a) m_{i-1} + a x_i`` per taker order.

    ``x_i`` is order i's depth beyond the best quote (any unit; kappa comes out per that unit); negative values
    (prints inside a stale touch) are clipped to 0, non-finite ones leave ``m`` unchanged. ``a = 1 - 0.5 **
    (1 / halflife_orders)``; ``m_0`` is ``initial_mean`` or, when NaN, the first observation (pandas/polars
    ``ewm_mean(adjust=False)``). Returns kappa after each order (inf while the average is 0).

    Rationale: for exponential excess depth, 1 / mean is the MLE of kappa, and the EWMA is its exponentially
    forgetting version with an effective sample of (2 - a) / a orders. Caveats, why the batch fit
    :func:`fit_fill_intensity` is the calibrated number: 1 / EWMA is biased upward (Jensen: relative bias about
    a / (2 - a) for exponential depths), it has no standard error, it says nothing about A, and on a tick lattice
    (most orders at the touch, excess 0) 1 / mean overstates kappa (the geometric, not exponential, case).
    """
    if halflife_orders <= 0:
        raise ValueError(f"halflife_orders must be positive, got {halflife_orders}")
    alpha = 1.0 - 0.5 ** (1.0 / halflife_orders)
    x = np.clip(np.asarray(depth_beyond_best, dtype=np.float64), 0.0, None)
    with np.errstate(divide="ignore"):
        return 1.0 / _ewma(x, alpha, float(initial_mean))


# ---------------------------------------------------------------------------------------------------------------
# (b) taker orders


def taker_orders(
    trades: pl.DataFrame, mids: pl.DataFrame, *, tick_size: float, max_mid_age_ms: int = MID_MAX_AGE_MS
) -> pl.DataFrame:
    """Group one coin's trade prints into taker orders and measure each order's reach from the mid just before it.

    Prints belong to the same taker order when they share the time (ms) and side and either the taker address (the
    buyer for buys, the seller for sells, per ``data_lake.tables.TRADES``) or the transaction hash (null and all-zero
    system hashes never link prints). Links are transitive (connected components).

    ``mids`` has ``time`` (epoch ms) and ``mid``, and optionally ``bid_px_1``/``ask_px_1`` (the ``book`` table
    qualifies). The reference mid is the mid before the trade (:func:`calibration.mids.mid_before_trade`: the last
    one strictly before the order, at most ``max_mid_age_ms`` old); orders without one keep null depths.

    Returns one row per order, sorted by time: ``time, side, taker, hash, n_prints, size, notional, vwap, reach_px``
    (the deepest print: highest price of a buy, lowest of a sell), ``mid_time, mid``, the reach from the mid
    ``depth_px`` (price units), ``depth_bps`` (of the mid) and ``depth_ticks``; with best quotes also ``touch_px``
    (the ask for buys, the bid for sells) and the reach beyond it ``beyond_best_px/_bps/_ticks``. Depths may be
    negative when the mid is stale.
    """
    return order_depths(grouped_taker_orders(trades), mids, tick_size=tick_size, max_mid_age_ms=max_mid_age_ms)


def grouped_taker_orders(trades: pl.DataFrame) -> pl.DataFrame:
    """The first half of :func:`taker_orders`: one coin's prints grouped into taker orders, ``time, side, taker,
    hash, n_prints, size, notional, reach_px, vwap``, sorted by time. A pure function of the trades alone, so the
    window fits keep it per day (:mod:`data_lake.partition_cache`)."""
    if "coin" in trades.columns and trades["coin"].n_unique() > 1:
        raise ValueError("taker_orders expects the trades of one coin")
    side, row = pl.col("side"), pl.col("_row")
    prints = (
        trades.sort("time", maintain_order=True)
        .with_row_index("_row")
        .with_columns(
            _taker=pl.when(side > 0).then(pl.col("buyer")).otherwise(pl.col("seller")),
            _hash_ok=pl.col("hash").is_not_null() & ~pl.col("hash").str.contains(r"^(0x)?0*$"),
        )
        .with_columns(
            _ka=pl.when(pl.col("_taker").is_not_null()).then(row.min().over("time", "side", "_taker")).otherwise(row),
            _kb=pl.when(pl.col("_hash_ok")).then(row.min().over("time", "side", "hash")).otherwise(row),
        )
        .with_columns(_g=pl.min_horizontal("_ka", "_kb"))
    )
    stable = prints["_ka"].equals(prints["_kb"])  # both relations agree: their row minima are the components
    while not stable:  # propagate the smallest row number through both link relations until stable
        linked = prints.with_columns(_g=pl.col("_g").min().over("_ka")).with_columns(_g=pl.col("_g").min().over("_kb"))
        stable = linked["_g"].equals(prints["_g"])
        prints = linked
    return (
        prints.group_by("_g")
        .agg(
            time=pl.col("time").first(),
            side=side.first(),
            taker=pl.col("_taker").drop_nulls().first(),
            hash=pl.col("hash").filter(pl.col("_hash_ok")).first(),
            n_prints=pl.len().cast(pl.Int32),
            size=pl.col("sz").sum(),
            notional=(pl.col("px") * pl.col("sz")).sum(),
            reach_px=(pl.col("px") * side).max() * side.first(),
        )
        .sort("time", "_g")
        .drop("_g")
        .with_columns(vwap=pl.col("notional") / pl.col("size"))
    )


def order_depths(
    orders: pl.DataFrame, mids: pl.DataFrame, *, tick_size: float, max_mid_age_ms: int = MID_MAX_AGE_MS
) -> pl.DataFrame:
    """The second half of :func:`taker_orders`: each grouped order's (:func:`grouped_taker_orders`) reference mid
    and reach from it (and beyond the touch, when ``mids`` has the best quotes)."""
    if tick_size <= 0:
        raise ValueError(f"tick_size must be positive, got {tick_size}")
    side = pl.col("side")
    has_touch = {"bid_px_1", "ask_px_1"} <= set(mids.columns)
    quote_cols = ["bid_px_1", "ask_px_1"] if has_touch else []
    book = (
        mids.filter(pl.col("mid").is_not_null() & pl.col("mid").is_finite() & (pl.col("mid") > 0))
        .select(pl.col("time").alias("mid_time"), "mid", *quote_cols)
        .sort("mid_time")
    )
    found = pl.Series(mid_before_trade(book["mid_time"].to_numpy(), orders["time"].to_numpy(), max_mid_age_ms))
    orders = orders.with_columns(book.select(pl.all().gather(found.replace(-1, None))).get_columns()).with_columns(
        depth_px=side * (pl.col("reach_px") - pl.col("mid"))
    )
    orders = orders.with_columns(
        depth_bps=pl.col("depth_px") / pl.col("mid") * 1e4, depth_ticks=pl.col("depth_px") / tick_size
    )
    if has_touch:
        orders = (
            orders.with_columns(touch_px=pl.when(side > 0).then(pl.col("ask_px_1")).otherwise(pl.col("bid_px_1")))
            .with_columns(beyond_best_px=side * (pl.col("reach_px") - pl.col("touch_px")))
            .with_columns(
                beyond_best_bps=pl.col("beyond_best_px") / pl.col("mid") * 1e4,
                beyond_best_ticks=pl.col("beyond_best_px") / tick_size,
            )
            .drop("bid_px_1", "ask_px_1")
        )
    return orders


# ---------------------------------------------------------------------------------------------------------------
# (c) empirical intensity and the likelihood fit


def exceedance_counts(depths: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Number of depths at or beyond each grid depth (a relative tolerance of 1e-9 absorbs float round-off)."""
    grid = _check_grid(grid)
    ordered = np.sort(np.asarray(depths, dtype=np.float64))
    return ordered.size - np.searchsorted(ordered, grid - _tolerance(grid), side="left")


def fill_intensity_table(
    orders: pl.DataFrame,
    exposure: float | Coverage,
    *,
    grid: np.ndarray,
    unit: DepthUnit = "bps",
    side: int | None = None,
) -> pl.DataFrame:
    """Empirical rate at which a quote resting at each grid depth is reached: orders with reach >= d per second.

    ``exposure``: the window's :class:`~calibration.coverage.Coverage` (orders outside its covered intervals are left
    out, the rate is per covered second) or the seconds of a window covered end to end. With ``side=None`` both sides
    are pooled and the rate is per side (exposure doubled). Columns: ``depth`` (in ``unit``), ``n_orders``,
    ``intensity`` (1/s per side) and its exact Poisson 95% interval ``intensity_lo``/``intensity_hi`` (Garwood
    1936, Biometrika 28:437-442).
    """
    orders, seconds, _ = _on_covered_time(orders, exposure)
    depths, exposure = _side_depths(orders, unit, side, seconds)
    counts = exceedance_counts(depths, grid)
    lo = np.where(counts > 0, stats.chi2.ppf(0.025, 2 * counts) / 2, 0.0)
    hi = stats.chi2.ppf(0.975, 2 * counts + 2) / 2
    return pl.DataFrame(
        {
            "depth": np.asarray(grid, dtype=np.float64),
            "n_orders": counts.astype(np.int64),
            "intensity": counts / exposure,
            "intensity_lo": lo / exposure,
            "intensity_hi": hi / exposure,
        }
    )


def empirical_fill_probability(
    orders: pl.DataFrame,
    *,
    grid: np.ndarray,
    tau_s: float,
    start_ms: int,
    end_ms: int,
    unit: DepthUnit = "bps",
    side: int | None = None,
    coverage: Coverage | None = None,
) -> pl.DataFrame:
    """How often a quote resting at each grid depth would have been reached within ``tau_s``.

    The window ``[start_ms, end_ms)`` is cut into whole intervals of ``tau_s``; with a ``coverage`` only the intervals
    it covers entirely count (one in a gap would read as not reached). For each interval and side the quote counts
    as reached when some order of that side reached at least its depth. Columns: ``depth``, ``p_fill`` (the
    fraction of interval-sides reached), ``se`` (binomial) and ``n_intervals`` (interval-sides). Under the model
    this estimates :func:`fill_probability` ``(depth, A, kappa, tau_s)``.
    """
    tau_ms = tau_s * 1e3
    kept = _whole_blocks(start_ms, end_ms, tau_ms, coverage)
    if kept.size == 0:
        raise ValueError(f"window of {end_ms - start_ms} ms holds no covered interval of {tau_s} s")
    sides = (1, -1) if side is None else (side,)
    col = f"depth_{unit}"
    reach = (
        orders.filter(pl.col(col).is_not_null() & pl.col("side").is_in(sides))
        .with_columns(interval=((pl.col("time") - start_ms) // tau_ms).cast(pl.Int64))
        .filter(pl.col("time") >= start_ms, pl.col("interval").is_in(kept.tolist()))
        .group_by("interval", "side")
        .agg(pl.col(col).max())
    )[col].to_numpy()
    n = kept.size * len(sides)
    p = exceedance_counts(reach, grid) / n
    return pl.DataFrame(
        {"depth": np.asarray(grid, dtype=np.float64), "p_fill": p, "se": np.sqrt(p * (1 - p) / n), "n_intervals": n}
    )


def fill_probability(depth: np.ndarray | float, a: float, kappa: float, tau_s: np.ndarray | float) -> np.ndarray:
    """P(a quote resting at ``depth`` is reached within ``tau_s``) = 1 - exp(-A exp(-kappa depth) tau).

    ``a`` per second, ``kappa`` per unit of ``depth``; exact for Poisson arrivals of orders with the fitted curve
    (clustered arrivals fill less often than this for the same rate).
    """
    return -np.expm1(-a * np.exp(-kappa * np.asarray(depth, dtype=np.float64)) * tau_s)


def dispersion_index(
    times_ms: np.ndarray, *, start_ms: int, end_ms: int, block_s: float = 60.0, coverage: Coverage | None = None
) -> float:
    """Index of dispersion F = Var(N_b) / E(N_b) of event counts in consecutive blocks of ``block_s`` seconds.

    For a stationary point process the batch estimate tends to the long-run Var(N_T) / E(N_T) once blocks are much
    longer than the clustering time (Cox & Lewis 1966, The Statistical Analysis of Series of Events, ch. 5): 1 for
    Poisson arrivals, 1 / (1 - n)^2 for a Hawkes process with branching ratio n. Only whole blocks inside
    ``[start_ms, end_ms)`` count, and with a ``coverage`` only those it covers entirely (an empty block in a gap
    would inflate F); fewer than 10 raise :class:`InsufficientSamples`.
    """
    block_ms = block_s * 1e3
    kept = _whole_blocks(start_ms, end_ms, block_ms, coverage)
    if kept.size < 10:
        raise InsufficientSamples("dispersion_index", kept.size, 10)
    t = np.asarray(times_ms, dtype=np.float64)
    block = np.floor((t[t >= start_ms] - start_ms) / block_ms).astype(np.int64)
    counts = np.bincount(block[block <= kept[-1]], minlength=int(kept[-1]) + 1)[kept]
    if counts.sum() == 0:
        raise InsufficientSamples("dispersion_index", 0, 1)
    return float(counts.var(ddof=1) / counts.mean())


def _whole_blocks(start_ms: int, end_ms: int, width_ms: float, coverage: Coverage | None) -> np.ndarray:
    """Indices k of the blocks [start + k width, start + (k + 1) width) inside [start_ms, end_ms), and covered
    entirely by ``coverage`` when given."""
    k = np.arange(int((end_ms - start_ms) // width_ms), dtype=np.int64)
    if coverage is None or k.size == 0:
        return k
    lo = start_ms + k * width_ms
    return k[coverage.covered_between(lo, lo + width_ms) >= width_ms / 1e3 * (1 - 1e-12)]


def fit_fill_intensity(
    orders: pl.DataFrame,
    exposure: float | Coverage,
    *,
    grid: np.ndarray,
    tick_size: float,
    unit: DepthUnit = "bps",
    method: Literal["grouped", "exact"] = "grouped",
    side: int | None = None,
    dispersion: float = 1.0,
    min_orders: int = 50,
    gof_alpha: float = 0.01,
) -> FitResult:
    """Maximum-likelihood A and kappa of Lambda(d) = A exp(-kappa d), d >= d0 = ``grid[0]``, from taker orders.

    Data: the ``depth_<unit>`` of each order (see :func:`taker_orders`) observed on the covered intervals of the
    window's ``exposure`` (:class:`~calibration.coverage.Coverage`), or for ``exposure`` seconds of a window covered
    end to end. With a Coverage the likelihood's exposure is the covered time only (gaps excluded), orders outside
    the covered intervals are left out and counted (``orders_outside_coverage``), and the coverage is judged by
    :func:`calibration.coverage.coverage_report`: below 10 minutes covered the fit is refused
    (:class:`~calibration.coverage.InsufficientCoverage`), below half the window its status is ``low_coverage``, and
    goodness_of_fit carries ``covered_s``, ``window_s``, ``covered_fraction``, ``covered_intervals``. Let T be the
    covered seconds; ``side=None`` pools buys and sells (exposure E = 2T, A per side), +1/-1 fits one side (E = T).
    Orders with reach below d0 are outside the model; let n orders reach d0 or beyond.

    ``method="exact"`` (continuous depths). The orders beyond d0 form a marked Poisson process with mark density
    A kappa exp(-kappa d), so log L = n log A + n log kappa - kappa sum(D_i) - A exp(-kappa d0) E, maximised by

        kappa = n / sum(D_i - d0),        A = (n / E) exp(kappa d0).

    ``method="grouped"`` (depths on a tick lattice, or binned). With bins [d_j, d_{j+1}) from the grid (the last
    one open), the counts c_j are independent Poisson with means mu_j = A E (exp(-kappa d_j) - exp(-kappa d_{j+1})).
    Profiling A gives A E exp(-kappa d0) = n, and kappa maximises sum_j c_j log q_j(kappa), q_j = mu_j / sum mu
    (a one-dimensional search). On a lattice, grid points at the lattice levels make this the exact likelihood;
    the continuous formula would fit a geometric law with the wrong rate.

    Standard errors. In (lambda0, kappa) the likelihood separates, n log lambda0 - lambda0 E + sum_j c_j log q_j
    (+ const): the count n carries lambda0 and, given n, the bin counts are multinomial in kappa, so the two
    estimates are orthogonal. SE(kappa) is the inverse root of the multinomial expected information
    n sum_j q_j'^2 / q_j (for "exact", kappa / sqrt(n)); SE(lambda0) = sqrt(F n) / E with F = ``dispersion``, the
    index of dispersion Var(N) / E(N) of the order count: 1 for Poisson arrivals, above 1 for clustered (Hawkes)
    taker flow, where the Poisson SE is too small (estimate F with :func:`dispersion_index`, or use
    1 / (1 - branching ratio)^2 from a Hawkes fit). SE(A) follows by the delta method,
    SE(A) / A = sqrt(F / n + d0^2 SE(kappa)^2). With F = 1 this is the inverse Fisher information of (A, kappa).
    kappa is fitted in ``unit`` and converted with the window's mean mid and ``tick_size`` (exact only while the
    mid barely moves; a warning says when it moved more than 5%).

    Goodness of fit: Pearson chi-square and deviance of the grid bins (tail bins merged until every expected count
    is at least 5; df = bins - 2, approximate for "exact" by Chernoff & Lehmann 1954) and, for "exact", the
    Lilliefors test of exponential excess depth. Given n these are multinomial statistics, valid under clustered
    arrivals as long as reach is independent of timing. Gates: fewer than ``min_orders`` orders beyond d0 or
    fewer than two non-empty bins raises :class:`InsufficientSamples`; a rejected fit (p < ``gof_alpha``), an
    imprecise kappa (SE above 25%) or orders without a mid are reported in ``warnings``.
    """
    grid = _check_grid(grid)
    if unit not in ("bps", "ticks", "px"):
        raise ValueError(f"unknown depth unit {unit!r}")
    col = f"depth_{unit}"
    report = exposure.report(MODEL) if isinstance(exposure, Coverage) else None
    covered, seconds, _ = _on_covered_time(orders, exposure)
    fitted_sides = pl.col("side").is_in((1, -1) if side is None else (side,))
    outside = orders.filter(fitted_sides).height - covered.filter(fitted_sides).height
    orders = covered
    warnings: list[str] = [f"{outside} orders outside the covered intervals were left out"] if outside else []
    missing = orders.filter(pl.col(col).is_null() & pl.col("side").is_in((1, -1) if side is None else (side,))).height
    if missing:
        warnings.append(
            f"{missing} orders without a fresh mid were left out; A is biased low unless the exposure excludes those "
            "gaps"
        )
    depths, side_exposure = _side_depths(orders, unit, side, seconds)
    d0 = float(grid[0])
    beyond = depths[depths >= d0 - _tolerance(grid)]
    n = beyond.size
    if n < min_orders:
        raise InsufficientSamples(MODEL, n, min_orders)
    counts = -np.diff(np.append(exceedance_counts(beyond, grid), 0))
    if np.count_nonzero(counts) < 2:
        raise InsufficientSamples(MODEL, int(np.count_nonzero(counts)), 2)

    if method == "exact":
        kappa = n / np.maximum(beyond - d0, 0.0).sum()
        se_kappa = kappa / math.sqrt(n)
    elif method == "grouped":
        kappa = _grouped_kappa(counts, grid)
        se_kappa = 1.0 / math.sqrt(n * _multinomial_information(kappa, grid))
    else:
        raise ValueError(f"unknown method {method!r}")
    if dispersion <= 0:
        raise ValueError(f"dispersion must be positive, got {dispersion}")
    lambda0 = n / side_exposure
    a = lambda0 * math.exp(kappa * d0)
    se_a = a * math.sqrt(dispersion / n + (d0 * se_kappa) ** 2)

    gof = _binned_gof(counts, n * _bin_probabilities(kappa, grid))
    if method == "exact":
        ks, ks_p = lilliefors(beyond - d0, dist="exp", pvalmethod="table")
        gof |= {"lilliefors_stat": float(ks), "lilliefors_p": float(ks_p)}
    gof["dispersion"] = dispersion
    gof["orders_outside_coverage"] = float(outside)
    if gof["pearson_p"] < gof_alpha:
        warnings.append(f"exponential depth model rejected by Pearson chi2 (p={gof['pearson_p']:.3g})")
    if se_kappa > 0.25 * kappa:
        warnings.append(f"kappa imprecise: SE {se_kappa:.3g} is {se_kappa / kappa:.0%} of the estimate")

    mid = orders.filter(pl.col(col).is_not_null())["mid"]
    mid_ref = cast(float, mid.mean())
    if (cast(float, mid.max()) - cast(float, mid.min())) / mid_ref > 0.05:
        warnings.append("mid moved more than 5% in the window: kappa unit conversions are approximate")
    per_px = {"bps": 1e4 / mid_ref, "ticks": 1.0 / tick_size, "px": 1.0}  # depth units per price unit
    kappa_px, se_kappa_px = kappa * per_px[unit], se_kappa * per_px[unit]
    estimates = {"A": a, "lambda_d0": lambda0, "d0": d0, "mid_ref": mid_ref}
    se_lambda0 = math.sqrt(dispersion * n) / side_exposure
    std_errors = {"A": se_a, "lambda_d0": se_lambda0, "d0": math.nan, "mid_ref": math.nan}
    units = {"A": "1/s per side", "lambda_d0": "1/s per side", "d0": unit, "mid_ref": "px"}
    for u, scale in per_px.items():
        estimates[f"kappa_{u}"] = float(kappa_px / scale)
        std_errors[f"kappa_{u}"] = float(se_kappa_px / scale)
        units[f"kappa_{u}"] = f"1/{u}"
    fit = FitResult(
        model=MODEL,
        n=n,
        estimates=estimates,
        std_errors=std_errors,
        units=units,
        goodness_of_fit=gof,
        warnings=tuple(warnings),
    )
    return fit if report is None else judged(fit, report)


def _check_grid(grid: np.ndarray) -> np.ndarray:
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 2 or not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
        raise ValueError("grid must be a finite, strictly increasing 1-d array of at least two depths")
    return grid


def _tolerance(grid: np.ndarray) -> float:
    return 1e-9 * max(float(np.max(np.abs(grid))), np.finfo(float).tiny)


def _on_covered_time(orders: pl.DataFrame, exposure: float | Coverage) -> tuple[pl.DataFrame, float, int]:
    """The orders observed, the observed seconds and how many orders were left out: a Coverage keeps the orders in
    its covered intervals and gives its covered seconds; a number is the seconds of a window covered end to end."""
    if not isinstance(exposure, Coverage):
        return orders, float(exposure), 0
    inside = exposure.contains(orders["time"])
    return orders.filter(pl.Series(inside)), exposure.seconds, int(inside.size - np.count_nonzero(inside))


def _side_depths(
    orders: pl.DataFrame, unit: DepthUnit, side: int | None, exposure_s: float
) -> tuple[np.ndarray, float]:
    if exposure_s <= 0:
        raise ValueError(f"exposure_s must be positive, got {exposure_s}")
    sides = (1, -1) if side is None else (side,)
    col = f"depth_{unit}"
    depths = orders.filter(pl.col("side").is_in(sides) & pl.col(col).is_not_null())[col].to_numpy()
    return depths.astype(np.float64), exposure_s * len(sides)


def _bin_probabilities(kappa: float, grid: np.ndarray) -> np.ndarray:
    """q_j = P(d_j <= D < d_{j+1} | D >= d0) for exponential excess depth; the last bin is open."""
    u = grid - grid[0]
    q = np.exp(-kappa * u)
    q[:-1] *= -np.expm1(-kappa * np.diff(u))
    return q


def _grouped_kappa(counts: np.ndarray, grid: np.ndarray) -> float:
    """The multinomial MLE of kappa from bin counts, by a bounded search on log kappa around a moment start."""
    u = grid - grid[0]
    width = np.append(np.diff(u), np.diff(u)[-1])
    start = counts.sum() / max(float(np.sum(counts * (u + width / 2))), np.finfo(float).tiny)

    def negloglik(log_kappa: float) -> float:
        return -float(np.sum(counts * np.log(_bin_probabilities(math.exp(log_kappa), grid))))

    lo, hi = math.log(start) - 12.0, math.log(start) + 12.0
    res = optimize.minimize_scalar(negloglik, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    if not res.success or min(res.x - lo, hi - res.x) < 1e-3:
        raise RuntimeError(f"grouped kappa search found no interior optimum for bin counts {counts.tolist()}")
    return math.exp(res.x)


def _multinomial_information(kappa: float, grid: np.ndarray) -> float:
    """Expected information about kappa per order of the bin probabilities q_j: sum_j q_j'(kappa)^2 / q_j."""
    u = grid - grid[0]
    e = np.exp(-kappa * u)
    dq = -u * e
    dq[:-1] += u[1:] * e[1:]
    return float(np.sum(dq**2 / _bin_probabilities(kappa, grid)))


def _binned_gof(counts: np.ndarray, mu: np.ndarray) -> dict[str, float]:
    """Pearson chi2 and deviance of bin counts against expected counts ``mu`` (summing to the observed total), tail
    bins merged until every expected count is >= 5; df = bins - 2 (the total and kappa are fitted)."""
    c, m = list(counts.astype(float)), list(mu)
    while len(m) > 1 and m[-1] < _MIN_EXPECTED_PER_BIN:
        tail_c, tail_m = c.pop(), m.pop()
        c[-1] += tail_c
        m[-1] += tail_m
    c_arr, m_arr = np.array(c), np.array(m)
    df = c_arr.size - 2
    pearson = float(np.sum((c_arr - m_arr) ** 2 / m_arr))
    deviance = float(2 * np.sum(_deviance_terms(c_arr, m_arr)))
    return {
        "pearson_chi2": pearson,
        "pearson_p": float(stats.chi2.sf(pearson, df)) if df > 0 else math.nan,
        "deviance": deviance,
        "deviance_p": float(stats.chi2.sf(deviance, df)) if df > 0 else math.nan,
        "df": float(df),
    }


def _deviance_terms(c: np.ndarray, m: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(c > 0, c * np.log(c / m), 0.0) - (c - m)


# ---------------------------------------------------------------------------------------------------------------
# per-segment fits


def segment_by_bar(orders: pl.DataFrame, bars: pl.DataFrame, *, bar_ms: int) -> pl.DataFrame:
    """Give each order the ``segment`` of the bar holding it (``bars``: bar start ``time`` in ms, ``segment``).

    Orders outside every bar are dropped. For regime segments use the causal filter's state per bar
    (``calibration.regimes.filter_probabilities``), never smoothed posteriors, when the fit feeds a quoter.
    """
    b = bars.select(pl.col("time").alias("_bar"), "segment").sort("_bar")
    return (
        orders.sort("time")
        .join_asof(b, left_on="time", right_on="_bar", strategy="backward", tolerance=bar_ms - 1, coalesce=False)
        .filter(pl.col("_bar").is_not_null())
        .drop("_bar")
    )


def bar_exposure(bars: pl.DataFrame, *, bar_ms: int, coverage: Coverage | None = None) -> dict[Hashable, float]:
    """Seconds observed per segment: the covered seconds of its (distinct) bars, each bar counting its whole length
    when no ``coverage`` is given. A segment whose bars are all in gaps observes 0 s and is left out."""
    distinct = bars.unique("time")
    start = distinct["time"].to_numpy()
    seconds = np.full(start.size, bar_ms / 1e3) if coverage is None else coverage.covered_between(start, start + bar_ms)
    per = distinct.with_columns(_seconds=pl.Series(seconds)).group_by("segment").agg(pl.col("_seconds").sum())
    return {segment: observed for segment, observed in per.iter_rows() if observed > 0}


def hour_of_day_bars(start_ms: int, end_ms: int, *, bar_ms: int = 60_000) -> pl.DataFrame:
    """Bars of ``bar_ms`` covering ``[start_ms, end_ms)`` whose ``segment`` is the UTC hour of day (0-23)."""
    first = -(-start_ms // bar_ms) * bar_ms
    times = np.arange(first, end_ms - bar_ms + 1, bar_ms, dtype=np.int64)
    return pl.DataFrame({"time": times, "segment": (times // 3_600_000 % 24).astype(np.int32)})


def fit_fill_intensity_by_segment(
    orders: pl.DataFrame, exposure_s: Mapping[Hashable, float], **fit_kwargs: Any
) -> dict[Hashable, FitResult]:
    """:func:`fit_fill_intensity` per value of the orders' ``segment`` column (regime, hour of day, ...).

    ``exposure_s`` maps each segment to its observed seconds (:func:`bar_exposure`); a segment with too few orders
    gets ``FitResult.insufficient``.
    """
    fits: dict[Hashable, FitResult] = {}
    for segment, seconds in exposure_s.items():
        try:
            fits[segment] = fit_fill_intensity(orders.filter(pl.col("segment") == segment), seconds, **fit_kwargs)
        except InsufficientSamples as error:
            fits[segment] = FitResult.insufficient(error)
    return fits


# ---------------------------------------------------------------------------------------------------------------
# (d) own fills against the market-trade estimate


@dataclass(frozen=True)
class FillRateCheck:
    """Own quotes' fills against the fill probabilities predicted from the market-trade fit.

    ``z`` = (actual - predicted) / sqrt(sum p (1 - p)) with its two-sided normal ``p_value`` (quotes independent);
    ``brier`` is the mean squared error of the probabilities; ``by_depth`` the same counts per depth quantile bucket.
    """

    n_quotes: int
    predicted_fills: float
    actual_fills: int
    ratio: float
    z: float
    p_value: float
    brier: float
    by_depth: pl.DataFrame


def predicted_vs_actual_fill_rate(
    quotes: pl.DataFrame,
    a: float,
    kappa: float,
    *,
    depth_col: str = "depth_bps",
    duration_col: str = "duration_s",
    filled_col: str = "filled",
    n_buckets: int = 5,
) -> FillRateCheck:
    """Check a fitted (A, kappa) against own quotes: one row per resting episode of an own order.

    Each episode rested ``duration_col`` seconds at ``depth_col`` from the mid (same unit as ``kappa``) and was
    ``filled`` (at least partly) or not; its predicted probability is :func:`fill_probability`. Market orders that
    reach an own price level may fill the queue ahead of it, so actual below predicted at the touch is expected
    (queue position), while actual above predicted flags fills the market-trade curve does not see.
    """
    if quotes.height == 0:
        raise InsufficientSamples("fill_rate_check", 0, 1)
    p = fill_probability(quotes[depth_col].to_numpy(), a, kappa, quotes[duration_col].to_numpy())
    y = quotes[filled_col].cast(pl.Float64).to_numpy()
    var = float(np.sum(p * (1 - p)))
    z = (y.sum() - p.sum()) / math.sqrt(var) if var > 0 else math.nan
    table = quotes.select(depth=pl.col(depth_col), filled=pl.col(filled_col).cast(pl.Int64)).with_columns(
        predicted=pl.Series(p),
        bucket=pl.col("depth").bin_quantiles(n_buckets, labels=False),
    )
    by_depth = (
        table.group_by("bucket")
        .agg(
            n=pl.len(),
            depth_mean=pl.col("depth").mean(),
            predicted=pl.col("predicted").sum(),
            actual=pl.col("filled").sum(),
        )
        .sort("depth_mean")
    )
    return FillRateCheck(
        n_quotes=quotes.height,
        predicted_fills=float(p.sum()),
        actual_fills=int(y.sum()),
        ratio=float(y.sum() / p.sum()) if p.sum() > 0 else math.nan,
        z=float(z),
        p_value=float(2 * stats.norm.sf(abs(z))) if math.isfinite(z) else math.nan,
        brier=float(np.mean((p - y) ** 2)),
        by_depth=by_depth,
    )
