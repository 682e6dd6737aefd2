"""The maker's expected edge in a demo market, from its parameters: what a small maker earns per fill, per regime and
depth, after adverse selection and the maker fee -- the numbers behind a coin's ``"edge": true|false``.

A resting quote at depth d from the mid (bps) is filled by every taker order whose reach depth D = half_spread + reach
is at least d: intensity ``rate_per_side * exp(-kappa * max(d - half_spread, 0))`` per side, and, reach being
Exponential(kappa), ``E[D | filled] = max(d, half_spread) + 1/kappa``. The fill earns d against the mid and then loses
the adverse move of its order, ``p * J`` (informed jump) plus ``impact * E[D | filled]`` (the order's permanent
impact); every other order's move has mean zero (buy probability 1/2). So per fill, in bps,

    net(d) = d - p * J - impact * (max(d, half_spread) + 1/kappa) - maker_fee.

With impact >= 1 it is at most ``-1/kappa - p * J - fee`` beyond the touch: no depth pays. With impact 0 it grows with
d, and the fill intensity shrinks: the edge is where both are worth it. Values are in bps at the start price (a fixed
price distance is fewer bps as the price rises).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from data_lake.demo_market.config import DemoMarketConfig
from data_lake.fees import MAKER_FEE_BPS

EDGE_DEPTHS_BPS: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0, 8.0)
"""Quote depths from the mid (bps) at which the truth states the edge: the range a small maker quotes in."""


def maker_edge(
    config: DemoMarketConfig, depths_bps: Sequence[float] = EDGE_DEPTHS_BPS, fee_bps: float = MAKER_FEE_BPS
) -> dict[str, Any]:
    """Expected fill intensity and net maker P&L per fill at ``depths_bps``, per regime; ``edge`` is true iff some
    regime has a positive expected net at some listed depth (see the module docstring for the derivation)."""
    bps_per_price = 1e4 / config.start_price
    half_spread = config.half_spread * bps_per_price
    kappa_per_bps = config.kappa_per_price / bps_per_price
    depths = np.asarray(depths_bps, dtype=float)
    intensity = config.order_rate_per_side_per_s * np.exp(-kappa_per_bps * np.maximum(depths - half_spread, 0.0))
    reach_depth = np.maximum(depths, half_spread) + 1 / kappa_per_bps
    regimes = {}
    edge = False
    for k, name in enumerate(config.regime_names):
        informed = config.informed_prob[k] * config.informed_jump_bps
        adverse = informed + config.impact_by_regime[k] * reach_depth
        net = depths - adverse - fee_bps
        net_bps = _rounded(net)
        edge = edge or max(net_bps) > 0
        regimes[name] = {
            "informed_prob": config.informed_prob[k],
            "impact_per_reach": float(config.impact_by_regime[k]),
            "adverse_selection_bps": _rounded(adverse),
            "gross_edge_bps": _rounded(depths - adverse),
            "net_bps": net_bps,
            "net_bps_per_s_per_side": _rounded(net * intensity),
        }
    return {
        "edge": edge,
        "convention": (
            "per maker fill at depth d from the mid (bps at the start price): net = d - adverse - maker_fee, "
            "adverse = informed_prob * jump_bps + impact_per_reach * (max(d, half_spread) + 1/kappa) = the expected "
            "move of the filling order against the maker; the maker markout at horizons >= the jump visibility "
            "has mean d - adverse; net_bps_per_s_per_side = fill intensity * net"
        ),
        "maker_fee_bps": fee_bps,
        "half_spread_bps": round(half_spread, 12),
        "mean_reach_beyond_quote_bps": round(1 / kappa_per_bps, 12),
        "depths_bps": depths.tolist(),
        "fill_intensity_per_side_per_s": _rounded(intensity),
        "regimes": regimes,
    }


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 12) for v in values]
