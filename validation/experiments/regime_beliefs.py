"""The variants' causal regime beliefs: a Gaussian HMM fitted on the closed train minute bars (BIC picks the number
of states) and filtered forward (Hamilton 1989) over the train minutes into the test, so each belief row is computed
from past data only and stamped when it becomes known (its bar's end, UTC epoch ms); and the lead row of a belief
series at the test start (:func:`_from_test_start`, also for the ``+vpin_widening`` states).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from calibration.fit_result import InsufficientSamples
from calibration.regimes import REGIME_FEATURES, RegimeParams, filter_probabilities, fit_regime_hmm, regime_features
from data_lake.scalars import as_int
from data_lake.units import MINUTE_MS
from quoting.core.fill_prediction import ReachModel
from validation.backtest.fold_data import derived
from validation.experiments.train_estimates import _closed_bars, fit_reach
from validation.experiments.variant_types import Market, VariantConfig


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
    minute bars, fitted once per fold part (:func:`validation.backtest.fold_data.derived`: the HMM variants share it;
    its restarts are seeded, so a refit would give the same model); raises InsufficientSamples when no state count
    fits the window."""
    return derived(train, "regimes", (end_ms, config), lambda: _fit_regimes(train, end_ms, config))


def regime_reach(train: Market, end_ms: int, config: VariantConfig) -> ReachModel:
    """:func:`validation.experiments.train_estimates.fit_reach` per state of :func:`fit_regimes`' HMM under its causal
    train beliefs, once per fold part: the variants quoting by those states share the curves."""
    regimes = fit_regimes(train, end_ms, config)
    return derived(
        train,
        "regime_reach",
        (end_ms, config),
        lambda: fit_reach(train, config, regimes.train_beliefs, regimes.names),
    )


def _fit_regimes(train: Market, end_ms: int, config: VariantConfig) -> RegimeModel:
    train_bars = _closed_bars(train["features"], MINUTE_MS, end_ms)
    x = regime_features(train_bars).select(REGIME_FEATURES).to_numpy()
    d = x.shape[1]
    feasible = tuple(k for k in config.hmm_states if 10 * ((k - 1) + k * (k - 1) + 2 * k * d) <= len(x))
    if not feasible:
        raise InsufficientSamples("regime_hmm", len(x), 10 * (1 + 2 + 4 * d))
    regime = fit_regime_hmm(x, feature_names=REGIME_FEATURES, n_states=feasible, n_restarts=config.hmm_restarts)
    params = regime.params
    prior = dict(zip((f"belief_{n}" for n in params.state_names), params.stationary().tolist(), strict=True))
    last_train_bar = as_int(train_bars["time"].max(), "last train bar")

    def beliefs(test: Market, start: int) -> pl.DataFrame:
        test_bars = test["features"].filter((pl.col("bar_ms") == MINUTE_MS) & (pl.col("time") > last_train_bar))
        return _from_test_start(_hmm_beliefs(params, pl.concat([train_bars, test_bars])), start, prior)

    return RegimeModel(params, dict(regime.result.estimates), _hmm_beliefs(params, train_bars), beliefs)
