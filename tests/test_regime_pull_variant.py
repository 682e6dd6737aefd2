"""``+regime_pull`` against known truth: NICHE's takers leave no trace in its calm regime (a maker nets about
d - 1.65 bps per fill there) and move the price by their whole reach in the volatile one; DEMO's move it everywhere.
Fitted on six train hours, the component quotes NICHE in calm only and never quotes DEMO; out of sample NICHE then
fills only while the causal filter believes calm, and makes money."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from data_lake.demo_market import DemoMarket, demo_coin_configs
from tests.test_variants import CONFIG, HOUR_MS, demo_lake_frames, window
from validation.decisions.component_verdict import DIAGNOSES
from validation.experiments.out_of_sample import simulate_fitted
from validation.experiments.regime_pull_variant import REGIME_PULL, fit_regime_pull
from validation.experiments.variant_registry import VARIANTS

COINS = {c.coin: c for c in demo_coin_configs(1, 7, dt.date(2026, 1, 1))}


@pytest.fixture(scope="module", params=sorted(COINS))
def fitted_and_test(request: pytest.FixtureRequest, demo_coin_markets: dict[str, DemoMarket]):
    config = COINS[request.param]
    frames = demo_lake_frames(demo_coin_markets[request.param])
    start = config.start_ms
    train, test = window(frames, start, start + 6 * HOUR_MS), window(frames, start + 6 * HOUR_MS, start + 9 * HOUR_MS)
    return config, fit_regime_pull(train, CONFIG), test


@pytest.mark.slow  # fits the regime pull on six hours of each preset coin (module fixture)
def test_it_quotes_only_in_the_states_with_a_true_edge(fitted_and_test) -> None:
    config, fitted, _ = fitted_and_test
    quoted = dict(zip(fitted.regime_names, (not pulled for pulled in fitted.policy.pull_by_regime), strict=True))
    expected = {"calm": config.coin == "NICHE", "volatile": False}
    assert quoted == expected, fitted.params
    if config.coin == "NICHE":
        assert fitted.params["train_net_bps_calm"] - 2 * fitted.params["train_net_se_bps_calm"] > 0


@pytest.mark.slow  # shares the module fixture's fits
def test_out_of_sample_it_fills_only_where_it_plays_and_earns_there(fitted_and_test) -> None:
    config, fitted, test = fitted_and_test
    outcome = simulate_fitted(fitted, test, CONFIG)
    if config.coin == "DEMO":
        assert outcome.n_fills == 0 and float(outcome.period_pnl["pnl"].abs().sum()) == 0.0
        return
    calm = outcome.fills["belief_calm"].to_numpy()
    assert outcome.n_fills > 200 and np.all(calm >= 1.0 - CONFIG.pull_threshold)  # quoted only while calm held
    assert float(outcome.period_pnl["pnl"].sum()) > 0.0


def test_it_is_a_trial_and_a_fix_the_regime_row_considers() -> None:
    assert VARIANTS[REGIME_PULL].optional
    [regime] = [d for d in DIAGNOSES if d.prediction == "regime"]
    assert REGIME_PULL in regime.alternatives
