"""Workers die with their parent (prctl on Linux, a watcher thread elsewhere); a recorded process is gone when its
pid is free or reused; runs left unfinished by a dead process are marked failed, and only those."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from pipelines.process_life import ProcessIdentity, start_time
from pipelines.stale_runs import PID_TAG, fail_runs_of_dead_processes, owner_tags

ROOT = Path(__file__).resolve().parents[1]
PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", {child!r}], stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), flush=True)
time.sleep(600)
"""
CHILD = """
import os, time
from pipelines.process_life import die_with_parent
mechanism = die_with_parent(os.getppid(), use_prctl={use_prctl})
print(os.getpid(), mechanism, flush=True)
time.sleep(600)
"""


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ProcessIdentity(pid, "", "").is_gone():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("use_prctl", [True, False], ids=["prctl", "watcher"])
def test_a_worker_dies_within_a_second_of_its_parents_kill_9(use_prctl: bool) -> None:
    if use_prctl and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT.format(child=CHILD.format(use_prctl=use_prctl))],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child_pid, mechanism = parent.stdout.readline().split()
        assert mechanism == ("prctl" if use_prctl else "watcher")
        assert not ProcessIdentity(int(child_pid), "", "").is_gone()
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _gone_within(int(child_pid), 2.0), f"worker {child_pid} outlived its parent"
    finally:
        parent.kill()
        parent.wait()


def test_a_process_is_gone_when_its_pid_is_free_or_started_at_another_time() -> None:
    me = ProcessIdentity.current()
    assert not me.is_gone() and me.on_this_host()
    if start_time(os.getpid()):  # /proc: a pid reused by another process is told apart by its start time
        assert ProcessIdentity(me.pid, me.host, str(int(me.started) - 1)).is_gone()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert ProcessIdentity(dead.pid, me.host, "").is_gone()


def _run(instance: dg.DagsterInstance, status: dg.DagsterRunStatus, tags: dict[str, str]) -> dg.DagsterRun:
    run = dg.DagsterRun(
        job_name="nightly_recalibration", status=status, tags={"dagster/partition": "DEMO|2026-01-01", **tags}
    )
    return instance.add_run(run)


def test_only_unfinished_runs_of_dead_processes_of_this_host_are_marked_failed() -> None:
    instance = dg.DagsterInstance.ephemeral()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    dead_tags = {**owner_tags(), PID_TAG: str(dead.pid)}
    killed = _run(instance, dg.DagsterRunStatus.STARTED, dead_tags)
    never_started = _run(instance, dg.DagsterRunStatus.NOT_STARTED, dead_tags)
    finished = _run(instance, dg.DagsterRunStatus.SUCCESS, dead_tags)
    alive = _run(instance, dg.DagsterRunStatus.STARTED, owner_tags())  # another backfill running now
    elsewhere = _run(instance, dg.DagsterRunStatus.STARTED, {**dead_tags, "smallfish/host": "another-host"})
    untagged = _run(instance, dg.DagsterRunStatus.STARTED, {})  # a UI launch: the daemon's run monitoring's

    stale = fail_runs_of_dead_processes(instance)

    assert sorted(s.run_id for s in stale) == sorted([killed.run_id, never_started.run_id])
    status = {
        run.run_id: instance.get_run_by_id(run.run_id).status
        for run in (killed, never_started, finished, alive, elsewhere, untagged)
    }
    assert status == {
        killed.run_id: dg.DagsterRunStatus.FAILURE,
        never_started.run_id: dg.DagsterRunStatus.FAILURE,
        finished.run_id: dg.DagsterRunStatus.SUCCESS,
        alive.run_id: dg.DagsterRunStatus.STARTED,
        elsewhere.run_id: dg.DagsterRunStatus.STARTED,
        untagged.run_id: dg.DagsterRunStatus.STARTED,
    }
    failure = instance.all_logs(killed.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[-1]
    assert f"its process (pid {dead.pid} on " in failure.message and "died while the run was STARTED" in failure.message
    assert stale[0].line().startswith(f"run {stale[0].run_id[:8]} DEMO|2026-01-01: marked failed, its process")
    assert fail_runs_of_dead_processes(instance) == []  # marked once
