"""GLFT quote: the hftbacktest ETH worked example, and properties every quote must have."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from quoting.core.exchange_rules import AssetRules, is_valid_price, is_valid_size, meets_min_notional
from quoting.core.fill_prediction import ReachModel
from quoting.core.glft import (
    MarketModel,
    QuotePolicy,
    belief_weighted,
    glft_half_spread_and_skew,
    quote,
    widened_gamma,
)
from quoting.core.lead_lag_shift import LeadLagShift, leader_log_returns

CALM, VOLATILE, CASCADE = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


def test_hftbacktest_eth_worked_example() -> None:
    """A=2.9862/s, kappa=0.04236/tick, gamma=xi=0.05, D=1, sigma=10.69 ticks/sqrt(s) -> 20.472 and 9.763 ticks."""
    half_spread, skew = glft_half_spread_and_skew(0.05, 0.04236, 2.9862, 1.0, 10.69)
    assert half_spread == pytest.approx(20.472, abs=1e-3)
    assert skew == pytest.approx(9.763, abs=1e-3)
    c1 = math.log(1 + 0.05 / 0.04236) / 0.05
    assert half_spread - c1 == pytest.approx(4.88, abs=5e-3)  # the (D/2)*sigma*c2 term the seed formula omits


def test_eth_example_through_quote_in_price_units() -> None:
    """Same example with a 0.01 tick: kappa per price unit x100, sigma /100, gamma per quote x100 -> spreads /100."""
    tick = 0.01
    model = MarketModel(sigma=10.69 * tick, kappa=0.04236 / tick, kappa_se=0.0, arrival_rate=2.9862)
    policy = _policy(gamma=0.05 / tick, fee_bps=0.0, size=1.0, limit=10.0, sz_decimals=2)
    q = quote(200.0, 0.0, CALM, model, policy)
    assert q.half_spread == pytest.approx(20.472 * tick, abs=1e-5)
    assert q.skew == pytest.approx(9.763 * tick, abs=1e-5)
    assert q.bid_px == 199.79  # 200 - 0.20472 rounded down to the 0.01 grid (5 significant figures)
    assert q.ask_px == 200.21
    at_2000 = quote(2000.0, 0.0, CALM, model, policy)
    assert (at_2000.bid_px, at_2000.ask_px) == (1999.7, 2000.3)  # above 1000 the 5-sig-fig grid is 0.1


def compute_coeff(xi: float, gamma: float, delta: float, a: float, k: float) -> tuple[float, float]:
    """hftbacktest's GLFT tutorial ``compute_coeff`` (examples, "GLFT market making model"), as published."""
    inv_k = 1.0 / k
    c1 = 1.0 / (xi * delta) * math.log(1.0 + xi * delta * inv_k)
    c2 = math.sqrt(gamma / (2.0 * a * delta * k) * ((1.0 + xi * delta * inv_k) ** (k / (xi * delta) + 1.0)))
    return c1, c2


@pytest.mark.parametrize("fee_bps", [0.0, 1.5, 4.0, -0.2])
def test_fee_consistent_glft_matches_hftbacktest_coefficients_with_shifted_a(fee_bps: float) -> None:
    """A cost c per fill is the fee-free problem with A' = A exp(-kappa c): half-spread c1 + (D/2) sigma c2 + c and
    skew sigma c2, with hftbacktest's coefficients at A'. The skew grows by exactly exp(kappa c / 2)."""
    mid, kappa, arrival, gamma, size, sigma = 25.0, 500.0, 0.64, 0.3, 2.0, 0.00125
    model = MarketModel(sigma=sigma, kappa=kappa, kappa_se=0.0, arrival_rate=arrival)
    q = quote(mid, 0.0, CALM, model, _policy(gamma=gamma, fee_bps=fee_bps, size=size, limit=10.0, kappa_se_mult=0.0))
    cost = fee_bps * 1e-4 * mid
    c1, c2 = compute_coeff(gamma, gamma, size, arrival * math.exp(-kappa * cost), kappa)
    assert q.half_spread == pytest.approx(c1 + 0.5 * size * sigma * c2 + cost, rel=1e-12)
    assert q.skew == pytest.approx(sigma * c2, rel=1e-12)
    _, c2_free = compute_coeff(gamma, gamma, size, arrival, kappa)
    assert q.skew / (sigma * c2_free) == pytest.approx(math.exp(kappa * cost / 2), rel=1e-12)


def test_expected_adverse_selection_is_priced_like_a_fee() -> None:
    """A policy's per-regime adverse cost adds to the fee as one per-fill cost (belief-weighted)."""
    model = MarketModel(sigma=0.01, kappa=100.0, kappa_se=0.0, arrival_rate=1.0)
    fee_only = quote(100.0, 0.0, (0.5, 0.5, 0.0), model, _policy(gamma=0.1, fee_bps=2.0))
    priced = replace(_policy(gamma=0.1, fee_bps=1.5), adverse_cost_bps_by_regime=(0.0, 1.0, 5.0))
    with_cost = quote(100.0, 0.0, (0.5, 0.5, 0.0), model, priced)
    assert with_cost.half_spread == pytest.approx(fee_only.half_spread, rel=1e-12)
    assert with_cost.skew == pytest.approx(fee_only.skew, rel=1e-12)


def test_fee_and_floor_add_to_the_half_spread() -> None:
    model = MarketModel(sigma=0.0, kappa=100.0, kappa_se=0.0, arrival_rate=1.0)
    base = quote(100.0, 0.0, CALM, model, _policy(gamma=1e-6, fee_bps=0.0, floor_bps=0.0)).half_spread
    assert base == pytest.approx(0.01, rel=1e-5)  # c1 -> 1/kappa as gamma -> 0
    with_fee = quote(100.0, 0.0, CALM, model, _policy(gamma=1e-6, fee_bps=1.5, floor_bps=0.0)).half_spread
    assert with_fee == pytest.approx(base + 1.5e-4 * 100.0)
    floored = quote(100.0, 0.0, CALM, model, _policy(gamma=1e-6, fee_bps=1.5, floor_bps=10.0)).half_spread
    assert floored == pytest.approx(0.5 * 10e-4 * 100.0 + 1.5e-4 * 100.0)


def test_kappa_uncertainty_widens_gamma() -> None:
    assert widened_gamma(0.1, 2.0, 1.0, 1.0) == pytest.approx(0.15)
    model = MarketModel(sigma=0.05, kappa=20.0, kappa_se=5.0, arrival_rate=1.0)
    policy = _policy(gamma=0.1, kappa_se_mult=2.0)
    assert quote(100.0, 0.0, CALM, model, policy).gamma_used == pytest.approx(0.1 * (1 + 2.0 * 5.0 / 20.0))


def test_half_spread_is_not_monotone_in_gamma() -> None:
    """c1 falls with gamma while the sigma*c2 term rises: with little volatility the half-spread shrinks."""
    low, _ = glft_half_spread_and_skew(0.01, 1.0, 1.0, 1.0, 0.01)
    high, _ = glft_half_spread_and_skew(1.0, 1.0, 1.0, 1.0, 0.01)
    assert high < low


def test_a_leaders_recent_move_shifts_the_fair_value_by_beta_and_nothing_else() -> None:
    """Leader up 1% over the last lag, beta 0.5: the quote is the one a mid of 100 * exp(0.5 * ln 1.01) = 100.4988
    would get (costs in bps of that centre); no leader return (NaN) or a policy without a leader quotes around the
    mid."""
    model = MarketModel(sigma=0.01, kappa=100.0, kappa_se=0.0, arrival_rate=1.0)
    plain = _policy(gamma=0.1)
    led = replace(plain, lead_lag=LeadLagShift(leader="BTC", lag_ms=2_000, beta=0.5))
    r = math.log(1.01)
    shifted = quote(100.0, 0.5, CALM, model, led, leader_log_return=r)
    base = quote(100.0, 0.5, CALM, model, plain, leader_log_return=r)
    assert shifted.fair_value == pytest.approx(100.0 * 1.01**0.5) and base.fair_value == 100.0
    as_if = quote(shifted.fair_value, 0.5, CALM, model, plain)
    assert (shifted.bid_px, shifted.ask_px, shifted.half_spread, shifted.skew) == (
        as_if.bid_px,
        as_if.ask_px,
        as_if.half_spread,
        as_if.skew,
    )
    assert shifted.reservation_px - base.reservation_px == pytest.approx(100.0 * (1.01**0.5 - 1.0), abs=1e-4)
    assert shifted.bid_px == pytest.approx(base.bid_px + 0.50, abs=0.011)  # both sides move, to the 0.01 grid
    assert shifted.ask_px == pytest.approx(base.ask_px + 0.50, abs=0.011)
    unknown = quote(100.0, 0.5, CALM, model, led, leader_log_return=math.nan)
    assert (unknown.bid_px, unknown.ask_px, unknown.fair_value) == (base.bid_px, base.ask_px, 100.0)


def test_leader_returns_use_mids_as_of_each_instant_and_refuse_stale_ones() -> None:
    times = np.array([0, 1_000, 2_500, 10_000])
    mids = np.array([50.0, 50.5, 51.0, 52.0])
    at = np.array([2_000, 3_000, 9_000, 10_500, 12_000])
    r = leader_log_returns(times, mids, at, lag_ms=2_000, max_age_ms=3_000)
    expected = [math.log(50.5 / 50.0), math.log(51.0 / 50.5), math.nan, math.nan, math.log(52.0 / 52.0)]
    # t=9000: the mid as of 9000 (from 2500) is 6.5 s old; t=10500: the one as of 8500 too
    np.testing.assert_allclose(r, expected)
    assert np.isnan(leader_log_returns(np.array([], np.int64), np.array([]), at, 2_000, 3_000)).all()


def test_a_lead_lag_shift_refuses_what_it_cannot_mean() -> None:
    for bad in (
        {"leader": "", "lag_ms": 100, "beta": 0.5},
        {"leader": "BTC", "lag_ms": 0, "beta": 0.5},
        {"leader": "BTC", "lag_ms": 100, "beta": math.inf},
    ):
        with pytest.raises(ValueError):
            LeadLagShift(**bad)


def test_reach_probability_blends_the_regime_curves() -> None:
    reach = ReachModel((0.0, 1.0, 3.0), ((0.0, -0.5, -1.5), (1.0, 0.8, 0.4)), horizon_ms=1_000, latency_ms=200)
    calm = 1 - math.exp(-math.exp(-1.0))  # halfway between the knots at 1 and 3 bps
    volatile = 1 - math.exp(-math.exp(0.6))
    assert reach.probability(2.0, np.array([1.0, 0.0])) == pytest.approx(calm)
    assert reach.probability(2.0, np.array([0.25, 0.75])) == pytest.approx(0.25 * calm + 0.75 * volatile)
    assert reach.probability(2.0, np.array([1.0, 0.0])) > reach.probability(3.0, np.array([1.0, 0.0]))
    beyond = 1 - math.exp(-math.exp(-1.5 - 0.5 * 2.0))  # the last segment extended to 5 bps
    assert reach.probability(5.0, np.array([1.0, 0.0])) == pytest.approx(beyond)


def test_belief_mass_on_pulled_regimes_pulls_both_sides_whatever_they_are_called() -> None:
    model = MarketModel(sigma=0.05, kappa=20.0, kappa_se=0.0, arrival_rate=1.0)
    policy = replace(_policy(gamma=0.1, pull_threshold=0.4), pull_by_regime=(False, True, True))
    pulled = quote(100.0, 0.0, (0.55, 0.25, 0.2), model, policy)
    assert pulled.bid_px is None and pulled.ask_px is None
    assert pulled.bid_sz == pulled.ask_sz == 0.0
    assert pulled.bid_reason == pulled.ask_reason == "regime"
    kept = quote(100.0, 0.0, (0.65, 0.2, 0.15), model, policy)
    assert kept.bid_px is not None and kept.ask_px is not None


def test_blended_gamma_is_the_belief_weighted_sum() -> None:
    model = MarketModel(sigma=0.05, kappa=20.0, kappa_se=0.0, arrival_rate=1.0)
    policy = _policy(gamma=(0.1, 0.4, 2.0), pull_threshold=0.9)
    belief = (0.5, 0.3, 0.2)
    assert quote(100.0, 0.0, belief, model, policy).gamma_used == pytest.approx(0.5 * 0.1 + 0.3 * 0.4 + 0.2 * 2.0)
    assert belief_weighted(np.array(belief), np.array([1.0, 2.0, 3.0])) == pytest.approx(1.7)


def test_side_below_min_notional_is_pulled() -> None:
    model = MarketModel(sigma=0.05, kappa=20.0, kappa_se=0.0, arrival_rate=1.0)
    q = quote(100.0, 0.0, CALM, model, _policy(gamma=0.1, size=0.09, sz_decimals=2))  # ~$9 per side
    assert q.bid_reason == q.ask_reason == "min_notional"


def test_post_only_quotes_stay_off_the_opposite_touch() -> None:
    """Long inventory pushes the ask (99.93) below the best bid: it goes one grid step above it (grid 0.001)."""
    model = MarketModel(sigma=0.05, kappa=20.0, kappa_se=0.0, arrival_rate=1.0)
    q = quote(100.0, 9.0, CALM, model, _policy(gamma=1.0, limit=10.0), best_bid=99.99, best_ask=100.01)
    assert q.ask_px == 99.991
    assert q.bid_px == 99.79  # the bid is far from the best ask: untouched (100 - 0.0715 - 9 * 0.01533, rounded down)


# ---- properties --------------------------------------------------------------------------------------------

sz_decimals = st.integers(min_value=0, max_value=4)
mids = st.floats(min_value=0.5, max_value=150_000.0)
rel_sigma = st.floats(min_value=0.0, max_value=5e-4)  # per sqrt(s), as a fraction of mid
rel_kappa = st.floats(min_value=50.0, max_value=1e5)  # per unit of relative depth
gammas = st.floats(min_value=1e-4, max_value=10.0)
arrivals = st.floats(min_value=0.01, max_value=50.0)


@st.composite
def setups(draw: st.DrawFn) -> tuple[float, MarketModel, QuotePolicy]:
    """A mid, a model and a policy in consistent units (scale-free draws converted to price units)."""
    mid = draw(mids)
    szd = draw(sz_decimals)
    model = MarketModel(
        sigma=draw(rel_sigma) * mid,
        kappa=draw(rel_kappa) / mid,
        kappa_se=draw(st.floats(min_value=0.0, max_value=1.0)) * draw(rel_kappa) / mid,
        arrival_rate=draw(arrivals),
    )
    size = max(draw(st.floats(min_value=10.0, max_value=5_000.0)) / mid, 10.0**-szd)
    limit = draw(st.floats(min_value=1.0, max_value=20.0)) * size
    policy = _policy(
        gamma=draw(gammas) / (mid * size),  # gamma*D*mid dimensionless
        size=size,
        limit=limit,
        sz_decimals=szd,
        fee_bps=draw(st.floats(min_value=0.0, max_value=3.0)),
        floor_bps=draw(st.floats(min_value=0.0, max_value=20.0)),
    )
    return mid, model, policy


@given(setup=setups())
def test_flat_inventory_quotes_straddle_mid(setup: tuple[float, MarketModel, QuotePolicy]) -> None:
    mid, model, policy = setup
    q = quote(mid, 0.0, CALM, model, policy)
    if q.bid_px is not None:
        assert q.bid_px < mid
    if q.ask_px is not None:
        assert q.ask_px > mid


@given(setup=setups(), q_frac=st.floats(min_value=-1.0, max_value=1.0))
def test_bid_below_ask_and_prices_valid_and_passive(
    setup: tuple[float, MarketModel, QuotePolicy], q_frac: float
) -> None:
    mid, model, policy = setup
    inventory = q_frac * policy.position_limit
    q = quote(mid, inventory, CALM, model, policy)
    if q.bid_px is not None and q.ask_px is not None:
        assert q.bid_px <= q.ask_px
    raw_bid = mid - (q.half_spread + q.skew * inventory)
    raw_ask = mid + (q.half_spread - q.skew * inventory)
    for px, sz, raw, passive in ((q.bid_px, q.bid_sz, raw_bid, -1), (q.ask_px, q.ask_sz, raw_ask, 1)):
        if px is None:
            assert sz == 0.0
            continue
        assert is_valid_price(px, policy.rules)
        assert is_valid_size(sz, policy.rules)
        assert (px - raw) * passive >= 0.0  # rounding never more aggressive than the model price
        assert meets_min_notional(px, sz, policy.rules.sz_decimals, False, 10.0)
        assert px * sz >= 10.0 - 1e-9


@given(setup=setups(), q_frac=st.floats(min_value=-1.0, max_value=1.0), exposure=st.floats(0.0, 3.0))
def test_no_fill_can_breach_the_position_limit(
    setup: tuple[float, MarketModel, QuotePolicy], q_frac: float, exposure: float
) -> None:
    mid, model, policy = setup
    inventory = q_frac * policy.position_limit
    open_bid, open_ask = exposure * policy.order_size, 0.5 * exposure * policy.order_size
    q = quote(mid, inventory, CALM, model, policy, open_bid_exposure=open_bid, open_ask_exposure=open_ask)
    assert q.bid_sz <= policy.order_size and q.ask_sz <= policy.order_size
    if q.bid_sz > 0:
        assert inventory + open_bid + q.bid_sz <= policy.position_limit * (1 + 1e-12)
    if q.ask_sz > 0:
        assert inventory - open_ask - q.ask_sz >= -policy.position_limit * (1 + 1e-12)


@given(setup=setups(), over=st.floats(min_value=1.0, max_value=10.0))
def test_beyond_the_limit_only_the_reducing_side_is_quoted(
    setup: tuple[float, MarketModel, QuotePolicy], over: float
) -> None:
    mid, model, policy = setup
    q = quote(mid, policy.position_limit + over * policy.order_size, CALM, model, policy)
    assert q.bid_px is None and q.bid_reason == "position_limit"


@given(setup=setups(), factor=st.floats(min_value=1.0, max_value=100.0))
def test_monotone_in_sigma_and_skew_monotone_in_gamma(
    setup: tuple[float, MarketModel, QuotePolicy], factor: float
) -> None:
    mid, model, policy = setup
    gamma = policy.gamma_by_regime[0]
    kappa, a, size = model.kappa, model.arrival_rate, policy.order_size
    hs, skew = glft_half_spread_and_skew(gamma, kappa, a, size, model.sigma)
    hs_vol, skew_vol = glft_half_spread_and_skew(gamma, kappa, a, size, model.sigma * factor)
    assert hs_vol >= hs and skew_vol >= skew
    _, skew_risk = glft_half_spread_and_skew(gamma * factor, kappa, a, size, model.sigma)
    assert skew_risk >= skew * (1 - 1e-12)
    calm = quote(mid, policy.position_limit / 2, CALM, model, policy)
    wild = quote(mid, policy.position_limit / 2, CALM, _scaled_sigma(model, factor), policy)
    if calm.bid_px is not None and wild.bid_px is not None:
        assert wild.bid_px <= calm.bid_px  # wider and more skewed away from buying more


@given(setup=setups(), q_frac=st.floats(min_value=0.05, max_value=1.0))
def test_long_inventory_lowers_both_quotes(setup: tuple[float, MarketModel, QuotePolicy], q_frac: float) -> None:
    mid, model, policy = setup
    inventory = q_frac * policy.position_limit
    flat = quote(mid, 0.0, CALM, model, policy)
    long = quote(mid, inventory, CALM, model, policy)
    short = quote(mid, -inventory, CALM, model, policy)
    assert long.skew >= 0
    assume(long.skew * inventory > 1e-12 * mid)  # a shift the float mid can show
    assert long.reservation_px < flat.reservation_px < short.reservation_px
    for a, b in ((long, flat), (flat, short)):
        if a.bid_px is not None and b.bid_px is not None:
            assert a.bid_px <= b.bid_px
        if a.ask_px is not None and b.ask_px is not None:
            assert a.ask_px <= b.ask_px


@given(setup=setups(), belief=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3))
def test_pulled_regime_above_threshold_pulls_and_gamma_is_belief_weighted(
    setup: tuple[float, MarketModel, QuotePolicy], belief: list[float]
) -> None:
    mid, model, base = setup
    total = sum(belief)
    assume(total > 1e-6)
    probs = [b / total for b in belief]
    gammas = (base.gamma_by_regime[0], 3 * base.gamma_by_regime[0], 10 * base.gamma_by_regime[0])
    policy = QuotePolicy(
        gamma_by_regime=gammas,
        min_spread_bps_by_regime=(0.0, 0.0, 0.0),
        order_size=base.order_size,
        position_limit=base.position_limit,
        rules=base.rules,
        kappa_se_mult=0.0,
        pull_by_regime=(False, False, True),
        pull_threshold=0.5,
    )
    q = quote(mid, 0.0, probs, model, policy)
    assert q.gamma_used == pytest.approx(sum(p * g for p, g in zip(probs, gammas)), rel=1e-12)
    if probs[2] > 0.5:
        assert q.bid_px is None and q.ask_px is None and q.bid_reason == "regime"
    else:
        assert q.bid_reason != "regime" and q.ask_reason != "regime"


def _scaled_sigma(model: MarketModel, factor: float) -> MarketModel:
    return MarketModel(model.sigma * factor, model.kappa, model.kappa_se, model.arrival_rate)


def _policy(
    gamma: float | tuple[float, ...] = 0.1,
    fee_bps: float = 1.5,
    floor_bps: float = 0.0,
    size: float = 1.0,
    limit: float = 5.0,
    sz_decimals: int = 2,
    kappa_se_mult: float = 1.0,
    pull_threshold: float = 0.5,
) -> QuotePolicy:
    gammas = gamma if isinstance(gamma, tuple) else (gamma, gamma, gamma)
    return QuotePolicy(
        gamma_by_regime=gammas,
        min_spread_bps_by_regime=(floor_bps,) * 3,
        order_size=size,
        position_limit=limit,
        rules=AssetRules(sz_decimals),
        kappa_se_mult=kappa_se_mult,
        maker_fee_bps=fee_bps,
        pull_by_regime=(False, False, True),
        pull_threshold=pull_threshold,
    )
