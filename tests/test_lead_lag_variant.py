"""The ``+lead_lag`` variant on the demo's ``FOLLOW`` coin, whose mid follows ``DEMO``'s 2 s later by 0.6: fitted on
train only, it finds that leader, lag and beta, quotes around the fair value the leader moves, and reads no leader mid
from the future; without a lead it is refused with the reason."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from calibration.lead_lag import LeadLagConfig, NoLeadLag
from calibration.mids import mid_series
from data_lake.demo_market import DemoMarket
from data_lake.demo_market.truth import truth
from quoting.core.lead_lag_shift import leader_log_returns
from tests.test_variants import CONFIG as VARIANT_CONFIG
from tests.test_variants import HOUR_MS, demo_lake_frames, window
from validation.experiments.lead_lag_variant import LEAD_LAG
from validation.experiments.out_of_sample import simulate_fitted
from validation.experiments.variant_registry import VARIANTS
from validation.experiments.variant_types import BASELINE, LEADER_MIDS, FittedVariant, Market

CONFIG = replace(VARIANT_CONFIG, lead_lag=LeadLagConfig(n_shifts=39, alpha=0.05))
"""39 circular shifts: the significance a 4 h train window needs, at a fraction of the nightly fit's cost."""


@pytest.fixture(scope="module")
def markets(demo_coin_markets: dict[str, DemoMarket]) -> dict[str, DemoMarket]:
    return demo_coin_markets


def leader_mids(frames: dict[str, pl.DataFrame], coin: str) -> pl.DataFrame:
    """A coin's lake book as the ``leader_mids`` frame the walk-forward reads."""
    return mid_series(frames["book"]).select(pl.lit(coin).alias("leader"), "time", "mid")


@pytest.fixture(scope="module")
def frames(markets: dict[str, DemoMarket]) -> dict[str, pl.DataFrame]:
    """FOLLOW's lake frames with DEMO's mids as its leader's."""
    return demo_lake_frames(markets["FOLLOW"]) | {LEADER_MIDS: leader_mids(demo_lake_frames(markets["DEMO"]), "DEMO")}


@pytest.fixture(scope="module")
def fitted(split: tuple[Market, Market]) -> FittedVariant:
    return VARIANTS[LEAD_LAG].fit(split[0], CONFIG)


@pytest.fixture(scope="module")
def split(markets: dict[str, DemoMarket], frames: dict[str, pl.DataFrame]) -> tuple[Market, Market]:
    """Train on hours 1-5, test on hour 5-6."""
    start = markets["FOLLOW"].config.start_ms
    train = window(frames, start + HOUR_MS, start + 5 * HOUR_MS)
    return train, window(frames, start + 5 * HOUR_MS, start + 6 * HOUR_MS)


@pytest.mark.slow  # builds the follower's frames and fits the lead-lag variant (module fixtures)
def test_fits_the_documented_leader_lag_and_beta_on_train_and_changes_nothing_else(
    markets: dict[str, DemoMarket], split: tuple[Market, Market], fitted: FittedVariant
) -> None:
    train, _ = split
    expected = truth(markets["FOLLOW"])["lead_lag"]
    base = VARIANTS[BASELINE].fit(train, CONFIG)
    shift, params = fitted.policy.lead_lag, fitted.params
    assert shift is not None and (shift.leader, shift.lag_ms) == (expected["leader"], expected["lag_ms"])
    assert abs(shift.beta - expected["beta"]) <= 3 * params["lead_lag_beta_se"]
    assert params["lead_lag_p_value"] <= CONFIG.lead_lag.alpha
    assert VARIANTS[LEAD_LAG].component == "lead_lag" and VARIANTS[LEAD_LAG].optional
    assert (fitted.model, fitted.reach.knots.tolist()) == (base.model, base.reach.knots.tolist())
    assert replace(fitted.policy, lead_lag=None) == base.policy
    assert {k: v for k, v in params.items() if not k.startswith("lead_lag_")} == base.params


@pytest.mark.slow  # shares the follower's frames and fit with the test above
def test_quotes_lean_where_the_leader_sends_the_mid(split: tuple[Market, Market], fitted: FittedVariant) -> None:
    """On the test hour the bids sit higher against the mid after the leader rose (by 2 bps or more over the last
    2 s) than after it fell: the fair value moves by beta times the leader's move, about 1.2 bps each way."""
    _, test = split
    outcome = simulate_fitted(fitted, test, CONFIG)
    bids = outcome.quotes.filter(pl.col("side") == 1)
    leader = test[LEADER_MIDS].sort("time")
    move = leader_log_returns(
        leader["time"].to_numpy(), leader["mid"].to_numpy(), bids["time"].to_numpy(), 2_000, 3_000
    )
    offset_bps = ((bids["px"] - bids["mid"]) / bids["mid"] * 1e4).to_numpy()
    up, down = move > 2e-4, move < -2e-4
    assert up.sum() > 30 and down.sum() > 30
    assert np.median(offset_bps[up]) > np.median(offset_bps[down]) + 1.0
    assert outcome.n_fills > 50


@pytest.mark.slow  # shares the follower's frames and fit with the tests above
def test_the_shift_reads_no_leader_mid_from_the_future(split: tuple[Market, Market], fitted: FittedVariant) -> None:
    """Rewriting the leader's mids from t on leaves every fill before t unchanged, and does change later ones."""
    _, test = split
    cut = int(test["book"]["time"].min()) + 30 * 60_000
    rewritten = dict(test)
    rewritten[LEADER_MIDS] = test[LEADER_MIDS].with_columns(  # from the cut, a leader rising 1 bps a second
        mid=pl.when(pl.col("time") >= cut)
        .then(pl.col("mid") * (1 + 1e-4 * (pl.col("time") - cut) / 1_000))
        .otherwise(pl.col("mid"))
    )
    before = simulate_fitted(fitted, test, CONFIG).fills
    after = simulate_fitted(fitted, rewritten, CONFIG).fills
    columns = ["time", "side", "px", "sz"]
    early = pl.col("time") < cut
    assert before.filter(early).select(columns).equals(after.filter(early).select(columns))
    assert not before.select(columns).equals(after.select(columns))


@pytest.mark.slow  # builds the follower's frames (module fixtures)
def test_an_independent_leader_is_refused_with_its_reason(
    markets: dict[str, DemoMarket], split: tuple[Market, Market]
) -> None:
    train, _ = split
    niche = markets["NICHE"].mids.select(pl.lit("NICHE").alias("leader"), "time", "mid")
    unrelated = dict(train) | {LEADER_MIDS: niche.filter(pl.col("time").is_between(*_span(train)))}
    with pytest.raises(NoLeadLag, match="no significant lead on the train window: NICHE: "):
        VARIANTS[LEAD_LAG].fit(unrelated, CONFIG)


def _span(data: Market) -> tuple[int, int]:
    times = data["book"]["time"]
    return int(times.min()), int(times.max())
