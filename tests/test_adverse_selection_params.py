"""Per-regime adverse selection: estimated from the demo lake's maker-side markouts, carried by the parameter set,
blended by the quoter's regime belief and attached to every order it sends."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import polars as pl
import pytest

from calibration.fit_result import InsufficientSamples
from data_lake.param_registry import Pointer, PromotedSet
from data_lake.param_schema import ParamSet
from quoting.runtime.decision import decide, predicted_adverse_bps
from quoting.runtime.params import QuotingParams, to_quoting_params
from tests.support import DEMO_COIN
from tests.test_quoter import ADVERSE_BPS, parameters
from tests.test_variants import CONFIG, DEMO, window
from validation.experiments.candidate import candidate_parameters, regime_edges
from validation.statistics.significance import overlapping_mean

HOUR_MS = 3_600_000


@pytest.mark.slow  # fits the candidate on six demo hours
def test_per_regime_adverse_selection_comes_from_the_candidates_own_fills(demo_frames: dict[str, pl.DataFrame]) -> None:
    """The candidate's adverse selection is measured on the fills its own policy gets at its quotes on the training
    window (not on every market print): ordered calm < volatile like the demo's informed flow, one value per HMM
    state, and the parameter set it builds is valid."""
    train = window(demo_frames, DEMO.start_ms, DEMO.start_ms + 6 * HOUR_MS)
    fit = candidate_parameters(train, CONFIG)
    stored = fit.parameters["adverse_selection_bps_by_regime"]
    assert set(stored) == set(fit.parameters["hmm"]["state_names"]) >= {"calm", "volatile"}
    assert stored["volatile"]["value"] > stored["calm"]["value"] > 0
    assert all(a["n"] == e.n_fills for a, e in zip(stored.values(), fit.edges, strict=True))
    cost = fit.parameters["adverse_cost_bps_by_regime"]
    assert cost["volatile"]["value"] > cost["calm"]["value"] >= 0
    ParamSet.create(
        coin=DEMO_COIN,
        window_start_ms=fit.window[0],
        window_end_ms=fit.window[1],
        code_version="test",
        parameters=fit.parameters,
        evidence={},
        created_at_ms=fit.window[1],
    )


def _fills(times: list[int], calm: list[float], net: list[float], adverse: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "time": times,
            "belief_calm": calm,
            "belief_volatile": [1 - c for c in calm],
            "net_5000ms_bps": net,
            "markout_5000ms_bps": [-a for a in adverse],
            "realised_adverse_bps": adverse,
        }
    )


def test_a_regime_with_too_few_fills_takes_the_pooled_adverse_selection_and_is_not_quoted() -> None:
    fills = _fills(
        [0, 10_000, 20_000, 30_000, 40_000],
        [1.0, 1.0, 0.9, 0.8, 0.1],
        [3.0, 2.0, 2.5, 3.5, -9.0],
        [0.0, 1.0, 2.0, 3.0, 9.0],
    )
    calm, volatile = regime_edges(fills, ("calm", "volatile"), CONFIG)
    assert calm.adverse_bps == pytest.approx(1.5) and calm.n_fills == 4 and calm.adverse_se_bps > 0
    assert not calm.quote  # a clear edge, but on 4 fills (min_regime_fills = 30)
    assert volatile.n_fills == 1 and not volatile.quote
    assert volatile.adverse_bps == pytest.approx(3.0)  # pooled over all five
    with pytest.raises(InsufficientSamples, match="at least 2 required"):
        regime_edges(fills.head(1), ("calm", "volatile"), CONFIG)


def test_prints_sharing_one_horizon_are_not_counted_as_independent() -> None:
    """Five prints of one taker order share a markout: the SE is that of the 400 orders, not of 2000 prints."""
    per_order = np.random.default_rng(3).normal(1.0, 2.0, 400)
    mean, se = overlapping_mean(np.repeat(np.arange(400) * 10_000, 5), np.repeat(per_order, 5), 5_000)
    assert mean == pytest.approx(per_order.mean())
    order_se = per_order.std() / math.sqrt(400)
    assert 0.8 * order_se < se < 1.1 * order_se  # Bartlett HAC runs a little low; i.i.d. prints: 0.45


def quoting_params(params: dict[str, Any] | None = None) -> QuotingParams:
    end = time.time_ns() // 1_000_000
    ps = ParamSet.create(
        coin=DEMO_COIN,
        window_start_ms=end - 24 * HOUR_MS,
        window_end_ms=end,
        code_version="test",
        parameters=params or parameters(),
        evidence={},
        created_at_ms=end,
    )
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
    decision = decide(0, params, None, mid, params.model, belief, 0.0, mid - 0.0005, mid + 0.0005, working, ())
    assert decision.adverse_bps == pytest.approx(0.2 * 0.9 + 0.7 * 3.1 + 0.1 * 8.0)
    assert {a.kind for a in decision.actions} == {"place"}
    assert all(a.prediction is not None and a.prediction.adverse_bps == decision.adverse_bps for a in decision.actions)

    pulled = decide(0, params, "stale_feed", mid, params.model, belief, 0.0, mid - 0.0005, mid + 0.0005, working, ())
    assert pulled.adverse_bps is None


def test_a_set_without_adverse_selection_predicts_unknown() -> None:
    legacy = {k: v for k, v in parameters().items() if k != "adverse_selection_bps_by_regime"}
    params = quoting_params(legacy)
    assert params.adverse_bps_by_regime is None
    assert predicted_adverse_bps(params, np.array([1.0, 0.0, 0.0])) is None


def test_a_side_with_a_request_in_flight_predicts_nothing() -> None:
    """The order resting there in the predicted window is the in-flight one, whose price this decision does not set:
    its fill probability would predict another order's event."""
    params = quoting_params()
    belief, mid = np.array([0.2, 0.7, 0.1]), 25.0
    decision = decide(
        0, params, None, mid, params.model, belief, 0.0, mid - 0.0005, mid + 0.0005, {"B": None, "A": None}, ("B",)
    )
    assert decision.fill_prob["B"] is None and decision.fill_prob["A"] is not None
    assert [a.side for a in decision.actions] == ["A"]
