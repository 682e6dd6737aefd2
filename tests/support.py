"""Helpers shared by the pipeline tests: the demo partition and an in-process job runner."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg

DEMO_DAY = dt.date(2026, 1, 1)
DEMO_COIN = "DEMO"


def run_job(
    job_name: str, lake_root: Path, raw_root: Path, coin: str = DEMO_COIN, date: dt.date = DEMO_DAY
) -> dg.ExecuteInProcessResult:
    """Execute a pipeline job in process for one (coin, day) on an ephemeral Dagster instance."""
    from assets.partitions import COINS, partition_key
    from assets.resources import DataLakeResource
    from pipelines.definitions import defs

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(COINS.name, [coin])
    resources = {"data_lake": DataLakeResource(lake_root=str(lake_root), raw_root=str(raw_root))}
    return defs.resolve_job_def(job_name).execute_in_process(
        partition_key=partition_key(coin, date), instance=instance, resources=resources
    )
