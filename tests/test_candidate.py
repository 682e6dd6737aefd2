"""The candidate: one function from a training window to the policy that is validated, promoted and quoted."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from calibration.fill_probability import hat_basis
from calibration.fit_result import InsufficientSamples
from data_lake.param_schema import Parameters, json_safe
from quoting.core.fill_prediction import reach_probability
from quoting.core.policy_inputs import quoting_inputs
from tests.test_variants import CONFIG, DEMO, HOUR_MS
from validation.experiments.candidate import CANDIDATE, candidate_parameters, reach_recalibration
from validation.experiments.variant_registry import VARIANTS
from validation.experiments.walk_forward import rolling_folds, slice_window
from validation.experiments.walk_forward_run import (
    POOLED,
    TIME_COLS,
    distinct_trials,
    final_candidate,
    stack_folds,
    walk_forward,
    with_known_at,
)

FOLDS = rolling_folds(DEMO.start_ms, DEMO.start_ms + 18 * HOUR_MS, train_ms=6 * HOUR_MS, test_ms=3 * HOUR_MS)


@pytest.fixture(scope="module")
def frames(demo_frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return demo_frames


@pytest.fixture(scope="module")
def run(frames: dict[str, pl.DataFrame]):
    return walk_forward(FOLDS, frames, CONFIG, variants=("baseline", CANDIDATE))


def test_each_fold_quotes_with_the_policy_the_parameter_set_describes(frames: dict[str, pl.DataFrame]) -> None:
    """The walk-forward's candidate on a fold is the quoter's conversion of candidate_parameters on that fold's
    train slice: same sigma, kappa, A, gammas, floors, pulls, fee, sizes, rounding rules, reach curves."""
    fold = FOLDS[1]
    train = slice_window(with_known_at(frames), fold.window("train"), TIME_COLS)
    fitted = VARIANTS[CANDIDATE].fit(train, CONFIG)
    parameters = candidate_parameters(train, CONFIG).parameters
    assert fitted.parameter_set == parameters
    inputs = quoting_inputs(Parameters.from_dict(json.loads(json.dumps(json_safe(parameters)))))
    assert (fitted.model, fitted.policy, fitted.reach) == (inputs.model, inputs.policy, inputs.reach)
    assert fitted.regime_names == tuple(inputs.regime.state_names)
    assert fitted.policy.maker_fee_bps == CONFIG.maker_fee_bps and fitted.policy.rules == CONFIG.rules
    p = fitted.params
    assert p["sigma_px_per_sqrt_s"] == fitted.model.sigma  # bipower sigma, not the EWMA
    assert fitted.policy.gamma_by_regime == CONFIG.candidate_gamma_by_regime[: len(fitted.regime_names)]
    # the quoter decides as often as the backtest that validated the set did
    assert inputs.requote_interval_ms == parameters["requote_interval_ms"] == CONFIG.backtest.requote_ms


@pytest.mark.slow  # fits the candidate twice
def test_the_promoted_set_is_the_candidate_of_the_last_training_window(frames: dict[str, pl.DataFrame]) -> None:
    end = FOLDS[-1].test_end_ms
    fit = final_candidate(frames, end, 6 * HOUR_MS, CONFIG)
    assert end - 6 * HOUR_MS <= fit.window[0] < fit.window[1] <= end
    train = slice_window(with_known_at(frames), (end - 6 * HOUR_MS, end), TIME_COLS)
    assert fit.parameters == candidate_parameters(train, CONFIG).parameters


@pytest.mark.slow  # walk-forward of the candidate over four folds (module fixture)
def test_the_candidate_quotes_only_where_its_train_edge_says(run) -> None:
    """On the demo market the volatile regime loses to informed flow: the candidate never quotes there, and every
    fold's quote decisions follow its in-sample net edge (t > edge_z on enough fills)."""
    for row in run.rows.filter((pl.col("variant") == CANDIDATE) & (pl.col("fold") != POOLED)).iter_rows(named=True):
        params = json.loads(row["params"])
        assert params["quote_volatile"] == 0.0 and params["train_net_bps_volatile"] < 0
        for regime in ("calm", "volatile"):
            t = params[f"train_net_bps_{regime}"] / params[f"train_net_se_bps_{regime}"]
            enough = params[f"train_fills_{regime}"] >= CONFIG.min_regime_fills
            assert params[f"quote_{regime}"] == float(enough and t > CONFIG.edge_z)


@pytest.mark.slow  # reads the walk-forward of the module fixture
def test_the_candidate_fill_probability_is_calibrated_out_of_sample(run) -> None:
    """The event predicted is the event counted: out of sample the slope CI holds 1 and the intercept CI 0."""
    assert run.evidence_variant == CANDIDATE
    fill = run.fill_calibration
    assert fill is not None and fill.n > 10_000
    assert fill.slope_ci[0] <= 1.0 <= fill.slope_ci[1], fill
    assert fill.intercept_ci[0] <= 0.0 <= fill.intercept_ci[1], fill


def test_identical_pnl_columns_are_one_trial() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert distinct_trials(np.column_stack([a, b, a, b.copy(), a + 1e-12])) == [0, 1, 4]


def test_folds_whose_hmm_chose_different_state_counts_stack() -> None:
    two = pl.DataFrame({"time": [1], "belief_calm": [0.9], "belief_volatile": [0.1]})
    three = pl.DataFrame({"time": [2], "belief_calm": [0.5], "belief_volatile": [0.3], "belief_cascade": [0.2]})
    stacked = stack_folds([two, three])
    assert stacked.columns == ["time", "belief_calm", "belief_volatile", "belief_cascade"]
    assert stacked["belief_cascade"].to_list() == [None, 0.2]


def test_the_fit_side_interpolation_is_the_prediction_side_one() -> None:
    """calibration.hat_basis (fitting, recalibration) and quoting.reach_probability (backtest, quoter) read the same
    piecewise-linear log intensity, inside the knots and beyond both ends."""
    knots = np.array([0.5, 1.0, 2.5, 6.0])
    values = np.array([-0.5, -1.2, -2.9, -6.5])
    depths = np.array([0.0, 0.5, 0.8, 1.0, 2.0, 4.0, 6.0, 9.0])
    log_lambda = hat_basis(depths, knots) @ values
    one = np.array([1.0])
    for d, g in zip(depths, log_lambda, strict=True):
        assert reach_probability(d, one, knots, values[None, :], 1.0) == pytest.approx(-np.expm1(-np.exp(g)), rel=1e-12)


def test_reach_recalibration_recovers_a_known_shift_and_scale() -> None:
    rng = np.random.default_rng(3)
    g = rng.uniform(-4.0, -1.0, (40_000, 2))
    belief = rng.dirichlet([1.0, 1.0], 40_000)
    p = (belief * -np.expm1(-np.exp(0.4 + 0.6 * g))).sum(axis=1)
    shift, scale = reach_recalibration(g, belief, rng.random(40_000) < p)
    assert shift == pytest.approx(0.4, abs=0.15) and scale == pytest.approx(0.6, abs=0.06)


def test_reach_recalibration_predicts_a_constant_where_the_quotes_show_no_resolution() -> None:
    # the curves claim a spread of intensities between quotes that all reach at the same 8% rate
    rng = np.random.default_rng(4)
    g = rng.uniform(-3.5, -1.5, (40_000, 2))
    belief = rng.dirichlet([1.0, 1.0], 40_000)
    reached = rng.random(40_000) < 0.08
    shift, scale = reach_recalibration(g, belief, reached)
    assert scale == 0.0
    assert -np.expm1(-np.exp(shift)) == pytest.approx(reached.mean(), rel=1e-9)


def test_a_window_the_data_cannot_support_is_refused_with_its_reason(frames: dict[str, pl.DataFrame]) -> None:
    """Forty minutes with a ten-minute gap are too few minute bars for the regime HMM; a trades-only window has no
    mid: both are refused by name, never fitted."""
    start = DEMO.start_ms
    gappy = {
        name: frame.filter(
            pl.col("time").is_between(start, start + 20 * 60_000 - 1)
            | pl.col("time").is_between(start + 30 * 60_000, start + 50 * 60_000 - 1)
        )
        for name, frame in frames.items()
    }
    with pytest.raises(InsufficientSamples, match="regime_hmm"):
        candidate_parameters(gappy, CONFIG)
    with pytest.raises(InsufficientSamples, match="book_mid"):
        candidate_parameters({**gappy, "book": gappy["book"].head(0)}, CONFIG)
