"""The staged backfill: every nightly asset in one stage, each stage after what it reads, the same lake on two
worker processes as in one process, and (coin, day) pairs that are no partition skipped by name."""

from __future__ import annotations

import datetime as dt
import gc
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.partitions import COINS, DAILY, FIRST_DAY, coin_problem, day_problem, utc_today
from data_lake.lake import Lake
from pipelines.backfill import (
    FEATURES,
    FITS,
    INGEST,
    STAGE_ASSETS,
    Skipped,
    Task,
    _InProcess,
    backfill,
    failed_partitions,
    processes_needed,
)
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
    assert (
        Task(INGEST, "DEMO", DEMO_DAY) in needs and Task(INGEST, "DEMO", DEMO_DAY + dt.timedelta(days=1)) not in needs
    )
    assert Task(FITS, "DEMO", DEMO_DAY).other_day_needs() == (
        Task(FITS, "DEMO", DEMO_DAY - dt.timedelta(days=1)),
        Task(INGEST, "DEMO", DEMO_DAY + dt.timedelta(days=1)),
    )
    assert Task(INGEST, "FOLLOW", DEMO_DAY).other_day_needs() == ()


def test_several_workers_need_a_persistent_instance() -> None:
    with pytest.raises(ValueError, match="persistent Dagster instance"):
        backfill(dg.DagsterInstance.ephemeral(), [(DEMO_COIN, DEMO_DAY)], workers=2)


def test_no_more_processes_than_partitions_and_one_runs_in_process() -> None:
    """A partition's stages run one after another: one coin-day never needs a pool worker."""
    days = [(DEMO_COIN, DEMO_DAY + dt.timedelta(days=d)) for d in range(3)]
    assert [processes_needed(2, days[:n]) for n in range(4)] == [1, 1, 2, 2]
    assert processes_needed(8, days) == 3


def test_an_in_process_backfill_freezes_what_each_run_leaves_and_unfreezes_it_at_the_end() -> None:
    """Objects alive after a run are kept out of the collector's traversals during the backfill, never after it."""
    kept = []
    executor = _InProcess(dg.DagsterInstance.ephemeral())
    frozen_at_start = gc.get_freeze_count()
    executor.submit(lambda instance: kept.append([[] for _ in range(1000)])).result()
    assert gc.get_freeze_count() >= frozen_at_start + 1000
    executor.shutdown()
    assert gc.get_freeze_count() == 0


def test_an_in_process_backfill_leaves_what_the_caller_froze_frozen() -> None:
    """gc.unfreeze() would release the caller's frozen objects too: after a caller's gc.freeze() the backfill
    leaves the permanent generation as it is, the caller's objects and those the runs left."""
    kept = [[] for _ in range(1000)]
    gc.freeze()
    try:
        frozen_by_caller = gc.get_freeze_count()
        assert frozen_by_caller >= len(kept)
        executor = _InProcess(dg.DagsterInstance.ephemeral())
        executor.submit(lambda instance: kept.append([[] for _ in range(1000)])).result()
        executor.shutdown()
        assert gc.get_freeze_count() >= frozen_by_caller + 1000
    finally:
        gc.unfreeze()


def test_a_day_is_a_partition_exactly_when_dagster_has_it() -> None:
    today, day = utc_today(), dt.timedelta(days=1)
    for date in (dt.date(1970, 1, 1), FIRST_DAY - day, FIRST_DAY, DEMO_DAY, today - day, today, today + day):
        assert (day_problem(date, today) is None) == DAILY.has_partition_key(date.isoformat()), date
    assert FIRST_DAY == dt.date(2023, 2, 1)
    assert day_problem(today, today) == (
        f"{today} is today (UTC) and not over: its partition exists from {today + day} 00:00 UTC"
    )
    assert day_problem(today + day, today) == f"{today + day} is in the future (today is {today} UTC)"
    assert day_problem(FIRST_DAY - day, today) == (
        "2023-01-31 is before Hyperliquid's first data (2023-02-01, the first daily partition)"
    )


def test_hyperliquid_coin_names_are_keys_and_what_dagster_cannot_key_is_named() -> None:
    for coin in ("BTC", "kPEPE", "xyz:NVDA", "@107", "PURR/USDC", "#20"):
        assert coin_problem(coin) is None, coin
    assert coin_problem("BAD|COIN") == (
        "coin 'BAD|COIN' cannot be a partition key: it contains '|' (Dagster's multi-partition key delimiter)"
    )
    assert "'...' (Dagster's partition range separator)" in coin_problem("A...B")
    assert "a control character" in coin_problem("BTC\n")
    assert coin_problem("") == "an empty coin name cannot be a partition key"


def test_pairs_that_are_no_partition_are_skipped_by_name_before_anything_runs() -> None:
    instance = dg.DagsterInstance.ephemeral()
    today = utc_today()
    asked = [("BTC", dt.date(1970, 1, 1)), ("BTC", today), ("BTC", today), ("BAD|COIN", DEMO_DAY), ("", DEMO_DAY)]
    skipped: list[Skipped] = []
    assert backfill(instance, asked, skip=skipped.append) == []
    assert [(s.coin, s.date) for s in skipped] == [
        ("", DEMO_DAY),
        ("BAD|COIN", DEMO_DAY),
        ("BTC", dt.date(1970, 1, 1)),
        ("BTC", today),
    ]
    assert all(s.reason for s in skipped) and "1970-01-01 is before Hyperliquid's first data" in skipped[2].reason
    assert instance.get_dynamic_partitions(COINS.name) == []  # a coin is added only with a partition that runs


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


@pytest.mark.slow  # two Dagster worker processes over a backfill: about 6 min on this machine
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
