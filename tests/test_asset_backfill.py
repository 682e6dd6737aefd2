"""A backfill by Dagster's own machinery (the backfill daemon's iteration over the declared cross-day ``AssetDep``
mappings, as when launched from the UI) runs each asset partition after what it reads and writes the same lake as
``pipelines.backfill`` does in one process."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.execution.backfill import BulkActionStatus

from data_lake import raw_zone
from data_lake.lake import Lake
from pipelines.asset_backfill import run_asset_backfill
from pipelines.backfill import backfill, failed_partitions
from pipelines.executors import IN_PROCESS
from tests.test_backfill import RUN_STAMPS, STAMPED
from tests.test_run_cli import capture_lines

COIN = "BTC"
DAYS = (dt.date(2026, 1, 1), dt.date(2026, 1, 2))
FOLDS = {"ops": {"walk_forward_assets": {"config": {"train_hours": 0.25, "test_hours": 0.1, "n_folds": 2}}}}
"""Folds short enough for the two 40-minute days."""
SYNC = {
    "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"},
    "run_launcher": {
        "module": "dagster._core.launcher.sync_in_memory_run_launcher",
        "class": "SyncInMemoryRunLauncher",
    },
}
"""Each submitted run executes at once in this process (the daemon's launcher would start a process per run)."""


def _two_days(raw: Path) -> None:
    """Each day's first 20 minutes (the previous day's markouts read its first minute) and last 20 minutes."""
    for day in DAYS:
        for hour, minute in ((0, 0), (23, 40)):
            start_ms = int(dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC).timestamp() * 1000)
            raw_zone.write_lines(raw_zone.raw_path(raw, "ws", day, hour, COIN), capture_lines(COIN, start_ms, 20))


def _tables(root: Path) -> dict[str, pl.DataFrame]:
    lake = Lake(str(root), storage_options={})
    tables = {}
    for name in sorted(p.name for p in root.iterdir() if (p / "_delta_log").is_dir()):
        df = lake.read(name)
        kept = [c for c in df.columns if c not in RUN_STAMPS and not (name == "param_sets" and c in STAMPED)]
        tables[name] = df.select(kept).sort(kept, nulls_last=True)
    return tables


@pytest.mark.slow
def test_dagsters_asset_backfill_orders_the_days_and_equals_the_staged_backfill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "raw"
    _two_days(raw)
    monkeypatch.setenv("SMALLFISH_RAW", str(raw))
    partitions = [(COIN, day) for day in DAYS]

    monkeypatch.setenv("SMALLFISH_LAKE", str(tmp_path / "staged"))
    outcomes = backfill(dg.DagsterInstance.ephemeral(), partitions, run_config=FOLDS)
    assert failed_partitions(outcomes) == []

    monkeypatch.setenv("SMALLFISH_LAKE", str(tmp_path / "dagster"))
    (tmp_path / "home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "home"), overrides=SYNC)
    done = run_asset_backfill(instance, partitions, run_config={**FOLDS, **IN_PROCESS})
    assert done.status == BulkActionStatus.COMPLETED_SUCCESS

    spans: dict[tuple[str, str], tuple[float, float]] = {}
    for record in instance.get_run_records():
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        for key in record.dagster_run.asset_selection:
            spans[(key.to_user_string(), record.dagster_run.tags["dagster/partition/date"])] = (
                record.start_time,
                record.end_time,
            )
    first, second = (day.isoformat() for day in DAYS)
    assert spans[("book", second)][1] <= spans[("markouts", first)][0]  # the next day's first minute
    assert spans[("trades", first)][1] <= spans[("features", second)][0]  # VPIN warm-up
    assert spans[("regime_fit", first)][1] <= spans[("regime_fit", second)][0]  # warm start
    assert spans[("regime_fit", first)][1] <= spans[("markouts", second)][0]  # out-of-sample beliefs
    assert spans[("markouts", first)][1] <= spans[("walk_forward", second)][0]  # the walk-forward's window
    assert spans[("param_sets", first)][1] <= spans[("param_sets", second)][0]  # the incumbent

    staged, by_dagster = _tables(tmp_path / "staged"), _tables(tmp_path / "dagster")
    assert sorted(by_dagster) == sorted(staged)
    for name in ("trades", "features", "markouts", "kappa_fit", "hawkes_fit", "signal_quality", "alerts"):
        assert staged[name].height > 0, name
    for name, table in staged.items():
        assert by_dagster[name].equals(table), name
