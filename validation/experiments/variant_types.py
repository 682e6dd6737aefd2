"""What a walk-forward variant is: its settings (:class:`VariantConfig`), the market frames it reads
(:data:`Market`), its form fitted on a train window (:class:`FittedVariant`), what is kept of it past its fold
(:class:`FittedSummary`) and its registry entry (:class:`Variant`). The variants themselves:
:mod:`validation.experiments.variants` and :mod:`validation.experiments.variant_registry`.

Inputs are dicts of lake frames for one coin: ``trades`` and ``book`` (the backtest's tapes), ``features`` (1 s and
1 min bars, :mod:`calibration.bars`) and ``markouts`` (market trades from the maker side, :mod:`calibration.markouts`),
and optionally ``leader_mids`` (:data:`LEADER_MIDS`: the mids of the coin's configured leaders), which only an
optional variant needs: one that cannot be fitted without it (``+lead_lag``) does not stop the others' evidence.
Times are UTC epoch ms, prices quote currency, sizes base units, P&L quote currency, spreads and markouts bps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import polars as pl

from calibration.lead_lag import LeadLagConfig
from data_lake.fees import MAKER_FEE_BPS
from data_lake.units import MINUTE_MS
from quoting.core.exchange_rules import AssetRules
from quoting.core.fill_prediction import ReachModel
from quoting.core.glft import MarketModel, QuotePolicy
from validation.backtest.runner import BacktestConfig

Market = Mapping[str, pl.DataFrame]
"""One coin's lake frames over one window: ``trades``, ``book``, ``features``, ``markouts`` (and ``leader_mids``)."""
LEADER_MIDS = "leader_mids"
"""Market frame of the mids of the coin's leaders: ``leader`` (coin), ``time`` (ms), ``mid`` (quote currency)."""

BASELINE = "baseline"


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
