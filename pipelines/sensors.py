"""Sensors: materialise clean partitions when raw files arrive; record failed runs as alerts."""

import datetime as dt
import json
import time

import dagster as dg
import polars as pl

from assets.partitions import COINS, partition_key, partition_problem, utc_today
from data_lake import raw_zone
from pipelines.resources import DataLakeResource


def new_raw_partitions(
    raw_root: str, seen: dict[str, int], before: dt.date
) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """(coin, day) pairs of days before ``before`` with files new or changed since ``seen`` (path -> mtime ns), and
    the updated map. Files of later days are left out of both: a day has a partition once it is over (UTC), so the
    recorder's files of today are taken on the first look after midnight."""
    changed: dict[tuple[str, str], int] = {}
    current: dict[str, int] = {}
    for f in raw_zone.discover(raw_root):
        if f.date >= before:
            continue
        mtime = f.path.stat().st_mtime_ns
        current[str(f.path)] = mtime
        if seen.get(str(f.path)) != mtime:
            key = (f.coin, f.date.isoformat())
            changed[key] = max(changed.get(key, 0), mtime)
    return changed, current


@dg.sensor(job_name="ingest", minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def raw_arrival_sensor(context: dg.SensorEvaluationContext, data_lake: DataLakeResource) -> dg.SensorResult | dg.SkipReason:
    """Request the ingest of every (coin, day) of a past day whose raw files appeared or changed; add new coins. A
    pair that is no partition (a day before Hyperliquid's first data, a coin Dagster cannot key) is logged with why
    and not requested: one such file would otherwise fail the whole tick."""
    seen = json.loads(context.cursor) if context.cursor else {}
    changed, current = new_raw_partitions(data_lake.raw(), seen, before=utc_today())
    if not changed:
        return dg.SkipReason(f"no new raw files of a past day under {data_lake.raw()}")
    problems = {(coin, day): partition_problem(coin, dt.date.fromisoformat(day)) for coin, day in changed}
    skipped = [f"{coin} {day}: {problem}" for (coin, day), problem in sorted(problems.items()) if problem]
    for line in skipped:
        context.log.warning(f"raw files not ingested, {line}")
    runnable = {key: mtime for key, mtime in changed.items() if not problems[key]}
    if not runnable:  # the cursor still moves: they are reported once, not on every tick
        return dg.SensorResult(skip_reason="raw files not ingested: " + "; ".join(skipped), cursor=json.dumps(current))
    known = set(context.instance.get_dynamic_partitions(COINS.name))
    new_coins = sorted({coin for coin, _ in runnable} - known)
    requests = [
        dg.RunRequest(run_key=f"{coin}|{day}|{mtime}", partition_key=partition_key(coin, dt.date.fromisoformat(day)))
        for (coin, day), mtime in sorted(runnable.items())
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
