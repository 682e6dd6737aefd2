"""A fitted HMM (:class:`calibration.regimes.RegimeParams`) as rows of the ``regime_hmm`` table and back.

One row per state, typed columns instead of a JSON document: the state's start probability, its row of the
transition matrix, its per-feature means and variances (standardised units) and, repeated on every row, the
standardisation the filter applies first (feature names, means, scales). Floats are stored as Float64, so a set
read back is identical to the one written, bit for bit. ``role`` says what a set is for: :data:`FITTED`, the HMM
the causal filter runs, or :data:`WARM_START`, the best HMM of each number of states tried, from which the next
day's EM starts (its window overlaps this one by all but a day).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

from calibration.regimes import RegimeParams
from data_lake.tables import REGIME_HMM

FITTED = "fitted"
WARM_START = "warm_start"
STAMPS = ("coin", "date", "window_start_ms", "window_end_ms", "code_version", "fitted_at_ms")
"""Columns the fit asset adds: partition, window and run stamps."""


def hmm_rows(
    params: RegimeParams, role: str, *, log_likelihood: float = math.nan, bic: float = math.nan
) -> pl.DataFrame:
    """The rows of one HMM, in state order, without the :data:`STAMPS`."""
    k = params.n_states
    rows = {
        "role": [role] * k,
        "n_states": [k] * k,
        "state": list(range(k)),
        "state_name": list(params.state_names),
        "start_prob": params.startprob.tolist(),
        "transition": params.transmat.tolist(),
        "means": params.means.tolist(),
        "variances": params.variances.tolist(),
        "feature_names": [list(params.feature_names)] * k,
        "feature_mean": [params.feature_mean.tolist()] * k,
        "feature_scale": [params.feature_scale.tolist()] * k,
        "log_likelihood": [log_likelihood] * k,
        "bic": [bic] * k,
    }
    return pl.DataFrame(rows, schema=REGIME_HMM.columns_without(*STAMPS))


def regime_hmm_rows(
    fitted: RegimeParams, candidates: Mapping[int, RegimeParams], goodness_of_fit: Mapping[str, float]
) -> pl.DataFrame:
    """The ``regime_hmm`` rows of a regime fit (:func:`calibration.regimes.fit_regime_hmm`): the ``fitted`` HMM with
    its log-likelihood and BIC (``goodness_of_fit``'s ``loglik`` and ``bic``) and the ``warm_start`` HMM of each
    number of states with its BIC (``bic_<K>``; its log-likelihood is not kept by the fit, so NaN)."""
    nan = math.nan
    sets = [
        hmm_rows(fitted, FITTED, log_likelihood=goodness_of_fit.get("loglik", nan), bic=goodness_of_fit.get("bic", nan))
    ]
    sets += [hmm_rows(p, WARM_START, bic=goodness_of_fit.get(f"bic_{k}", nan)) for k, p in sorted(candidates.items())]
    return pl.concat(sets)


def _params(rows: pl.DataFrame) -> RegimeParams:
    """The HMM of one (role, n_states) set of rows; ValueError when its states are not 0..K-1 exactly once."""
    ordered = rows.sort("state")
    k = ordered.height
    if ordered["state"].to_list() != list(range(k)) or set(ordered["n_states"].to_list()) != {k}:
        raise ValueError(f"regime_hmm rows of a {k}-state set hold states {ordered['state'].to_list()}")
    first = ordered.row(0, named=True)

    def matrix(name: str) -> np.ndarray:
        return np.asarray(ordered[name].to_list(), dtype=np.float64)

    return RegimeParams(
        state_names=tuple(ordered["state_name"].to_list()),
        feature_names=tuple(first["feature_names"]),
        feature_mean=np.asarray(first["feature_mean"], dtype=np.float64),
        feature_scale=np.asarray(first["feature_scale"], dtype=np.float64),
        startprob=ordered["start_prob"].to_numpy().astype(np.float64),
        transmat=matrix("transition"),
        means=matrix("means"),
        variances=matrix("variances"),
    )


def fitted_hmm(rows: pl.DataFrame) -> RegimeParams | None:
    """The ``fitted`` HMM of one partition's ``regime_hmm`` rows, None when the fit stored none."""
    picked = rows.filter(pl.col("role") == FITTED)
    return _params(picked) if picked.height else None


def warm_starts(rows: pl.DataFrame) -> dict[int, RegimeParams]:
    """Number of states -> the ``warm_start`` HMM of one partition's ``regime_hmm`` rows (the next day's EM starts)."""
    picked = rows.filter(pl.col("role") == WARM_START)
    return {int(k): _params(group) for (k,), group in picked.group_by("n_states", maintain_order=True)}
