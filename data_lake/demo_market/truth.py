"""The demo market's ground truth as JSON: every parameter a calibration should recover, with units in the keys."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from data_lake.demo_market.config import DemoMarketConfig
from data_lake.demo_market.edge import maker_edge
from data_lake.demo_market.market import DemoMarket
from data_lake.raw_zone import coin_file_name

TRUTH_DIR = "truth"


def truth_path(raw_root: str | Path, coin: str) -> Path:
    """Where the truth of ``coin`` lives: ``{raw_root}/truth/{coin_file}.json`` (beside the source folders)."""
    return Path(raw_root) / TRUTH_DIR / f"{coin_file_name(coin)}.json"


def truth(market: DemoMarket) -> dict[str, Any]:
    """The ground-truth document of a simulated market (see the keys for units)."""
    c = market.config
    bps_per_price = 1e4 / c.start_price
    sigma = np.asarray(c.sigma_bps_per_sqrt_s)
    adverse_bps = np.asarray(c.informed_prob) * c.informed_jump_bps + c.impact_by_regime * c.reach_depth_moments_bps[0]
    half_spread_bps = c.half_spread * bps_per_price
    edge = maker_edge(c)
    return {
        "coin": c.coin,
        "edge": edge["edge"],
        "seed": c.seed,
        "start_date": c.start.isoformat(),
        "days": c.days,
        "start_ms": c.start_ms,
        "end_ms": c.end_ms,
        "instrument": {
            "start_price": c.start_price,
            "tick": c.tick,
            "sz_decimals": c.sz_decimals,
            "book_levels_per_side": c.book_levels,
            "spread_ticks": c.spread_ticks,
            "n_makers": c.n_makers,
            "half_spread_price": c.half_spread,
            "half_spread_bps_at_start": half_spread_bps,
        },
        "taker_orders": {
            "process": (
                "univariate exponential-kernel Hawkes, lambda(t) = mu + sum alpha*exp(-beta*(t - t_i)), "
                "started empty at start_ms, simulated exactly"
            ),
            "mu_per_s": c.hawkes_mu_per_s,
            "alpha_per_s": c.hawkes_alpha_per_s,
            "beta_per_s": c.hawkes_beta_per_s,
            "branching_ratio": c.hawkes_alpha_per_s / c.hawkes_beta_per_s,
            "rate_per_s": c.order_rate_per_s,
            "rate_per_side_per_s": c.order_rate_per_side_per_s,
            "buy_probability": 0.5,
            "exchange_time": "start_ms + ceil(1000 * t_s): the order's block time in ms",
            "n_orders": market.orders.height,
        },
        "fill_intensity": {
            "convention": (
                "A resting quote at depth d (price units from the displayed mid, d >= half_spread) is reached with "
                "intensity A*exp(-kappa*d) per side: an order's reach beyond the best quote is Exponential(kappa) and "
                "it prints once at every level (one per tick) within its reach, all prints sharing time, side, hash "
                "and taker. Depth is measured from the mid of the last book state (bbo/l2Book) strictly before the "
                "trade's exchange time. So P(deepest print depth >= half_spread + j*tick) = exp(-kappa*j*tick)."
            ),
            "kappa_per_price": c.kappa_per_price,
            "kappa_per_tick": c.kappa_per_price * c.tick,
            "kappa_per_bps_at_start": c.kappa_per_price / bps_per_price,
            "a_per_s": c.fill_intensity_a_per_s,
            "rate_at_best_per_side_per_s": c.order_rate_per_side_per_s,
            "mean_levels_per_order": 1 / (1 - math.exp(-c.kappa_per_price * c.tick)),
            "n_trades": market.trades.height,
        },
        "regimes": {
            "names": list(c.regime_names),
            "step_s": 60,
            "transition_matrix_per_minute": [list(row) for row in c.transition_per_minute],
            "stationary_distribution": _rounded(c.stationary_distribution),
            "initial_distribution": _rounded(c.stationary_distribution),
            "sigma_bps_per_sqrt_s": sigma.tolist(),
            "sigma_price_per_sqrt_s_at_start": _rounded(sigma / bps_per_price),
            "total_sigma_bps_per_sqrt_s": _rounded(c.total_sigma_bps_per_sqrt_s),
            "price_model": (
                "log price: Gaussian random walk with the minute's sigma, sampled every block_ms, plus informed "
                "jumps; displayed best bid = the tick at or below the price, ask = bid + spread_ticks ticks"
            ),
            "block_ms": c.block_ms,
            "path_start_ms": c.start_ms,
            "path": market.regimes["state"].to_list(),
        },
        "adverse_selection": {
            "informed_prob": list(c.informed_prob),
            "jump_bps": c.informed_jump_bps,
            "jump": (
                "log price moves by side * jump_bps * 1e-4 after a delay uniform in jump_delay_s, "
                "visible at the next block"
            ),
            "jump_delay_s": list(c.informed_delay_s),
            "jump_visible_within_ms": int(c.informed_delay_s[1] * 1000) + c.block_ms,
            "expected_aggressor_move_bps": _rounded(adverse_bps),
            "expected_maker_markout_bps_at_best": _rounded(half_spread_bps - adverse_bps),
            "markout_convention": (
                "maker markout at horizon h >= jump_visible_within_ms, per print, in bps of the mid: "
                "depth_bps - side * (mid(t+h) - mid(t-)) / mid(t-) * 1e4; "
                "its mean per regime is depth_bps - expected_aggressor_move_bps without impact; with impact the move "
                "grows with the depth a print reached (maker_edge.regimes.*.adverse_selection_bps)"
            ),
        },
        "impact": {
            "impact_per_reach": c.impact_by_regime.tolist(),
            "move": (
                "every taker order moves the price permanently by side * impact_per_reach[regime] * (half_spread + "
                "reach) in price units, visible like an informed jump (delay uniform in jump_delay_s, next block)"
            ),
        },
        "maker_edge": edge,
        "lead_lag": _lead_lag(c),
        "asset_ctx": {
            "funding_hourly_mean": c.funding_hourly_mean,
            "funding_hourly_sd": c.funding_hourly_sd,
            "funding": "one rate per UTC hour, changes on the hour",
            "open_interest_start_coins": c.open_interest_start,
        },
        "capture": {
            "source": "ws",
            "bbo": "a frame at every block whose best price or best size changed",
            "l2Book_interval_ms": c.book_interval_ms,
            "l2Book_jitter_mean_ms": c.book_jitter_mean_ms,
            "activeAssetCtx_interval_ms": c.ctx_interval_ms,
            "latency_ms": f"{c.latency_min_ms} + Exponential(mean {c.latency_extra_mean_ms}), receive order kept",
            "window": "frames received at or after end_ms are not recorded (the recorder stops at end_ms)",
        },
        "config": _config_values(c),
    }


def _lead_lag(c: DemoMarketConfig) -> dict[str, Any] | None:
    """The coin's leader, lag and response (None: it follows no coin, so an estimator must find no lead)."""
    if not c.leader:
        return None
    return {
        "leader": c.leader,
        "lag_ms": c.leader_lag_ms,
        "beta": c.leader_beta,
        "model": (
            "every block, the follower's latent log price adds beta times the leader's latent log move (random walk, "
            "informed jumps, impacts) of lag_ms earlier: the follower's mid moves lag_ms after the leader's, by beta "
            "per unit log move; its volatility therefore exceeds regimes.total_sigma_bps_per_sqrt_s, which counts its "
            "own moves only"
        ),
    }


def _rounded(values: np.ndarray) -> list[float]:
    """Derived values to 12 decimals, so the JSON shows 0.15 rather than 0.15000000000000002."""
    return [round(float(v), 12) for v in values]


def write_truth(market: DemoMarket, raw_root: str | Path) -> Path:
    """Write the truth JSON beside the raw zone's source folders and return its path."""
    path = truth_path(raw_root, market.config.coin)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth(market), indent=1))
    return path


def load_truth(path: str | Path) -> dict[str, Any]:
    """Read a truth JSON written by :func:`write_truth`."""
    return json.loads(Path(path).read_text())


def _config_values(config: DemoMarketConfig) -> dict[str, Any]:
    """Every config field as a plain JSON value (the date as ISO text), so a run can be reproduced."""
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in dataclasses.asdict(config).items()}
