"""The demo coins ``make demo`` runs side by side: ``DEMO``, a control with no edge a small maker can take, and
``NICHE``, with a documented edge that only a maker who chooses when to quote can take.

Both share one market: the default regimes (sigma 0.5 and 2.0 bps/sqrt(s), informed probability 0.05 and 0.4 with
a 3 bps jump) on a 3-tick (1.2 bps) spread, takers reaching deeper than the default (kappa 200 per price unit: a
reach beyond the best of 5 ticks on average, so quotes a few bps out are filled by takers, not only by the mid
walking onto them), and taker flow of 1 order/s that clusters little (Hawkes branching ratio 0.05: the fill
probability the quoter predicts has no self-excitation term; the default 0.6 clustering is what a Hawkes-aware
fill model would have to earn its place on). They differ in one thing, the takers' impact
(:attr:`DemoMarketConfig.impact_per_reach`):

- ``NICHE``: calm takers leave no trace beyond the informed jumps, so a quote d bps from the mid nets
  ``d - 0.15 - 1.5`` bps per fill (positive from 1.65 bps out); volatile takers move the price by their whole reach,
  so every volatile fill loses at every depth. The maker wins by quoting only in the calm regime.
- ``DEMO``: takers move the price by their whole reach in both regimes, so a fill at depth d is followed by a move
  of d + 1/kappa against the maker: no depth pays even before the fee, in either regime.

The truth JSON of each (``maker_edge``) carries the per-regime, per-depth numbers and ``"edge": true|false``.

With ``follower=True`` a third coin joins them: ``FOLLOW``, the ``NICHE`` market plus a response to ``DEMO``'s
latent price :data:`FOLLOWER_LAG_MS` later with coefficient :data:`FOLLOWER_BETA` (truth ``"lead_lag"``; the other
coins' truth says ``null``), what the lead-lag estimator and the ``+lead_lag`` variant must find. It is opt-in: a
third coin costs ``make demo`` about half its time again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np

from data_lake.demo_market.config import DemoMarketConfig

SPREAD_TICKS = 3
"""Displayed spread of both coins: 3 ticks (1.2 bps at the 25.0 start price), so quotes a few bps out fill often."""

IMPACT_PER_REACH = {"DEMO": (1.0, 1.0), "NICHE": (0.0, 1.0)}
"""Per coin, per regime (calm, volatile): how much of its reach depth a taker order moves the price."""
DEMO_COINS = tuple(IMPACT_PER_REACH)
"""The coins ``make demo`` simulates; the nightly job's partitions of these default to the demo's run config."""
KAPPA_PER_PRICE = 200.0
HAWKES_MU_PER_S, HAWKES_ALPHA_PER_S = 0.95, 0.1
"""With the default beta of 2/s: branching ratio 0.05, 1 order/s."""
FOLLOWER, LEADER = "FOLLOW", "DEMO"
FOLLOWER_LAG_MS, FOLLOWER_BETA = 2_000, 0.6
"""``FOLLOW``'s mid moves 2 s after ``DEMO``'s latent price, by 0.6 per unit log move."""


def coin_seed(seed: int, coin: str) -> int:
    """A seed per coin derived from the run's ``seed`` (distinct coins, distinct random streams)."""
    return int(np.random.SeedSequence([seed, *coin.encode()]).generate_state(1)[0])


def demo_coin_configs(days: int, seed: int, start: dt.date, follower: bool = False) -> tuple[DemoMarketConfig, ...]:
    """The ``DEMO`` control and the ``NICHE`` coin over ``days`` days from ``start``, each with its own seed; with
    ``follower``, also ``FOLLOW`` (``NICHE``'s market following ``DEMO``)."""
    coins = {**IMPACT_PER_REACH, **({FOLLOWER: IMPACT_PER_REACH["NICHE"]} if follower else {})}
    configs = [
        DemoMarketConfig(
            coin=coin,
            days=days,
            seed=coin_seed(seed, coin),
            start=start,
            spread_ticks=SPREAD_TICKS,
            impact_per_reach=impact,
            kappa_per_price=KAPPA_PER_PRICE,
            hawkes_mu_per_s=HAWKES_MU_PER_S,
            hawkes_alpha_per_s=HAWKES_ALPHA_PER_S,
        )
        for coin, impact in coins.items()
    ]
    return tuple(
        replace(c, leader=LEADER, leader_lag_ms=FOLLOWER_LAG_MS, leader_beta=FOLLOWER_BETA) if c.coin == FOLLOWER else c
        for c in configs
    )
