"""The promoted set, re-run unchanged on the walk-forward's test windows: the incumbent the gate compares with.

The gate's "not worse than the promoted set" check pairs the candidate's out-of-sample P&L with the incumbent's
period by period (:mod:`validation.decisions.promotion_gate`). The incumbent's own evidence covers the periods of the
night it was promoted, which a later candidate never shares; so each night the promoted set is replayed, with the
parameters it was promoted with (no refit), through exactly the candidate's test windows. Its regime beliefs come from
its own HMM run causally over the fold's train minutes into the test, as the quoter's filter would have been running.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from calibration.fit_result import InsufficientSamples
from calibration.regimes import RegimeParams
from data_lake.param_schema import Parameters
from data_lake.scalars import as_int
from data_lake.units import MINUTE_MS
from quoting.core.policy_inputs import quoting_inputs
from validation.experiments.out_of_sample import VariantOutcome, simulate_fitted
from validation.experiments.regime_beliefs import _from_test_start, _hmm_beliefs
from validation.experiments.train_estimates import _closed_bars, _window
from validation.experiments.variant_types import FittedVariant, Market, VariantConfig
from validation.experiments.walk_forward import Fold, run_walk_forward
from validation.experiments.walk_forward_run import TIME_COLS, with_known_at

INCUMBENT = "incumbent"
"""Prefix of the incumbent's ``variant`` in ``walk_forward_pnl``: ``incumbent:<param_set_id>``."""


def incumbent_variant(param_set_id: str) -> str:
    """The ``walk_forward_pnl`` variant name under which the promoted set ``param_set_id`` was replayed."""
    return f"{INCUMBENT}:{param_set_id}"


def fitted_incumbent(parameters: Mapping[str, Any], train: Market) -> FittedVariant:
    """The promoted ``parameters`` as a fitted variant for the test window after ``train``; ``train`` only feeds the
    causal regime filter (raises InsufficientSamples without train minute bars)."""
    inputs = quoting_inputs(Parameters.from_dict(dict(parameters)))
    if inputs.adverse_bps_by_regime is None or inputs.reach is None:
        raise ValueError("the promoted set predates per-regime adverse selection and reach curves: cannot replay it")
    hmm = RegimeParams.from_dict(parameters["hmm"])
    train_bars = _closed_bars(train["features"], MINUTE_MS, _window(train)[1])
    if train_bars.height == 0:
        raise InsufficientSamples("incumbent_regime_filter", 0, 1)
    prior = dict(zip((f"belief_{n}" for n in hmm.state_names), hmm.stationary().tolist(), strict=True))
    last_train_bar = as_int(train_bars["time"].max(), "last train bar")

    def beliefs(test: Market, start: int) -> pl.DataFrame:
        test_bars = test["features"].filter((pl.col("bar_ms") == MINUTE_MS) & (pl.col("time") > last_train_bar))
        return _from_test_start(_hmm_beliefs(hmm, pl.concat([train_bars, test_bars])), start, prior)

    return FittedVariant(
        name=INCUMBENT,
        model=inputs.model,
        policy=inputs.policy,
        regime_names=tuple(hmm.state_names),
        adverse_bps_by_regime=tuple(float(a) for a in inputs.adverse_bps_by_regime),
        params={},
        beliefs=beliefs,
        reach=inputs.reach,
        parameter_set=dict(parameters),
    )


def incumbent_period_pnl(
    folds: Sequence[Fold], data: Mapping[str, pl.DataFrame], parameters: Mapping[str, Any], config: VariantConfig
) -> pl.DataFrame:
    """``fold``, ``time``, ``pnl``: the promoted set's mark-to-mid P&L per period (quote currency) on each fold's test
    window, periods as the walk-forward's; folds the replay cannot run on (no train minutes) are left out."""
    results = run_walk_forward(
        folds,
        with_known_at(data),
        lambda train: _or_error(lambda: fitted_incumbent(parameters, train)),
        lambda fitted, test, fold: (
            fitted
            if isinstance(fitted, InsufficientSamples)
            else simulate_fitted(fitted, test, config, fold.window("test"))
        ),
        time_cols=TIME_COLS,
    )
    frames = [
        r.result.period_pnl.select(pl.lit(r.fold.index, dtype=pl.Int32).alias("fold"), "time", "pnl")
        for r in results
        if isinstance(r.result, VariantOutcome)
    ]
    empty = pl.DataFrame(schema={"fold": pl.Int32, "time": pl.Int64, "pnl": pl.Float64})
    return pl.concat(frames) if frames else empty


INCUMBENT_PNL_SCHEMA = {"fold": pl.Int32, "time": pl.Int64, "variant": pl.String, "pnl": pl.Float64}


def incumbent_pnl_rows(
    param_set_id: str,
    parameters: Mapping[str, Any],
    complete: Sequence[Fold],
    data: Mapping[str, pl.DataFrame],
    config: VariantConfig,
) -> tuple[pl.DataFrame, str]:
    """The promoted set ``param_set_id`` replayed unchanged on the run's ``complete`` folds: its ``walk_forward_pnl``
    rows (variant ``incumbent:<id>``, what the gate pairs the candidate with) and a line saying what was replayed,
    or why not (a ValueError of the replay, e.g. parameters it cannot quote with)."""
    try:
        pnl = incumbent_period_pnl(complete, data, parameters, config)
    except ValueError as exc:
        return pl.DataFrame(schema=INCUMBENT_PNL_SCHEMA), f"{param_set_id} not replayed: {exc}"
    note = f"{param_set_id} replayed on {pnl['fold'].n_unique()} of {len(complete)} folds"
    return pnl.select("fold", "time", pl.lit(incumbent_variant(param_set_id)).alias("variant"), "pnl"), note


def _or_error(build: Any) -> FittedVariant | InsufficientSamples:
    try:
        return build()
    except InsufficientSamples as error:
        return error
