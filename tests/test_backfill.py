"""The staged backfill: every nightly asset in one stage, each stage after what it reads, and the same lake on two
worker processes as in one process."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from data_lake.lake import Lake
from pipelines.backfill import FEATURES, FITS, INGEST, STAGE_ASSETS, Task, backfill, failed_partitions
from pipelines.definitions import NIGHTLY_SELECTION, defs
from pipelines.run import DEMO_RUN_CONFIG, partitions_in
from tests.support import DEMO_COIN, DEMO_DAY

DAYS = (DEMO_DAY, DEMO_DAY + dt.timedelta(days=1))
RUN_STAMPS = {"run_at_ms", "fitted_at_ms", "ingested_at_ms", "decided_at_ms", "created_at_ms"}
"""Columns recording when a run happened, the only ones allowed to differ between two backfills."""
STAMPED = {"param_set_id", "sha256", "evidence", "reason"}
"""A parameter set's id hashes its evidence, which records when the walk-forward ran: compared without them."""


@pytest.fixture(scope="module")
def two_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from data_lake.demo_market import DemoMarketConfig, simulate_to_raw

    raw = tmp_path_factory.mktemp("two_demo_days")
    simulate_to_raw(DemoMarketConfig(coin=DEMO_COIN, days=len(DAYS), seed=11, start=DEMO_DAY), raw)
    return raw


def test_every_nightly_asset_is_in_exactly_one_stage() -> None:
    graph = defs.resolve_asset_graph()
    by_stage = [selection.resolve(graph) for selection in STAGE_ASSETS.values()]
    assert sum(len(keys) for keys in by_stage) == len(NIGHTLY_SELECTION.resolve(graph))
    assert set().union(*by_stage) == NIGHTLY_SELECTION.resolve(graph)


def test_a_coins_fits_wait_for_its_leaders_ingest_of_the_same_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """FOLLOW's lead-lag fit and walk-forward read DEMO's book of the day: its fits stage waits for DEMO's ingest."""
    monkeypatch.setenv("SMALLFISH_LEADERS", "FOLLOW=DEMO;DEMO=")
    needs = Task(FITS, "FOLLOW", DEMO_DAY).other_day_needs()
    assert Task(INGEST, "DEMO", DEMO_DAY) in needs and Task(INGEST, "DEMO", DEMO_DAY + dt.timedelta(days=1)) not in needs
    assert Task(FITS, "DEMO", DEMO_DAY).other_day_needs() == (
        Task(FITS, "DEMO", DEMO_DAY - dt.timedelta(days=1)), Task(INGEST, "DEMO", DEMO_DAY + dt.timedelta(days=1)))
    assert Task(INGEST, "FOLLOW", DEMO_DAY).other_day_needs() == ()


def test_several_workers_need_a_persistent_instance() -> None:
    with pytest.raises(ValueError, match="persistent Dagster instance"):
        backfill(dg.DagsterInstance.ephemeral(), [(DEMO_COIN, DEMO_DAY)], workers=2)


def _backfill(tmp: Path, raw: Path, workers: int, monkeypatch: pytest.MonkeyPatch) -> tuple[Lake, dg.DagsterInstance]:
    """A backfill of every demo day into its own lake; spawned workers read the lake and raw roots from the env."""
    monkeypatch.setenv("SMALLFISH_LAKE", str(tmp / "lake"))
    monkeypatch.setenv("SMALLFISH_RAW", str(raw))
    (tmp / "home").mkdir(parents=True)
    instance = dg.DagsterInstance.local_temp(str(tmp / "home"))
    outcomes = backfill(instance, partitions_in(str(raw)), run_config=DEMO_RUN_CONFIG, workers=workers)
    assert len(outcomes) == len(DAYS) * len(STAGE_ASSETS)
    assert failed_partitions(outcomes) == []
    return Lake(str(tmp / "lake"), storage_options={}), instance


def _run_spans(instance: dg.DagsterInstance) -> dict[tuple[str, dt.date], tuple[float, float]]:
    """(stage, day) -> (start, end) of its run, in seconds."""
    spans = {}
    for record in instance.get_run_records():
        tags = record.dagster_run.tags
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        day = dt.date.fromisoformat(tags["dagster/partition/date"])
        spans[(tags["smallfish/backfill_stage"], day)] = (record.start_time, record.end_time)
    return spans


def _table(lake: Lake, name: str) -> pl.DataFrame:
    df = lake.read(name)
    kept = [c for c in df.columns if c not in RUN_STAMPS and not (name == "param_sets" and c in STAMPED)]
    return df.select(kept).sort(kept, nulls_last=True)


def test_two_workers_respect_the_needs_and_write_what_one_process_writes(
    tmp_path: Path, two_days: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parallel_lake, instance = _backfill(tmp_path / "two_workers", two_days, 2, monkeypatch)
    spans = _run_spans(instance)
    first, second = DAYS
    starts, ends = {k: v[0] for k, v in spans.items()}, {k: v[1] for k, v in spans.items()}
    assert ends[(INGEST, first)] <= starts[(FEATURES, second)]
    assert ends[(INGEST, second)] <= starts[(FEATURES, second)]
    assert ends[(FEATURES, first)] <= starts[(FITS, first)]
    assert ends[(INGEST, second)] <= starts[(FITS, first)]  # the next day's book head for the markouts
    assert ends[(FITS, first)] <= starts[(FITS, second)]  # regime warm start, beliefs, incumbent
    assert starts[(INGEST, second)] < ends[(INGEST, first)]  # the two days were cleaned at once

    serial_lake, _ = _backfill(tmp_path / "one_process", two_days, 1, monkeypatch)
    names = sorted(p.name for p in Path(serial_lake.root).iterdir() if (p / "_delta_log").is_dir())
    assert names == sorted(p.name for p in Path(parallel_lake.root).iterdir() if (p / "_delta_log").is_dir())
    for name in ("trades", "book", "features", "markouts", "regime_fit", "kappa_fit", "walk_forward", "param_sets"):
        assert serial_lake.read(name).height > 0, name
    for name in names:
        serial, parallel = _table(serial_lake, name), _table(parallel_lake, name)
        assert parallel.equals(serial), name
