"""Calibration fits over a training window that ends with the partition's day: regimes, volatility, fill intensity
and Hawkes taker arrivals, each written to its long-format fit table (one row per estimate,
:mod:`calibration.fit_rows`).

Conventions:
- The window is the contiguous run of UTC days with data (in the asset's input table) that ends with the partition's
  day, at most ``window_days`` long; ``window_start_ms``/``window_end_ms`` of every row store the window used.
- A fit without enough samples stores its ``insufficient_samples`` status row and the asset still succeeds, with a
  warning in the metadata; no number is invented.
- The fill-intensity and Hawkes fits integrate over the window's covered time (``calibration.coverage``: the book's
  rows, and for Hawkes the taker orders too, are the capture's heartbeat; gaps are excluded). Their metadata shows
  the covered hours; a fit covering less than half its window has status ``low_coverage``, one covering under
  10 minutes is refused (``insufficient_samples``, the reason in its warnings).
- The HMM for the causal filter is stored in its own table, ``regime_hmm`` (one typed row per state,
  :mod:`calibration.regime_storage`), written with ``regime_fit`` by one op: role ``fitted`` is the HMM
  :func:`calibration.regime_storage.fitted_hmm` reads back and :func:`assets.regime_state.day_regime_beliefs` filters a
  day's bars with; role ``warm_start`` holds the best HMM of each number of states tried: the next day's fit starts
  EM from them (warm starts, the window overlapping by all but one day) beside fewer fresh restarts, so a day's HMM
  depends on the day before's stored fit (re-materialise days oldest first to reproduce a run).
"""

import datetime as dt
import math
import time
from collections.abc import Iterator
from typing import Any

import dagster as dg
import numpy as np
import polars as pl

from assets.measurement import features
from assets.metadata import SKIPPED, plot_url, skipped
from assets.partitions import COIN_DAY, coin_and_date, days_dep
from assets.regime_state import minute_bars
from assets.resources import DataLakeResource
from calibration.coverage import MAX_GAP_MS, Coverage
from calibration.day_frames import (
    ARRIVAL_COLUMNS,
    BOOK_COLUMNS,
    TRADE_COLUMNS,
    arrival_frame,
    arrivals_by_side,
    day_frames_code,
    day_mids,
    order_depths_by_day,
    quoted_prices,
    window_mids,
)
from calibration.fill_intensity import fill_intensity_table, grouped_taker_orders
from calibration.fit_result import code_version
from calibration.fit_rows import segmented_fit_rows
from calibration.fit_window import FitWindow, FitWindowSettings, contiguous_window
from calibration.mids import MID_MAX_AGE_MS
from calibration.regime_storage import fitted_hmm, regime_hmm_rows, warm_starts
from calibration.regimes import regime_beliefs
from calibration.vol_fit import fit_volatility
from calibration.window_fits import (
    KappaFitSettings,
    RegimeFitSettings,
    RegimeWindow,
    Segmented,
    fit_hawkes_window,
    fit_kappa_window,
    fit_regime_window,
    infer_tick_size,
)
from data_lake.lake import Lake
from data_lake.partition_cache import cached_day_frames, prune_before
from data_lake.table_preview import rounded
from data_lake.tables import REGIME_HMM
from data_lake.units import MINUTE_MS
from validation.reporting.fit_figures import fill_intensity_figure, hawkes_qq_figure, regime_timeline_figure
from validation.reporting.fit_summary import (
    coverage_figures,
    estimates_markdown,
    no_fit_reason,
    statuses,
    warnings_by_segment,
    window_text,
)

GROUP = "calibration"
NO_HMM = "none: regime_hmm holds no HMM for this partition"
TRADES_ONLY_COVERAGE = "taker orders alone (no book rows: a market quieter than one order a minute reads as gaps)"


FIT_WINDOW_DAYS = FitWindowSettings.window_days
"""Default training window in days; the fits' declared reads (``days_dep``) span it, so a longer ``window_days`` in
the run config reads days Dagster does not order them after."""
WINDOW = 1 - FIT_WINDOW_DAYS
"""First day of the default window, relative to the partition's."""


class FitWindowConfig(dg.Config):
    """Training window: the partition's day and up to ``window_days - 1`` days before it
    (:class:`calibration.fit_window.FitWindowSettings`)."""

    window_days: int = FitWindowSettings.window_days


class RegimeFitConfig(FitWindowConfig):
    """EM starts per number of states (:class:`calibration.window_fits.RegimeFitSettings`): ``restarts`` without a
    warm start, ``warm_restarts`` beside the previous day's fit of that number of states."""

    restarts: int = RegimeFitSettings.restarts
    warm_restarts: int = RegimeFitSettings.warm_restarts


class KappaFitConfig(FitWindowConfig):
    """Fill-intensity fit (:class:`calibration.window_fits.KappaFitSettings`): depths in ticks on the price lattice,
    from ``d0_ticks``."""

    d0_ticks: float = KappaFitSettings.d0_ticks


def fit_window(lake: Lake, table_name: str, coin: str, date: dt.date, window_days: int) -> FitWindow:
    """The contiguous run of days of ``coin`` with data in ``table_name`` ending with ``date`` (at most
    ``window_days``, :func:`calibration.fit_window.contiguous_window`)."""
    present = set()
    if lake.exists(table_name):
        present = {
            dt.date.fromisoformat(p["date"]) for p in lake.delta_table(table_name).partitions() if p["coin"] == coin
        }
    return contiguous_window(present, date, window_days)


REGIME_READS = [days_dep(features, WINDOW), days_dep("regime_hmm", -1, -1)]
"""The window's bars and the day before's HMMs (the warm starts)."""


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "regime_fit",
            deps=REGIME_READS,
            partitions_def=COIN_DAY,
            group_name=GROUP,
            kinds={"delta", "polars"},
            description="Gaussian HMM (2 or 3 states by BIC) on the window's 1 min (log return, log RV): "
            "transition probabilities, per-state means/variances with SEs, BIC, the regime table.",
        ),
        dg.AssetSpec(
            "regime_hmm",
            deps=REGIME_READS,
            partitions_def=COIN_DAY,
            group_name=GROUP,
            kinds={"delta", "polars"},
            description="The fitted HMM the causal filter runs and the warm starts of the next day's fit.",
        ),
    ],
    can_subset=False,
)
def regime_fit(
    context: dg.AssetExecutionContext, config: RegimeFitConfig, data_lake: DataLakeResource
) -> Iterator[dg.MaterializeResult]:
    """Fit the window's HMM; write its estimates (``regime_fit``) and the HMMs themselves (``regime_hmm``)."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    window = fit_window(lake, "features", coin, date, config.window_days)
    bars = minute_bars(lake, coin, *window.day_range(date))
    warm = warm_starts(lake.read_partition("regime_hmm", coin, date - dt.timedelta(days=1)))
    fitted = fit_regime_window(bars, n_restarts=config.restarts, warm_starts=warm, warm_restarts=config.warm_restarts)
    rows = segmented_fit_rows(fitted.fits, coin, date, window.bounds)
    metadata: dict[str, Any] = {"warm_starts": ", ".join(f"{k} states" for k in sorted(warm)) or "none"}
    if fitted.params is not None and fitted.beliefs is not None:  # both or neither (fit_regime_window)
        title = f"{coin}: causal regimes over {len(window.days)} days"
        timeline = regime_timeline_figure(bars, fitted.beliefs, title=title)
        metadata["regime_timeline"] = plot_url(lake, timeline, "regime_fit", coin, str(date), "regime_timeline")
        metadata["regime_table"] = dg.MetadataValue.md(
            estimates_markdown(fitted.fits[1:], ("stationary", "duration_bars", "sigma_bps_per_sqrt_s"))
        )
    # regime_hmm first: Dagster orders a multi-asset's outputs by their deps (regime_fit reads the HMMs of the day
    # before through regime_hmm)
    yield _write_hmm(lake, coin, date, window, fitted)
    yield _write(context, lake, "regime_fit", rows, fitted.fits, window, metadata, ("p_", "n_states", "bic"))


def _write_hmm(lake: Lake, coin: str, date: dt.date, window: FitWindow, fitted: RegimeWindow) -> dg.MaterializeResult:
    """Replace the partition of ``regime_hmm`` with the fitted HMM and the warm starts (empty without a fit); the
    metadata says over which window, and the fit's statuses and warnings."""
    overall = fitted.fits[0][1]
    metadata: dict[str, Any] = {
        "window_days": len(window.days),
        "window": window_text(window.start_ms, window.end_ms),
        "segments_by_status": statuses(fitted.fits[:1]),
        "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in warnings_by_segment(fitted.fits[:1])) or "none"),
    }
    if fitted.params is None:
        version = lake.write_partition("regime_hmm", REGIME_HMM.empty(), coin, date)
        return dg.MaterializeResult(
            asset_key="regime_hmm",
            metadata={
                "dagster/row_count": 0,
                "delta_version": version,
                **metadata,
                **skipped(no_fit_reason(fitted.fits[:1]) or "no HMM"),
            },
        )
    stamps = {
        "coin": coin,
        "date": date,
        "window_start_ms": window.start_ms,
        "window_end_ms": window.end_ms,
        "code_version": code_version(),
        "fitted_at_ms": int(time.time() * 1000),
    }
    rows = regime_hmm_rows(fitted.params, fitted.candidates, overall.goodness_of_fit).with_columns(
        **{k: pl.lit(v) for k, v in stamps.items()}
    )
    version = lake.write_partition("regime_hmm", rows, coin, date)
    return dg.MaterializeResult(
        asset_key="regime_hmm",
        metadata={
            "dagster/row_count": rows.height,
            "delta_version": version,
            **metadata,
            "states": ", ".join(fitted.params.state_names),
            "warm_start_states": ", ".join(str(k) for k in sorted(fitted.candidates)) or "none",
        },
    )


@dg.asset(
    partitions_def=COIN_DAY,
    group_name=GROUP,
    deps=[days_dep(features, WINDOW), "regime_hmm"],
    kinds={"delta", "polars"},
)
def vol_fit(
    context: dg.AssetExecutionContext, config: FitWindowConfig, data_lake: DataLakeResource
) -> dg.MaterializeResult:
    """EWMA, realized, bipower and 1 min sigma (bps per sqrt s) and the jump-ratio distribution, overall and per
    causal regime (the HMM of this partition's ``regime_hmm``, filtered over the window)."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    window = fit_window(lake, "features", coin, date, config.window_days)
    bars = lake.read("features", coins=coin, start=window.day_range(date)[0], end=date).sort("time")
    minute = bars.filter(pl.col("bar_ms") == MINUTE_MS)
    params = fitted_hmm(lake.read_partition("regime_hmm", coin, date))
    beliefs = regime_beliefs(minute, params) if params is not None else None
    fits = list(fit_volatility(bars.filter(pl.col("bar_ms") == 1000), minute, beliefs).items())
    metadata = {} if params is not None else {"regime_segments": NO_HMM}
    rows = segmented_fit_rows(fits, coin, date, window.bounds)
    return _write(context, lake, "vol_fit", rows, fits, window, metadata, ("sigma_", "jump_"))


@dg.asset(
    partitions_def=COIN_DAY,
    group_name=GROUP,
    deps=[
        *(days_dep(name, WINDOW) for name in ("trades", "book", "fills", "order_updates")),
        days_dep(features, WINDOW),
        "regime_hmm",
    ],
    kinds={"delta", "polars"},
)
def kappa_fit(
    context: dg.AssetExecutionContext, config: KappaFitConfig, data_lake: DataLakeResource
) -> dg.MaterializeResult:
    """Fill intensity A exp(-kappa d) by MLE on the price lattice (ticks), overall, per side, per causal regime
    (the belief known at each order, from this partition's ``regime_hmm``) and per UTC hour; SE(A) with the
    measured count dispersion. Own quotes, when any, are checked against the fitted fill probabilities."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    window = fit_window(lake, "trades", coin, date, config.window_days)
    first, last = window.day_range(date)
    params = fitted_hmm(lake.read_partition("regime_hmm", coin, date))
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
    metadata |= coverage_figures(coverage, f"book mids, silences over {MAX_GAP_MS / 1e3:g} s excluded")
    metadata |= _pruned_cache(lake, coin, window)
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
    rows = segmented_fit_rows(fitted.fits, coin, date, window.bounds)
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
    metadata: dict[str, Any] = coverage_figures(coverage, f"{heartbeat}, silences over {MAX_GAP_MS / 1e3:g} s excluded")
    metadata |= _pruned_cache(lake, coin, window)
    if not window.days:
        metadata |= skipped(f"no trades on {date}: the fit window is empty")
    if fitted.residuals is not None:
        title = f"{coin}: pooled taker orders, n = {fitted.fits[0][1].n}"
        qq = hawkes_qq_figure(fitted.residuals, title=title)
        metadata["qq_plot"] = plot_url(lake, qq, "hawkes_fit", coin, str(date), "qq_plot")
    rows = segmented_fit_rows(fitted.fits, coin, date, window.bounds)
    key_params = ("mu", "alpha", "beta", "n_", "branching", "spectral", "baseline_bins")
    return _write(context, lake, "hawkes_fit", rows, fitted.fits, window, metadata, key_params)


# ---------------------------------------------------------------------------------------------------------------
# helpers


def _taker_orders(lake: Lake, coin: str, days: tuple[dt.date, ...]) -> tuple[pl.DataFrame, pl.DataFrame, float]:
    """Taker orders, mids (``time, mid``) and the price tick of ``days``: each day's mids, quoted prices and grouped
    orders come from the partition cache (:mod:`calibration.day_frames`; a day's partition is read only to derive
    them), and its orders are measured from the mids of that day and of the ``MID_MAX_AGE_MS`` before it."""
    book = cached_day_frames(
        lake, "book", coin, days, BOOK_COLUMNS, {"mids": day_mids, "quoted_prices": quoted_prices}, day_frames_code()
    )
    mid = window_mids(book["mids"])
    if mid.height == 0:
        return pl.DataFrame(), mid, math.nan
    tick = infer_tick_size(pl.concat(book["quoted_prices"])["price"])
    trades = cached_day_frames(
        lake, "trades", coin, days, TRADE_COLUMNS, {"taker_orders": grouped_taker_orders}, day_frames_code()
    )
    return order_depths_by_day(days, trades["taker_orders"], mid, tick_size=tick), mid, tick


def _arrivals(lake: Lake, coin: str, days: tuple[dt.date, ...]) -> dict[int, np.ndarray]:
    """Taker-order arrival times (epoch ms) per aggressor side over ``days``, derived one day at a time and kept in
    the partition cache (:mod:`calibration.day_frames`)."""
    trades = cached_day_frames(
        lake, "trades", coin, days, ARRIVAL_COLUMNS, {"taker_arrivals": arrival_frame}, day_frames_code()
    )
    return arrivals_by_side(trades["taker_arrivals"])


def _pruned_cache(lake: Lake, coin: str, window: FitWindow) -> dict[str, int]:
    """Delete the partition cache's entries of ``coin`` before ``window`` (no later night's window reads them):
    ``partition_cache_pruned``, how many, for the metadata."""
    return {"partition_cache_pruned": prune_before(lake, coin, window.days[0])} if window.days else {}


def _book_times(lake: Lake, coin: str, days: tuple[dt.date, ...]) -> np.ndarray:
    """Row times (epoch ms) of the book over ``days``: the capture's heartbeat for the coverage."""
    times = [lake.read_partition("book", coin, day, columns=["time"])["time"].to_numpy() for day in days]
    return np.concatenate(times) if times else np.empty(0, np.int64)


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
    warnings = warnings_by_segment(fits)
    for warning in warnings:
        context.log.warning(warning)
    reason = no_fit_reason(fits)
    if reason is not None and SKIPPED not in metadata:
        metadata = metadata | skipped(reason)
    return dg.MaterializeResult(
        asset_key=table_name,
        metadata={
            "dagster/row_count": rows.height,
            "delta_version": version,
            "window_days": len(window.days),
            "window": window_text(window.start_ms, window.end_ms),
            "segments_by_status": statuses(fits),
            "estimates": dg.MetadataValue.md(estimates_markdown(fits, prefixes=key_params)),
            "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in warnings) or "none"),
            **metadata,
        },
    )
