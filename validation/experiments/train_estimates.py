"""The baseline's estimates on a TRAIN window, which every variant starts from: sigma (last EWMA of the 1 s
variance, or bipower variation of the 1 min bars), A and kappa by grouped MLE over the covered time, the train adverse
selection, the price grid and order size, the quoting policy built from them, and the reach curves of the predicted
fill probability (:mod:`calibration.fill_probability`, :mod:`quoting.core.fill_prediction`). Only data known by the
window's end is used. Times UTC epoch ms, prices quote currency, sizes base units, spreads and markouts bps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from calibration.coverage import Coverage
from calibration.fill_intensity import fit_fill_intensity, taker_orders
from calibration.fill_probability import fit_reach_curves, reach_events
from calibration.fit_result import FitResult, InsufficientSamples
from calibration.mids import mid_series
from data_lake.scalars import as_float, as_int
from data_lake.units import MINUTE_MS, SECOND_MS
from quoting.core.exchange_rules import MAX_SIG_FIGS, AssetRules, max_price_decimals
from quoting.core.fill_prediction import ReachModel
from quoting.core.glft import MarketModel, QuotePolicy
from quoting.core.hawkes_intensity import HawkesIntensity, expected_multiplier, intensity_multipliers
from validation.backtest.fold_data import derived
from validation.backtest.runner import taker_order_times
from validation.experiments.variant_types import FittedVariant, Market, VariantConfig


@dataclass(frozen=True)
class _Base:
    """The baseline's train estimates (units per the module docstring) and the train taker orders."""

    end_ms: int
    tick: float
    order_size: float
    sigma: float
    kappa: float
    kappa_se: float
    arrival_rate: float
    adverse_bps: float
    orders: pl.DataFrame
    params: dict[str, float]


def _mids(data: Market) -> pl.DataFrame:
    """:func:`mid_series` of ``data``'s book, once per fold part (:func:`validation.backtest.fold_data.derived`)."""
    return derived(data, "mids", (), lambda: mid_series(data["book"]))


def tick_size(mid: float, rules: AssetRules) -> float:
    """Hyperliquid's price grid step at ``mid``: 5 significant figures, at most 6 (perps) - szDecimals decimals."""
    integer_digits = math.floor(math.log10(mid)) + 1
    decimals = min(max_price_decimals(rules.sz_decimals, rules.is_spot), max(MAX_SIG_FIGS - integer_digits, 0))
    return 10.0**-decimals


def _window(data: Market) -> tuple[int, int]:
    """[first, last + 1 ms) of the window's book rows and trades."""
    times = pl.concat([data["book"]["time"], data["trades"]["time"]])
    return as_int(times.min(), "first window time"), as_int(times.max(), "last window time") + 1


def _closed_bars(features: pl.DataFrame, bar_ms: int, end_ms: int) -> pl.DataFrame:
    """Bars of ``bar_ms`` that closed by ``end_ms`` (a bar known only after the window is not train data)."""
    return features.filter((pl.col("bar_ms") == bar_ms) & (pl.col("time") + bar_ms <= end_ms)).sort("time")


def ewma_sigma(train: Market, end_ms: int) -> float:
    """Log-return volatility per sqrt(second): the last EWMA of 1 s bar variance closed by ``end_ms``."""
    last = _closed_bars(train["features"], SECOND_MS, end_ms)["ewma_var"].drop_nulls().drop_nans()
    if last.len() == 0:
        raise InsufficientSamples("ewma_sigma", 0, 1)
    return math.sqrt(float(last[-1]))


def bipower_sigma(train: Market, end_ms: int) -> float:
    """Log-return volatility per sqrt(second) from the mean bipower variation of the closed 1 min bars."""
    bv = _closed_bars(train["features"], MINUTE_MS, end_ms)["bv"].drop_nulls().drop_nans()
    if bv.len() == 0:
        raise InsufficientSamples("bipower_sigma", 0, 1)
    return math.sqrt(as_float(bv.mean(), "mean bipower variation") / (MINUTE_MS / SECOND_MS))


def fit_kappa(train: Market, tick: float, config: VariantConfig) -> tuple[FitResult, pl.DataFrame]:
    """Grouped MLE of A and kappa on the train taker orders, depths in ticks from d0 = the median half-spread, exposed
    for the time the train book covers (:class:`calibration.coverage.Coverage`: gaps in the capture excluded)."""
    book = train["book"]
    trades = train["trades"]
    orders = derived(train, "orders", (tick,), lambda: taker_orders(trades, book, tick_size=tick))
    depth = orders["depth_ticks"].drop_nulls()
    d0 = as_float(((book["ask_px_1"] - book["bid_px_1"]) / 2 / tick).median(), "median half spread")
    deepest = as_float(depth.quantile(0.999), "deepest order depth") if depth.len() else d0 + 1.0
    step = max(1, math.ceil((deepest - d0) / config.kappa_max_bins))
    grid = d0 + step * np.arange(0, max(2, math.floor((deepest - d0) / step) + 1))
    start, end = _window(train)
    coverage = Coverage.of(book["time"], start_ms=start, end_ms=end)
    fit = fit_fill_intensity(orders, coverage, grid=grid, tick_size=tick, unit="ticks")
    return fit, orders


def train_adverse_bps(train: Market, end_ms: int, horizon_ms: int) -> pl.DataFrame:
    """Train market trades (maker side) with a realised markout known by ``end_ms``: ``time``, ``adverse_bps``."""
    column = f"markout_{horizon_ms}ms_bps"
    return (
        train["markouts"]
        .filter(pl.col("is_market_trade") & pl.col(column).is_not_null() & (pl.col("time") + horizon_ms < end_ms))
        .select("time", adverse_bps=(-pl.col(column)).clip(lower_bound=0.0))
        .sort("time")
    )


def _base(train: Market, config: VariantConfig, sigma: Callable[[Market, int], float]) -> _Base:
    """The baseline's estimates on ``train`` with ``sigma``'s volatility, once per fold part
    (:func:`validation.backtest.fold_data.derived`): most variants start from the same EWMA or bipower estimates."""
    return derived(train, "base", (sigma, config), lambda: _fit_base(train, config, sigma))


def _fit_base(train: Market, config: VariantConfig, sigma: Callable[[Market, int], float]) -> _Base:
    mids = _mids(train)["mid"]
    if mids.len() == 0:  # a trades-only window: no mid to measure depth, size or sigma against
        raise InsufficientSamples("book_mid", 0, 1)
    _, end = _window(train)
    mid = float(mids[-1])
    tick = tick_size(mid, config.rules)
    fit, orders = fit_kappa(train, tick, config)
    adverse = train_adverse_bps(train, end, config.markout_horizon_ms)["adverse_bps"]
    if adverse.len() == 0:
        raise InsufficientSamples("adverse_selection", 0, 1)
    lot = 10.0**-config.sz_decimals
    order_size = max(round(config.order_notional / mid / lot), 1) * lot
    sigma_log = sigma(train, end)
    params = {
        "sigma_log_per_sqrt_s": sigma_log,
        "sigma_px_per_sqrt_s": sigma_log * mid,
        "kappa_px": fit.estimates["kappa_px"],
        "kappa_se_px": fit.std_errors["kappa_px"],
        "arrival_rate_per_s": fit.estimates["A"],
        "arrival_rate_se_per_s": fit.std_errors["A"],
        "kappa_fit_pearson_p": fit.goodness_of_fit["pearson_p"],
        "n_taker_orders": float(orders.height),
        "mid_px": mid,
        "tick_px": tick,
        "order_size": order_size,
        "adverse_bps": as_float(adverse.mean(), "mean adverse selection"),
        "n_adverse": float(adverse.len()),
    }
    return _Base(
        end_ms=end,
        tick=tick,
        order_size=order_size,
        sigma=params["sigma_px_per_sqrt_s"],
        kappa=params["kappa_px"],
        kappa_se=params["kappa_se_px"],
        arrival_rate=params["arrival_rate_per_s"],
        adverse_bps=params["adverse_bps"],
        orders=orders,
        params=params,
    )


def _model(base: _Base) -> MarketModel:
    return MarketModel(sigma=base.sigma, kappa=base.kappa, kappa_se=base.kappa_se, arrival_rate=base.arrival_rate)


def _policy(
    base: _Base,
    config: VariantConfig,
    gammas: tuple[float, ...] | None = None,
    floors: tuple[float, ...] | None = None,
    pull_by_regime: tuple[bool, ...] | None = None,
    kappa_se_mult: float = 0.0,
) -> QuotePolicy:
    return QuotePolicy(
        gamma_by_regime=gammas or (config.gamma,),
        min_spread_bps_by_regime=floors or (config.min_spread_bps,),
        order_size=base.order_size,
        position_limit=config.position_limit_orders * base.order_size,
        rules=config.rules,
        pull_by_regime=pull_by_regime,
        pull_threshold=config.pull_threshold,
        kappa_se_mult=kappa_se_mult,
        maker_fee_bps=config.maker_fee_bps,
    )


def _certain_calm(test: Market, start_ms: int) -> pl.DataFrame:
    """One belief row at the test start: the single regime, known before anything happens."""
    return pl.DataFrame({"time": [start_ms], "belief_calm": [1.0]})


def train_reach_events(train: Market, config: VariantConfig) -> pl.DataFrame:
    """:func:`calibration.fill_probability.reach_events` over the train window at the backtest's tau and latency."""
    book, trades = train["book"], train["trades"]
    key = (config.backtest.fill_prob_horizon_ms, config.latency_ms)
    return derived(
        train,
        "reach_events",
        key,
        lambda: reach_events(book, trades, _window(train), config.backtest.fill_prob_horizon_ms, config.latency_ms),
    )


def expected_multiplier_over(multipliers: np.ndarray, horizon_weight: float) -> np.ndarray:
    """:func:`quoting.core.hawkes_intensity.expected_multiplier` of each of ``multipliers``."""
    return np.array([expected_multiplier(m, horizon_weight) for m in multipliers])


def fit_reach(
    train: Market,
    config: VariantConfig,
    beliefs: pl.DataFrame,
    names: Sequence[str],
    hawkes: HawkesIntensity | None = None,
) -> ReachModel:
    """Reach curves per regime on the train window, each decision interval weighted by the causal belief held at
    its start (``beliefs``: ``time`` and ``belief_<name>``; intervals before the first belief row are dropped); with
    ``hawkes``, the log of its intensity multiplier at each interval start is the fit's offset (the quote scales the
    curve by it)."""
    events = train_reach_events(train, config)
    rows = _asof_rows(beliefs["time"].to_numpy(), events["time"].to_numpy())
    weights = beliefs.select(f"belief_{n}" for n in names).to_numpy()[np.maximum(rows, 0)]
    book = train["book"]
    half_spread = as_float((book["ask_px_1"] - book["bid_px_1"]).median(), "median spread") / 2
    touch_bps = half_spread / as_float(book["mid"].median(), "median mid") * 1e4
    known = rows >= 0
    log_multiplier = (
        None
        if hawkes is None
        else np.log(
            expected_multiplier_over(
                intensity_multipliers(taker_order_times(train["trades"]), events["time"].to_numpy(), hawkes),
                hawkes.horizon_weight(config.latency_ms, config.backtest.fill_prob_horizon_ms),
            )
        )[known]
    )
    knots, curves = fit_reach_curves(
        events.filter(pl.Series(known)), weights[known], min_depth_bps=touch_bps, log_multiplier=log_multiplier
    )
    return ReachModel(
        knots_bps=tuple(float(k) for k in knots),
        log_intensity_by_regime=tuple(c.log_intensity for c in curves),
        horizon_ms=config.backtest.fill_prob_horizon_ms,
        latency_ms=config.latency_ms,
    )


def calm_reach(train: Market, config: VariantConfig) -> ReachModel:
    """:func:`fit_reach` with the single calm regime certain from the window's start, once per fold part: every
    single-regime variant quotes with these curves."""
    return derived(
        train,
        "calm_reach",
        (config,),
        lambda: fit_reach(train, config, _certain_calm(train, _window(train)[0]), ("calm",)),
    )


def _single_regime(
    name: str, base: _Base, train: Market, config: VariantConfig, kappa_se_mult: float = 0.0
) -> FittedVariant:
    return FittedVariant(
        name=name,
        model=_model(base),
        policy=_policy(base, config, kappa_se_mult=kappa_se_mult),
        regime_names=("calm",),
        adverse_bps_by_regime=(base.adverse_bps,),
        params=dict(base.params),
        beliefs=_certain_calm,
        reach=calm_reach(train, config),
    )


def _weighted_means(values: np.ndarray, weights: np.ndarray, fallback: float) -> tuple[float, ...]:
    """Per column of ``weights`` (n x K) the weighted mean of ``values``; ``fallback`` for an empty column."""
    total = weights.sum(axis=0)
    sums = values @ weights
    return tuple(float(s / w) if w > 0 else fallback for s, w in zip(sums, total, strict=True))


def _asof_rows(times: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Index of the last of the sorted ``times`` at or before each of ``at`` (-1 when none)."""
    return np.searchsorted(times, at, side="right") - 1
