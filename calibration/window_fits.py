"""The fits of one training window as the fit assets run them (pure: frames in, FitResults out), and their helpers.

Each ``fit_*_window`` returns ``(segment, FitResult)`` pairs in storage order (segments ``all``, ``side=buy``,
``regime=calm``, ``hour=13`` ...); a fit with too few samples is ``FitResult.insufficient``, never a number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from calibration.coverage import Coverage, judged
from calibration.fill_intensity import (
    FillRateCheck,
    bar_exposure,
    dispersion_index,
    fit_fill_intensity,
    fit_fill_intensity_by_segment,
    hour_of_day_bars,
    predicted_vs_actual_fill_rate,
    segment_by_bar,
)
from calibration.fit_result import FitResult, InsufficientSamples
from calibration.hawkes import hawkes_exp_residuals, merge_ties
from calibration.hawkes_bivariate_fit import fit_hawkes_exp_bivariate
from calibration.hawkes_fit import baseline_rates, fit_hawkes_exp
from calibration.mids import mid_index
from calibration.regimes import (
    REGIME_FEATURES,
    RegimeParams,
    fit_regime_hmm,
    regime_beliefs,
    regime_features,
    state_summary,
)
from data_lake.units import MINUTE_MS

SIDES = {1: "buy", -1: "sell"}

Segmented = list[tuple[str, FitResult]]
"""(segment, fit) pairs of one window, in storage order."""


@dataclass(frozen=True)
class RegimeFitSettings:
    """EM starts per number of states of the nightly HMM fit: ``restarts`` without a warm start, ``warm_restarts``
    beside the previous day's fit of that number of states (the window moved by one day: its optimum is near)."""

    restarts: int = 10
    warm_restarts: int = 3


@dataclass(frozen=True)
class KappaFitSettings:
    """Fill-intensity fit: depths in ticks on the price lattice, from ``d0_ticks`` (half a one-tick spread)."""

    d0_ticks: float = 0.5


@dataclass(frozen=True, eq=False)
class RegimeWindow:
    """The HMM of a window: ``all`` (transitions, per-state moments, ``n_states``, ``bic``) and one regime-table
    fit per state (``regime=<state>``); ``params`` and the window's causal ``beliefs`` are None when insufficient;
    ``candidates``: the best HMM of every number of states tried (empty when insufficient)."""

    fits: Segmented
    params: RegimeParams | None
    beliefs: pl.DataFrame | None
    candidates: dict[int, RegimeParams]


@dataclass(frozen=True, eq=False)
class KappaWindow:
    """Fill-intensity fits of a window with what they were fitted on (``orders`` from ``taker_orders``, the tick
    lattice ``grid`` in ticks, ``tick_size``, the order-count ``dispersion`` index)."""

    fits: Segmented
    orders: pl.DataFrame
    grid: np.ndarray
    tick_size: float
    dispersion: float


@dataclass(frozen=True, eq=False)
class HawkesWindow:
    """Univariate (pooled sides) and bivariate (buy, sell) Hawkes fits; ``residuals``: the pooled fit's
    time-rescaled inter-event times (None when that fit is insufficient)."""

    fits: Segmented
    residuals: np.ndarray | None


def fit_regime_window(bars: pl.DataFrame, **hmm_kwargs: Any) -> RegimeWindow:
    """:func:`calibration.regimes.fit_regime_hmm` on the window's 1 min feature bars, the causal beliefs under the
    fitted HMM (:func:`calibration.regimes.regime_beliefs`) and the regime table (:func:`state_summary`)."""
    x = regime_features(bars).select(REGIME_FEATURES).to_numpy()
    try:
        fit = fit_regime_hmm(x, feature_names=REGIME_FEATURES, **hmm_kwargs)
    except InsufficientSamples as error:
        return RegimeWindow([("all", FitResult.insufficient(error))], None, None, {})
    r, gof = fit.result, fit.result.goodness_of_fit
    summary = FitResult(
        model=r.model,
        n=r.n,
        estimates={**r.estimates, "n_states": gof["n_states"], "bic": gof["bic"]},
        std_errors={**r.std_errors, "n_states": math.nan, "bic": math.nan},
        units={**r.units, "n_states": "states", "bic": "1"},
        goodness_of_fit=gof,
        warnings=r.warnings,
    )
    beliefs = regime_beliefs(bars, fit.params)
    table = [(f"regime={s}", f) for s, f in state_summary(fit, beliefs).items()]
    return RegimeWindow([("all", summary), *table], fit.params, beliefs, fit.candidates)


def fit_kappa_window(
    orders: pl.DataFrame,
    mids: pl.DataFrame,
    *,
    tick_size: float,
    coverage: Coverage,
    beliefs: pl.DataFrame | None = None,
    order_updates: pl.DataFrame | None = None,
    fills: pl.DataFrame | None = None,
    d0_ticks: float = KappaFitSettings.d0_ticks,
) -> KappaWindow:
    """Fill intensity of one coin over the window of ``coverage`` by grouped MLE on the tick lattice (``unit="ticks"``),
    from the window's taker ``orders`` (:func:`calibration.fill_intensity.taker_orders` with ``tick_size``), its
    ``mids`` (``time, mid``: :func:`calibration.mids.mid_series`) and ``tick_size`` (:func:`infer_tick_size`).

    Exposure is the covered time of ``coverage`` (:class:`calibration.coverage.Coverage` of the book's rows), per
    segment the covered seconds of its bars; orders outside it are left out. Every segment's fit carries the
    window's coverage verdict (:func:`calibration.coverage.judged`: ``low_coverage`` below half the window).

    Segments: ``all`` and ``side=buy``/``side=sell`` (SE(A) with the measured count dispersion of those orders),
    ``regime=<state>`` when ``beliefs`` are given (each order takes the regime known when it arrived: the belief
    of the last completed bar, ``beliefs.time`` being the bar's end), ``hour=HH`` (UTC), and ``own_quotes``:
    :func:`predicted_vs_actual_fill_rate` of own resting orders (``order_updates`` with the ``fills`` table) when
    there are any.
    """
    if orders.height == 0 or mids.height == 0:
        no_data = FitResult.insufficient(InsufficientSamples("fill_intensity", orders.height, 1))
        return KappaWindow([("all", no_data)], orders, np.array([]), math.nan, math.nan)
    start_ms, end_ms = coverage.start_ms, coverage.end_ms
    grid = lattice_grid(orders["depth_ticks"].drop_nulls().to_numpy(), d0_ticks)
    dispersion = _dispersion(orders, coverage)
    kwargs = {"grid": grid, "tick_size": tick_size, "unit": "ticks"}
    overall = _attempt(fit_fill_intensity, orders, coverage, dispersion=dispersion, **kwargs)
    fits = [("all", overall)]
    for side, name in SIDES.items():
        side_dispersion = _dispersion(orders.filter(pl.col("side") == side), coverage)
        fit = _attempt(fit_fill_intensity, orders, coverage, side=side, dispersion=side_dispersion, **kwargs)
        fits.append((f"side={name}", fit))
    segments = []
    if beliefs is not None:
        bars = beliefs.select("time", segment="regime").filter(pl.col("time") + MINUTE_MS <= end_ms)
        segments += _segment_fits(orders, bars, coverage, "regime={}", dispersion=dispersion, **kwargs)
    hours = hour_of_day_bars(start_ms, end_ms)
    segments += _segment_fits(orders, hours, coverage, "hour={:02d}", dispersion=dispersion, **kwargs)
    fits += _judged_segments(segments, coverage, "fill_intensity")
    if overall.ok and order_updates is not None and fills is not None and order_updates.height:
        own = quote_episodes(order_updates, fills, mids, tick_size=tick_size, end_ms=end_ms)
        if own.height:
            a, kappa = overall.estimates["A"], overall.estimates["kappa_ticks"]
            check = predicted_vs_actual_fill_rate(own, a, kappa, depth_col="depth_ticks")
            fits.append(("own_quotes", fill_rate_result(check)))
    return KappaWindow(fits, orders, grid, tick_size, dispersion)


def fit_hawkes_window(arrivals_ms: Mapping[int, np.ndarray], *, coverage: Coverage) -> HawkesWindow:
    """Hawkes MLE of taker-order arrivals (epoch ms per aggressor side +1/-1, sorted: :func:`order_arrival_times`) on
    the covered intervals of ``coverage`` (gaps excluded), in seconds since the epoch so that the hour-of-day
    baseline reads UTC hours: ``all`` with model ``hawkes_exp`` (both sides pooled, baseline chosen by likelihood
    ratio) and ``all`` with ``hawkes_exp_bivariate``. ``residuals``: the pooled fit's, under its chosen baseline,
    whenever it has estimates (``ok`` or ``low_coverage``)."""
    start_s, end_s = coverage.start_ms / 1e3, coverage.end_ms / 1e3
    if end_s <= start_s:
        return HawkesWindow([("all", _no_data("hawkes_exp")), ("all", _no_data("hawkes_exp_bivariate"))], None)
    covered = coverage.intervals / 1e3
    arrivals = {side: np.asarray(t, dtype=np.float64) / 1e3 for side, t in arrivals_ms.items()}
    pooled = np.sort(np.concatenate(list(arrivals.values())))
    window: dict[str, Any] = {"start_time": start_s, "covered": covered}
    univariate = _attempt(fit_hawkes_exp, pooled, end_s, **window)
    bivariate = _attempt(fit_hawkes_exp_bivariate, arrivals[1], arrivals[-1], end_s, **window)
    residuals = None
    if univariate.estimates:
        e = univariate.estimates
        rates = baseline_rates(univariate)
        residuals = hawkes_exp_residuals(pooled, end_s, rates, e["alpha"], e["beta"], **window)
    return HawkesWindow([("all", univariate), ("all", bivariate)], residuals)


def _attempt(fit: Any, *args: Any, **kwargs: Any) -> FitResult:
    """Run a fit; too few samples gives ``FitResult.insufficient``."""
    try:
        return fit(*args, **kwargs)
    except InsufficientSamples as error:
        return FitResult.insufficient(error)


def _no_data(model: str) -> FitResult:
    """The status of a fit whose window holds no data at all."""
    return FitResult.insufficient(InsufficientSamples(model, 0, 1))


def _dispersion(orders: pl.DataFrame, coverage: Coverage) -> float:
    """Index of dispersion of order counts per fully covered minute (1.0, Poisson, when too few minutes are
    covered to measure it)."""
    try:
        return dispersion_index(
            orders["time"].to_numpy(), start_ms=coverage.start_ms, end_ms=coverage.end_ms, coverage=coverage
        )
    except InsufficientSamples:
        return 1.0


def _segment_fits(
    orders: pl.DataFrame, bars: pl.DataFrame, coverage: Coverage, label: str, **fit_kwargs: Any
) -> Segmented:
    """Fill-intensity fits per ``segment`` of the 1 min ``bars`` holding each covered order, each segment exposed
    for the covered seconds of its bars; labelled ``label.format(seg)``."""
    covered = orders.filter(pl.Series(coverage.contains(orders["time"])))
    fits = fit_fill_intensity_by_segment(
        segment_by_bar(covered, bars, bar_ms=MINUTE_MS),
        bar_exposure(bars, bar_ms=MINUTE_MS, coverage=coverage),
        **fit_kwargs,
    )
    return [(label.format(segment), fit) for segment, fit in sorted(fits.items())]


def _judged_segments(segments: Segmented, coverage: Coverage, model: str) -> Segmented:
    """Segment fits under their window's coverage verdict; a window covered too little refuses them all."""
    try:
        report = coverage.report(model)
    except InsufficientSamples as error:
        return [(label, fit if not fit.ok else FitResult.insufficient(error)) for label, fit in segments]
    return [(label, judged(fit, report)) for label, fit in segments]


RESTING_STATUSES = ("open", "triggered")
"""Order statuses that leave an order resting; any other status (filled, canceled, rejected, ...) ends it."""


def infer_tick_size(prices: pl.Series) -> float:
    """The price tick: the smallest gap between distinct prices, rounded to a power of ten (Hyperliquid ticks are
    powers of ten: at most 5 significant figures and 6 - szDecimals decimals). Raises without two prices."""
    distinct = np.sort(prices.drop_nulls().unique().to_numpy())
    gaps = np.diff(distinct)
    gaps = gaps[gaps > 1e-12 * max(float(np.abs(distinct).max(initial=0.0)), 1.0)]
    if gaps.size == 0:
        raise ValueError("need at least two distinct prices to infer the tick size")
    return float(10.0 ** round(math.log10(gaps.min())))


def lattice_grid(depth_ticks: np.ndarray, d0_ticks: float = 0.5, max_bins: int = 200) -> np.ndarray:
    """Depth grid in ticks for the grouped fill-intensity fit: ``d0, d0 + 1, ...`` (one bin per price level) up to
    the deepest reach at or beyond ``d0`` (at least two, at most ``max_bins`` points; the last bin is open)."""
    beyond = depth_ticks[np.isfinite(depth_ticks) & (depth_ticks >= d0_ticks)]
    levels = int(math.ceil(float(beyond.max()) - d0_ticks)) + 1 if beyond.size else 2
    return d0_ticks + np.arange(float(min(max(levels, 2), max_bins)))


def order_arrival_times(trades: pl.DataFrame) -> dict[int, np.ndarray]:
    """Taker-order arrival times (epoch ms, sorted) per aggressor side (+1, -1): the prints of one order (same ms,
    same taker: the buyer of a buy, the seller of a sell) merged by :func:`calibration.hawkes.merge_ties`. Prints of
    one order share their ms, so days can be done one at a time and concatenated."""
    out = {}
    for side, taker in ((1, "buyer"), (-1, "seller")):
        prints = trades.filter(pl.col("side") == side)
        keys = prints[taker].fill_null(prints["hash"]).fill_null(prints["tid"].cast(pl.String))
        out[side] = merge_ties(prints["time"].to_numpy(), keys).astype(np.int64)
    return out


def quote_episodes(
    order_updates: pl.DataFrame, fills: pl.DataFrame, mids: pl.DataFrame, *, tick_size: float, end_ms: int
) -> pl.DataFrame:
    """One row per own resting order: ``oid, side, placed_ms, depth_ticks, duration_s, filled``.

    Placed at ``order_time`` (else its first update); it rests until its first status outside
    :data:`RESTING_STATUSES`, else ``end_ms``. ``depth_ticks = side * (mid - limit_px) / tick`` from the mid at
    placement (``mids``: ``time, mid``; :func:`calibration.mids.mid_index`: at most ``MID_MAX_AGE_MS`` old),
    positive away from the mid; ``filled`` when the ``fills`` table has a fill of that oid before the episode ends.
    Orders placed through the mid (negative depth) or without a mid are dropped. The depth at placement stands for
    the whole episode (the mid moves meanwhile).
    """
    ends = (
        order_updates.filter(~pl.col("status").is_in(RESTING_STATUSES)).group_by("oid").agg(end_ms=pl.col("time").min())
    )
    orders = (
        order_updates.sort("time")
        .group_by("oid")
        .agg(
            side=pl.col("side").first(),
            limit_px=pl.col("limit_px").first(),
            placed_ms=pl.coalesce(pl.col("order_time").min(), pl.col("time").min()),
        )
        .join(ends, on="oid", how="left")
        .with_columns(end_ms=pl.col("end_ms").fill_null(end_ms).clip(upper_bound=end_ms))
        .sort("placed_ms")
    )
    known = mids.select("time", "mid").sort("time", maintain_order=True)
    found = pl.Series(mid_index(known["time"].to_numpy(), orders["placed_ms"].to_numpy())).replace(-1, None)
    orders = orders.with_columns(known["mid"].gather(found))
    first_fill = fills.group_by("oid").agg(fill_ms=pl.col("time").min())
    return (
        orders.join(first_fill, on="oid", how="left")
        .select(
            "oid",
            "side",
            "placed_ms",
            depth_ticks=pl.col("side") * (pl.col("mid") - pl.col("limit_px")) / tick_size,
            duration_s=(pl.col("end_ms") - pl.col("placed_ms")) / 1e3,
            filled=pl.col("fill_ms").is_not_null() & (pl.col("fill_ms") <= pl.col("end_ms")),
        )
        .filter(pl.col("depth_ticks") >= 0, pl.col("duration_s") > 0)
    )


def fill_rate_result(check: FillRateCheck) -> FitResult:
    """:class:`~calibration.fill_intensity.FillRateCheck` as a FitResult (model ``fill_rate_check``), n = quotes."""
    estimates = {
        "predicted_fills": check.predicted_fills,
        "actual_fills": float(check.actual_fills),
        "actual_over_predicted": check.ratio,
        "z": check.z,
        "p_value": check.p_value,
        "brier": check.brier,
    }
    return FitResult(
        model="fill_rate_check",
        n=check.n_quotes,
        estimates=estimates,
        std_errors=dict.fromkeys(estimates, math.nan),
        units={
            "predicted_fills": "fills",
            "actual_fills": "fills",
            "actual_over_predicted": "1",
            "z": "1",
            "p_value": "1",
            "brier": "1",
        },
    )
