"""The HMM's typed storage (``regime_hmm``): RegimeParams -> rows -> Delta -> rows -> RegimeParams is the identity,
bit for bit, for the fitted HMM and every warm start, and a damaged set is refused by name."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from calibration.regime_storage import FITTED, WARM_START, fitted_hmm, hmm_rows, regime_hmm_rows, warm_starts
from calibration.regimes import REGIME_FEATURES, RegimeParams, filter_probabilities, fit_regime_hmm
from data_lake.lake import Lake
from data_lake.tables import REGIME_HMM
from tests.test_regimes import simulate_bars

pytestmark = pytest.mark.usefixtures("quiet_hmmlearn")
COIN, DAY = "DEMO", dt.date(2026, 1, 2)


@pytest.fixture(scope="module")
def fit():
    x, _ = simulate_bars(3, n=1500)
    return x, fit_regime_hmm(x, feature_names=REGIME_FEATURES, n_restarts=2)


def assert_identical(read: RegimeParams, written: RegimeParams) -> None:
    assert read.state_names == written.state_names and read.feature_names == written.feature_names
    for name in ("feature_mean", "feature_scale", "startprob", "transmat", "means", "variances"):
        got, want = getattr(read, name), getattr(written, name)
        assert got.dtype == np.float64 and got.shape == want.shape, name
        assert np.array_equal(got, want), name  # exact: no float is rounded on the way


def test_the_fitted_hmm_and_the_warm_starts_survive_a_delta_round_trip(fit, tmp_path) -> None:
    x, regime = fit
    gof = regime.result.goodness_of_fit
    rows = regime_hmm_rows(regime.params, regime.candidates, gof)
    stamps = {
        "coin": COIN,
        "date": DAY,
        "window_start_ms": 0,
        "window_end_ms": 1,
        "code_version": "t",
        "fitted_at_ms": 2,
    }
    lake = Lake(tmp_path, storage_options={})
    lake.write_partition("regime_hmm", rows.with_columns(**{k: pl.lit(v) for k, v in stamps.items()}), COIN, DAY)
    stored = lake.read_partition("regime_hmm", COIN, DAY)
    assert stored.columns == list(REGIME_HMM.schema)
    k = regime.params.n_states
    assert stored.filter(pl.col("role") == FITTED).height == k
    assert sorted(set(stored.filter(pl.col("role") == WARM_START)["n_states"])) == sorted(regime.candidates) == [2, 3]
    fitted = stored.filter(pl.col("role") == FITTED)
    assert fitted["log_likelihood"][0] == gof["loglik"] and fitted["bic"][0] == gof["bic"]
    assert set(stored.filter(pl.col("role") == WARM_START)["log_likelihood"].is_nan()) == {True}

    read = fitted_hmm(stored.sample(fraction=1.0, shuffle=True, seed=1))  # row order does not matter
    assert read is not None
    assert_identical(read, regime.params)
    np.testing.assert_array_equal(filter_probabilities(read, x), filter_probabilities(regime.params, x))
    starts = warm_starts(stored)
    assert sorted(starts) == [2, 3]
    for n_states, params in regime.candidates.items():
        assert_identical(starts[n_states], params)


def test_no_rows_is_no_hmm_and_a_damaged_set_is_refused(fit) -> None:
    _, regime = fit
    assert fitted_hmm(REGIME_HMM.empty()) is None and warm_starts(REGIME_HMM.empty()) == {}
    rows = hmm_rows(regime.params, FITTED, log_likelihood=1.0, bic=math.nan)
    with pytest.raises(ValueError, match="states"):
        fitted_hmm(rows.filter(pl.col("state") != 0))
