"""The quoter's variants for walk-forward validation: the seed's Phase 1 baseline and one added component each.

A variant is fitted on a TRAIN window (:attr:`~validation.experiments.variant_types.Variant.fit`, which sees nothing
else) and returns a :class:`~validation.experiments.variant_types.FittedVariant`: every number the quoter uses,
frozen, plus the one thing built on the TEST window, the regime beliefs, computed causally (each row stamped when it
becomes known; :mod:`validation.experiments.regime_beliefs`). Every variant starts from the baseline's train estimates
(:mod:`validation.experiments.train_estimates`);
:func:`~validation.experiments.out_of_sample.simulate_fitted` then backtests it on the test window and scores its
predictions against what happened.

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
beliefs (:mod:`calibration.fill_probability`, :mod:`quoting.core.fill_prediction`): the probability that a print
reaches the quote's fixed price within tau after the order latency, which is the event
:func:`~validation.experiments.interval_scoring.quote_outcomes` counts. The ``+hawkes`` variant's curves are fitted
with the train intervals' log multiplier as an offset, so its prediction is the fitted curve times the multiplier
known at the decision.

Inputs and units: :mod:`validation.experiments.variant_types`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from calibration.fit_result import InsufficientSamples
from calibration.toxicity import adv_bucket_volume, vpin
from data_lake.scalars import as_float
from validation.experiments.lead_lag_variant import LEAD_LAG, fit_lead_lag_shift
from validation.experiments.regime_beliefs import _from_test_start, fit_regimes, regime_reach
from validation.experiments.train_estimates import (
    _asof_rows,
    _base,
    _model,
    _policy,
    _single_regime,
    _weighted_means,
    bipower_sigma,
    ewma_sigma,
    fit_reach,
    train_adverse_bps,
)
from validation.experiments.variant_types import BASELINE, FittedVariant, Market, Variant, VariantConfig


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
        reach=regime_reach(train, base.end_ms, config),
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
    threshold = as_float(values.quantile(config.vpin_quantile, interpolation="linear"), "VPIN threshold")
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
            "vpin_toxic_share_train": as_float(states["belief_toxic"].mean(), "toxic share"),
            "adverse_bps_normal": adverse_by_state[0],
            "adverse_bps_toxic": adverse_by_state[1],
        },
        beliefs=beliefs,
    )


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
