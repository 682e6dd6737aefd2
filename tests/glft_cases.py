"""A seeded grid of GLFT quote inputs over the whole input space: mids from 0.01 to 50k, every szDecimals, perp and
spot, fees (rebate included), floors, regime pulls, per-regime sigma and adverse cost, lead-lag, the Hawkes multiplier,
known, unknown and crossed books, open exposure, sharp-move pulls and a few invalid inputs.

``tests/snapshots/glft_quotes.json`` holds the exact quotes :func:`quoting.core.glft.quote` returned for these inputs
before the kernel took a record (commit 10a92ef); ``test_glft_record.py`` checks the kernel still returns them bit
for bit. numpy's ``default_rng`` streams are stable, so the same seed rebuilds the same inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from quoting.core.exchange_rules import AssetRules
from quoting.core.glft import MarketModel, QuotePolicy
from quoting.core.lead_lag_shift import LeadLagShift

SEED = 20250518
N_CASES = 200
N_REGIMES = 3


@dataclass(frozen=True)
class QuoteCase:
    """The arguments of one :func:`quoting.core.glft.quote` call."""

    model: MarketModel
    policy: QuotePolicy
    call: dict[str, Any]
    """The keyword arguments besides ``model`` and ``policy`` (mid, inventory, belief, book, exposures, ...)."""


def _per_regime(rng: np.random.Generator, low: float, high: float, scale: float = 1.0) -> tuple[float, ...]:
    return tuple(float(scale * rng.uniform(low, high)) for _ in range(N_REGIMES))


def _case(rng: np.random.Generator) -> QuoteCase:
    mid = float(10 ** rng.uniform(-2, 4.7))
    sz_decimals = int(rng.integers(0, 6))
    size = max(round(float(rng.uniform(5, 300)) / mid, sz_decimals), 10.0**-sz_decimals)
    limit = float(size * rng.uniform(0.5, 8))
    kappa = float(1 / (mid * 10 ** rng.uniform(-5, -2.5)))
    model = MarketModel(
        sigma=float(mid * 10 ** rng.uniform(-6, -3)),
        kappa=kappa,
        kappa_se=float(kappa * rng.uniform(0, 0.6)),
        arrival_rate=float(10 ** rng.uniform(-2, 1)),
    )
    policy = QuotePolicy(
        gamma_by_regime=tuple(float(10 ** rng.uniform(-3, 1) / (mid * size)) for _ in range(N_REGIMES)),
        min_spread_bps_by_regime=_per_regime(rng, 0, 20),
        order_size=size,
        position_limit=limit,
        rules=AssetRules(
            sz_decimals, is_spot=bool(rng.random() < 0.2), min_notional=float(rng.choice([10.0, 1.0, 0.0]))
        ),
        pull_by_regime=None if rng.random() < 0.5 else tuple(bool(b) for b in rng.random(N_REGIMES) < 0.3),
        pull_threshold=float(rng.uniform(0.3, 1.0)),
        kappa_se_mult=float(rng.uniform(0, 2)),
        maker_fee_bps=float(rng.choice([1.5, 0.0, -0.2, 4.0])),
        sigma_by_regime=None if rng.random() < 0.5 else _per_regime(rng, 1e-6, 1e-3, mid),
        adverse_cost_bps_by_regime=None if rng.random() < 0.5 else _per_regime(rng, -1, 8),
        lead_lag=None if rng.random() < 0.6 else LeadLagShift("BTC", lag_ms=500, beta=float(rng.uniform(-1, 2))),
    )
    spread = mid * 10 ** rng.uniform(-5, -2.5)
    book = rng.random()
    if book < 0.3:
        best_bid = best_ask = math.nan  # unknown touch
    else:
        half = spread / 2 if book < 0.8 else 1e-3 * spread  # a touch tight enough that the post-only clamp binds
        best_bid, best_ask = float(mid - half), float(mid + half)
    call: dict[str, Any] = {
        "mid": mid,
        "inventory": float(0.0 if rng.random() < 0.2 else rng.uniform(-1.2, 1.2) * limit),
        "belief": tuple(float(b) for b in rng.dirichlet(np.full(N_REGIMES, 0.7))),
        "best_bid": best_bid,
        "best_ask": best_ask,
        "open_bid_exposure": 0.0 if rng.random() < 0.6 else float(rng.uniform(0, limit)),
        "open_ask_exposure": 0.0 if rng.random() < 0.6 else float(rng.uniform(0, limit)),
        "leader_log_return": math.nan if rng.random() < 0.3 else float(rng.normal(0, 1e-3)),
        "intensity_multiplier": 1.0 if rng.random() < 0.5 else float(10 ** rng.uniform(-1, 1)),
        "leader_move_pull": bool(rng.random() < 0.1),
    }
    invalid = rng.random()
    if invalid < 0.03:
        call["mid"] = 0.0
    elif invalid < 0.06:
        model = MarketModel(model.sigma, -1.0, model.kappa_se, model.arrival_rate)
    elif invalid < 0.08:
        call["inventory"] = math.inf
    return QuoteCase(model, policy, call)


def quote_cases(seed: int = SEED, n: int = N_CASES) -> list[QuoteCase]:
    """``n`` quote inputs drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    return [_case(rng) for _ in range(n)]
