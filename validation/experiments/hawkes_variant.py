"""The ``+hawkes`` variant: the baseline with A and its fill probability scaled by the taker-order Hawkes intensity.

On the train window the pooled taker-order arrivals (both sides, the prints of one order merged:
:func:`calibration.window_fits.order_arrival_times`) are fitted by the exponential Hawkes MLE on the covered time
(:func:`calibration.hawkes_fit.fit_hawkes_exp`, constant baseline: the multiplier is relative to one stationary
mean, Hawkes 1971). The quote then uses A * lambda(t) / lambda_bar (:mod:`quoting.core.hawkes_intensity`) in the
backtest, the walk-forward's interval quotes and the quoter alike, and the reach curves are fitted with the train
intervals' log multiplier as an offset, so that the predicted fill probability moves with the intensity too. Everything
else is the baseline's (EWMA sigma, MLE A and kappa, fixed gamma).
"""

from __future__ import annotations

import math
from dataclasses import replace

from calibration.coverage import Coverage
from calibration.fit_result import InsufficientSamples
from calibration.hawkes_fit import fit_hawkes_exp
from data_lake.units import SECOND_MS
from quoting.core.hawkes_intensity import HawkesIntensity
from validation.backtest.runner import taker_order_times
from validation.experiments.train_estimates import _base, _certain_calm, _model, _policy, _window, ewma_sigma, fit_reach
from validation.experiments.variant_types import FittedVariant, Market, VariantConfig

HAWKES = "+hawkes"


def fit_taker_intensity(train: Market) -> tuple[HawkesIntensity, dict[str, float]]:
    """The Hawkes process of the train window's taker orders (covered time only: gaps in the book capture are
    neither quiet spells nor exposure) and its figures (``hawkes_*``). Raises InsufficientSamples when it cannot be
    fitted (too few orders, or no stationary estimate)."""
    start, end = _window(train)
    coverage = Coverage.of(train["book"]["time"], start_ms=start, end_ms=end)
    events_s = taker_order_times(train["trades"]) / SECOND_MS
    fit = fit_hawkes_exp(
        events_s,
        end / SECOND_MS,
        start_time=start / SECOND_MS,
        covered=coverage.intervals / SECOND_MS,
        baseline="constant",
    )
    e = fit.estimates
    if not (e and math.isfinite(e["mu"]) and e["mu"] > 0 and 0.0 <= e["alpha"] < e["beta"]):
        raise InsufficientSamples("hawkes_exp", fit.n, 1)
    hawkes = HawkesIntensity(mu=e["mu"], alpha=e["alpha"], beta=e["beta"])
    return hawkes, {
        "hawkes_mu_per_s": hawkes.mu,
        "hawkes_alpha_per_s": hawkes.alpha,
        "hawkes_beta_per_s": hawkes.beta,
        "hawkes_branching_ratio": hawkes.branching_ratio,
        "hawkes_branching_ratio_se": fit.std_errors["branching_ratio"],
        "hawkes_mean_intensity_per_s": hawkes.mean_intensity,
        "hawkes_ks_pvalue": fit.goodness_of_fit["ks_pvalue"],
        "hawkes_n_orders": float(fit.n),
    }


def fit_hawkes(train: Market, config: VariantConfig) -> FittedVariant:
    """The baseline with the train window's Hawkes intensity scaling A and the fill probability."""
    base = _base(train, config, ewma_sigma)
    hawkes, figures = fit_taker_intensity(train)
    calm = _certain_calm(train, _window(train)[0])
    return FittedVariant(
        name=HAWKES,
        model=_model(base),
        policy=replace(_policy(base, config), hawkes=hawkes),
        regime_names=("calm",),
        adverse_bps_by_regime=(base.adverse_bps,),
        params=dict(base.params) | figures,
        beliefs=_certain_calm,
        reach=fit_reach(train, config, calm, ("calm",), hawkes),
    )
