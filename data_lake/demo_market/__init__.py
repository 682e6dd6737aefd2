"""The built-in demo market: a simulated Hyperliquid perp with exactly known parameters.

It is the ground truth the calibration tests check against and the default input of ``make demo``:
:func:`simulate` returns it in memory, :func:`simulate_to_raw` writes raw-zone captures
(``{raw_root}/ws/{YYYYMMDD}/{H}/{coin}.jsonl.lz4``) and the truth JSON (``{raw_root}/truth/{coin}.json``),
which :func:`load_truth` reads back. :func:`demo_coin_configs` gives the ``DEMO`` control and the ``NICHE`` coin
with a documented edge that ``make demo`` runs side by side, and on request ``FOLLOW``, whose mid follows ``DEMO``'s
with a known lag and coefficient (:mod:`data_lake.demo_market.presets`; :func:`simulate_coins_to_raw` simulates
leaders before their followers).
:func:`simulate_universe_to_raw` writes several coins of known volume, spread and maker count
(:mod:`data_lake.demo_market.multi_coin`).
"""

from data_lake.demo_market.config import DemoMarketConfig
from data_lake.demo_market.market import DemoMarket, simulate
from data_lake.demo_market.multi_coin import (
    DEMO_UNIVERSE,
    UniverseCoin,
    simulate_universe_to_raw,
)
from data_lake.demo_market.presets import demo_coin_configs
from data_lake.demo_market.raw_writer import simulate_coins_to_raw, simulate_to_raw
from data_lake.demo_market.truth import load_truth, truth_path

__all__ = [
    "DEMO_UNIVERSE",
    "DemoMarket",
    "DemoMarketConfig",
    "UniverseCoin",
    "demo_coin_configs",
    "load_truth",
    "simulate",
    "simulate_coins_to_raw",
    "simulate_to_raw",
    "simulate_universe_to_raw",
    "truth_path",
]
