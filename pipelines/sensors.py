"""Sensors: materialise clean partitions when raw files arrive; record failed runs as alerts."""

import datetime as dt
import json
import time

import dagster as dg
import polars as pl

from assets.partitions import COINS, partition_key
from data_lake import raw_zone
from pipelines.resources import DataLakeResource


def new_raw_partitions(raw_root: str, seen: dict[str, int]) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """(coin, day) partitions with files new or changed since ``seen`` (path -> mtime ns), and the updated map."""
    changed: dict[tuple[str, str], int] = {}
    current: dict[str, int] = {}
    for f in raw_zone.discover(raw_root):
        mtime = f.path.stat().st_mtime_ns
        current[str(f.path)] = mtime
        if seen.get(str(f.path)) != mtime:
            key = (f.coin, f.date.isoformat())
            changed[key] = max(changed.get(key, 0), mtime)
    return changed, current


@dg.sensor(job_name="ingest", minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def raw_arrival_sensor(context: dg.SensorEvaluationContext, data_lake: DataLakeResource) -> dg.SensorResult | dg.SkipReason:
    """Request the ingest of every (coin, day) whose raw files appeared or changed; add new coins."""
    seen = json.loads(context.cursor) if context.cursor else {}
    changed, current = new_raw_partitions(data_lake.raw(), seen)
    if not changed:
        return dg.SkipReason(f"no new raw files under {data_lake.raw()}")
    known = set(context.instance.get_dynamic_partitions(COINS.name))
    new_coins = sorted({coin for coin, _ in changed} - known)
    requests = [
        dg.RunRequest(run_key=f"{coin}|{day}|{mtime}", partition_key=partition_key(coin, dt.date.fromisoformat(day)))
        for (coin, day), mtime in sorted(changed.items())
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[COINS.build_add_request(new_coins)] if new_coins else [],
        cursor=json.dumps(current),
    )


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING)
def run_failure_alert(context: dg.RunFailureSensorContext, data_lake: DataLakeResource) -> None:
    """A failed run becomes a critical alert row, so failures are visible beside model alerts."""
    run = context.dagster_run
    tags = run.tags
    coin = tags.get("dagster/partition/coin", "")
    alert = {
        "coin": coin,
        "time": int(time.time() * 1000),
        "kind": "RunFailed",
        "severity": "critical",
        "subject": run.job_name,
        "message": f"run {run.run_id} of job {run.job_name} failed: {context.failure_event.message}",
        "value": float("nan"),
        "threshold": float("nan"),
    }
    context.log.error(alert["message"])
    data_lake.lake().append("alerts", pl.DataFrame([alert]).with_columns(date=pl.from_epoch("time", time_unit="ms").dt.date()))
