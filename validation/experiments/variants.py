"""The quoter's variants for walk-forward validation: the seed's Phase 1 baseline and one added component each.

A variant is fitted on a TRAIN window (:attr:`Variant.fit`, which sees nothing else) and returns a
:class:`FittedVariant`: every number the quoter uses, frozen, plus the one thing built on the TEST window, the
regime beliefs, computed causally (each row stamped when it becomes known). :func:`simulate_fitted` then
backtests it on the test window and scores its predictions against what happened.

| variant | what changes against the baseline |
|---|---|
| ``baseline`` | sigma: last EWMA of 1 s log-return variance; A, kappa by MLE; fixed gamma; one level; limit |
| ``+bipower`` | sigma from the mean bipower variation of the train minutes (jumps excluded) |
| ``+hmm_blending`` | train-fitted HMM; causal beliefs blend gamma (calm < volatile < cascade; cascade pulls) |
| ``+vpin_widening`` | spread floor widened while the causal VPIN is above its train quantile |
| ``+uncertainty_widening`` | gamma * (1 + kappa_se_mult * SE(kappa) / kappa) |
| ``+lead_lag`` | fair value shifted by beta x the leader's log move of the last lag; pulled for a hold time after a |
|  | sharp leader move (> k train SDs) (:mod:`quoting.core.lead_lag_shift`) |
| ``+hawkes`` | A (and the fill probability) scaled by the taker-order Hawkes intensity lambda(t) / lambda_bar |
|  | (:mod:`quoting.core.hawkes_intensity`, :mod:`validation.experiments.hawkes_variant`) |

Every variant predicts its fill probability with reach curves fitted on its train window under its own causal
beliefs (:mod:`calibration.fill_probability`, :mod:`quoting.core.fill_prediction`): the probability that a print reaches
the quote's fixed price within tau after the order latency, which is the event :func:`quote_outcomes` counts.
The ``+hawkes`` variant's curves are fitted with the train intervals' log multiplier as an offset, so its prediction
is the fitted curve times the multiplier known at the decision.

Inputs are dicts of lake frames for one coin: ``trades`` and ``book`` (the backtest's tapes), ``features`` (1 s and
1 min bars, :mod:`calibration.bars`) and ``markouts`` (market trades from the maker side, :mod:`calibration.markouts`),
and optionally ``leader_mids`` (:data:`LEADER_MIDS`: the mids of the coin's configured leaders), which only an
optional variant needs: one that cannot be fitted without it (``+lead_lag``) does not stop the others' evidence.
Times are UTC epoch ms, prices quote currency, sizes base units, P&L quote currency, spreads and markouts bps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl
from numba import njit

from calibration.coverage import Coverage
from calibration.fill_intensity import fit_fill_intensity, taker_orders
from calibration.fit_result import FitResult, InsufficientSamples
from calibration.lead_lag import LeadLagConfig, NoLeadLag, fit_lead_lag
from calibration.fill_probability import fit_reach_curves, interval_extremes, reach_events
from calibration.markouts import markouts
from calibration.mids import mid_index, mid_series
from calibration.regimes import (
    REGIME_FEATURES,
    RegimeParams,
    filter_probabilities,
    fit_regime_hmm,
    regime_features,
)
from calibration.toxicity import adv_bucket_volume, vpin
from quoting.core.exchange_rules import MAX_SIG_FIGS, AssetRules, max_price_decimals
from quoting.core.glft import (
    QUOTED,
    GlftInputs,
    MarketModel,
    QuotePolicy,
    blend_regimes,
    glft_quote_core,
    regime_pull,
)
from quoting.core.fill_prediction import ReachModel, depth_bps, reach_probability
from quoting.core.lead_lag_shift import LeadLagShift, lead_lag_fair_value, leader_log_returns, leader_pulls
from quoting.core.hawkes_intensity import HawkesIntensity, expected_multiplier, intensity_multipliers
from validation.backtest.runner import (
    BacktestConfig,
    book_intensity_multipliers,
    market_tape,
    run_backtest,
    taker_order_times,
)
from validation.backtest.fold_data import derived
from data_lake.units import HOUR_MS, MINUTE_MS, SECOND_MS
from data_lake.fees import MAKER_FEE_BPS

Market = Mapping[str, pl.DataFrame]
"""One coin's lake frames over one window: ``trades``, ``book``, ``features``, ``markouts`` (and ``leader_mids``)."""
LEADER_MIDS = "leader_mids"
"""Market frame of the mids of the coin's leaders: ``leader`` (coin), ``time`` (ms), ``mid`` (quote currency)."""

BASELINE = "baseline"
BPS = 1e-4


@dataclass(frozen=True)
class VariantConfig:
    """Quoting policy, component settings and scoring of the variants (units in the field docs)."""

    sz_decimals: int = 2
    """Hyperliquid szDecimals of the coin (sets the lot and, with the price, the tick)."""
    order_notional: float = 50.0
    """Quote currency per quote (one level per side); the size is this over the train's last mid, in lots."""
    position_limit_orders: float = 5.0
    """Largest |inventory| in order sizes."""
    gamma: float = 0.3
    """Baseline CARA risk aversion, per unit of quote currency."""
    min_spread_bps: float = 0.0
    """Floor on the full GLFT spread (ask - bid before fees), bps of mid."""
    maker_fee_bps: float = MAKER_FEE_BPS
    regime_gamma_mult: tuple[float, float, float] = (1.0, 3.0, 10.0)
    """gamma multiplier of the calm, volatile and cascade HMM regimes."""
    pull_threshold: float = 0.5
    """Pull both sides while the belief mass on the regimes a policy does not quote in exceeds this."""
    hmm_states: tuple[int, ...] = (2, 3)
    """Candidate numbers of HMM states (BIC picks; those the train window is too short for are skipped)."""
    hmm_restarts: int = 4
    vpin_buckets_per_day: int = 50
    """VPIN bucket = train ADV / this (Easley et al. use 50)."""
    vpin_window: int = 50
    """Buckets per VPIN value."""
    vpin_quantile: float = 0.9
    """VPIN above this quantile of its train distribution counts as toxic."""
    vpin_widening_bps: float = 4.0
    """Added to the spread floor while toxic, bps of mid."""
    kappa_se_mult: float = 1.0
    """k of the uncertainty widening gamma * (1 + k * SE(kappa) / kappa)."""
    kappa_max_bins: int = 40
    """Most depth bins of the grouped kappa fit (bins are whole ticks, merged when the depths run deeper)."""
    period_ms: int = MINUTE_MS
    """P&L bucket of the per-period series (the paired unit of the significance tests)."""
    markout_horizon_ms: int = 5_000
    """Horizon of the realised adverse selection, the per-fill P&L and the train adverse-selection estimate."""
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    """Fill model, latencies, requote interval and tau (``fill_prob_horizon_ms``) of the predicted fill probability."""
    candidate_gamma_by_regime: tuple[float, float, float] = (0.3, 0.6, 1.5)
    """The candidate's gamma of the calm, volatile and cascade HMM states (states ordered by variance)."""
    candidate_min_spread_bps_by_regime: tuple[float, float, float] = (0.0, 1.0, 5.0)
    """The candidate's lowest floor on the full spread per HMM state, bps of mid."""
    candidate_floor_grid_bps: tuple[float, ...] = (0.0, 2.0, 4.0, 6.0, 8.0, 12.0)
    """Floors (full spread, bps of mid) the candidate tries per state on its training window."""
    candidate_pull_threshold_grid: tuple[float, ...] = (0.5, 0.2, 0.1, 0.05)
    """Pull thresholds (belief mass on the pulled states) the candidate tries on its training window."""
    edge_z: float = 1.0
    """The candidate quotes in a state only where its train net edge per fill minus edge_z HAC SEs is above 0."""
    min_regime_fills: int = 30
    """Fewest train fills a state needs before its net edge can say "quote"."""
    daily_loss_limit_quote: float = 100.0
    """The quoter's daily loss stop written into the candidate's parameter set, quote currency."""
    lead_lag: LeadLagConfig = field(default_factory=LeadLagConfig)
    """Lag grid, null and level of the ``+lead_lag`` variant's lead-lag fit."""
    lead_lag_fit_hours: float = 24.0
    """The ``+lead_lag`` variant fits its lead-lag on the last this many hours of the train window (the most recent
    relation, and a fit of seconds however long the train window)."""
    lead_lag_pull_k: float = 3.0
    """A leader log move over the lag above this many of its train standard deviations pulls the quotes."""
    lead_lag_hold_ms: int = 5_000
    """How long a sharp leader move keeps the quotes pulled, ms."""

    @property
    def rules(self) -> AssetRules:
        return AssetRules(sz_decimals=self.sz_decimals)

    @property
    def latency_ms(self) -> int:
        """Market event -> our order live at the exchange: the delay before a predicted fill can happen."""
        return self.backtest.feed_latency_ms + self.backtest.order_latency_ms


@dataclass(frozen=True, eq=False)
class FittedVariant:
    """A variant fitted on one train window: the quoting inputs and the causal belief builder for test data.

    ``params`` holds every fitted number (for the ``walk_forward`` table); ``beliefs(test, start_ms)`` returns
    ``time`` and ``belief_<regime>`` columns in ``regime_names`` order from ``start_ms`` (the test start) on, each
    row computed from data up to its ``time``.
    """

    name: str
    model: MarketModel
    policy: QuotePolicy
    regime_names: tuple[str, ...]
    adverse_bps_by_regime: tuple[float, ...]
    params: dict[str, float]
    beliefs: Callable[[Market, int], pl.DataFrame]
    reach: ReachModel
    """Predicted fill probability per regime (the event :func:`quote_outcomes` scores)."""
    parameter_set: dict | None = None
    """The parameter-set document's ``parameters`` this variant was built from (the candidate's), else None."""


@dataclass(frozen=True)
class FittedSummary:
    """What the walk-forward's rows, verdicts and reports read of a fitted variant once its test window is scored:
    its name, fitted numbers (``params``), regime names and the parameter-set document it was built from (the
    candidate's, else None). An outcome kept past its fold holds this rather than the fitted closures, so an outcome
    read back from the fold cache (:mod:`validation.experiments.fold_cache`) and a fresh one are the same value."""

    name: str
    params: dict[str, float]
    regime_names: tuple[str, ...]
    parameter_set: dict | None = None

    @classmethod
    def of(cls, fitted: FittedVariant | FittedSummary) -> FittedSummary:
        return cls(fitted.name, dict(fitted.params), tuple(fitted.regime_names), fitted.parameter_set)


@dataclass(frozen=True)
class Variant:
    """A named way to fit the quoter on train data; ``component`` is what it adds to the baseline. An ``optional``
    variant needs data a coin may lack (a leader's mids): folds where it cannot be fitted still count for the
    others (:func:`validation.experiments.walk_forward_run.walk_forward`)."""

    name: str
    component: str
    fit: Callable[[Market, VariantConfig], FittedVariant]
    optional: bool = False


# ---------------------------------------------------------------------------------------------------------------
# the baseline's estimates


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
    return int(times.min()), int(times.max()) + 1


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
    return math.sqrt(float(bv.mean()) / (MINUTE_MS / SECOND_MS))


def fit_kappa(train: Market, tick: float, config: VariantConfig) -> tuple[FitResult, pl.DataFrame]:
    """Grouped MLE of A and kappa on the train taker orders, depths in ticks from d0 = the median half-spread, exposed
    for the time the train book covers (:class:`calibration.coverage.Coverage`: gaps in the capture excluded)."""
    book = train["book"]
    trades = train["trades"]
    orders = derived(train, "orders", (tick,), lambda: taker_orders(trades, book, tick_size=tick))
    depth = orders["depth_ticks"].drop_nulls()
    d0 = float(((book["ask_px_1"] - book["bid_px_1"]) / 2 / tick).median())
    deepest = float(depth.quantile(0.999)) if depth.len() else d0 + 1.0
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
        "adverse_bps": float(adverse.mean()),
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
    touch_bps = float(
        (train["book"]["ask_px_1"] - train["book"]["bid_px_1"]).median() / 2 / train["book"]["mid"].median() * 1e4
    )
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


def _single_regime(name: str, base: _Base, train: Market, config: VariantConfig, **policy: float) -> FittedVariant:
    return FittedVariant(
        name=name,
        model=_model(base),
        policy=_policy(base, config, **policy),
        regime_names=("calm",),
        adverse_bps_by_regime=(base.adverse_bps,),
        params=dict(base.params),
        beliefs=_certain_calm,
        reach=fit_reach(train, config, _certain_calm(train, _window(train)[0]), ("calm",)),
    )


# ---------------------------------------------------------------------------------------------------------------
# the variants


def fit_baseline(train: Market, config: VariantConfig) -> FittedVariant:
    """The seed's Phase 1: EWMA sigma, plain MLE of A and kappa, fixed gamma, no uncertainty widening."""
    return _single_regime(BASELINE, _base(train, config, ewma_sigma), train, config)


def fit_bipower(train: Market, config: VariantConfig) -> FittedVariant:
    """Baseline with sigma from bipower variation."""
    return _single_regime("+bipower", _base(train, config, bipower_sigma), train, config)


def fit_uncertainty_widening(train: Market, config: VariantConfig) -> FittedVariant:
    """Baseline with gamma widened by kappa's relative standard error."""
    return _single_regime(
        "+uncertainty_widening", _base(train, config, ewma_sigma), train, config, kappa_se_mult=config.kappa_se_mult
    )


def _weighted_means(values: np.ndarray, weights: np.ndarray, fallback: float) -> tuple[float, ...]:
    """Per column of ``weights`` (n x K) the weighted mean of ``values``; ``fallback`` for an empty column."""
    total = weights.sum(axis=0)
    sums = values @ weights
    return tuple(float(s / w) if w > 0 else fallback for s, w in zip(sums, total, strict=True))


def _asof_rows(times: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Index of the last of the sorted ``times`` at or before each of ``at`` (-1 when none)."""
    return np.searchsorted(times, at, side="right") - 1


def _hmm_beliefs(params: RegimeParams, bars: pl.DataFrame) -> pl.DataFrame:
    """Causal filter over the 1 min bars, each belief stamped at its bar's end."""
    x = regime_features(bars)
    probs = filter_probabilities(params, x.select(REGIME_FEATURES).to_numpy(), initial=params.stationary())
    columns = {f"belief_{name}": probs[:, k] for k, name in enumerate(params.state_names)}
    return pl.DataFrame({"time": x["time"].to_numpy() + MINUTE_MS, **columns})


def _from_test_start(beliefs: pl.DataFrame, start_ms: int, prior: dict[str, float]) -> pl.DataFrame:
    """Beliefs from ``start_ms`` on, led by the belief held at ``start_ms`` (the last earlier row, else ``prior``)."""
    before = beliefs.filter(pl.col("time") <= start_ms)
    head = before.tail(1) if before.height else pl.DataFrame({"time": [start_ms], **{k: [v] for k, v in prior.items()}})
    later = beliefs.filter(pl.col("time") > start_ms)
    return pl.concat([head.with_columns(time=pl.lit(start_ms, dtype=pl.Int64)), later])


@dataclass(frozen=True, eq=False)
class RegimeModel:
    """A Gaussian HMM fitted on the train minutes, the causal beliefs over train, and the builder of test beliefs.

    ``beliefs(test, start)`` runs the filter on over the train minutes into the test (past data only), so the
    belief at the test start is the one a live quoter would hold.
    """

    params: RegimeParams
    estimates: dict[str, float]
    train_beliefs: pl.DataFrame
    beliefs: Callable[[Market, int], pl.DataFrame]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.params.state_names)


def fit_regimes(train: Market, end_ms: int, config: VariantConfig) -> RegimeModel:
    """BIC-chosen Gaussian HMM (``config.hmm_states``, states too many for the window skipped) on the closed train
    minute bars; raises InsufficientSamples when no state count fits the window."""
    train_bars = _closed_bars(train["features"], MINUTE_MS, end_ms)
    x = regime_features(train_bars).select(REGIME_FEATURES).to_numpy()
    d = x.shape[1]
    feasible = tuple(k for k in config.hmm_states if 10 * ((k - 1) + k * (k - 1) + 2 * k * d) <= len(x))
    if not feasible:
        raise InsufficientSamples("regime_hmm", len(x), 10 * (1 + 2 + 4 * d))
    regime = fit_regime_hmm(x, feature_names=REGIME_FEATURES, n_states=feasible, n_restarts=config.hmm_restarts)
    params = regime.params
    prior = dict(zip((f"belief_{n}" for n in params.state_names), params.stationary().tolist(), strict=True))
    last_train_bar = int(train_bars["time"].max())

    def beliefs(test: Market, start: int) -> pl.DataFrame:
        test_bars = test["features"].filter((pl.col("bar_ms") == MINUTE_MS) & (pl.col("time") > last_train_bar))
        return _from_test_start(_hmm_beliefs(params, pl.concat([train_bars, test_bars])), start, prior)

    return RegimeModel(params, dict(regime.result.estimates), _hmm_beliefs(params, train_bars), beliefs)


def fit_hmm_blending(train: Market, config: VariantConfig) -> FittedVariant:
    """Baseline plus a Gaussian HMM on the train minutes; gamma blended per regime by the causal filter, a state
    named ``cascade`` pulled. Predicted adverse selection per regime: train markouts weighted by the filter's belief
    as of each trade."""
    base = _base(train, config, ewma_sigma)
    regimes = fit_regimes(train, base.end_ms, config)
    names = regimes.names
    adverse = train_adverse_bps(train, base.end_ms, config.markout_horizon_ms)
    rows = _asof_rows(regimes.train_beliefs["time"].to_numpy(), adverse["time"].to_numpy())
    weights = (
        regimes.train_beliefs.select(f"belief_{n}" for n in names).to_numpy()[np.maximum(rows, 0)]
        * (rows >= 0)[:, None]
    )
    adverse_by_regime = _weighted_means(adverse["adverse_bps"].to_numpy(), weights, base.adverse_bps)
    fitted = {
        **{f"gamma_{n}": config.gamma * config.regime_gamma_mult[k] for k, n in enumerate(names)},
        **{f"adverse_bps_{n}": a for n, a in zip(names, adverse_by_regime, strict=True)},
        **{f"hmm_{key}": value for key, value in regimes.estimates.items()},
        "hmm_n_states": float(len(names)),
    }
    return FittedVariant(
        name="+hmm_blending",
        model=_model(base),
        policy=_policy(
            base,
            config,
            gammas=tuple(config.gamma * m for m in config.regime_gamma_mult[: len(names)]),
            floors=(config.min_spread_bps,) * len(names),
            pull_by_regime=tuple(n == "cascade" for n in names),
        ),
        regime_names=names,
        adverse_bps_by_regime=adverse_by_regime,
        params=base.params | fitted,
        beliefs=regimes.beliefs,
        reach=fit_reach(train, config, regimes.train_beliefs, names),
    )


VPIN_REGIMES = ("normal", "toxic")


def _vpin_states(trades: pl.DataFrame, bucket_volume: float, window: int, threshold: float) -> pl.DataFrame:
    """Per completed VPIN bucket: ``time`` (the completing trade) and the normal/toxic belief (0 or 1)."""
    buckets = vpin(trades.sort("time"), bucket_volume, window).filter(pl.col("vpin").is_not_null())
    toxic = (buckets["vpin"] >= threshold).cast(pl.Float64)
    return pl.DataFrame(
        {"time": buckets["time"], "belief_normal": 1.0 - toxic, "belief_toxic": toxic, "vpin": buckets["vpin"]}
    )


def fit_vpin_widening(train: Market, config: VariantConfig) -> FittedVariant:
    """Baseline plus a wider spread floor while the causal exact-side VPIN is above its train quantile.

    Bucket size (train ADV / ``vpin_buckets_per_day``) and the toxic threshold are fitted on train; on test,
    VPIN runs over the train trades into the test trades and each bucket's state is stamped with the trade that
    completed it.
    """
    base = _base(train, config, ewma_sigma)
    trades = train["trades"].select("time", "px", "sz", "side")
    bucket_volume = adv_bucket_volume(trades, config.vpin_buckets_per_day)
    values = vpin(trades.sort("time"), bucket_volume, config.vpin_window)["vpin"].drop_nulls()
    if values.len() < 2:
        raise InsufficientSamples("vpin", values.len(), 2)
    threshold = float(values.quantile(config.vpin_quantile, interpolation="linear"))
    states = _vpin_states(trades, bucket_volume, config.vpin_window, threshold)
    adverse = train_adverse_bps(train, base.end_ms, config.markout_horizon_ms)
    rows = _asof_rows(states["time"].to_numpy(), adverse["time"].to_numpy())
    weights = states.select("belief_normal", "belief_toxic").to_numpy()[np.maximum(rows, 0)] * (rows >= 0)[:, None]
    adverse_by_state = _weighted_means(adverse["adverse_bps"].to_numpy(), weights, base.adverse_bps)

    def beliefs(test: Market, start: int) -> pl.DataFrame:
        tape = pl.concat([trades, test["trades"].select("time", "px", "sz", "side")])
        return _from_test_start(
            _vpin_states(tape, bucket_volume, config.vpin_window, threshold).drop("vpin"),
            start,
            {"belief_normal": 1.0, "belief_toxic": 0.0},
        )

    return FittedVariant(
        name="+vpin_widening",
        model=_model(base),
        policy=_policy(
            base,
            config,
            gammas=(config.gamma,) * 2,
            floors=(config.min_spread_bps, config.min_spread_bps + config.vpin_widening_bps),
        ),
        regime_names=VPIN_REGIMES,
        adverse_bps_by_regime=adverse_by_state,
        reach=fit_reach(train, config, states.drop("vpin"), VPIN_REGIMES),
        params=base.params
        | {
            "vpin_bucket_volume": bucket_volume,
            "vpin_threshold": threshold,
            "vpin_toxic_share_train": float(states["belief_toxic"].mean()),
            "adverse_bps_normal": adverse_by_state[0],
            "adverse_bps_toxic": adverse_by_state[1],
        },
        beliefs=beliefs,
    )


LEAD_LAG = "+lead_lag"


@dataclass(frozen=True)
class LeaderFit:
    """The lead-lag a train window supports: the shift to quote with and its figures (``lead_lag_*``)."""

    shift: LeadLagShift
    params: dict[str, float]


def fit_leader_shift(train: Market, config: VariantConfig, end_ms: int) -> LeaderFit:
    """On the last ``lead_lag_fit_hours`` before ``end_ms`` every leader in ``leader_mids`` is fitted
    (:func:`calibration.lead_lag.fit_lead_lag`) and the significant lead with the smallest p-value (then the largest
    |HY correlation|) kept: its lag and beta shift the fair value (:mod:`quoting.core.lead_lag_shift`), and the standard
    deviation of its log return over that lag on the same hours (sampled every lag) sets the sharp move that pulls
    the quotes (``lead_lag_pull_k`` of them, held ``lead_lag_hold_ms``). Raises :class:`NoLeadLag` without leader
    mids or without a significant lead. Shared by the ``+lead_lag`` variant and the candidate."""
    leaders = train.get(LEADER_MIDS)
    if leaders is None or leaders.height == 0:
        raise NoLeadLag("no leader mids in the train window (no leader configured for this coin, or none captured)")
    window = (max(end_ms - round(config.lead_lag_fit_hours * HOUR_MS), _window(train)[0]), end_ms)
    follower = _mids(train).select("time", "mid")
    by_leader = {
        str(name): frame.select("time", "mid").sort("time")
        for (name,), frame in leaders.partition_by("leader", as_dict=True, maintain_order=True).items()
    }
    fits = {name: fit_lead_lag(frame, follower, window, config.lead_lag) for name, frame in by_leader.items()}
    usable = {name: result.fit for name, result in fits.items() if result.ok}
    if not usable:
        raise NoLeadLag(
            "no significant lead on the train window: "
            + "; ".join(f"{name}: {result.reason}" for name, result in sorted(fits.items()))
        )
    leader, fit = min(
        usable.items(), key=lambda item: (item[1].goodness_of_fit["p_value"], -abs(item[1].estimates["hy_corr"]))
    )
    lag_ms = int(fit.estimates["lag_ms"])
    mids = by_leader[leader]
    grid = np.arange(window[0] + lag_ms, window[1], lag_ms, dtype=np.int64)
    returns = leader_log_returns(mids["time"].to_numpy(), mids["mid"].to_numpy(), grid, lag_ms, LeadLagShift.max_age_ms)
    finite = returns[np.isfinite(returns)]
    move_sd = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    shift = LeadLagShift(
        leader=leader,
        lag_ms=lag_ms,
        beta=fit.estimates["beta"],
        move_sd=move_sd,
        pull_k=config.lead_lag_pull_k,
        hold_ms=config.lead_lag_hold_ms,
    )
    return LeaderFit(
        shift,
        {
            "lead_lag_lag_ms": fit.estimates["lag_ms"],
            "lead_lag_lag_se_ms": fit.std_errors["lag_ms"],
            "lead_lag_beta": fit.estimates["beta"],
            "lead_lag_beta_se": fit.std_errors["beta"],
            "lead_lag_hy_corr": fit.estimates["hy_corr"],
            "lead_lag_p_value": fit.goodness_of_fit["p_value"],
            "lead_lag_move_sd": move_sd,
            "lead_lag_pull_threshold": shift.pull_threshold if math.isfinite(shift.pull_threshold) else math.nan,
            "lead_lag_leaders_fitted": float(len(fits)),
        },
    )


def fit_lead_lag_shift(train: Market, config: VariantConfig) -> FittedVariant:
    """Baseline quoting around a fair value its leader moves, pulled on its sharp moves (:func:`fit_leader_shift` on
    the train window). Raises :class:`NoLeadLag` where the component cannot be built."""
    base = _base(train, config, ewma_sigma)
    leader = fit_leader_shift(train, config, base.end_ms)
    plain = _single_regime(LEAD_LAG, base, train, config)
    return replace(plain, policy=replace(plain.policy, lead_lag=leader.shift), params=plain.params | leader.params)


ABLATIONS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(BASELINE, "the seed's Phase 1: EWMA sigma, MLE kappa/A, fixed gamma", fit_baseline),
        Variant("+bipower", "sigma from bipower variation", fit_bipower),
        Variant("+hmm_blending", "gamma blended by the causal HMM regime filter", fit_hmm_blending),
        Variant("+vpin_widening", "spread floor widened while VPIN is high", fit_vpin_widening),
        Variant("+uncertainty_widening", "gamma widened by kappa's relative SE", fit_uncertainty_widening),
        Variant(LEAD_LAG, "lead_lag", fit_lead_lag_shift, optional=True),
    )
}
"""The baseline and each one-component addition, by name; the baseline first (the full registry with the
``candidate`` is :data:`validation.experiments.variant_registry.VARIANTS`)."""


# ---------------------------------------------------------------------------------------------------------------
# evaluation on the test window


@dataclass(frozen=True, eq=False)
class VariantOutcome:
    """A fitted variant's backtest on one test window, with its predictions scored.

    ``fills``: the backtest's fill log plus the realised markouts (:func:`calibration.markouts.markouts`), the
    realised adverse selection ``realised_adverse_bps`` = max(-markout at the horizon, 0) and ``pnl`` (quote
    currency: spread capture + markout - fee, on the fill's notional). ``quotes``: one row per side and tau
    interval the quoter had a quote out, with ``pred_fill_prob`` and ``filled`` (a market print reached its
    price within tau). ``period_pnl``: mark-to-mid P&L per ``period_ms`` bucket (``time`` = bucket start).
    ``beliefs``: the causal beliefs the quoter used. ``fitted``: the variant as fitted, or its
    :class:`FittedSummary` once the walk-forward keeps the outcome past its fold.
    """

    fitted: FittedVariant | FittedSummary
    fills: pl.DataFrame
    quotes: pl.DataFrame
    period_pnl: pl.DataFrame
    beliefs: pl.DataFrame
    final_inventory: float
    orders_sent: int

    @property
    def name(self) -> str:
        return self.fitted.name

    @property
    def n_fills(self) -> int:
        return self.fills.height

    @property
    def pnl(self) -> float:
        """Mark-to-mid P&L over the test window, quote currency."""
        return float(self.period_pnl["pnl"].sum())

    @property
    def sharpe_per_period(self) -> float:
        return _sharpe(self.period_pnl["pnl"].to_numpy())

    @property
    def sharpe_per_fill(self) -> float:
        return _sharpe(self.fills["pnl"].drop_nulls().to_numpy())

    @property
    def predicted_fill_rate(self) -> float:
        return _mean(self.quotes["pred_fill_prob"])

    @property
    def actual_fill_rate(self) -> float:
        return _mean(self.quotes["filled"].cast(pl.Float64))

    @property
    def brier(self) -> float:
        return _mean((self.quotes["pred_fill_prob"] - self.quotes["filled"].cast(pl.Float64)) ** 2)

    @property
    def predicted_adverse_bps(self) -> float:
        return _mean(self.fills["pred_adverse_bps"])

    @property
    def realised_adverse_bps(self) -> float:
        return _mean(self.fills["realised_adverse_bps"])

    def summary(self) -> dict[str, float | int]:
        """The figures of one ``walk_forward`` row."""
        return {
            "pnl": self.pnl,
            "sharpe_per_period": self.sharpe_per_period,
            "sharpe_per_fill": self.sharpe_per_fill,
            "n_fills": self.n_fills,
            "n_periods": self.period_pnl.height,
            "n_quotes": self.quotes.height,
            "predicted_fill_rate": self.predicted_fill_rate,
            "actual_fill_rate": self.actual_fill_rate,
            "brier": self.brier,
            "predicted_adverse_bps": self.predicted_adverse_bps,
            "realised_adverse_bps": self.realised_adverse_bps,
            "final_inventory": self.final_inventory,
            "orders_sent": self.orders_sent,
        }


def _mean(series: pl.Series) -> float:
    values = series.drop_nulls().drop_nans()
    return float(values.mean()) if values.len() else math.nan


def _sharpe(x: np.ndarray) -> float:
    """Per-period mean / std (ddof 1), NaN when undefined."""
    x = x[np.isfinite(x)]
    sd = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return float(x.mean()) / sd if sd > 0 else math.nan


def simulate_fitted(
    fitted: FittedVariant, test: Market, config: VariantConfig, window: tuple[int, int] | None = None
) -> VariantOutcome:
    """Backtest a fitted variant on ``test`` with its causal beliefs and score its predictions; ``window`` is the
    test window [start, end) in ms, by default the span of its book rows and trades."""
    start, end = window or _window(test)
    beliefs = fitted.beliefs(test, start)
    result = run_backtest(
        test["book"],
        test["trades"],
        fitted.model,
        fitted.policy,
        config.backtest,
        beliefs,
        fitted.adverse_bps_by_regime,
        fitted.regime_names,
        fitted.reach,
        policy_leader_mids(test, fitted.policy),
        tape=market_tape(test),
    )
    return VariantOutcome(
        fitted=fitted,
        fills=marked_fills(result.fills, test, config.markout_horizon_ms),
        quotes=quote_outcomes(fitted, beliefs, result.equity, test, (start, end), config),
        period_pnl=period_pnl(result.equity, start, end, config.period_ms),
        beliefs=beliefs,
        final_inventory=result.final_inventory,
        orders_sent=result.orders_sent,
    )


def policy_leader_mids(data: Market, policy: QuotePolicy) -> pl.DataFrame | None:
    """``time, mid`` of the policy's leader in ``data`` (empty when the window holds none: the quote falls back to
    the mid); None for a policy without a leader."""
    if policy.lead_lag is None:
        return None
    empty = pl.DataFrame(schema={"time": pl.Int64, "mid": pl.Float64})
    frame = data.get(LEADER_MIDS)
    if frame is None:
        return empty
    return frame.filter(pl.col("leader") == policy.lead_lag.leader).select("time", "mid").sort("time")


def marked_fills(fills: pl.DataFrame, data: Market, horizon_ms: int) -> pl.DataFrame:
    """Backtest fills with realised markouts against ``data``'s mids, ``realised_adverse_bps`` and per-fill ``pnl``
    (quote currency)."""
    marked = markouts(fills, _mids(data), horizons_ms=(horizon_ms,), adverse_horizon_ms=horizon_ms)
    return marked.with_columns(
        realised_adverse_bps=pl.col("adverse_selection_bps"),
        pnl=pl.col(f"net_{horizon_ms}ms_bps") * BPS * pl.col("mid_at_fill") * pl.col("sz"),
    )


def period_pnl(equity: pl.DataFrame, start_ms: int, end_ms: int, period_ms: int) -> pl.DataFrame:
    """Mark-to-mid P&L (equity change, from 0) per ``period_ms`` bucket of [start_ms, end_ms); the last may be
    partial."""
    n = -(-(end_ms - start_ms) // period_ms)
    bounds = np.minimum(start_ms + period_ms * np.arange(1, n + 1, dtype=np.int64), end_ms)
    times = equity["time"].to_numpy()
    values = equity["equity"].fill_nan(None).forward_fill().fill_null(0.0).to_numpy()
    rows = np.searchsorted(times, bounds, side="left") - 1  # the last row strictly before each bucket end
    level = np.where(rows >= 0, values[np.maximum(rows, 0)], 0.0)
    starts = start_ms + period_ms * np.arange(n, dtype=np.int64)
    return pl.DataFrame({"time": starts, "pnl": np.diff(level, prepend=0.0)})


def quote_outcomes(
    fitted: FittedVariant,
    beliefs: pl.DataFrame,
    equity: pl.DataFrame,
    test: Market,
    window: tuple[int, int],
    config: VariantConfig,
) -> pl.DataFrame:
    """Each tau interval of the test ``window``: the quote the variant would show at its start t, per side, and
    whether a market print reached that price in ``[t + latency, t + latency + tau)`` (the event the reach model
    predicts, :mod:`quoting.core.fill_prediction`; intervals whose scored window passes the window's end are left out).

    State at the interval start t: mid and touch of the last book row at or before t (at most ``MID_MAX_AGE_MS``
    old, :func:`calibration.mids.mid_index`: intervals starting in a capture gap are left out), the backtest's
    inventory, the belief of the last row at or before t, for a policy with a leader the leader's log return over
    its lag as of t (the quote's centre) and its sharp-move pull (:mod:`quoting.core.lead_lag_shift`), and for a policy
    with the Hawkes component the intensity multiplier m(t) (:mod:`quoting.core.hawkes_intensity`: A and the predicted
    fill probability scale with it). Pulled sides are not quoted and not scored.
    """
    tau_ms, latency_ms = fitted.reach.horizon_ms, fitted.reach.latency_ms
    start, end = window
    starts = start + tau_ms * np.arange(max((end - start - latency_ms) // tau_ms, 0), dtype=np.int64)
    book = derived(test, "sorted_book", (), lambda: test["book"].sort("time"))
    book_rows = mid_index(book["time"].to_numpy(), starts)
    belief_rows = _asof_rows(beliefs["time"].to_numpy(), starts)
    inventory_rows = _asof_rows(equity["time"].to_numpy(), starts)
    keep = (book_rows >= 0) & (belief_rows >= 0)
    starts, book_rows, belief_rows = starts[keep], book_rows[keep], belief_rows[keep]
    inventory_rows = inventory_rows[keep]
    mid = book["mid"].to_numpy()[book_rows]
    best_bid, best_ask = book["bid_px_1"].to_numpy()[book_rows], book["ask_px_1"].to_numpy()[book_rows]
    inventory = np.where(inventory_rows >= 0, equity["inventory"].to_numpy()[np.maximum(inventory_rows, 0)], 0.0)
    belief = beliefs.select(f"belief_{n}" for n in fitted.regime_names).to_numpy()[belief_rows]
    model, policy, reach = fitted.model, fitted.policy, fitted.reach
    leader = policy_leader_mids(test, policy)
    leader_return, leader_pull = (np.full(starts.size, np.nan), np.zeros(starts.size, dtype=np.bool_))
    if leader is not None and policy.lead_lag is not None:
        times, values = leader["time"].to_numpy(), leader["mid"].to_numpy()
        leader_return = leader_log_returns(times, values, starts, policy.lead_lag.lag_ms, policy.lead_lag.max_age_ms)
        leader_pull = leader_pulls(times, values, starts, policy.lead_lag)
    multiplier = book_intensity_multipliers(starts, test["trades"], policy)
    horizon_weight = 1.0 if policy.hawkes is None else policy.hawkes.horizon_weight(latency_ms, tau_ms)
    row, side, depth, prob, px = _interval_quotes(
        mid,
        leader_return,
        leader_pull,
        multiplier,
        horizon_weight,
        policy.lead_lag_beta,
        best_bid,
        best_ask,
        inventory,
        np.ascontiguousarray(belief, dtype=np.float64),
        GlftInputs.of(model, policy),
        policy.sigmas(model.sigma),
        policy.gammas,
        policy.min_spreads_bps,
        policy.fill_costs_bps,
        policy.pulled,
        policy.pull_threshold,
        reach.knots,
        reach.log_intensities,
    )
    quotes = pl.DataFrame(
        {"time": starts[row], "side": side, "mid": mid[row], "depth_px": depth, "pred_fill_prob": prob, "px": px},
        schema={
            "time": pl.Int64,
            "side": pl.Int8,
            "mid": pl.Float64,
            "depth_px": pl.Float64,
            "pred_fill_prob": pl.Float64,
            "px": pl.Float64,
        },
    )
    scored = interval_extremes(test["trades"], start, tau_ms, latency_ms)
    return (
        quotes.join(scored, on="time", how="left")
        .with_columns(
            filled=pl.when(pl.col("side") > 0)
            .then(pl.col("lowest_sell") <= pl.col("px"))
            .otherwise(pl.col("highest_buy") >= pl.col("px"))
            .fill_null(False)
        )
        .drop("lowest_sell", "highest_buy")
    )


@njit(cache=True)
def _interval_quotes(
    mid,
    leader_return,
    leader_pull,
    multiplier,
    horizon_weight,
    lead_lag_beta,
    best_bid,
    best_ask,
    inventory,
    belief,
    inputs,
    sigmas,
    gammas,
    floors,
    fill_costs,
    pulled,
    pull_threshold,
    reach_knots,
    reach_log_intensities,
):  # pragma: no cover - compiled
    """The quoted sides at each interval start (bid before ask), centred on the lead-lag fair value with A times the
    Hawkes multiplier: interval index, side, depth from the mid (price units), predicted reach probability and
    price; pulled sides (regime or sharp leader move) are left out."""
    n = mid.shape[0]
    row = np.empty(2 * n, np.int64)
    side = np.empty(2 * n, np.int8)
    depth = np.empty(2 * n)
    prob = np.empty(2 * n)
    px = np.empty(2 * n)
    m = 0
    for i in range(n):
        probs = belief[i]
        bid_px, ask_px, _, _, _, _, _, bid_code, ask_code = glft_quote_core(
            inputs,
            blend_regimes(probs, sigmas, gammas, floors, fill_costs),
            lead_lag_fair_value(mid[i], leader_return[i], lead_lag_beta),
            inventory[i],
            multiplier[i],
            regime_pull(probs, pulled, pull_threshold) or leader_pull[i],
            best_bid[i],
            best_ask[i],
            0.0,
            0.0,
        )
        for s, price, code in ((1, bid_px, bid_code), (-1, ask_px, ask_code)):
            if code == QUOTED:
                row[m], side[m], px[m] = i, s, price
                depth[m] = abs(mid[i] - price)
                prob[m] = reach_probability(
                    depth_bps(price, mid[i]),
                    probs,
                    reach_knots,
                    reach_log_intensities,
                    expected_multiplier(multiplier[i], horizon_weight),
                )
                m += 1
    return row[:m], side[:m], depth[:m], prob[:m], px[:m]
