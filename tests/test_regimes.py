"""Regimes: the HMM fit against known truth, the causal filter, the online filter, the regime table."""

from __future__ import annotations

import json
import warnings

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from hmmlearn.hmm import GaussianHMM

from calibration.fit_result import InsufficientSamples
from calibration.regimes import (
    QUOTE_ACTION,
    REGIME_FEATURES,
    RegimeFilter,
    RegimeParams,
    RegimeThresholds,
    expected_durations,
    filter_probabilities,
    fit_regime_hmm,
    hmm_log_likelihood,
    regime_features,
    regime_table,
)
from calibration.volatility import bar_mids, log_returns, window_realized_measures
from data_lake.demo_market import DemoMarketConfig, simulate

TRANSMAT = np.array([[0.98, 0.02], [0.05, 0.95]])
SIGMA = (0.5e-3, 2.0e-3)  # per-bar return sd of each state
FEATURES = REGIME_FEATURES


pytestmark = pytest.mark.usefixtures("quiet_hmmlearn")


def simulate_bars(seed: int, n: int = 3000, transmat=TRANSMAT, sigma=SIGMA, per_bar: int = 60):
    """A regime path and per-bar (log return, log realised variance) from ``per_bar`` Gaussian sub-bar returns."""
    rng = np.random.default_rng(seed)
    transmat = np.asarray(transmat)
    states = np.empty(n, dtype=int)
    states[0] = 0
    for t in range(1, n):
        states[t] = rng.choice(len(transmat), p=transmat[states[t - 1]])
    sub = rng.standard_normal((n, per_bar)) * np.asarray(sigma)[states][:, None] / np.sqrt(per_bar)
    return np.column_stack([sub.sum(axis=1), np.log((sub**2).sum(axis=1))]), states


@pytest.fixture(scope="module")
def two_state():
    x, states = simulate_bars(0)
    return x, states, fit_regime_hmm(x, feature_names=FEATURES, n_restarts=4)


@pytest.fixture(scope="module")
def returns_only():
    """Returns alone leave the state uncertain bar by bar: where filtering and smoothing differ."""
    x, states = simulate_bars(0)
    return x[:, :1], states, fit_regime_hmm(x[:, :1], feature_names=FEATURES[:1], n_states=2, n_restarts=4)


# ---------------------------------------------------------------------------------------------------------------
# the fit


def test_hmm_recovers_transition_matrix_variances_and_states(two_state):
    x, states, fit = two_state
    r = fit.result
    assert fit.params.state_names == ("calm", "volatile") and r.ok and r.n == len(x)
    for (i, a), (j, b) in [((0, "calm"), (1, "volatile")), ((1, "volatile"), (0, "calm"))]:
        key = f"p_{a}_{b}"
        assert abs(r.estimates[key] - TRANSMAT[i, j]) < 3 * r.std_errors[key], key
    for i, name in enumerate(("calm", "volatile")):
        key = f"var_log_return_{name}"
        assert abs(r.estimates[key] - SIGMA[i] ** 2) < 3 * r.std_errors[key], key
        assert abs(r.estimates[f"mean_log_return_{name}"]) < 3 * r.std_errors[f"mean_log_return_{name}"]
    assert r.estimates["duration_calm"] == pytest.approx(1 / (1 - r.estimates["p_calm_calm"]))
    assert r.estimates["stationary_calm"] + r.estimates["stationary_volatile"] == pytest.approx(1.0)
    belief = filter_probabilities(fit.params, x)
    assert np.mean(belief.argmax(axis=1) == states) > 0.9


@pytest.mark.slow  # five multi-restart HMM fits and eight hmmlearn fits
def test_relabelling_is_stable_across_restarts_while_raw_hmmlearn_labels_are_not():
    x, _ = simulate_bars(1, n=1500)
    fits = [fit_regime_hmm(x, feature_names=FEATURES, n_states=2, n_restarts=3, random_state=s) for s in range(5)]
    for fit in fits[1:]:
        np.testing.assert_allclose(fit.params.variances, fits[0].params.variances, rtol=1e-4)
        np.testing.assert_allclose(fit.params.transmat, fits[0].params.transmat, atol=1e-4)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    first_state_var = [
        GaussianHMM(2, covariance_type="diag", n_iter=200, random_state=s).fit(z).covars_[0, 0, 0] for s in range(8)
    ]
    assert max(first_state_var) > 2 * min(first_state_var)  # hmmlearn's state 0 is calm in some runs, not others


def test_bic_picks_two_states_on_two_state_data(two_state):
    _, _, fit = two_state
    assert fit.bic[2] < fit.bic[3]
    assert fit.params.n_states == 2 and fit.result.goodness_of_fit["n_states"] == 2


def test_bic_picks_three_states_on_three_state_data_ordered_by_variance():
    transmat = np.array([[0.97, 0.02, 0.01], [0.03, 0.95, 0.02], [0.05, 0.05, 0.90]])
    sigma = (0.5e-3, 1.5e-3, 5e-3)
    x, states = simulate_bars(2, n=3000, transmat=transmat, sigma=sigma)
    fit = fit_regime_hmm(x, feature_names=FEATURES, n_restarts=4)
    assert fit.params.state_names == ("calm", "volatile", "cascade")
    assert fit.bic[3] < fit.bic[2]
    est = fit.result.estimates
    assert est["var_log_return_calm"] < est["var_log_return_volatile"] < est["var_log_return_cascade"]
    assert np.mean(filter_probabilities(fit.params, x).argmax(axis=1) == states) > 0.9


@pytest.mark.slow  # three HMM fits, one with ten restarts
def test_warm_start_from_the_previous_window_reaches_the_cold_optimum():
    """The nightly fit starts EM from the day before's fit of each number of states (another window, another
    standardisation) beside a few fresh restarts: it lands on the fit that ten fresh restarts find."""
    x, _ = simulate_bars(4, n=3400)
    yesterday = fit_regime_hmm(x[:3000], feature_names=FEATURES, n_restarts=4)
    assert set(yesterday.candidates) == {2, 3}
    assert yesterday.candidates[3].state_names == ("calm", "volatile", "cascade")
    cold = fit_regime_hmm(x[400:], feature_names=FEATURES, n_restarts=10)
    alone = fit_regime_hmm(x[400:], feature_names=FEATURES, warm_starts=yesterday.candidates, warm_restarts=0)
    assert len(alone.restart_logliks) == 1 and alone.bic[2] == pytest.approx(cold.bic[2], abs=1e-3)
    warm = fit_regime_hmm(x[400:], feature_names=FEATURES, warm_starts=yesterday.candidates, warm_restarts=3)
    assert len(warm.restart_logliks) == 4 and warm.params.state_names == cold.params.state_names
    assert warm.bic[2] == pytest.approx(cold.bic[2], abs=1e-3)
    for key, value in cold.result.estimates.items():
        assert warm.result.estimates[key] == pytest.approx(value, abs=1e-3 * cold.result.std_errors[key]), key


def test_insufficient_samples_for_tiny_input():
    x, _ = simulate_bars(3, n=50)
    with pytest.raises(InsufficientSamples) as err:
        fit_regime_hmm(x, feature_names=FEATURES)
    assert err.value.model == "regime_hmm" and err.value.n == 50


# ---------------------------------------------------------------------------------------------------------------
# the causal filter


def hmmlearn_model(params: RegimeParams) -> GaussianHMM:
    """The same HMM as a hmmlearn model on standardised features (the look-ahead reference)."""
    k, d = params.means.shape
    model = GaussianHMM(k, covariance_type="diag", init_params="")
    model.startprob_, model.transmat_ = params.startprob, params.transmat
    model.means_, model.covars_ = params.means, params.variances
    model.n_features = d
    return model


def test_filter_at_t_ignores_data_after_t(returns_only):
    x, _, fit = returns_only
    t = 1200
    belief = filter_probabilities(fit.params, x)
    changed = x.copy()
    changed[t + 1 :] = simulate_bars(99, n=len(x) - t - 1, sigma=(5e-3, 9e-3))[0][:, :1]
    np.testing.assert_array_equal(filter_probabilities(fit.params, changed)[: t + 1], belief[: t + 1])
    np.testing.assert_array_equal(filter_probabilities(fit.params, x[: t + 1]), belief[: t + 1])
    # hmmlearn's smoothed posteriors at t do move when the future changes
    model, z, z_changed = hmmlearn_model(fit.params), fit.params.standardise(x), fit.params.standardise(changed)
    smoothed, smoothed_changed = model.predict_proba(z), model.predict_proba(z_changed)
    assert np.max(np.abs(smoothed[: t + 1] - smoothed_changed[: t + 1])) > 0.1


def test_filter_matches_hmmlearn_only_at_the_last_step(returns_only):
    x, states, fit = returns_only
    model, z = hmmlearn_model(fit.params), fit.params.standardise(x)
    loglik, smoothed = model.score_samples(z)
    belief = filter_probabilities(fit.params, x)
    np.testing.assert_allclose(belief[-1], smoothed[-1], atol=1e-10)
    assert np.max(np.abs(belief[:-1] - smoothed[:-1])) > 0.5  # elsewhere the smoother looked ahead
    assert np.mean(smoothed.argmax(axis=1) == states) > np.mean(belief.argmax(axis=1) == states)  # and it helped
    assert hmm_log_likelihood(fit.params, x) == pytest.approx(loglik, rel=1e-10)
    # several sequences: each restarts from the initial distribution, as hmmlearn's lengths=
    lengths = [1000, 1000, len(x) - 2000]
    _, smoothed = model.score_samples(z, lengths=lengths)
    ends = np.cumsum(lengths) - 1
    np.testing.assert_allclose(filter_probabilities(fit.params, x, lengths=lengths)[ends], smoothed[ends], atol=1e-10)
    assert hmm_log_likelihood(fit.params, x, lengths=lengths) == pytest.approx(model.score(z, lengths), rel=1e-10)


def test_online_filter_reproduces_the_batch_filter_from_a_json_round_trip(two_state):
    x, _, fit = two_state
    document = json.loads(json.dumps(fit.params.to_dict()))
    online = RegimeFilter(document, initial=fit.params.stationary())
    batch = filter_probabilities(fit.params, x[:500], initial=fit.params.stationary())
    assert np.allclose(online.belief, fit.params.stationary())
    steps = np.array([online.update(row) for row in x[:500]])
    np.testing.assert_allclose(steps, batch, atol=1e-12)
    np.testing.assert_allclose(online.predict(), batch[-1] @ fit.params.transmat, atol=1e-12)
    before = online.belief
    np.testing.assert_allclose(online.update(np.array([np.nan, np.nan])), before @ fit.params.transmat)  # no data
    online.reset()
    np.testing.assert_allclose(online.update(x[0]), batch[0], atol=1e-12)


def test_statsmodels_markov_switching_agrees_on_the_regime_variances():
    x, _ = simulate_bars(4, n=1500)
    r = x[:, :1]
    fit = fit_regime_hmm(r, feature_names=("log_return",), n_states=2, n_restarts=4)
    ms = sm.tsa.MarkovRegression(r[:, 0] * 1e4, k_regimes=2, trend="c", switching_variance=True).fit(
        search_reps=10, rng=np.random.default_rng(0)
    )
    params = dict(zip(ms.model.param_names, ms.params, strict=True))
    ms_var = np.sort([params["sigma2[0]"], params["sigma2[1]"]]) * 1e-8  # back from bps^2
    ours = fit.result
    for name, v in zip(("calm", "volatile"), ms_var, strict=True):
        assert ours.estimates[f"var_log_return_{name}"] == pytest.approx(v, rel=0.02)
    # the causal probabilities agree too (statsmodels starts from the stationary distribution)
    calm_ms = int(np.argmin([params["sigma2[0]"], params["sigma2[1]"]]))
    ours_calm = filter_probabilities(fit.params, r, initial=fit.params.stationary())[:, 0]
    assert np.mean(np.abs(ours_calm - ms.filtered_marginal_probabilities[:, calm_ms])) < 0.01


# ---------------------------------------------------------------------------------------------------------------
# the seed's regime table


def test_regime_features_take_logs_floor_zero_rv_and_drop_incomplete_bars():
    bars = pl.DataFrame({"time": [3, 1, 2, 4], "log_return": [0.01, None, -0.02, 0.0], "rv": [4e-4, 1e-4, 1e-6, 0.0]})
    got = regime_features(bars)
    assert got["time"].to_list() == [2, 3, 4] and got.columns == ["time", *REGIME_FEATURES]
    np.testing.assert_allclose(got["log_rv"].to_numpy(), np.log([1e-6, 4e-4, 1e-6]))


def test_regime_table_classifies_by_sigma_ratio_and_jump_ratio():
    sigma = np.array([0.5, 1.0, 1.6, 1.6, 3.5, 1.2, np.nan, 1.0])
    jump = np.array([1.0, 1.0, 1.1, 1.8, 1.0, 3.0, 1.0, np.nan])
    got = regime_table(sigma, 1.0, jump)
    assert got.tolist() == ["calm", "normal", "volatile", "cascade", "cascade", "normal", "cascade", "normal"]
    assert regime_table(np.array([1.0]), 0.0, np.array([1.0])).tolist() == ["cascade"]  # no baseline: fail closed
    strict = RegimeThresholds(volatile_from=1.1, cascade_from=2.0)
    assert regime_table(np.array([1.2, 2.5]), 1.0, np.array([1.0, 1.0]), strict).tolist() == ["volatile", "cascade"]
    assert QUOTE_ACTION["cascade"] == "pull" and set(QUOTE_ACTION) == {"calm", "normal", "volatile", "cascade"}


# ---------------------------------------------------------------------------------------------------------------
# known truth: the demo market's per-minute regime path


def demo_minute_features(market) -> tuple[np.ndarray, np.ndarray]:
    """The HMM features per minute of the demo's displayed mid (built as ``calibration.bars`` builds its 1 min
    bars, from the project's volatility functions) and the true state of each of those minutes."""
    mids = market.mids.select(pl.lit(market.config.coin).alias("coin"), "time", "mid")
    minute = log_returns(bar_mids(mids, 60_000))
    realized = window_realized_measures(log_returns(bar_mids(mids, 1000)), 60_000, 1000).select("coin", "time", "rv")
    features = regime_features(minute.join(realized, on=["coin", "time"]))
    states = features.join(market.regimes, on="time", how="left")["state"].to_numpy()
    return features.select(REGIME_FEATURES).to_numpy(), states


@pytest.mark.slow
def test_demo_market_transition_matrix_and_filtered_states():
    """Six simulated days of two regimes: BIC with the admissibility guard keeps 2 states (raw BIC would split the
    jumpy calm regime), the transition probabilities are covered by their SEs, the causal belief finds the path."""
    z, raw_bic_three = [], 0
    for seed in range(6):
        market = simulate(DemoMarketConfig(seed=seed))
        truth = np.asarray(market.config.transition_per_minute)
        x, states = demo_minute_features(market)
        fit = fit_regime_hmm(x, feature_names=FEATURES, n_restarts=4)
        assert fit.params.state_names == ("calm", "volatile") and not fit.result.warnings
        raw_bic_three += fit.bic[3] < fit.bic[2]
        for (i, a), (j, b) in [((0, "calm"), (1, "volatile")), ((1, "volatile"), (0, "calm"))]:
            key = f"p_{a}_{b}"
            z.append((fit.result.estimates[key] - truth[i, j]) / fit.result.std_errors[key])
        belief = filter_probabilities(fit.params, x, initial=fit.params.stationary())
        assert np.mean(belief.argmax(axis=1) == states) > 0.9
    z = np.array(z)
    assert np.all(np.abs(z) < 3) and np.sum(np.abs(z) < 2) >= 10, z.round(2)
    assert raw_bic_three >= 3  # the guard, not BIC alone, kept the true number of states


@pytest.mark.slow
def test_demo_market_three_regimes():
    config = DemoMarketConfig(
        seed=0,
        days=2,
        transition_per_minute=((0.97, 0.02, 0.01), (0.04, 0.94, 0.02), (0.05, 0.10, 0.85)),
        sigma_bps_per_sqrt_s=(0.5, 2.0, 6.0),
        informed_prob=(0.05, 0.4, 0.6),
    )
    market = simulate(config)
    x, states = demo_minute_features(market)
    fit = fit_regime_hmm(x, feature_names=FEATURES, n_restarts=4)
    assert fit.params.state_names == ("calm", "volatile", "cascade")
    truth = np.asarray(config.transition_per_minute)
    names = fit.params.state_names
    for i in range(3):
        for j in range(3):
            key = f"p_{names[i]}_{names[j]}"
            assert abs(fit.result.estimates[key] - truth[i, j]) < 3 * fit.result.std_errors[key], key
    online = RegimeFilter(fit.params.to_dict(), initial=fit.params.stationary())
    belief = np.array([online.update(row) for row in x])
    assert np.mean(belief.argmax(axis=1) == states) > 0.9


def test_expected_duration_is_the_geometric_mean_stay_and_infinite_for_a_state_never_left():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        durations = expected_durations(np.array([0.9, 0.5, 1.0]))
    np.testing.assert_allclose(durations[:2], [10.0, 2.0])
    assert durations[2] == np.inf
