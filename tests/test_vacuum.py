"""Lake disk use: `smallfish vacuum` compacts and vacuums every table (reruns no longer grow the lake) while
keeping time travel within the retention, and a write that fills the disk says so, naming table and path."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from data_lake.lake import Lake, OutOfDiskSpace
from quoting.cli.main import main

DAY = dt.date(2026, 1, 1)


def _trades(seed: int, rows: int = 20_000) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "coin": "DEMO",
            "date": DAY,
            "time": np.arange(rows),
            "tid": np.arange(rows),
            "px": rng.random(rows),
            "sz": rng.random(rows),
        }
    )


def _parquet_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.parquet"))


def test_vacuum_removes_replaced_files_only_past_the_retention(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = Lake(tmp_path / "lake", storage_options={})
    for rerun in range(5):  # five reruns of one partition: four replaced files stay on disk for time travel
        lake.write_partition("trades", _trades(rerun), "DEMO", DAY)
    lake.append("alerts", pl.DataFrame({"coin": ["DEMO"], "date": [DAY]}))
    lake.append("alerts", pl.DataFrame({"coin": ["DEMO"], "date": [DAY]}))
    one_run = _parquet_bytes(tmp_path / "lake" / "trades") / 5

    assert main(["vacuum", "--lake", str(tmp_path / "lake")]) == 0  # default: one week, nothing that old
    first = capsys.readouterr().out.splitlines()
    assert [line for line in first if line.startswith("alerts: ")][0].endswith("2 files compacted, 0 deleted")
    assert lake.read("trades", version=2)["px"].to_list() == _trades(1)["px"].to_list()  # time travel kept
    kept = _parquet_bytes(tmp_path / "lake" / "trades")
    assert kept > 4 * one_run

    assert main(["vacuum", "--lake", str(tmp_path / "lake"), "--retention-hours", "0"]) == 0
    out = capsys.readouterr().out
    assert _parquet_bytes(tmp_path / "lake" / "trades") < 1.5 * one_run
    assert lake.read("trades")["px"].to_list() == _trades(4)["px"].to_list()
    assert lake.read("alerts").height == 2
    [trades_line] = [line for line in out.splitlines() if line.startswith("trades: ")]
    assert trades_line.endswith("0 files compacted, 4 deleted")
    assert out.strip().splitlines()[-1].startswith("lake: ")


def test_vacuum_rejects_a_negative_retention(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["vacuum", "--lake", str(tmp_path), "--retention-hours", "-1"]) == 2  # the CLI's usage exit
    err = capsys.readouterr().err
    assert "retention" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs root; skipped otherwise), unmounted afterwards."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a small tmpfs to fill ({done.stderr.strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_named_with_table_and_path(tiny_disk: Path) -> None:
    lake = Lake(tiny_disk / "lake", storage_options={})
    with pytest.raises(OutOfDiskSpace, match=f"out of disk space writing table trades at path {tiny_disk}/lake/trades"):
        lake.write_partition("trades", _trades(0, rows=400_000), "DEMO", DAY)


def test_the_weekly_maintenance_job_vacuums_the_lake(tmp_path: Path) -> None:
    import dagster as dg

    from assets.resources import DataLakeResource
    from pipelines.definitions import defs

    lake = Lake(tmp_path / "lake", storage_options={})
    for rerun in range(3):
        lake.write_partition("trades", _trades(rerun), "DEMO", DAY)
    before = _parquet_bytes(tmp_path / "lake")

    result = defs.resolve_job_def("lake_maintenance").execute_in_process(
        run_config={"ops": {"vacuum_tables": {"config": {"retention_hours": 0}}}},
        resources={"data_lake": DataLakeResource(lake_root=str(tmp_path / "lake"))},
        instance=dg.DagsterInstance.ephemeral(),
    )

    assert result.success
    assert _parquet_bytes(tmp_path / "lake") < before / 2
    assert lake.read("trades")["px"].to_list() == _trades(2)["px"].to_list()
    assert defs.resolve_schedule_def("lake_maintenance_schedule").cron_schedule == "0 5 * * 0"
