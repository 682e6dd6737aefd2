"""Every variant the walk-forward runs, by name: the baseline, its one-component additions, and the candidate."""

from __future__ import annotations

from validation.experiments.candidate import CANDIDATE, fit_candidate
from validation.experiments.hawkes_variant import HAWKES, fit_hawkes
from validation.experiments.out_of_sample import VariantOutcome, simulate_fitted
from validation.experiments.regime_pull_variant import REGIME_PULL, fit_regime_pull
from validation.experiments.variant_types import Market, Variant, VariantConfig
from validation.experiments.variants import ABLATIONS

VARIANTS: dict[str, Variant] = {
    **ABLATIONS,
    HAWKES: Variant(
        HAWKES, "A and the fill probability scaled by the taker-order Hawkes intensity", fit_hawkes, optional=True
    ),
    REGIME_PULL: Variant(
        REGIME_PULL,
        "quote only in the HMM states whose train net edge after fees says so",
        fit_regime_pull,
        optional=True,
    ),
    CANDIDATE: Variant(
        CANDIDATE,
        "the promoted policy: bipower sigma, HMM-blended gamma and floors, kappa-SE widening, quote only in states "
        "with a train net edge, reach-curve fill probability",
        fit_candidate,
    ),
}
"""The baseline first, the candidate last."""


def evaluate_variant(name: str, train: Market, test: Market, config: VariantConfig = VariantConfig()) -> VariantOutcome:
    """Fit variant ``name`` on ``train`` only, then backtest and score it on ``test``."""
    return simulate_fitted(VARIANTS[name].fit(train, config), test, config)
