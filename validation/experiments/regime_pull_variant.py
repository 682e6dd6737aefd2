"""The ``+regime_pull`` variant: the baseline plus one component, choosing when to play.

On the train window the baseline policy (EWMA sigma, MLE kappa/A, one gamma, one floor) quotes in every state of a
Gaussian HMM fitted to the train minutes (:func:`validation.experiments.regime_beliefs.fit_regimes`) and is backtested
there; its fills, each assigned the state the causal filter held most likely when it was quoted, give a net edge per
state after fees with its HAC standard error (:func:`validation.experiments.candidate.regime_edges`: quote only where
the edge is above ``edge_z`` SEs on at least ``min_regime_fills`` fills). Out of sample the variant quotes with the
baseline policy and pulls, through the same causal filter (belief mass on the pulled states above ``pull_threshold``),
in the states whose training edge did not say play. Everything else is the baseline's, so its walk-forward verdict
measures this one component: a small maker's advantage is choosing its niche and when to quote (Hamilton 1989 for
the filter; the edge test is the one-sided HAC test of Newey and West 1987).
"""

from __future__ import annotations

from validation.backtest.runner import market_tape, run_backtest
from validation.experiments.candidate import regime_edges
from validation.experiments.out_of_sample import marked_fills
from validation.experiments.regime_beliefs import fit_regimes, regime_reach
from validation.experiments.train_estimates import _base, _model, _policy, ewma_sigma
from validation.experiments.variant_types import FittedVariant, Market, VariantConfig

REGIME_PULL = "+regime_pull"


def fit_regime_pull(train: Market, config: VariantConfig) -> FittedVariant:
    """Fit ``+regime_pull`` on ``train`` (module docstring); raises InsufficientSamples when the train window's
    backtest leaves fewer than 2 marked fills to judge the states by."""
    base = _base(train, config, ewma_sigma)
    regimes = fit_regimes(train, base.end_ms, config)
    names = regimes.names
    reach = regime_reach(train, base.end_ms, config)
    gammas, floors = (config.gamma,) * len(names), (config.min_spread_bps,) * len(names)
    everywhere = _policy(base, config, gammas=gammas, floors=floors, pull_by_regime=(False,) * len(names))
    in_sample = run_backtest(
        train["book"],
        train["trades"],
        _model(base),
        everywhere,
        config.backtest,
        regimes.train_beliefs,
        0.0,
        names,
        reach,
        tape=market_tape(train),
    )
    edges = regime_edges(marked_fills(in_sample.fills, train, config.markout_horizon_ms), names, config)
    return FittedVariant(
        name=REGIME_PULL,
        model=_model(base),
        policy=_policy(base, config, gammas=gammas, floors=floors, pull_by_regime=tuple(not e.quote for e in edges)),
        regime_names=names,
        adverse_bps_by_regime=tuple(e.adverse_bps for e in edges),
        params=base.params
        | {
            **{f"quote_{e.regime}": float(e.quote) for e in edges},
            **{f"train_net_bps_{e.regime}": e.net_bps for e in edges},
            **{f"train_net_se_bps_{e.regime}": e.net_se_bps for e in edges},
            **{f"train_fills_{e.regime}": float(e.n_fills) for e in edges},
            "hmm_n_states": float(len(names)),
        },
        beliefs=regimes.beliefs,
        reach=reach,
    )
