"""Runs whose process died: found and marked failed, so the failure sensor raises them.

``pipelines.backfill`` executes runs in its own processes (:func:`pipelines.code_location.run_partition`), not
through a run launcher, so Dagster's run monitoring cannot ask a launcher whether their worker still lives (the
default launcher has no health check: ``dagster/_daemon/monitoring/run_monitoring.py``), and a run whose process
was killed stays ``STARTED`` forever. Each such run is therefore tagged with the process that executes it
(:func:`owner_tags`); :func:`fail_runs_of_dead_processes`, called by every start of ``python -m pipelines.run``,
reports the unfinished runs whose process is gone as failed through the instance's event API
(``report_run_failed``: a ``PIPELINE_FAILURE`` event, which ``run_failure_alert`` turns into a ``run_failures``
row and the partition's ``alerts`` into a critical alert).
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
from dagster._core.events import JobFailureData, RunFailureReason

from pipelines.process_life import ProcessIdentity

PID_TAG, HOST_TAG, STARTED_TAG = "smallfish/pid", "smallfish/host", "smallfish/process_started"
UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
"""Statuses a run leaves only through its own process (or a launcher's monitoring, which these runs do not have)."""


def owner_tags() -> dict[str, str]:
    """Tags naming the calling process as the one that executes a run."""
    me = ProcessIdentity.current()
    return {PID_TAG: str(me.pid), HOST_TAG: me.host, STARTED_TAG: me.started}


def owner_of(run: dg.DagsterRun) -> ProcessIdentity | None:
    """The process a run was tagged with (None: not tagged, or a tag that is no pid)."""
    pid = run.tags.get(PID_TAG, "")
    if not pid.isdigit():
        return None
    return ProcessIdentity(int(pid), run.tags.get(HOST_TAG, ""), run.tags.get(STARTED_TAG, ""))


@dataclass(frozen=True)
class StaleRun:
    """A run left unfinished by a process that is gone, now marked failed with ``reason``."""

    run_id: str
    partition: str
    stage: str
    status: str
    reason: str

    def line(self) -> str:
        where = f" {self.partition}" if self.partition else ""
        stage = f" {self.stage}" if self.stage else ""
        return f"run {self.run_id[:8]}{where}{stage}: marked failed, {self.reason}"


def fail_runs_of_dead_processes(instance: dg.DagsterInstance) -> list[StaleRun]:
    """Mark failed every unfinished run tagged with a process of this host that is gone; one :class:`StaleRun` per
    run marked. Runs of live processes (another backfill running now), of other hosts and untagged runs (launched
    by the UI's launcher, which the daemon's run monitoring covers) are left alone."""
    stale = []
    for run in instance.get_runs(dg.RunsFilter(statuses=UNFINISHED)):
        owner = owner_of(run)
        if owner is None or not owner.on_this_host() or not owner.is_gone():
            continue
        reason = (
            f"its process (pid {owner.pid} on {owner.host}) died while the run was {run.status.value} "
            "(killed or crashed); rerun its partition"
        )
        instance.report_run_failed(
            run, reason, JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION)
        )
        stale.append(
            StaleRun(
                run.run_id,
                run.tags.get("dagster/partition", ""),
                run.tags.get("smallfish/backfill_stage", ""),
                run.status.value,
                reason,
            )
        )
    return stale
