"""Calibration fits over a training window that ends with the partition's day: regimes, volatility, fill intensity
and Hawkes taker arrivals, each written to its long-format fit table (one row per estimate, ``assets/fit_rows.py``).

Conventions:
- The window is the contiguous run of UTC days with data (in the asset's input table) that ends with the partition's
  day, at most ``window_days`` long; ``window_start_ms``/``window_end_ms`` of every row store the window used.
- A fit without enough samples stores its ``insufficient_samples`` status row and the asset still succeeds, with a
  warning in the metadata; no number is invented.
- The fill-intensity and Hawkes fits integrate over the window's covered time (``calibration.coverage``: the book's
  rows, and for Hawkes the taker orders too, are the capture's heartbeat; gaps are excluded). Their metadata shows
  the covered hours; a fit covering less than half its window has status ``low_coverage``, one covering under
  10 minutes is refused (``insufficient_samples``, the reason in its warnings).
- The HMM for the causal filter is stored in ``regime_fit`` as the row (model ``regime_hmm``, segment ``all``,
  param ``params_json``): ``value`` = number of states, ``goodness_of_fit`` = ``RegimeParams.to_dict()`` as JSON.
  :func:`regime_params` reads it back; :func:`day_regime_beliefs` filters a day's bars with it. Rows
  ``candidate_json_<K>`` hold the best HMM of each number of states tried: the next day's fit starts EM from them
  (warm starts, the window overlapping by all but one day) beside fewer fresh restarts, so a day's HMM depends on
  the day before's stored fit (re-materialise days oldest first to reproduce a run).
"""

import datetime as dt
import json
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import dagster as dg
import numpy as np
import polars as pl

from assets.fit_rows import fit_rows
from assets.measurement import features
from assets.metadata import SKIPPED, plot_url, rounded, skipped
from assets.partitions import COIN_DAY, coin_and_date, days_dep
from assets.quality import day_bounds_ms
from assets.regime_state import CANDIDATE_JSON, PARAMS_JSON, minute_bars, regime_candidates, regime_params
from assets.resources import DataLakeResource
from calibration.coverage import MAX_GAP_MS, Coverage
from calibration.fill_intensity import fill_intensity_table, taker_orders
from calibration.mids import MID_MAX_AGE_MS, mid_series
from calibration.regimes import RegimeParams, regime_beliefs
from calibration.vol_fit import fit_volatility
from calibration.window_fits import (
    Segmented,
    fit_hawkes_window,
    fit_kappa_window,
    fit_regime_window,
    infer_tick_size,
    order_arrival_times,
)
from data_lake.lake import Lake
from data_lake.units import DAY_MS, MINUTE_MS
from validation.fit_figures import fill_intensity_figure, hawkes_qq_figure, regime_timeline_figure

GROUP = "calibration"
BOOK_COLUMNS = ["coin", "time", "recv_time_ns", "bid_px_1", "ask_px_1", "mid"]
TRADE_COLUMNS = ["coin", "time", "tid", "px", "sz", "side", "buyer", "seller", "hash"]
ARRIVAL_COLUMNS = ["time", "tid", "side", "buyer", "seller", "hash"]
"""What :func:`order_arrival_times` reads; the Hawkes fit reads them one day at a time (memory of one day)."""
NO_HMM = "none: regime_fit stored no HMM for this partition"
TRADES_ONLY_COVERAGE = "taker orders alone (no book rows: a market quieter than one order a minute reads as gaps)"


FIT_WINDOW_DAYS = 7
"""Default training window in days; the fits' declared reads (``days_dep``) span it, so a longer ``window_days`` in
the run config reads days Dagster does not order them after."""
WINDOW = 1 - FIT_WINDOW_DAYS
"""First day of the default window, relative to the partition's."""


class FitWindowConfig(dg.Config):
    """Training window: the partition's day and up to ``window_days - 1`` days before it."""

    window_days: int = FIT_WINDOW_DAYS


class RegimeFitConfig(FitWindowConfig):
    """EM starts per number of states: ``restarts`` without a warm start, ``warm_restarts`` beside the previous
    day's fit of that number of states (the window moved by one day: its optimum is near)."""

    restarts: int = 10
    warm_restarts: int = 3


class KappaFitConfig(FitWindowConfig):
    """Fill-intensity fit: depths in ticks on the price lattice, from ``d0_ticks`` (half a one-tick spread)."""

    d0_ticks: float = 0.5


@dataclass(frozen=True)
class FitWindow:
    """The days actually used and their span [start_ms, end_ms)."""

    days: tuple[dt.date, ...]
    start_ms: int
    end_ms: int

    @property
    def bounds(self) -> tuple[int, int]:
        return self.start_ms, self.end_ms

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1e3


def fit_window(lake: Lake, table_name: str, coin: str, date: dt.date, window_days: int) -> FitWindow:
    """The contiguous run of days of ``coin`` with data in ``table_name`` ending with ``date`` (at most
    ``window_days``); no days (an empty window at ``date``'s end) when ``date`` itself has no data."""
    present = set()
    if lake.exists(table_name):
        present = {
            dt.date.fromisoformat(p["date"]) for p in lake.delta_table(table_name).partitions() if p["coin"] == coin
        }
    days = []
    day = date
    while day in present and len(days) < window_days:
        days.append(day)
        day -= dt.timedelta(days=1)
    end = day_bounds_ms(date)[1]
    return FitWindow(tuple(reversed(days)), end - len(days) * DAY_MS, end)


@dg.asset(
    partitions_def=COIN_DAY,
    group_name=GROUP,
    deps=[days_dep(features, WINDOW), days_dep("regime_fit", -1, -1)],
    kinds={"delta", "polars"},
)
def regime_fit(
    context: dg.AssetExecutionContext, config: RegimeFitConfig, data_lake: DataLakeResource
) -> dg.MaterializeResult:
    """Gaussian HMM (2 or 3 states by BIC) on the window's 1 min (log return, log RV): transition probabilities,
    per-state means/variances with SEs, BIC, the regime table per state and the HMM itself (``params_json``)."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    window = fit_window(lake, "features", coin, date, config.window_days)
    bars = minute_bars(lake, coin, *_day_range(window, date))
    warm = regime_candidates(lake.read_partition("regime_fit", coin, date - dt.timedelta(days=1)))
    fitted = fit_regime_window(bars, n_restarts=config.restarts, warm_starts=warm, warm_restarts=config.warm_restarts)
    rows = _rows(fitted.fits, coin, date, window)
    metadata: dict[str, Any] = {"warm_starts": ", ".join(f"{k} states" for k in sorted(warm)) or "none"}
    if fitted.params is not None:
        stored = {PARAMS_JSON: fitted.params} | {f"{CANDIDATE_JSON}{k}": p for k, p in fitted.candidates.items()}
        rows = pl.concat([rows, *(_params_row(rows, name, p) for name, p in stored.items())])
        title = f"{coin}: causal regimes over {len(window.days)} days"
        timeline = regime_timeline_figure(bars, fitted.beliefs, title=title)
        metadata["regime_timeline"] = plot_url(lake, timeline, "regime_fit", coin, str(date), "regime_timeline")
        metadata["regime_table"] = dg.MetadataValue.md(
            _estimates_md(fitted.fits[1:], ("stationary", "duration_bars", "sigma_bps_per_sqrt_s"))
        )
    return _write(context, lake, "regime_fit", rows, fitted.fits, window, metadata, ("p_", "n_states", "bic"))


@dg.asset(partitions_def=COIN_DAY, group_name=GROUP, deps=[days_dep(features, WINDOW), regime_fit], kinds={"delta", "polars"})
def vol_fit(
    context: dg.AssetExecutionContext, config: FitWindowConfig, data_lake: DataLakeResource
) -> dg.MaterializeResult:
    """EWMA, realized, bipower and 1 min sigma (bps per sqrt s) and the jump-ratio distribution, overall and per
    causal regime (the HMM of this partition's ``regime_fit``, filtered over the window)."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    window = fit_window(lake, "features", coin, date, config.window_days)
    bars = lake.read("features", coins=coin, start=_day_range(window, date)[0], end=date).sort("time")
    minute = bars.filter(pl.col("bar_ms") == MINUTE_MS)
    params = regime_params(lake.read_partition("regime_fit", coin, date))
    beliefs = regime_beliefs(minute, params) if params is not None else None
    fits = list(fit_volatility(bars.filter(pl.col("bar_ms") == 1000), minute, beliefs).items())
    metadata = {} if params is not None else {"regime_segments": NO_HMM}
    rows = _rows(fits, coin, date, window)
    return _write(context, lake, "vol_fit", rows, fits, window, metadata, ("sigma_", "jump_"))


@dg.asset(
    partitions_def=COIN_DAY,
    group_name=GROUP,
    deps=[*(days_dep(name, WINDOW) for name in ("trades", "book", "fills", "order_updates")), days_dep(features, WINDOW), regime_fit],
    kinds={"delta", "polars"},
)
def kappa_fit(
    context: dg.AssetExecutionContext, config: KappaFitConfig, data_lake: DataLakeResource
) -> dg.MaterializeResult:
    """Fill intensity A exp(-kappa d) by MLE on the price lattice (ticks), overall, per side, per causal regime
    (the belief known at each order, from this partition's ``regime_fit``) and per UTC hour; SE(A) with the
    measured count dispersion. Own quotes, when any, are checked against the fitted fill probabilities."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    window = fit_window(lake, "trades", coin, date, config.window_days)
    first, last = _day_range(window, date)
    params = regime_params(lake.read_partition("regime_fit", coin, date))
    orders, mids, tick = _taker_orders(lake, coin, window.days)
    coverage = Coverage.of(mids["time"], start_ms=window.start_ms, end_ms=window.end_ms)
    fitted = fit_kappa_window(
        orders,
        mids,
        tick_size=tick,
        coverage=coverage,
        beliefs=regime_beliefs(minute_bars(lake, coin, first, last), params) if params is not None else None,
        order_updates=lake.read("order_updates", coins=coin, start=first, end=last),
        fills=lake.read("fills", coins=coin, start=first, end=last),
        d0_ticks=config.d0_ticks,
    )
    metadata: dict[str, Any] = {} if params is not None else {"regime_segments": NO_HMM}
    metadata |= _coverage_md(coverage, f"book mids, silences over {MAX_GAP_MS / 1e3:g} s excluded")
    overall = fitted.fits[0][1]
    if overall.estimates:
        table = fill_intensity_table(fitted.orders, coverage, grid=fitted.grid, unit="ticks")
        curve = fill_intensity_figure(table, overall, unit="ticks")
        metadata["fill_intensity"] = plot_url(lake, curve, "kappa_fit", coin, str(date), "fill_intensity")
    metadata |= {"tick_size": fitted.tick_size, "taker_orders": fitted.orders.height}
    if "depth_ticks" in fitted.orders.columns:
        metadata["taker_orders_without_fresh_mid"] = fitted.orders["depth_ticks"].null_count()
        metadata["mid_max_age_ms"] = MID_MAX_AGE_MS
    elif window.days:
        metadata |= skipped(f"no book mid in the window's {len(window.days)} days: no taker order has a depth")
    else:
        metadata |= skipped(f"no trades on {date}: the fit window is empty")
    metadata["dispersion_index"] = rounded(fitted.dispersion)
    rows = _rows(fitted.fits, coin, date, window)
    return _write(context, lake, "kappa_fit", rows, fitted.fits, window, metadata, ("A", "kappa_", "actual_over"))


@dg.asset(partitions_def=COIN_DAY, group_name=GROUP, deps=[days_dep("trades", WINDOW)], kinds={"delta", "polars"})
def hawkes_fit(
    context: dg.AssetExecutionContext, config: FitWindowConfig, data_lake: DataLakeResource
) -> dg.MaterializeResult:
    """Exponential-kernel Hawkes MLE of taker-order arrivals over the window: univariate on both sides pooled
    (model ``hawkes_exp``) and bivariate buy/sell (model ``hawkes_exp_bivariate``), with time-rescaling GoF."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    window = fit_window(lake, "trades", coin, date, config.window_days)
    arrivals = _arrivals(lake, coin, window.days)
    book = _book_times(lake, coin, window.days)
    coverage = Coverage.of(book, *arrivals.values(), start_ms=window.start_ms, end_ms=window.end_ms)
    fitted = fit_hawkes_window(arrivals, coverage=coverage)
    heartbeat = "book rows and taker orders" if book.size else TRADES_ONLY_COVERAGE
    metadata: dict[str, Any] = _coverage_md(coverage, f"{heartbeat}, silences over {MAX_GAP_MS / 1e3:g} s excluded")
    if not window.days:
        metadata |= skipped(f"no trades on {date}: the fit window is empty")
    if fitted.residuals is not None:
        title = f"{coin}: pooled taker orders, n = {fitted.fits[0][1].n}"
        qq = hawkes_qq_figure(fitted.residuals, title=title)
        metadata["qq_plot"] = plot_url(lake, qq, "hawkes_fit", coin, str(date), "qq_plot")
    rows = _rows(fitted.fits, coin, date, window)
    key_params = ("mu", "alpha", "beta", "n_", "branching", "spectral", "baseline_bins")
    return _write(context, lake, "hawkes_fit", rows, fitted.fits, window, metadata, key_params)


# ---------------------------------------------------------------------------------------------------------------
# helpers


def _day_range(window: FitWindow, date: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day to read: the window's days, or ``date`` alone when the window is empty."""
    return (window.days[0], window.days[-1]) if window.days else (date, date)


def _taker_orders(lake: Lake, coin: str, days: tuple[dt.date, ...]) -> tuple[pl.DataFrame, pl.DataFrame, float]:
    """Taker orders, mids (``time, mid``) and the price tick of ``days``, reading the book and then the trades one
    day at a time (memory of one day): the prints of an order share their ms, and each day's orders are measured
    from the mids of that day and of the ``MID_MAX_AGE_MS`` before it."""
    mids, prices = [], []
    for day in days:
        book = lake.read_partition("book", coin, day, columns=BOOK_COLUMNS)
        mids.append(mid_series(book).select("time", "mid"))
        prices.append(pl.concat([book["bid_px_1"], book["ask_px_1"]]).drop_nulls().unique())
    mid = pl.concat(mids) if mids else pl.DataFrame(schema={"time": pl.Int64, "mid": pl.Float64})
    if mid.height == 0:
        return pl.DataFrame(), mid, math.nan
    tick = infer_tick_size(pl.concat(prices))
    orders = []
    for day in days:
        start, end = day_bounds_ms(day)
        near = mid.filter(pl.col("time").is_between(start - MID_MAX_AGE_MS, end, closed="left"))
        trades = lake.read_partition("trades", coin, day, columns=TRADE_COLUMNS)
        orders.append(taker_orders(trades, near, tick_size=tick))
    return pl.concat(orders), mid, tick


def _book_times(lake: Lake, coin: str, days: tuple[dt.date, ...]) -> np.ndarray:
    """Row times (epoch ms) of the book over ``days``: the capture's heartbeat for the coverage."""
    times = [lake.read_partition("book", coin, day, columns=["time"])["time"].to_numpy() for day in days]
    return np.concatenate(times) if times else np.empty(0, np.int64)


def _coverage_md(coverage: Coverage, heartbeat: str) -> dict[str, Any]:
    """Metadata of a fit window's coverage: covered hours and share, intervals, what the coverage was read from."""
    return {
        "covered_hours": round(coverage.seconds / 3600, 3),
        "covered_fraction": round(coverage.fraction, 4),
        "covered_intervals": len(coverage.intervals),
        "coverage_from": heartbeat,
    }


def _arrivals(lake: Lake, coin: str, days: tuple[dt.date, ...]) -> dict[int, np.ndarray]:
    """Taker-order arrival times (epoch ms) per aggressor side over ``days``, read and merged one day at a time."""
    by_day = [order_arrival_times(lake.read_partition("trades", coin, day, columns=ARRIVAL_COLUMNS)) for day in days]
    return {side: np.concatenate([a[side] for a in by_day] or [np.empty(0, np.int64)]) for side in (1, -1)}


def _params_row(rows: pl.DataFrame, name: str, params: RegimeParams) -> pl.DataFrame:
    """The row ``name`` holding an HMM: ``value`` = number of states, ``goodness_of_fit`` = its JSON."""
    return rows.head(1).with_columns(
        param=pl.lit(name),
        value=pl.lit(float(params.n_states)),
        se=pl.lit(math.nan),
        unit=pl.lit("json"),
        goodness_of_fit=pl.lit(json.dumps(params.to_dict())),
    )


def _rows(fits: Segmented, coin: str, date: dt.date, window: FitWindow) -> pl.DataFrame:
    return pl.concat([fit_rows(fit, coin, date, window.bounds, segment) for segment, fit in fits])


def _estimates_md(fits: Segmented, prefixes: tuple[str, ...]) -> str:
    """Markdown table of the estimates whose names start with one of ``prefixes``, with SE, unit, n and status."""
    lines = ["| segment | model | param | value | SE | unit | n | status |", "|---|---|---|---|---|---|---|---|"]
    for segment, fit in fits:
        if not fit.estimates:
            lines.append(f"| {segment} | {fit.model} | | | | | {fit.n} | {fit.status} |")
        for name, value in fit.estimates.items():
            if name.startswith(prefixes):
                se, unit = fit.std_errors.get(name, math.nan), fit.units.get(name, "")
                row = f"| {segment} | {fit.model} | {name} | {value:.6g} | {se:.3g} | {unit} | {fit.n} | {fit.status} |"
                lines.append(row)
    return "\n".join(lines)


def _write(
    context: dg.AssetExecutionContext,
    lake: Lake,
    table_name: str,
    rows: pl.DataFrame,
    fits: Segmented,
    window: FitWindow,
    metadata: dict[str, Any],
    key_params: tuple[str, ...],
) -> dg.MaterializeResult:
    """Replace the partition of ``table_name`` with ``rows``; metadata: window, key estimates, warnings, statuses,
    and ``skipped`` with the fits' reasons when none of them succeeded."""
    coin, date = coin_and_date(context)
    version = lake.write_partition(table_name, rows, coin, date)
    segments_by_warning: dict[str, list[str]] = {}
    for segment, fit in fits:
        for w in fit.warnings:
            segments_by_warning.setdefault(f"{fit.model}: {w}", []).append(segment)
    warnings = [f"{w} [{', '.join(segments)}]" for w, segments in segments_by_warning.items()]
    for warning in warnings:
        context.log.warning(warning)
    statuses = dict(Counter(fit.status for _, fit in fits))
    if not any(fit.estimates for _, fit in fits) and SKIPPED not in metadata:  # low_coverage fits are fits
        metadata = metadata | skipped("no fit: " + "; ".join(dict.fromkeys(w for _, fit in fits for w in fit.warnings)))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows.height,
            "delta_version": version,
            "window_days": len(window.days),
            "window": f"{_iso(window.start_ms)} .. {_iso(window.end_ms)}",
            "segments_by_status": statuses,
            "estimates": dg.MetadataValue.md(_estimates_md(fits, prefixes=key_params)),
            "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in warnings) or "none"),
            **metadata,
        }
    )


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat(timespec="minutes")
