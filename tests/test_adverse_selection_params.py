"""Per-regime adverse selection: estimated from the demo lake's maker-side markouts, carried by the parameter set,
blended by the quoter's regime belief and attached to every order it sends."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from assets.promotion import (
    PromotionConfig,
    candidate_parameters,
    maker_markouts_at_regime,
    mean_by_regime,
)
from assets.regime_state import regime_params
from data_lake.lake import Lake
from data_lake.param_registry import Pointer, PromotedSet
from data_lake.param_schema import ParamSet
from quoting.decision import DecisionConfig, decide, predicted_adverse_bps
from quoting.params import QuotingParams, to_quoting_params
from tests.support import DEMO_COIN, DEMO_DAY, run_job
from tests.test_quoter import ADVERSE_BPS, parameters

HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory: pytest.TempPathFactory, demo_day: tuple[Path, Path]) -> tuple[Lake, dict[str, Any]]:
    lake_root = tmp_path_factory.mktemp("adverse") / "lake"
    assert run_job("nightly_recalibration", lake_root, demo_day[0]).success
    return Lake(lake_root, storage_options={}), json.loads(demo_day[1].read_text())


@pytest.mark.slow
def test_per_regime_adverse_selection_is_ordered_and_recovers_the_demo_truth(
    demo_lake: tuple[Lake, dict[str, Any]],
) -> None:
    lake, truth = demo_lake
    params, window = candidate_parameters(lake, DEMO_COIN, DEMO_DAY, PromotionConfig())
    states = params["hmm"]["state_names"]
    stored = params["adverse_selection_bps_by_regime"]
    assert {"calm", "volatile"} <= set(stored) and set(stored) == set(states)
    calm, volatile = stored["calm"], stored["volatile"]
    assert volatile["value"] - calm["value"] > 5 * math.hypot(calm["se"], volatile["se"])
    assert 0 < calm["se"] < 0.1 * calm["value"] and 0 < volatile["se"] < 0.1 * volatile["value"]

    # The truth is the signed cost E[-markout_5s] = informed_prob * jump_bps per regime; the stored figure is
    # E[max(-markout_5s, 0)] (what the nightly check scores), so it sits above the signed one. Same join, same
    # estimator: the signed cost recovers the truth within a few SEs.
    hmm = regime_params(lake.read_partition("regime_fit", DEMO_COIN, DEMO_DAY))
    marked = maker_markouts_at_regime(lake, DEMO_COIN, window, hmm)
    assert sum(a["n"] for a in stored.values()) == marked.height
    signed = mean_by_regime(marked.with_columns(cost=-pl.col("markout_5000ms_bps")), "cost", states)
    moves = truth["adverse_selection"]["expected_aggressor_move_bps"]
    expected = dict(zip(truth["regimes"]["names"], moves, strict=True))
    assert expected["volatile"] > 5 * expected["calm"]
    for state in ("calm", "volatile"):
        got = signed[state]
        assert abs(got["value"] - expected[state]) < 4 * got["se"], (state, got, expected[state])
        assert stored[state]["value"] > got["value"] and stored[state]["n"] == got["n"]
    ParamSet.create(coin=DEMO_COIN, window_start_ms=window[0], window_end_ms=window[1], code_version="test",
                    parameters=params, evidence={}, created_at_ms=window[1])


def test_a_regime_with_too_few_fills_takes_the_pooled_mean() -> None:
    marked = pl.DataFrame({"time": [0, 10_000, 20_000, 30_000, 40_000], "regime": ["calm"] * 4 + ["volatile"],
                           "adverse_selection_bps": [0.0, 1.0, 2.0, 3.0, 9.0]})
    got = mean_by_regime(marked, "adverse_selection_bps", ["calm", "volatile", "cascade"])
    assert got["calm"]["value"] == pytest.approx(1.5) and got["calm"]["n"] == 4 and got["calm"]["se"] > 0
    assert got["volatile"]["value"] == got["cascade"]["value"] == pytest.approx(3.0)
    assert (got["volatile"]["n"], got["cascade"]["n"]) == (1, 0)
    with pytest.raises(ValueError, match="need at least 2"):
        mean_by_regime(marked.head(1), "adverse_selection_bps", ["calm"])


def test_prints_sharing_one_horizon_are_not_counted_as_independent() -> None:
    """Five prints of one taker order share a markout: the SE is that of the 400 orders, not of 2000 prints."""
    per_order = np.random.default_rng(3).normal(1.0, 2.0, 400)
    marked = pl.DataFrame({"time": np.repeat(np.arange(400) * 10_000, 5), "regime": "calm",
                           "adverse_selection_bps": np.repeat(per_order, 5)})
    got = mean_by_regime(marked, "adverse_selection_bps", ["calm"])["calm"]
    assert got["value"] == pytest.approx(per_order.mean()) and got["n"] == 2_000
    order_se = per_order.std() / math.sqrt(400)
    assert 0.8 * order_se < got["se"] < 1.1 * order_se  # Bartlett HAC runs a little low; i.i.d. prints: 0.45


def quoting_params(params: dict[str, Any] | None = None) -> QuotingParams:
    end = time.time_ns() // 1_000_000
    ps = ParamSet.create(coin=DEMO_COIN, window_start_ms=end - 24 * HOUR_MS, window_end_ms=end, code_version="test",
                         parameters=params or parameters(), evidence={}, created_at_ms=end)
    return to_quoting_params(PromotedSet(Pointer(ps.param_set_id, 1, end, "-"), ps), 86_400.0, end)


def test_the_blend_is_the_regime_value_at_a_one_hot_belief_and_linear_in_between() -> None:
    params = quoting_params()
    values = [ADVERSE_BPS[s] for s in params.regime.state_names]
    one_hot = np.eye(len(values))
    for k, value in enumerate(values):
        assert predicted_adverse_bps(params, one_hot[k]) == value
    for t in (0.0, 0.25, 0.5, 0.9, 1.0):
        mixed = t * one_hot[0] + (1 - t) * one_hot[1]
        assert predicted_adverse_bps(params, mixed) == pytest.approx(t * values[0] + (1 - t) * values[1])
    belief = np.array([0.2, 0.7, 0.1])
    assert predicted_adverse_bps(params, belief) == pytest.approx(float(belief @ values))


def test_every_order_the_quoter_sends_carries_the_blended_prediction() -> None:
    params = quoting_params()
    belief = np.array([0.2, 0.7, 0.1])
    mid = 25.0
    working = {"B": None, "A": None}
    decision = decide(0, params, None, mid, params.model, belief, 0.0, mid - 0.0005, mid + 0.0005, working, (),
                      DecisionConfig())
    assert decision.adverse_bps == pytest.approx(0.2 * 0.9 + 0.7 * 3.1 + 0.1 * 8.0)
    assert {a.kind for a in decision.actions} == {"place"}
    assert all(a.prediction is not None and a.prediction.adverse_bps == decision.adverse_bps for a in decision.actions)

    pulled = decide(0, params, "stale_feed", mid, params.model, belief, 0.0, mid - 0.0005, mid + 0.0005, working, (),
                    DecisionConfig())
    assert pulled.adverse_bps is None


def test_a_set_without_adverse_selection_predicts_unknown() -> None:
    legacy = {k: v for k, v in parameters().items() if k != "adverse_selection_bps_by_regime"}
    params = quoting_params(legacy)
    assert params.adverse_bps_by_regime is None
    assert predicted_adverse_bps(params, np.array([1.0, 0.0, 0.0])) is None
