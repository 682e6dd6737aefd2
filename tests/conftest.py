"""Shared fixtures: a temporary lake and raw zone, and the path to the shared real Hyperliquid samples."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

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
