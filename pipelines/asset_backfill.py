"""Dagster's own asset backfill of nightly partitions, driven to completion in this process.

This is what a backfill launched from the UI does: a ``PartitionBackfill`` of the nightly job's assets, advanced by
the backfill daemon's iteration (``dagster._daemon.backfill.execute_backfill_iteration``) against the code location
of ``workspace.yaml``, each iteration submitting the runs whose upstream partitions (the cross-day ``AssetDep``
mappings) are materialised, to the instance's run launcher. Here the loop runs in the caller instead of
``dagster-daemon``, so a test or benchmark can compare it with :func:`pipelines.backfill.backfill`.

The target is each asset's chosen partitions (the UI's per-asset partition selection). A backfill named by partition
keys alone (``partition_names``) targets the root assets' partitions and everything downstream of them through the
partition mappings, which, through the self-dependencies of ``regime_fit`` and ``param_sets``, reaches every later
day up to yesterday.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.storage.tags import BACKFILL_ID_TAG
from dagster._core.utils import make_new_backfill_id
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.controller import create_daemon_grpc_server_registry

from assets.partitions import COINS_NAME, partition_key
from pipelines.definitions import NIGHTLY_SELECTION, defs

UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def run_asset_backfill(
    instance: dg.DagsterInstance,
    partitions: Iterable[tuple[str, dt.date]],
    run_config: Mapping[str, Any] | None = None,
    workspace_file: str = "workspace.yaml",
    poll_s: float = 0.2,
) -> PartitionBackfill:
    """Backfill the nightly job's assets over exactly ``partitions`` (one run config for every run, as a UI
    backfill's) with Dagster's asset backfill until it ends; the finished backfill (``status`` COMPLETED_SUCCESS when
    every run succeeded). The instance's run coordinator and launcher run the submitted runs; iterations wait for
    them."""
    chosen = sorted(set(partitions))
    instance.add_dynamic_partitions(COINS_NAME, sorted({coin for coin, _ in chosen}))
    logger = logging.getLogger(__name__)
    with (
        create_daemon_grpc_server_registry(instance) as registry,
        WorkspaceProcessContext(instance, WorkspaceFileTarget([workspace_file]), grpc_server_registry=registry) as ctx,
    ):
        asset_graph = ctx.create_request_context().asset_graph
        keys = NIGHTLY_SELECTION.resolve(defs.resolve_asset_graph())
        wanted = {AssetKeyPartitionKey(key, str(partition_key(coin, day))) for key in keys for coin, day in chosen}
        backfill = PartitionBackfill.from_asset_graph_subset(
            backfill_id=make_new_backfill_id(),
            backfill_timestamp=time.time(),
            tags={},
            dynamic_partitions_store=instance,
            asset_graph_subset=AssetGraphSubset.from_asset_partition_set(wanted, asset_graph),
            title="pipelines.asset_backfill",
            description=None,
            run_config=run_config,
        )
        instance.add_backfill(backfill)
        while True:
            for error in execute_backfill_iteration(ctx, logger):
                if error is not None:
                    raise RuntimeError(f"backfill iteration failed: {error.to_string()}")
            latest = instance.get_backfill(backfill.backfill_id)
            if latest is None:
                raise RuntimeError(f"backfill {backfill.backfill_id} is no longer in the instance")
            backfill = latest
            if backfill.status != BulkActionStatus.REQUESTED:
                return backfill
            while instance.get_runs(dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill.backfill_id}, statuses=UNFINISHED)):
                time.sleep(poll_s)
