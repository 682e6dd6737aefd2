"""A parameter set's ``parameters`` as the GLFT kernel's inputs: the one place a :class:`QuotePolicy` is built
from fits, shared by the quoter (:mod:`quoting.runtime.params`) and the walk-forward's ``candidate`` variant
(:mod:`validation.experiments.candidate`), so the policy that is promoted is the policy that was validated. Pure, no
I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.regimes import RegimeParams
from data_lake.param_schema import LeadLagParams, Parameters
from quoting.core.exchange_rules import AssetRules
from quoting.core.fill_prediction import ReachModel
from quoting.core.glft import MarketModel, QuotePolicy
from quoting.core.hawkes_intensity import HawkesIntensity
from quoting.core.lead_lag_shift import LeadLagShift

REQUOTE_INTERVAL_MS = 1_000
"""Least time between two quoting decisions, ms, of the backtest and of a quoter whose set carries none."""


@dataclass(frozen=True, eq=False)
class QuotingInputs:
    """What a parameter set's ``parameters`` mean to the GLFT kernel, in the HMM's state order."""

    model: MarketModel
    policy: QuotePolicy
    regime: RegimeParams
    adverse_bps_by_regime: np.ndarray | None
    reach: ReachModel | None
    requote_interval_ms: int
    """Least time between two quoting decisions, ms: the interval the set was validated with."""


def _lead_lag_shift(p: LeadLagParams) -> LeadLagShift:
    """The set's lead-lag as the quote's shift, with its protective pull when the set carries one."""
    if p.move_sd is None or p.pull_k is None or p.hold_ms is None:
        return LeadLagShift(p.leader, p.lag_ms, p.beta)
    return LeadLagShift(p.leader, p.lag_ms, p.beta, move_sd=p.move_sd, pull_k=p.pull_k, hold_ms=p.hold_ms)


def quoting_inputs(p: Parameters) -> QuotingInputs:
    """The one conversion of a parameter set's parameters into the kernel's model and policy, used by the quoter
    and by the walk-forward's ``candidate`` variant alike (so what is promoted is what was validated).

    A set without ``quote_by_regime`` (written before it existed) quotes in every state but one named ``cascade``;
    one with ``lead_lag`` centres its quotes on the fair value its leader moves and pulls on its sharp moves
    (:mod:`quoting.core.lead_lag_shift`); one with ``hawkes_intensity`` scales A by the taker-order intensity
    (:mod:`quoting.core.hawkes_intensity`).
    Raises ValueError when the quote policy refuses the values.
    """
    regime = RegimeParams.from_dict(p.hmm)
    names = regime.state_names
    quoted = p.quote_by_regime or {s: s != "cascade" for s in names}
    adverse = p.adverse_selection_bps_by_regime
    cost = p.adverse_cost_bps_by_regime
    sigma = p.sigma_by_regime
    reach = p.fill_probability
    policy = QuotePolicy(
        gamma_by_regime=tuple(p.gamma_per_quote_by_regime[s] for s in names),
        min_spread_bps_by_regime=tuple(p.min_spread_bps_by_regime[s] for s in names),
        order_size=p.order_size_base,
        position_limit=p.position_limit_base,
        rules=AssetRules(sz_decimals=p.sz_decimals, is_spot=p.is_spot),
        pull_by_regime=tuple(not quoted[s] for s in names),
        pull_threshold=p.cascade_threshold,
        kappa_se_mult=p.kappa_se_mult,
        maker_fee_bps=p.maker_fee_bps,
        sigma_by_regime=None if sigma is None else tuple(sigma[s].value for s in names),
        adverse_cost_bps_by_regime=None if cost is None else tuple(max(cost[s].value, 0.0) for s in names),
        lead_lag=None if p.lead_lag is None else _lead_lag_shift(p.lead_lag),
        hawkes=None
        if p.hawkes_intensity is None
        else HawkesIntensity(p.hawkes_intensity.mu, p.hawkes_intensity.alpha, p.hawkes_intensity.beta),
    )
    return QuotingInputs(
        model=MarketModel(
            sigma=p.sigma.value, kappa=p.kappa.value, kappa_se=p.kappa.se, arrival_rate=p.arrival_rate.value
        ),
        policy=policy,
        regime=regime,
        adverse_bps_by_regime=None if adverse is None else np.array([adverse[s].value for s in names]),
        reach=None
        if reach is None
        else ReachModel(
            knots_bps=tuple(reach.depth_knots_bps),
            log_intensity_by_regime=tuple(tuple(reach.log_intensity_by_regime[s]) for s in names),
            horizon_ms=reach.horizon_ms,
            latency_ms=reach.latency_ms,
        ),
        requote_interval_ms=REQUOTE_INTERVAL_MS if p.requote_interval_ms is None else p.requote_interval_ms,
    )
