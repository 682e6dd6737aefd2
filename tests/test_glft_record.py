"""The GLFT kernel on its input records returns, bit for bit, the quotes of the positional kernel it replaced.

``tests/snapshots/glft_quotes.json`` was written by :func:`quoting.core.glft.quote` before the kernel took
:class:`~quoting.core.glft.GlftInputs` and :class:`~quoting.core.glft.RegimeBlend` (commit 10a92ef), over the seeded
grid of ``tests/glft_cases.py``: every float must come back with the same bits (NaN as NaN, -0.0 as -0.0).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quoting.core.exchange_rules import AssetRules
from quoting.core.glft import (
    QUOTED,
    GlftInputs,
    MarketModel,
    QuotePolicy,
    blend_regimes,
    glft_quote_core,
    quote,
    regime_pull,
)
from quoting.core.lead_lag_shift import lead_lag_fair_value
from tests.glft_cases import N_CASES, quote_cases

GOLDEN = Path(__file__).parent / "snapshots" / "glft_quotes.json"


def _bits(value: Any) -> Any:
    """Floats by their exact bit pattern, other values as they are."""
    return value.hex() if isinstance(value, float) else value


@pytest.fixture(scope="module")
def golden() -> list[dict[str, Any]]:
    quotes = json.loads(GOLDEN.read_text())["quotes"]
    assert len(quotes) == N_CASES
    return quotes


def test_the_grid_covers_every_way_a_side_ends(golden: list[dict[str, Any]]) -> None:
    """The golden grid is not all one kind of quote: quoted sides and every pull reason but the regime-free ones."""
    reasons = {q["bid_reason"] for q in golden} | {q["ask_reason"] for q in golden}
    assert reasons == {
        None,
        "invalid_input",
        "regime",
        "position_limit",
        "non_positive_price",
        "min_notional",
        "leader_move",
    }


def test_quote_is_bit_identical_to_the_positional_kernel(golden: list[dict[str, Any]]) -> None:
    for i, (case, expected) in enumerate(zip(quote_cases(), golden, strict=True)):
        got = asdict(quote(model=case.model, policy=case.policy, **case.call))
        assert {k: _bits(v) for k, v in got.items()} == {k: _bits(v) for k, v in expected.items()}, f"case {i}"


def test_the_kernel_called_with_records_directly_gives_the_same_prices(golden: list[dict[str, Any]]) -> None:
    """What the compiled loops do: build the record once per policy, blend per belief, call the kernel."""
    for i, (case, expected) in enumerate(zip(quote_cases(), golden, strict=True)):
        policy, call = case.policy, case.call
        belief = np.asarray(call["belief"])
        blend = blend_regimes(
            belief, policy.sigmas(case.model.sigma), policy.gammas, policy.min_spreads_bps, policy.fill_costs_bps
        )
        fair = lead_lag_fair_value(call["mid"], call["leader_log_return"], policy.lead_lag_beta)
        pull = regime_pull(belief, policy.pulled, policy.pull_threshold) or call["leader_move_pull"]
        bid_px, ask_px, bid_sz, ask_sz, half_spread, skew, gamma_used, bid_code, ask_code = glft_quote_core(
            GlftInputs.of(case.model, policy),
            blend,
            fair,
            call["inventory"],
            call["intensity_multiplier"],
            pull,
            call["best_bid"],
            call["best_ask"],
            call["open_bid_exposure"],
            call["open_ask_exposure"],
        )
        got = {
            "bid_px": float(bid_px) if bid_code == QUOTED else None,
            "ask_px": float(ask_px) if ask_code == QUOTED else None,
            "bid_sz": bid_sz,
            "ask_sz": ask_sz,
            "half_spread": half_spread,
            "skew": skew,
            "gamma_used": gamma_used,
        }
        assert {k: _bits(v) for k, v in got.items()} == {k: _bits(expected[k]) for k in got}, f"case {i}"
        assert (bid_code == QUOTED) == (expected["bid_reason"] is None), f"case {i}"


def test_records_carry_the_kernels_types_whatever_the_policy_was_built_with() -> None:
    """Integers in a policy (size 1, limit 10) become floats, so every policy shares one compiled kernel."""
    model = MarketModel(sigma=0.01, kappa=500, kappa_se=0, arrival_rate=2)
    policy = QuotePolicy(
        gamma_by_regime=(1.0,),
        min_spread_bps_by_regime=(0.0,),
        order_size=1,
        position_limit=10,
        rules=AssetRules(np.int64(2), is_spot=np.bool_(False), min_notional=10),
    )
    inputs = GlftInputs.of(model, policy)
    assert [type(v) for v in inputs] == [float] * 6 + [int, bool, float]
    assert inputs == (500.0, 0.0, 2.0, 1.0, 1.0, 10.0, 2, False, 10.0)
