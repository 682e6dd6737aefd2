"""kill -9 of ``python -m pipelines.run`` mid-backfill: no process of it survives (its spawn workers used to finish
their runs as orphans, writing to the lake), and the next start marks the killed runs failed with the reason, which
the failure sensor records in ``run_failures``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from assets.resources import DataLakeResource
from data_lake import raw_zone
from data_lake.lake import Lake
from pipelines.sensors import run_failure_alert
from pipelines.stale_runs import UNFINISHED
from tests.support import DEMO_COIN, DEMO_DAY

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SECOND_DAY = "20260102"


def _session_members(session: int) -> list[int]:
    """Live (not zombie) processes of ``session``: the backfill, its workers and whatever they started."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            alive = stat[stat.rfind(")") + 2] != "Z"
            if alive and os.getsid(int(entry.name)) == session:
                members.append(int(entry.name))
        except OSError:
            continue
    return members


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


def _two_day_raw_zone(demo_raw: Path, raw: Path) -> None:
    """The demo day, and the same files under the next day: two partitions, so two workers run at once."""
    shutil.copytree(demo_raw / "ws", raw / "ws", copy_function=os.link)
    shutil.copytree(raw / "ws" / DEMO_DAY.strftime("%Y%m%d"), raw / "ws" / SECOND_DAY, copy_function=os.link)


def _runs_in_a_step(home: Path, wanted: int, process: subprocess.Popen, timeout_s: float) -> list[dg.DagsterRun]:
    """The ``wanted`` runs in progress once each has started a step (past Dagster's start of its log capture, whose
    ``tail`` is babysat by a watcher only from a moment later: ``dagster/_core/execution/compute_logs.py``)."""
    deadline = time.monotonic() + timeout_s
    with dg.DagsterInstance.from_config(str(home)) as instance:
        while time.monotonic() < deadline and process.poll() is None:
            started = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
            in_step = [r for r in started if instance.all_logs(r.run_id, of_type=dg.DagsterEventType.STEP_START)]
            if len(in_step) >= wanted:
                return in_step
            time.sleep(0.2)
    raise AssertionError(f"{wanted} runs never started a step (exit code {process.poll()})")


def start_two_day_backfill(
    demo_raw: Path, raw: Path, home: Path, lake_root: Path
) -> tuple[subprocess.Popen, dict[str, str]]:
    """``pipelines.run ingest --workers 2`` over two demo days in its own session, on a fresh Dagster home and
    lake; returns the process and its environment."""
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    _two_day_raw_zone(demo_raw, raw)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SMALLFISH_RAW": str(raw),
        "SMALLFISH_LAKE": str(lake_root),
        "GX_ANALYTICS_ENABLED": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.run", "ingest", "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return process, env


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the backfill's processes through /proc")
def test_kill_9_of_a_backfill_leaves_no_worker_and_the_next_start_fails_its_runs(
    tmp_path: Path, demo_day: tuple[Path, Path]
) -> None:
    home, lake_root = tmp_path / "home", tmp_path / "lake"
    backfill, env = start_two_day_backfill(demo_day[0], tmp_path / "raw", home, lake_root)
    try:
        killed = _runs_in_a_step(home, 2, backfill, timeout_s=120)
        workers = _session_members(backfill.pid)
        assert len(workers) >= 3, workers  # the backfill and its two workers, at least
        backfill.send_signal(signal.SIGKILL)
        backfill.wait()
        deadline = time.monotonic() + 5
        while _session_members(backfill.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = {pid: _command(pid) for pid in _session_members(backfill.pid)}
        assert survivors == {}, "processes of the killed backfill outlived it"
    finally:
        for pid in _session_members(backfill.pid):
            os.kill(pid, signal.SIGKILL)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert {instance.get_run_by_id(r.run_id).status for r in killed} == {dg.DagsterRunStatus.STARTED}
        killed = instance.get_runs(dg.RunsFilter(statuses=UNFINISHED))  # the two, and any created just before the kill

    nothing_to_do = tmp_path / "raw_1970"  # the next start: a backfill whose only partition is skipped
    raw_zone.write_lines(raw_zone.raw_path(nothing_to_do, "ws", DEMO_DAY.replace(year=1970), 0, DEMO_COIN), ["{}"])
    next_start = subprocess.run(
        [sys.executable, "-m", "pipelines.run", "ingest", "--workers", "1"],
        cwd=ROOT,
        env={**env, "SMALLFISH_RAW": str(nothing_to_do)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert next_start.returncode == 0, next_start.stderr[-3000:]
    assert f"{len(killed)} run(s) left unfinished by a process that died, now marked failed" in next_start.stdout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run in killed:
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
            stage = run.tags["smallfish/backfill_stage"]
            assert f"run {run.run_id[:8]} {run.tags['dagster/partition']} {stage}: marked failed" in next_start.stdout
            failure = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[-1]
            assert f"died while the run was {run.status.value} (killed or crashed)" in failure.message
            context = dg.build_run_status_sensor_context(
                sensor_name=run_failure_alert.name,
                dagster_instance=instance,
                dagster_run=instance.get_run_by_id(run.run_id),
                dagster_event=failure.dagster_event,
                resources={"data_lake": DataLakeResource(lake_root=str(lake_root))},
            )
            run_failure_alert(context.for_run_failure())
    recorded = Lake(lake_root, storage_options={}).read("run_failures")
    assert sorted(recorded["run_id"].to_list()) == sorted(r.run_id for r in killed)
    assert all("died while the run was" in message for message in recorded["message"].to_list())
