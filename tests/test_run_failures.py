"""A failed run is recorded once, keyed by the partition it failed on, and survives the next ``alerts`` run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl

from assets.partitions import COIN_DAY, COINS, partition_key
from assets.resources import DataLakeResource
from assets.validation import alerts
from data_lake.lake import Lake
from pipelines.sensors import run_failure_alert

COIN = "DEMO"
DAY = dt.date(2026, 1, 1)


@dg.asset(partitions_def=COIN_DAY)
def broken_stage() -> None:
    """A stage that always fails: the run the sensor has to record."""
    raise RuntimeError("the venue API returned HTTP 502")


def failed_run(instance: dg.DagsterInstance, lake_root: str) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [broken_stage],
        partition_key=partition_key(COIN, DAY),
        instance=instance,
        raise_on_error=False,
        resources={"data_lake": DataLakeResource(lake_root=lake_root)},
    )
    assert not result.success
    return result


def sense(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult, lake_root: str) -> None:
    context = dg.build_run_status_sensor_context(
        sensor_name=run_failure_alert.name,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
        resources={"data_lake": DataLakeResource(lake_root=lake_root)},
    )
    run_failure_alert(context.for_run_failure())


def test_a_failed_run_survives_the_next_alerts_run_of_its_partition(tmp_path: Path) -> None:
    """The review's data loss: the sensor appended to ``alerts`` and the next ``alerts`` run replaced the partition."""
    lake = Lake(tmp_path / "lake", storage_options={})
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(COINS.name, [COIN])
    result = failed_run(instance, lake.root)
    sense(instance, result, lake.root)
    sense(instance, result, lake.root)  # a sensor retry records the failure once

    failures = lake.read("run_failures")
    assert failures.select("coin", "date", "run_id").rows() == [(COIN, DAY, result.run_id)]
    assert "HTTP 502" in failures["message"][0] and failures["job_name"][0] == result.dagster_run.job_name
    reported = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("run_failures"), asset_partitions=[partition_key(COIN, DAY)]),
        limit=5,
    ).records
    assert len(reported) == 2 and reported[0].asset_materialization.metadata["run_id"].value == result.run_id

    merged = dg.materialize(
        [alerts],
        partition_key=partition_key(COIN, DAY),
        instance=instance,
        resources={"data_lake": DataLakeResource(lake_root=lake.root)},
    )
    assert merged.success
    table = lake.read_partition("alerts", COIN, DAY)
    run_failed = table.filter(pl.col("kind") == "RunFailed")
    assert run_failed.height == 1 and run_failed["severity"][0] == "critical"
    assert result.run_id in run_failed["message"][0] and "HTTP 502" in run_failed["message"][0]
    assert lake.read("alerts").filter(pl.col("date") != DAY).height == 0  # nothing lands on another day


def test_a_run_without_a_partition_is_recorded_under_its_failure_day(tmp_path: Path) -> None:
    @dg.asset
    def unpartitioned_stage() -> None:
        raise RuntimeError("boom")

    lake = Lake(tmp_path / "lake", storage_options={})
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([unpartitioned_stage], instance=instance, raise_on_error=False)
    sense(instance, result, lake.root)
    failures = lake.read("run_failures")
    assert failures["coin"].to_list() == [""]
    assert failures["date"][0] == dt.datetime.now(dt.UTC).date()
    assert failures["partition"].to_list() == [None]
