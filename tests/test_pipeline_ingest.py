"""In-process materialisation of the raw -> clean graph on one simulated day, and its idempotency."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.partitions import COINS, partition_key
from data_lake.demo_market import DemoMarketConfig, simulate_to_raw
from data_lake.lake import Lake
from data_lake.tables import table
from pipelines.definitions import defs
from pipelines.resources import DataLakeResource

DAY = dt.date(2026, 1, 1)
COIN = "DEMO"


@pytest.fixture(scope="module")
def demo_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    simulate_to_raw(DemoMarketConfig(coin=COIN, days=1, seed=11, start=DAY), raw)
    return raw


def _run(lake_root: Path, raw: Path) -> dg.ExecuteInProcessResult:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(COINS.name, [COIN])
    job = defs.resolve_job_def("ingest")
    resources = {"data_lake": DataLakeResource(lake_root=str(lake_root), raw_root=str(raw))}
    return job.execute_in_process(partition_key=partition_key(COIN, DAY), instance=instance, resources=resources)


def _content_hash(lake: Lake, name: str) -> tuple[int, int]:
    df = lake.read_partition(name, COIN, DAY)
    key = list(table(name).key)
    return df.height, int(df.sort(key).hash_rows(seed=1).sum()) if df.height else 0


@pytest.mark.slow
def test_ingest_materialises_clean_tables_with_passing_checks(tmp_path: Path, demo_raw: Path) -> None:
    result = _run(tmp_path / "lake", demo_raw)
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "reconciliation": True,
        "gx_trades_suite": True,
        "gx_book_suite": True,
        "gx_asset_ctx_suite": True,
        "gx_fills_suite": True,
    }
    lake = Lake(tmp_path / "lake", storage_options={})
    trades = lake.read_partition("trades", COIN, DAY)
    book = lake.read_partition("book", COIN, DAY)
    assert trades.height > 10_000
    assert book.filter(pl.col("source") == "l2Book").height > 150_000
    assert (book["ask_px_1"] > book["bid_px_1"]).all()
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"raw_captures", "trades", "book", "asset_ctx", "fills", "order_updates", "quarantine"} <= materialised


@pytest.mark.slow
def test_rematerialising_a_partition_is_idempotent(tmp_path: Path, demo_raw: Path) -> None:
    lake = Lake(tmp_path / "lake", storage_options={})
    _run(tmp_path / "lake", demo_raw)
    first = {name: _content_hash(lake, name) for name in ("trades", "book", "asset_ctx", "quarantine", "raw_captures")}
    _run(tmp_path / "lake", demo_raw)
    second = {name: _content_hash(lake, name) for name in first}
    assert first == second
    assert first["trades"][0] > 0
