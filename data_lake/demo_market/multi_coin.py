"""A demo universe: several demo coins of known daily volume, spread and number of makers in one raw zone.

Each coin is a single-coin demo market (:mod:`data_lake.demo_market.market`) with a light capture (l2Book every
10 s, a ctx per minute, slow level refresh) so a day of several coins is quick to generate and clean. Its print
size is set so the expected daily notional volume is the coin's target. :func:`simulate_universe_to_raw` also
stores ``perpDexs`` and per-dex ``meta`` snapshots (HIP-3 ``dex:COIN`` coins get their builder dex) and a universe
truth JSON with each coin's realised volume, spread and maker count.

:data:`DEMO_UNIVERSE` is built to rank in its listed order under the screener's default criteria (volume
$100K-$5M, spread > 5 bps, <= 10 effective makers, positive maker edge after a 1.5 bps fee): NICHE passes all
four, xyz:WIDE three (crowded), TOXIC two (crowded, informed flow eats the spread), THIN one (few makers only),
MAJOR none.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from data_lake.demo_market.config import DemoMarketConfig
from data_lake.demo_market.market import DemoMarket, simulate
from data_lake.demo_market.raw_writer import write_raw
from data_lake.demo_market.truth import TRUTH_DIR, write_truth
from data_lake.importers import write_info_snapshot
from data_lake.parsers.snapshots import dex_of
from data_lake.units import DAY_MS

UNIVERSE_TRUTH_FILE = "_universe.json"
LIGHT_CAPTURE: dict[str, Any] = {
    "hawkes_mu_per_s": 0.05,
    "book_interval_ms": 4_000,
    "level_refresh_ms": 600_000,
    "ctx_interval_ms": 60_000,
    "ctx_jitter_ms": 1_000,
}
"""Config overrides of every universe coin: 0.125 taker orders/s and a sparse capture (a book every 4 s, inside
the 5 s limit on a mid's age, :data:`calibration.mids.MID_MAX_AGE_MS`)."""


@dataclass(frozen=True)
class UniverseCoin:
    """One coin of the demo universe: target daily notional volume (quote currency), spread in ticks, number of
    distinct maker addresses, start price, volatility per regime (bps per sqrt(s)) and informed flow (probability
    per regime, jump in bps)."""

    coin: str
    volume_quote_per_day: float
    spread_ticks: int
    n_makers: int
    start_price: float = 2.0
    sigma_bps_per_sqrt_s: tuple[float, float] = (0.5, 2.0)
    informed_prob: tuple[float, float] = (0.05, 0.4)
    informed_jump_bps: float = 3.0


DEMO_UNIVERSE = (
    UniverseCoin("NICHE", 1_000_000.0, spread_ticks=3, n_makers=4, informed_prob=(0.05, 0.2)),
    UniverseCoin("xyz:WIDE", 2_000_000.0, spread_ticks=3, n_makers=25),
    UniverseCoin("TOXIC", 1_500_000.0, spread_ticks=2, n_makers=25, informed_prob=(0.9, 0.9), informed_jump_bps=20.0),
    UniverseCoin("THIN", 30_000.0, spread_ticks=1, n_makers=3, start_price=20.0, sigma_bps_per_sqrt_s=(0.1, 0.3)),
    UniverseCoin("MAJOR", 20_000_000.0, spread_ticks=1, n_makers=40, start_price=20.0, sigma_bps_per_sqrt_s=(0.1, 0.3)),
)


def coin_config(spec: UniverseCoin, seed: int, start: dt.date, days: int = 1) -> DemoMarketConfig:
    """The demo config of ``spec``: light capture, and a median print size giving the target volume in expectation."""
    base = DemoMarketConfig(
        coin=spec.coin,
        days=days,
        seed=seed,
        start=start,
        start_price=spec.start_price,
        spread_ticks=spec.spread_ticks,
        n_makers=spec.n_makers,
        sigma_bps_per_sqrt_s=spec.sigma_bps_per_sqrt_s,
        informed_prob=spec.informed_prob,
        informed_jump_bps=spec.informed_jump_bps,
        **LIGHT_CAPTURE,
    )
    mean_levels = 1 / (1 - math.exp(-base.kappa_per_price * base.tick))
    prints_per_day = base.order_rate_per_s * DAY_MS / 1000 * mean_levels
    mean_size = spec.volume_quote_per_day / (prints_per_day * spec.start_price)
    median = mean_size / math.exp(base.print_size_sigma**2 / 2)
    return dataclasses.replace(base, print_size_median=median)


def universe_snapshots(configs: Sequence[DemoMarketConfig]) -> list[tuple[dict[str, Any], Any]]:
    """``(request, response)`` of the ``perpDexs`` and per-dex ``meta`` snapshots describing ``configs``."""
    dexes = sorted({dex_of(c.coin) for c in configs} - {""})
    perp_dexs = [None] + [
        {
            "name": d,
            "fullName": f"{d} demo dex",
            "deployer": "0x" + "00" * 19 + f"{i + 1:02x}",
            "oracleUpdater": None,
            "feeRecipient": None,
        }
        for i, d in enumerate(dexes)
    ]
    snapshots: list[tuple[dict[str, Any], Any]] = [({"type": "perpDexs"}, perp_dexs)]
    for dex in ["", *dexes]:
        universe = [
            {"name": c.coin, "szDecimals": c.sz_decimals, "maxLeverage": 10} for c in configs if dex_of(c.coin) == dex
        ]
        if universe:
            snapshots.append(({"type": "meta", "dex": dex}, {"universe": universe, "collateralToken": 0}))
    return snapshots


def _realised(market: DemoMarket) -> dict[str, float | int]:
    """Realised daily notional volume (quote), time-averaged spread (bps, 1 min grid) and distinct makers."""
    c, trades = market.config, market.trades
    grid = c.start_ms + np.arange(0, c.days * DAY_MS, 60_000)
    spread_bps = c.spread_ticks * c.tick / market.mid_at(grid) * 1e4
    makers = trades.select(pl.when(pl.col("side") > 0).then(pl.col("seller")).otherwise(pl.col("buyer")))
    return {
        "volume_quote_per_day": float((trades["px"] * trades["sz"]).sum()) / c.days,
        "spread_bps": float(spread_bps.mean()),
        "n_makers": int(makers.to_series().n_unique()),
        "n_trades": trades.height,
    }


def simulate_universe_to_raw(
    coins: Sequence[UniverseCoin], raw_root: str | Path, start: dt.date, days: int = 1, seed: int = 7
) -> Path:
    """Simulate every coin (seed ``seed + i`` for the i-th) into ``raw_root`` with its truth JSON, store the universe
    snapshots at ``start`` 00:00 UTC, and write ``truth/_universe.json``; returns that file's path."""
    configs = [coin_config(spec, seed + i, start, days) for i, spec in enumerate(coins)]
    rows = []
    for spec, config in zip(coins, configs, strict=True):
        market = simulate(config)
        write_raw(market, raw_root)
        write_truth(market, raw_root)
        rows.append(
            {
                "coin": spec.coin,
                "dex": dex_of(spec.coin),
                "target_volume_quote_per_day": spec.volume_quote_per_day,
                "spread_ticks": spec.spread_ticks,
                "tick": config.tick,
                "informed_prob": list(spec.informed_prob),
                "informed_jump_bps": spec.informed_jump_bps,
                "realised": _realised(market),
            }
        )
    taken_ns = configs[0].start_ms * 1_000_000
    for request, response in universe_snapshots(configs):
        write_info_snapshot(raw_root, taken_ns, request, response)
    path = Path(raw_root) / TRUTH_DIR / UNIVERSE_TRUTH_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"start_date": start.isoformat(), "days": days, "seed": seed, "coins": rows}
    path.write_text(json.dumps(document, indent=1))
    return path
