"""Shared fixtures: a temporary lake and raw zone, the path to the shared real Hyperliquid samples, and the simulated
demo markets that several modules read (built once per session: each takes seconds)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import polars as pl
import pytest

from data_lake.demo_market import DemoMarket, demo_coin_configs, simulate
from data_lake.lake import Lake
from tests.support import DEMO_COIN, DEMO_DAY

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "hyperliquid-samples"


@pytest.fixture
def samples_dir() -> Path:
    """The real Hyperliquid payloads in ../shared (absent on a user's clone: the test is skipped)."""
    if not SAMPLES.is_dir():
        pytest.skip(f"real Hyperliquid samples not found at {SAMPLES} (they live outside the repository)")
    return SAMPLES


@pytest.fixture
def quiet_hmmlearn():
    """hmmlearn logs 'Model is not converging' for tiny likelihood decreases at the tolerance floor."""
    logger = logging.getLogger("hmmlearn.base")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake", storage_options={})


@pytest.fixture
def raw_root(tmp_path: Path) -> Path:
    root = tmp_path / "raw"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def demo_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One simulated demo-market day in a raw zone shared by the pipeline tests: (raw_root, truth_json)."""
    from data_lake.demo_market import DemoMarketConfig, simulate_to_raw

    raw = tmp_path_factory.mktemp("demo_raw")
    truth = simulate_to_raw(DemoMarketConfig(coin=DEMO_COIN, days=1, seed=11, start=DEMO_DAY), raw)
    return raw, truth


@pytest.fixture(scope="session")
def demo_market() -> DemoMarket:
    """The demo day of ``tests.test_variants.DEMO`` (seed 11), simulated once for every module that reads it.
    Shared read-only: polars frames are immutable and no test or function under test assigns into it."""
    from tests.test_variants import DEMO

    return simulate(DEMO)


@pytest.fixture(scope="session")
def demo_frames(demo_market: DemoMarket) -> dict[str, pl.DataFrame]:
    """``demo_market`` as the lake's trades, book, features and markouts frames (about 1.5 s of CPU to build, 0.4 GB),
    built once for the eight modules that backtest or fit on it. Shared read-only, like ``demo_market``."""
    from tests.test_variants import demo_lake_frames

    return demo_lake_frames(demo_market)


@pytest.fixture(scope="session")
def demo_coin_markets() -> dict[str, DemoMarket]:
    """The preset coins of ``demo_coin_configs(1, 7, 2026-01-01, follower=True)``: ``DEMO``, ``NICHE`` and ``FOLLOW``
    (``NICHE``'s market following ``DEMO``), simulated once for the lead-lag, regime-pull and preset modules.
    Shared read-only."""
    configs = {c.coin: c for c in demo_coin_configs(1, 7, dt.date(2026, 1, 1), follower=True)}
    demo = simulate(configs["DEMO"])
    return {"DEMO": demo, "FOLLOW": simulate(configs["FOLLOW"], demo), "NICHE": simulate(configs["NICHE"])}
