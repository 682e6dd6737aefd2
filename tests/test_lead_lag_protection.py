"""Lead-lag as protection, and in the promoted candidate, on the demo's ``FOLLOW`` coin (its mid follows ``DEMO``'s
2 s later by 0.6, truth JSON) against an unrelated leader (``NICHE``: no lead-lag).

A sharp leader move (|log return over the lag| above k = 3 train SDs) pulls the quotes for the hold time in the
backtest, the interval scoring and the quoter alike (the same rule on the same tape); the candidate quotes with the
train window's lead-lag where it is significant and is bit-identical to the no-leader candidate where it is not.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from data_lake.demo_market.truth import truth
from data_lake.param_schema import Parameters
from quoting.core.lead_lag_shift import LeaderMids, LeadLagShift, leader_pulls
from quoting.core.policy_inputs import quoting_inputs
from tests.test_lead_lag_variant import CONFIG, _span, fitted, frames, markets, split  # noqa: F401 - fixtures
from validation.experiments.candidate import candidate_parameters
from validation.experiments.out_of_sample import simulate_fitted
from validation.experiments.variant_types import LEADER_MIDS, FittedVariant, Market


@pytest.mark.slow  # fits the lead-lag variant on the follower's frames (module fixtures)
def test_the_fitted_pull_is_k_train_sds_and_pulls_only_on_sharp_moves(
    split: tuple[Market, Market], fitted: FittedVariant
) -> None:
    """The threshold is 3 SDs of the leader's 2 s log return; on the test hour the quotes are absent exactly where
    a sharp move is within its hold, and a policy with an unreachable threshold quotes there."""
    _, test = split
    shift = fitted.policy.lead_lag
    assert shift is not None and shift.move_sd > 0 and shift.pull_threshold == pytest.approx(3 * shift.move_sd)
    assert fitted.params["lead_lag_move_sd"] == shift.move_sd
    leader = test[LEADER_MIDS].sort("time")
    outcome = simulate_fitted(fitted, test, CONFIG)
    unprotected = simulate_fitted(
        replace(fitted, policy=replace(fitted.policy, lead_lag=replace(shift, pull_k=1e9))), test, CONFIG
    )
    starts = unprotected.quotes["time"].unique().sort().to_numpy()
    pulled = leader_pulls(leader["time"].to_numpy(), leader["mid"].to_numpy(), starts, shift)
    assert 0 < pulled.sum() < 0.2 * starts.size  # sharp moves are rare, but the demo hour has some
    quoted = set(outcome.quotes["time"].to_list())
    assert not quoted & set(starts[pulled].tolist())
    assert outcome.orders_sent != unprotected.orders_sent or outcome.n_fills != unprotected.n_fills


@pytest.mark.slow  # fits the lead-lag variant on the follower's frames (module fixtures)
def test_the_quoter_pulls_on_the_same_leader_updates_as_the_backtest(
    split: tuple[Market, Market], fitted: FittedVariant
) -> None:
    """LeaderMids fed the leader's mids as bbo frames says pulled at exactly the instants leader_pulls does."""
    _, test = split
    shift = fitted.policy.lead_lag
    assert shift is not None
    leader = test[LEADER_MIDS].sort("time").head(20_000)
    times, mids = leader["time"].to_numpy(), leader["mid"].to_numpy()
    live = LeaderMids(shift)
    online, seen = np.empty(times.size, dtype=bool), np.empty(times.size)
    for k, (t, mid) in enumerate(zip(times, mids, strict=True)):
        live.on_book(
            "bbo",
            {
                "coin": shift.leader,
                "time": int(t),
                "bbo": [{"px": str(mid - 0.0005), "sz": "1"}, {"px": str(mid + 0.0005), "sz": "1"}],
            },
        )
        online[k], seen[k] = live.pulled(int(t)), live.book.mid
    batch = leader_pulls(times, seen, times, shift)
    assert online.sum() > 0
    np.testing.assert_array_equal(online, batch)


def test_no_sharp_move_sd_means_no_pull() -> None:
    shift = LeadLagShift("DEMO", 2_000, 0.6)
    assert math.isinf(shift.pull_threshold)
    times = np.arange(0, 100_000, 100, dtype=np.int64)
    mids = 25.0 * np.exp(np.cumsum(np.full(times.size, 1e-3)))
    assert not leader_pulls(times, mids, times, shift).any()


@pytest.fixture(scope="module")
def train(split: tuple[Market, Market]) -> Market:
    return split[0]


@pytest.mark.slow  # fits the candidate on four train hours
def test_the_candidate_carries_a_significant_lead_lag_and_its_pull(markets, train: Market) -> None:  # noqa: F811
    expected = truth(markets["FOLLOW"])["lead_lag"]
    fit = candidate_parameters(train, CONFIG)
    lead = fit.parameters["lead_lag"]
    assert (lead["leader"], lead["lag_ms"]) == (expected["leader"], expected["lag_ms"])
    assert abs(lead["beta"] - expected["beta"]) <= 3 * lead["beta_se"]
    assert lead["pull_k"] == 3.0 and lead["move_sd"] > 0 and lead["hold_ms"] == CONFIG.lead_lag_hold_ms
    policy = quoting_inputs(Parameters.from_dict(fit.parameters, coin="FOLLOW")).policy
    assert policy.lead_lag == LeadLagShift(
        lead["leader"], lead["lag_ms"], lead["beta"], move_sd=lead["move_sd"], pull_k=3.0, hold_ms=lead["hold_ms"]
    )
    assert Parameters.from_dict(fit.parameters).to_dict() == fit.parameters


@pytest.mark.slow  # fits the candidate twice
def test_without_a_leader_or_a_significant_one_the_candidate_is_unchanged(markets, train: Market) -> None:  # noqa: F811
    """No leader mids, and an unrelated leader (NICHE, refused by the lead-lag test): the same parameters."""
    alone = {name: frame for name, frame in train.items() if name != LEADER_MIDS}
    niche = markets["NICHE"].mids.select(pl.lit("NICHE").alias("leader"), "time", "mid")
    unrelated = alone | {LEADER_MIDS: niche.filter(pl.col("time").is_between(*_span(train)))}
    without = candidate_parameters(alone, CONFIG).parameters
    assert "lead_lag" not in without
    assert candidate_parameters(unrelated, CONFIG).parameters == without
