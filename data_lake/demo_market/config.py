"""Every parameter of the demo market in one frozen dataclass; its defaults are the documented ground truth."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from data_lake.units import DAY_MS, MINUTE_MS

REGIME_NAMES = ("calm", "volatile", "cascade")


@dataclass(frozen=True)
class DemoMarketConfig:
    """Instrument, taker flow, depth profile, regimes, informed flow and wire cosmetics of the demo market.

    Units: prices in quote currency (USDC), sizes in base units, rates per second, sigmas in bps per
    sqrt(second) of the log price, kappa per price unit, times in ms. The displayed spread is ``spread_ticks``
    ticks; ``n_makers`` distinct addresses take the passive side of the prints.
    """

    coin: str = "DEMO"
    days: int = 1
    seed: int = 7
    start: dt.date = dt.date(2026, 1, 1)

    start_price: float = 25.0
    tick_decimals: int = 3
    sz_decimals: int = 2
    book_levels: int = 20
    spread_ticks: int = 1

    hawkes_mu_per_s: float = 0.4
    hawkes_alpha_per_s: float = 1.2
    hawkes_beta_per_s: float = 2.0

    kappa_per_price: float = 500.0

    transition_per_minute: tuple[tuple[float, ...], ...] = ((0.98, 0.02), (0.05, 0.95))
    sigma_bps_per_sqrt_s: tuple[float, ...] = (0.5, 2.0)
    informed_prob: tuple[float, ...] = (0.05, 0.4)
    informed_jump_bps: float = 3.0
    informed_delay_s: tuple[float, float] = (0.01, 0.1)
    impact_per_reach: tuple[float, ...] = ()
    """Per regime (empty: none). Every taker order then moves the price permanently by side * impact * its reach
    depth from the mid (half spread + reach, price units): the takers sweep and the market follows them. The move
    becomes visible like an informed jump, after a delay uniform in ``informed_delay_s``, at the next block."""

    block_ms: int = 100
    book_interval_ms: int = 500
    book_jitter_mean_ms: float = 40.0
    ctx_interval_ms: int = 3_000
    ctx_jitter_ms: int = 300
    latency_min_ms: float = 15.0
    latency_extra_mean_ms: float = 10.0

    print_size_median: float = 12.0
    print_size_sigma: float = 1.0
    level_size_median: float = 150.0
    level_size_sigma: float = 0.9
    level_order_size: float = 80.0
    level_refresh_ms: int = 30_000
    n_makers: int = 30

    leader: str = ""
    """Coin whose latent log price this one follows (empty: none). The follower's log price then adds
    ``leader_beta`` times every block's log move of the leader's latent price (its random walk, informed jumps and
    impacts), ``leader_lag_ms`` later: the lead-lag a quoter of this coin can use."""
    leader_lag_ms: int = 0
    """Delay of the follower's response to a leader move, ms (a multiple of ``block_ms``)."""
    leader_beta: float = 0.0
    """Follower log move per unit log move of the leader."""

    funding_hourly_mean: float = 0.0000125
    funding_hourly_sd: float = 0.000005
    open_interest_start: float = 400_000.0
    open_interest_hourly_sd: float = 4_000.0

    def __post_init__(self) -> None:
        n = self.n_states
        matrix = np.asarray(self.transition_per_minute, dtype=float)
        shapes_match = matrix.shape == (n, n) and len(self.sigma_bps_per_sqrt_s) == n and len(self.informed_prob) == n
        if n not in (2, 3) or not shapes_match:
            raise ValueError("need 2 or 3 regimes with matching transition matrix, sigmas and informed probabilities")
        if not np.allclose(matrix.sum(axis=1), 1.0) or (matrix < 0).any():
            raise ValueError("transition matrix rows must be probabilities summing to 1")
        if not 0 < self.hawkes_alpha_per_s < self.hawkes_beta_per_s or self.hawkes_mu_per_s <= 0:
            raise ValueError("Hawkes needs mu > 0 and 0 < alpha < beta (stationary)")
        if self.tick_decimals > 6 - self.sz_decimals:
            raise ValueError("tick finer than Hyperliquid allows (6 - szDecimals decimals)")
        if not 0 < self.start_price < self.max_price:
            raise ValueError(f"start price must be in (0, {self.max_price}) for a {self.tick} tick (5 sig. figures)")
        if self.days < 1 or MINUTE_MS % self.block_ms:
            raise ValueError("days must be >= 1 and block_ms must divide a minute")
        if self.spread_ticks < 1 or self.n_makers < 1:
            raise ValueError("spread_ticks and n_makers must be >= 1")
        if self.impact_per_reach and (len(self.impact_per_reach) != n or min(self.impact_per_reach) < 0):
            raise ValueError("impact_per_reach needs one value >= 0 per regime (or none)")
        if self.leader and (
            self.leader == self.coin
            or self.leader_lag_ms < 0
            or self.leader_lag_ms % self.block_ms
            or not math.isfinite(self.leader_beta)
        ):
            raise ValueError(
                "a leader must be another coin, with leader_lag_ms >= 0 a multiple of block_ms and a finite leader_beta"
            )

    @property
    def n_states(self) -> int:
        return len(self.transition_per_minute)

    @property
    def regime_names(self) -> tuple[str, ...]:
        return REGIME_NAMES[: self.n_states]

    @property
    def tick(self) -> float:
        return 10.0**-self.tick_decimals

    @property
    def max_price(self) -> float:
        """Prices on the tick grid keep <= 5 significant figures only below this bound."""
        return 10.0 ** (5 - self.tick_decimals)

    @property
    def half_spread(self) -> float:
        """Half of the constant ``spread_ticks`` spread, in price units."""
        return self.spread_ticks * self.tick / 2

    @property
    def start_ms(self) -> int:
        return int(dt.datetime.combine(self.start, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.days * DAY_MS

    @property
    def order_rate_per_s(self) -> float:
        """Stationary taker-order rate mu / (1 - alpha/beta)."""
        return self.hawkes_mu_per_s / (1 - self.hawkes_alpha_per_s / self.hawkes_beta_per_s)

    @property
    def order_rate_per_side_per_s(self) -> float:
        return self.order_rate_per_s / 2

    @property
    def fill_intensity_a_per_s(self) -> float:
        """A in A*exp(-kappa*d), d measured from the mid: lambda_side * exp(kappa * half_spread)."""
        return self.order_rate_per_side_per_s * math.exp(self.kappa_per_price * self.half_spread)

    @property
    def impact_by_regime(self) -> np.ndarray:
        """``impact_per_reach`` per regime, zeros when it is empty."""
        return np.asarray(self.impact_per_reach or (0.0,) * self.n_states, dtype=float)

    @property
    def reach_depth_moments_bps(self) -> tuple[float, float]:
        """E[D] and E[D^2] of an order's reach depth D = half_spread + reach from the mid, in bps at the start price
        (reach ~ Exponential(kappa))."""
        bps_per_price = 1e4 / self.start_price
        h, k = self.half_spread * bps_per_price, self.kappa_per_price / bps_per_price
        return h + 1 / k, h**2 + 2 * h / k + 2 / k**2

    @property
    def stationary_distribution(self) -> np.ndarray:
        """The regime chain's stationary distribution (left eigenvector of the transition matrix)."""
        matrix = np.asarray(self.transition_per_minute, dtype=float)
        system = np.vstack([matrix.T - np.eye(self.n_states), np.ones(self.n_states)])
        target = np.append(np.zeros(self.n_states), 1.0)
        return np.linalg.lstsq(system, target, rcond=None)[0]

    @property
    def total_sigma_bps_per_sqrt_s(self) -> np.ndarray:
        """Per-regime volatility of the price including informed jumps J and impacts i*D of the orders (bps at the
        start price; a jump and its order's impact share the order's side): sqrt(sigma^2 + rate * E[(J 1_informed +
        i D)^2]) = sqrt(sigma^2 + rate * (p J^2 + 2 p J i E[D] + i^2 E[D^2]))."""
        sigma = np.asarray(self.sigma_bps_per_sqrt_s)
        p, jump, impact = np.asarray(self.informed_prob), self.informed_jump_bps, self.impact_by_regime
        mean_d, mean_d2 = self.reach_depth_moments_bps
        per_order = p * jump**2 + 2 * p * jump * impact * mean_d + impact**2 * mean_d2
        return np.sqrt(sigma**2 + self.order_rate_per_s * per_order)
