"""Runs of the ``smallfish`` code location submitted from a script, visible in the UI like its own launches.

The UI lists a job's runs, its timeline and the partitions' run status by the run's repository label
(``__repository__@smallfish``, from its remote job origin) and partition-set tag; ``execute_in_process`` sets
neither, so its runs were invisible there. :func:`run_partition` creates the run as the UI's launcher would (the
code location's job origin, its Python origin for re-execution, the partition's default config and tags) and
executes it in the calling process with the in-process executor, as ``dagster job execute`` does
(``dagster/_cli/job.py``, ``dagster/_core/execution/api.py`` ``execute_run``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
from dagster._core.execution.api import execute_run
from dagster._core.execution.execute_in_process import merge_run_tags
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from data_lake import settings
from pipelines.executors import IN_PROCESS
from pipelines.stale_runs import owner_tags

MODULE, ATTRIBUTE, LOCATION_NAME = "pipelines.definitions", "defs", "smallfish"
"""The code location of ``workspace.yaml`` (tested to agree)."""


def remote_job_origin(job_name: str) -> RemoteJobOrigin:
    """The origin the UI gives a launch of ``job_name``: the repository ``__repository__`` of location
    ``smallfish``, loaded from ``pipelines.definitions:defs`` by this interpreter in this directory."""
    target = LoadableTargetOrigin(
        executable_path=sys.executable, module_name=MODULE, attribute=ATTRIBUTE, working_directory=os.getcwd()
    )
    location = ManagedGrpcPythonEnvCodeLocationOrigin(loadable_target_origin=target, location_name=LOCATION_NAME)
    return RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME).get_job_origin(job_name)


@functools.cache
def reconstructable_job(job_name: str) -> ReconstructableJob:
    """``job_name`` of the code location, loadable by name in any process (its Python origin)."""
    return ReconstructableRepository.for_module(MODULE, ATTRIBUTE, os.getcwd()).get_reconstructable_job(job_name)


def partition_run_config(job_name: str, partition_key: str) -> dict[str, Any]:
    """The run config a UI launch of ``partition_key`` gets by default: the job's config for that partition."""
    job = reconstructable_job(job_name).get_definition()
    return (
        dict(job.partitioned_config.get_run_config_for_partition_key(partition_key)) if job.partitioned_config else {}
    )


def run_partition(
    instance: dg.DagsterInstance,
    job_name: str,
    partition_key: str,
    asset_selection: Sequence[dg.AssetKey] | None = None,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    log_file: Path | None = None,
) -> dg.DagsterRun:
    """Create a run of ``job_name`` for ``partition_key`` with the code location's origin and execute it in this
    process; the finished run. ``run_config`` None takes the partition's default (:func:`partition_run_config`);
    the steps run in this process (the multiprocess executor's ``in_process`` mode), or on the configured celery
    workers. With ``log_file``, the run's console output (every event at DEBUG, warnings) is appended there rather
    than written to stderr; the instance's event log (the UI) has it all either way. The run is tagged with this
    process (:func:`pipelines.stale_runs.owner_tags`), so a run left unfinished by its death can be marked failed."""
    recon = reconstructable_job(job_name)
    job = recon.get_definition()
    config = dict(partition_run_config(job_name, partition_key) if run_config is None else run_config)
    if settings.executor_kind() == "multiprocess":
        config |= IN_PROCESS
    keys = frozenset(asset_selection) if asset_selection else None
    run = instance.create_run_for_job(
        job_def=job,
        run_config=config,
        tags=merge_run_tags(job, partition_key, {**(tags or {}), **owner_tags()}, asset_selection, instance, config),
        asset_selection=keys,
        remote_job_origin=remote_job_origin(job_name),
        job_code_origin=recon.get_python_origin(),
    )
    with stderr_to(log_file):
        execute_run(recon, run, instance)
    finished = instance.get_run_by_id(run.run_id)
    if finished is None:
        raise RuntimeError(f"run {run.run_id} is no longer in the instance")
    return finished


@contextlib.contextmanager
def stderr_to(log_file: Path | None) -> Iterator[None]:
    """``sys.stderr`` appended to ``log_file`` (unchanged when None) while the block runs: Dagster's console
    logger and ``warnings`` write to whatever ``sys.stderr`` is when they emit."""
    if log_file is None:
        yield
        return
    with log_file.open("a") as log, contextlib.redirect_stderr(log):
        yield
