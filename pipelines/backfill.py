"""Materialise many (coin, day) partitions of the nightly job on several processes, in the order their reads need.

Assets read days other than their own partition: features reads the previous day's trades; markouts the previous
day's regime fit (out-of-sample beliefs) and the next day's first book minute; the fits, the walk-forward and the
gate read a window of earlier days and the previous day's fits (regime warm start, incumbent parameters). So each
partition runs in three stages, each a run of the nightly job on a subset of its assets:

- ``ingest``: raw captures -> clean tables and their checks; reads only its own raw files;
- ``features``: after the day's and the previous day's ingest;
- ``fits``: the rest, after the day's features, the previous day's fits, the next day's ingest and the day's ingest
  of the coin's lead-lag leaders (:mod:`data_lake.leaders`; the lead-lag fit and the walk-forward read their books).

Stages run as soon as what they read is done, so one core can clean day d+2 while the other fits day d; the fits
stages form the critical path and go first. A stage waits for its own day's earlier stages to succeed (a failed
ingest skips that day's later stages) and for other days' stages only to finish, as the nightly run would find a
missing day. Unlike the nightly run, a backfilled day sees the next day's first book minute, so markouts of its
last 30 s are observed rather than null.

A (coin, day) that is no partition (a day before Hyperliquid's first data or not over yet, a coin Dagster cannot key)
is skipped before anything runs and passed to ``skip`` with the reason; every other partition runs.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from assets.ingest import clean_tables, raw_captures
from assets.measurement import features
from assets.partitions import COINS_NAME, partition_key, partition_problem, utc_today
from data_lake.leaders import leaders_of
from pipelines.code_location import run_partition
from pipelines.definitions import NIGHTLY_SELECTION, defs, nightly_job
from pipelines.process_life import die_with_parent

if TYPE_CHECKING:
    from dagster._core.instance.ref import InstanceRef

INGEST, FEATURES, FITS = "ingest", "features", "fits"
STAGE_ASSETS = {
    INGEST: dg.AssetSelection.assets(raw_captures, clean_tables),
    FEATURES: dg.AssetSelection.assets(features),
    FITS: NIGHTLY_SELECTION - dg.AssetSelection.assets(raw_captures, clean_tables, features),
}
"""The nightly job's assets by stage; every asset of the job is in exactly one (tested)."""

DAY = dt.timedelta(days=1)


@dataclass(frozen=True, order=True)
class Task:
    """One stage of one partition."""

    stage: str
    coin: str
    date: dt.date

    def own_day_needs(self) -> tuple[Task, ...]:
        """Stages of the same partition that must have succeeded."""
        return {
            INGEST: (),
            FEATURES: (Task(INGEST, self.coin, self.date),),
            FITS: (Task(FEATURES, self.coin, self.date),),
        }[self.stage]

    def other_day_needs(self) -> tuple[Task, ...]:
        """Stages of neighbouring days (and of the leaders' same day) that must have finished (when they are part of
        the backfill)."""
        if self.stage == FITS:
            leaders = tuple(Task(INGEST, leader, self.date) for leader in leaders_of(self.coin))
            return Task(FITS, self.coin, self.date - DAY), Task(INGEST, self.coin, self.date + DAY), *leaders
        return {INGEST: (), FEATURES: (Task(INGEST, self.coin, self.date - DAY),)}[self.stage]

    def priority(self) -> tuple[int, dt.date, str]:
        """Fits first (the critical path), then features, then ingest; oldest day first."""
        return ((FITS, FEATURES, INGEST).index(self.stage), self.date, self.coin)


@dataclass(frozen=True)
class Outcome:
    """One stage of one partition: whether its run succeeded (None: skipped, an earlier stage failed) and its run id."""

    coin: str
    date: dt.date
    stage: str
    success: bool | None
    run_id: str = ""


@dataclass(frozen=True)
class Skipped:
    """A (coin, day) asked for that is no partition, and why."""

    coin: str
    date: dt.date
    reason: str


def runnable_partitions(
    partitions: Iterable[tuple[str, dt.date]], today: dt.date
) -> tuple[list[tuple[str, dt.date]], list[Skipped]]:
    """The distinct (coin, day) pairs that are partitions on ``today`` (UTC), sorted, and the others with why not."""
    runnable, skipped = [], []
    for coin, date in sorted(set(partitions)):
        problem = partition_problem(coin, date, today)
        if problem:
            skipped.append(Skipped(coin, date, problem))
        else:
            runnable.append((coin, date))
    return runnable, skipped


def _log_skipped(skipped: Skipped) -> None:
    logging.getLogger(__name__).warning("skipped %s %s: %s", skipped.coin, skipped.date, skipped.reason)


def backfill(
    instance: dg.DagsterInstance,
    partitions: Iterable[tuple[str, dt.date]],
    run_config: dict | None = None,
    workers: int = 1,
    report: Callable[[Outcome], None] = lambda outcome: None,
    skip: Callable[[Skipped], None] = _log_skipped,
    log_file: Path | None = None,
) -> list[Outcome]:
    """Run every stage of ``partitions`` on up to ``workers`` processes (:func:`processes_needed`; 1: in this
    process), each as soon as its needs are done; every stage's outcome in completion order, each also passed to
    ``report``. A pair that is no partition is passed to ``skip`` (default: a logged warning) before anything runs
    and has no outcome. Several workers need a persistent instance, which their runs share. With ``log_file``, what
    the runs write to stderr (Dagster's console log of every event, warnings) is appended there instead; the
    instance's event log keeps it all too."""
    if workers > 1 and instance.is_ephemeral:
        raise ValueError("a backfill on several workers needs a persistent Dagster instance (set DAGSTER_HOME)")
    partitions, skipped = runnable_partitions(partitions, utc_today())
    for pair in skipped:
        skip(pair)
    instance.add_dynamic_partitions(COINS_NAME, sorted({coin for coin, _ in partitions}))
    pending = {Task(stage, coin, date) for coin, date in partitions for stage in STAGE_ASSETS}
    done: dict[Task, Outcome] = {}
    running: dict[Future, Task] = {}
    workers = processes_needed(workers, partitions)
    executor = _pool(instance, workers) if workers > 1 else _InProcess(instance)
    try:
        while pending or running:
            while unmet := _skipped(pending, done):  # until no more: a skip skips the day's later stages too
                for task in unmet:
                    pending.discard(task)
                    done[task] = Outcome(task.coin, task.date, task.stage, None)
                    report(done[task])
            ready = sorted((t for t in pending if _is_ready(t, pending, running.values())), key=Task.priority)
            for task in ready[: workers - len(running)]:
                pending.discard(task)
                running[executor.submit(_run_task, task, run_config, log_file)] = task
            if not running:
                if pending and not ready:
                    raise RuntimeError(f"backfill stalled with {len(pending)} stages whose needs never finish")
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                task = running.pop(future)
                done[task] = future.result()
                report(done[task])
    finally:
        executor.shutdown()
    return list(done.values())


def processes_needed(workers: int, partitions: Sequence[tuple[str, dt.date]]) -> int:
    """The processes worth starting for ``partitions`` on at most ``workers``: a partition's stages run one after
    another, so no more than one per partition. A steady-state night of one coin-day then runs in this process: a
    pool worker would spawn a fresh interpreter and import the code location again (~3 CPU s on this machine) to run
    stages that could never overlap."""
    return max(1, min(workers, len(partitions)))


def failed_partitions(outcomes: Iterable[Outcome]) -> list[tuple[str, dt.date, str]]:
    """(coin, day, stage) of every partition whose stage failed (not those skipped after it)."""
    return [(o.coin, o.date, o.stage) for o in outcomes if o.success is False]


def _is_ready(task: Task, pending: set[Task], running: Iterable[Task]) -> bool:
    unfinished = pending | set(running)
    return not any(need in unfinished for need in (*task.own_day_needs(), *task.other_day_needs()))


def _skipped(pending: set[Task], done: dict[Task, Outcome]) -> list[Task]:
    """Pending stages one of whose own-day needs did not succeed."""
    return [t for t in pending if any(n in done and not done[n].success for n in t.own_day_needs())]


@functools.cache
def _asset_keys(stage: str) -> list[dg.AssetKey]:
    return sorted(STAGE_ASSETS[stage].resolve(defs.resolve_asset_graph()))


def _run_task(
    task: Task, run_config: dict | None, log_file: Path | None, instance: dg.DagsterInstance | None = None
) -> Outcome:
    """Materialise one stage's assets for one partition, as a run of the nightly job of the code location tagged
    with the stage (``run_config`` None: the partition's default config, as a UI launch gets).

    A run leaves large frames in reference cycles (Great Expectations' batches, Dagster's run context) that the
    cyclic collector, counting objects rather than bytes, frees late: collected here, a long-lived worker stays at
    one run's peak (ingest of 8 demo days in one process: 715-790 MiB between runs, not 810 -> 1,300 MiB). In a
    pool worker, what survives that collection (modules, definitions, caches) is then frozen (:func:`gc.freeze`),
    so later full collections, ours and those libraries make (statsmodels' Holm correction calls
    :func:`gc.collect`), traverse only what a run allocates: 0.3-0.7 s a collection before, microseconds after."""
    run_instance = instance or _worker_instance
    if run_instance is None:
        raise RuntimeError("no Dagster instance: pass one, or run the task in a worker started by _pool")
    run = run_partition(
        run_instance,
        nightly_job.name,
        partition_key(task.coin, task.date),
        asset_selection=_asset_keys(task.stage),
        run_config=run_config,
        tags={"smallfish/backfill_stage": task.stage},
        log_file=log_file,
    )
    gc.collect()
    if instance is None:  # a pool worker, which lives for one backfill: freezing is never a leak beyond it
        gc.freeze()
    return Outcome(task.coin, task.date, task.stage, run.status == dg.DagsterRunStatus.SUCCESS, run.run_id)


class _InProcess(Executor):
    """Runs each submitted task at once in this process, against the caller's (possibly ephemeral) instance.

    As in a pool worker (:func:`_run_task`), what this process holds when the backfill starts and what survives
    each run's collection (modules the run imported, caches) is frozen out of the cyclic collector, so collections
    during later runs traverse only what those runs allocate. :meth:`shutdown` unfreezes it, so nothing stays frozen
    beyond the backfill, unless the caller had frozen objects before it started: :func:`gc.unfreeze` releases the
    whole permanent generation and cannot tell the caller's objects from the backfill's, so then everything stays
    frozen, as the caller froze it (what the backfill froze is released with the caller's own ``gc.unfreeze()``;
    until then only its reference cycles wait, anything else is freed when its last reference goes)."""

    def __init__(self, instance: dg.DagsterInstance):
        self._instance = instance
        self._caller_froze = gc.get_freeze_count() > 0
        gc.collect()
        gc.freeze()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if not self._caller_froze:
            gc.unfreeze()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        future.set_result(fn(*args, **kwargs, instance=self._instance))
        gc.freeze()
        return future


_worker_instance: dg.DagsterInstance | None = None


def _pool(instance: dg.DagsterInstance, workers: int) -> ProcessPoolExecutor:
    """Fresh interpreters (spawn: polars and Dagster threads do not survive fork), each dying with this process
    (a kill -9 of the backfill must not leave workers finishing runs nobody waits for) and opening the instance
    once."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(instance.get_ref(), os.getpid()),
    )


def _start_worker(ref: InstanceRef, parent_pid: int) -> None:
    global _worker_instance
    die_with_parent(parent_pid)
    _worker_instance = dg.DagsterInstance.from_ref(ref)
    gc.freeze()
