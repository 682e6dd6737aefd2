"""In-process materialisation of the raw -> clean graph on one simulated day, and its idempotency."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from data_lake.lake import Lake
from data_lake.tables import table
from tests.support import DEMO_COIN, DEMO_DAY, run_job


def _content_hash(lake: Lake, name: str) -> tuple[int, int]:
    df = lake.read_partition(name, DEMO_COIN, DEMO_DAY)
    return df.height, int(df.sort(list(table(name).key)).hash_rows(seed=1).sum()) if df.height else 0


@pytest.mark.slow
def test_ingest_materialises_clean_tables_with_passing_checks(tmp_path: Path, demo_day: tuple[Path, Path]) -> None:
    result = run_job("ingest", tmp_path / "lake", demo_day[0])
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "reconciliation": True,
        "gx_trades_suite": True,
        "gx_book_suite": True,
        "gx_asset_ctx_suite": True,
        "gx_fills_suite": True,
        "gx_order_updates_suite": True,
        "gx_quoter_log_suite": True,
        "gx_quarantine_suite": True,
        "gx_raw_captures_suite": True,
    }
    lake = Lake(tmp_path / "lake", storage_options={})
    trades = lake.read_partition("trades", DEMO_COIN, DEMO_DAY)
    book = lake.read_partition("book", DEMO_COIN, DEMO_DAY)
    assert trades.height > 10_000
    assert book.filter(pl.col("source") == "l2Book").height > 150_000
    assert (book["ask_px_1"] > book["bid_px_1"]).all()
    rows = {
        e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata.get("dagster/row_count")
        for e in result.get_asset_materialization_events()
    }
    print({name: count.value if count else None for name, count in rows.items()})
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"raw_captures", "trades", "book", "asset_ctx", "fills", "order_updates", "quarantine"} <= materialised


@pytest.mark.slow
def test_rematerialising_a_partition_is_idempotent(tmp_path: Path, demo_day: tuple[Path, Path]) -> None:
    lake = Lake(tmp_path / "lake", storage_options={})
    run_job("ingest", tmp_path / "lake", demo_day[0])
    first = {name: _content_hash(lake, name) for name in ("trades", "book", "asset_ctx", "quarantine", "raw_captures")}
    run_job("ingest", tmp_path / "lake", demo_day[0])
    second = {name: _content_hash(lake, name) for name in first}
    assert first == second
    assert first["trades"][0] > 0
