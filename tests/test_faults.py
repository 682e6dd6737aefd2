"""Fault tests of the lake writes: kill -9 mid-write then rerun, and concurrent writes of one partition.

The job-level tests compare the lake with a single uninterrupted run of the same demo partition. The recorder's
kill -9 and torn-line tests are in test_recorder.py; corrupted and invalid parameter sets in test_param_registry.py.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from data_lake.cleaning import CLEAN_TABLES
from data_lake.lake import Lake
from data_lake.tables import table
from tests.support import DEMO_COIN, DEMO_DAY, run_job

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("raw_captures", *CLEAN_TABLES, "quarantine", "ingest_accounting")
VOLATILE = {"ingest_accounting": ("ingested_at_ms",)}
"""Columns that differ between two runs of the same input by design (wall-clock stamps)."""
Demo = tuple[Path, Path]


def _content(lake: Lake, name: str, version: int | None = None) -> tuple[int, int]:
    """(rows, order-independent hash) of the demo partition of ``name``, volatile columns left out."""
    df = lake.read(name, coins=DEMO_COIN, start=DEMO_DAY, end=DEMO_DAY, version=version)
    df = df.drop(VOLATILE.get(name, ())).sort(list(table(name).key))
    return df.height, int(df.hash_rows(seed=1).sum()) if df.height else 0


def _duplicate_keys(lake: Lake, name: str) -> int:
    key = list(table(name).key)
    return lake.read(name).group_by(key).len().filter(pl.col("len") > 1).height


def _spawn_ingest(lake_root: Path, raw_root: Path, log: Path) -> subprocess.Popen:
    """The ingest job for the demo partition in its own process (exit code 0 on success)."""
    code = (
        f"import sys; from pathlib import Path; from tests.support import run_job; "
        f"sys.exit(0 if run_job('ingest', Path({str(lake_root)!r}), Path({str(raw_root)!r})).success else 1)"
    )
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "GX_ANALYTICS_ENABLED": "false"},
        )


def _data_files(lake_root: Path, name: str) -> set[Path]:
    """Data files of a table, committed or not, including object_store's staging files (``x.parquet#1``)."""
    return set((lake_root / name).rglob("*.parquet*"))


def _log_versions(lake_root: Path, name: str) -> list[int]:
    """Versions with a commit file in ``_delta_log`` (what a reader can see)."""
    return sorted(int(p.stem) for p in (lake_root / name / "_delta_log").glob("[0-9]*.json"))


@pytest.fixture(scope="module")
def single_run(tmp_path_factory: pytest.TempPathFactory, demo_day: Demo) -> dict[str, tuple[int, int]]:
    """Content of every table after one uninterrupted ingest of the demo partition."""
    root = tmp_path_factory.mktemp("single_run") / "lake"
    assert run_job("ingest", root, demo_day[0]).success
    lake = Lake(root, storage_options={})
    return {name: _content(lake, name) for name in TABLES}


def _kill_mid_write(process: subprocess.Popen, lake: Lake, root: Path, timeout_s: float = 300) -> tuple[str, int]:
    """SIGKILL ``process`` while a table has data files no commit names yet; returns that table and its version.

    The writer is frozen (SIGSTOP) before the check, so the commit cannot slip in between check and kill.
    """
    versions = {name: lake.version(name) for name in TABLES}
    known = {name: _data_files(root, name) for name in TABLES}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        for name in TABLES:
            if _data_files(root, name) - known[name]:
                process.send_signal(signal.SIGSTOP)
                if lake.version(name) == versions[name]:
                    process.kill()
                    process.wait()
                    return name, versions[name]
                versions[name], known[name] = lake.version(name), _data_files(root, name)
                process.send_signal(signal.SIGCONT)
        time.sleep(0.001)
    process.kill()
    raise AssertionError(f"never caught a write in flight (exit code {process.wait()})")


def test_kill_9_mid_write_keeps_the_last_commit_and_the_rerun_completes(
    tmp_path: Path, demo_day: Demo, single_run: dict[str, tuple[int, int]]
) -> None:
    root = tmp_path / "lake"
    lake = Lake(root, storage_options={})
    assert run_job("ingest", root, demo_day[0]).success
    before = {name: (lake.version(name), _data_files(root, name)) for name in TABLES}

    torn, torn_version = _kill_mid_write(_spawn_ingest(root, demo_day[0], tmp_path / "killed.log"), lake, root)
    assert _data_files(root, torn) - before[torn][1], "the killed write left uncommitted data files"
    assert lake.version(torn) == torn_version
    for name in TABLES:
        version = lake.version(name)
        assert version == _log_versions(root, name)[-1]  # the newest commit file is the version readers see
        assert _content(lake, name, version=version) == single_run[name], name
        assert _duplicate_keys(lake, name) == 0, name

    assert run_job("ingest", root, demo_day[0]).success
    for name in TABLES:
        assert lake.version(name) > before[name][0], name
        assert _content(lake, name) == single_run[name], name
        assert _duplicate_keys(lake, name) == 0, name


def test_two_concurrent_runs_of_one_partition_leave_the_table_as_one_run(
    tmp_path: Path, demo_day: Demo, single_run: dict[str, tuple[int, int]]
) -> None:
    root = tmp_path / "lake"
    assert run_job("ingest", root, demo_day[0]).success
    logs = [tmp_path / f"run{i}.log" for i in range(2)]
    runs = [_spawn_ingest(root, demo_day[0], log) for log in logs]
    codes = [run.wait(timeout=600) for run in runs]
    assert 0 in codes, [log.read_text()[-3000:] for log in logs]
    for code, log in zip(codes, logs, strict=True):
        if code:  # the loser stops at its first Delta commit conflict: nothing else may fail
            assert "CommitFailedError" in log.read_text(), log.read_text()[-3000:]
    lake = Lake(root, storage_options={})
    for name in TABLES:
        assert _content(lake, name) == single_run[name], name
        assert _duplicate_keys(lake, name) == 0, name


def _first_write(root: str, rows: int, barrier: Any, out: Any) -> None:
    """Replace the demo partition of ``trades`` with ``rows`` rows as soon as the other writer is ready."""
    df = pl.DataFrame({"coin": [DEMO_COIN] * rows, "date": [DEMO_DAY] * rows, "time": range(rows), "tid": range(rows)})
    lake = Lake(root, storage_options={})
    barrier.wait()
    try:
        lake.write_partition("trades", df, DEMO_COIN, DEMO_DAY)
        out.put("ok")
    except Exception as exc:  # noqa: BLE001 - the outcome is the finding
        out.put(type(exc).__name__)


def test_concurrent_first_writes_of_a_partition_never_double_it(tmp_path: Path) -> None:
    rows, ctx = 100_000, mp.get_context("spawn")
    for attempt in range(5):  # each attempt races on a fresh table (about 9 in 10 overlap)
        root = str(tmp_path / f"lake{attempt}")
        barrier, out = ctx.Barrier(2), ctx.Queue()
        writers = [ctx.Process(target=_first_write, args=(root, rows, barrier, out)) for _ in range(2)]
        for w in writers:
            w.start()
        for w in writers:
            w.join(120)
        outcomes = sorted(out.get(timeout=5) for _ in writers)
        if outcomes not in (["ok", "ok"], ["CommitFailedError", "ok"]):
            pytest.fail(f"a writer failed for another reason than a commit conflict: {outcomes}")
        assert Lake(root, storage_options={}).read("trades").height == rows, outcomes
