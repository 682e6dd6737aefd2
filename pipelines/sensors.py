"""Sensors: materialise clean partitions when raw files arrive; record failed runs in ``run_failures``."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import polars as pl

from assets.partitions import COINS, COINS_NAME, partition_key, partition_problem, utc_today
from assets.resources import DataLakeResource
from data_lake import raw_zone


@dataclass(frozen=True)
class RawCursor:
    """What the raw-arrival sensor remembers between ticks, bounded by the number of raw sources.

    ``high_water`` maps a source (``ws``, ``archive``, ...) to the latest modification time (ns) among its files of
    past days and the paths modified at exactly that time (file systems stamp in coarse ticks, so a file written in
    the same tick after a look must still count as new). ``held_from`` is the first day not yet over at the last
    tick: its files were held back, whatever their times, and are new once their day is over. A file copied in
    with an older modification time kept (``cp -p``, ``rsync -t``) is not seen: touch it, or launch its partition.
    """

    high_water: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    held_from: dt.date | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "held_from": self.held_from.isoformat() if self.held_from else None,
                "high_water": {s: {"mtime_ns": t, "paths": list(p)} for s, (t, p) in sorted(self.high_water.items())},
            }
        )

    @classmethod
    def from_json(cls, text: str | None) -> RawCursor:
        """The cursor of a tick; an empty or older-format cursor starts afresh: every file is requested again
        under its old run key (``coin|day|mtime``), which Dagster does not launch twice."""
        state = json.loads(text) if text else {}
        if "high_water" not in state:
            return cls()
        held = state["held_from"]
        return cls(
            {s: (int(m["mtime_ns"]), tuple(m["paths"])) for s, m in state["high_water"].items()},
            dt.date.fromisoformat(held) if held else None,
        )

    def is_new(self, source: str, path: str, date: dt.date, mtime_ns: int) -> bool:
        if self.held_from is not None and date >= self.held_from:
            return True
        latest, at_latest = self.high_water.get(source, (-1, ()))
        return mtime_ns > latest or (mtime_ns == latest and path not in at_latest)


def new_raw_partitions(
    raw_root: str, cursor: RawCursor, before: dt.date
) -> tuple[dict[tuple[str, str], int], RawCursor]:
    """(coin, day) pairs of days before ``before`` with files new or changed since ``cursor``, each with its
    latest modification time (ns), and the next cursor. Files of later days are left out of both: a day has a
    partition once it is over (UTC), so the recorder's files of today are taken on the first look after midnight."""
    changed: dict[tuple[str, str], int] = {}
    high_water = dict(cursor.high_water)
    for f in raw_zone.discover(raw_root):
        if f.date >= before:
            continue
        mtime, path = f.path.stat().st_mtime_ns, str(f.path)
        if cursor.is_new(f.source, path, f.date, mtime):
            key = (f.coin, f.date.isoformat())
            changed[key] = max(changed.get(key, 0), mtime)
        latest, at_latest = high_water.get(f.source, (-1, ()))
        if mtime > latest:
            high_water[f.source] = (mtime, (path,))
        elif mtime == latest and path not in at_latest:
            high_water[f.source] = (mtime, (*at_latest, path))
    return changed, RawCursor(high_water, before)


@dg.sensor(
    job_name="ingest",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Every minute: an `ingest` run for each (coin, day) of a past UTC day whose raw files appeared or changed "
        "under the raw zone, adding new coins to the `coins` partitions. Today's files wait for midnight (UTC). "
        "The cursor keeps one high-water mark per raw source. Starts STOPPED."
    ),
)
def raw_arrival_sensor(
    context: dg.SensorEvaluationContext, data_lake: DataLakeResource
) -> dg.SensorResult | dg.SkipReason:
    """Request the ingest of every (coin, day) of a past day whose raw files appeared or changed; add new coins. A
    pair that is no partition (a day before Hyperliquid's first data, a coin Dagster cannot key) is logged with why
    and not requested: one such file would otherwise fail the whole tick."""
    changed, cursor = new_raw_partitions(data_lake.raw(), RawCursor.from_json(context.cursor), before=utc_today())
    if not changed:
        return dg.SkipReason(f"no new raw files of a past day under {data_lake.raw()}")
    problems = {(coin, day): partition_problem(coin, dt.date.fromisoformat(day)) for coin, day in changed}
    skipped = [f"{coin} {day}: {problem}" for (coin, day), problem in sorted(problems.items()) if problem]
    for line in skipped:
        context.log.warning(f"raw files not ingested, {line}")
    runnable = {key: mtime for key, mtime in changed.items() if not problems[key]}
    if not runnable:  # the cursor still moves: they are reported once, not on every tick
        return dg.SensorResult(skip_reason="raw files not ingested: " + "; ".join(skipped), cursor=cursor.to_json())
    known = set(context.instance.get_dynamic_partitions(COINS_NAME))
    new_coins = sorted({coin for coin, _ in runnable} - known)
    requests = [
        dg.RunRequest(run_key=f"{coin}|{day}|{mtime}", partition_key=partition_key(coin, dt.date.fromisoformat(day)))
        for (coin, day), mtime in sorted(runnable.items())
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[COINS.build_add_request(new_coins)] if new_coins else [],
        cursor=cursor.to_json(),
    )


def _root_cause(error: Any) -> str:
    """The innermost error's message (the user code's exception, not Dagster's wrapper around it)."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def run_failure_row(run: dg.DagsterRun, message: str, step_errors: dict[str, str], now_ms: int) -> dict:
    """The ``run_failures`` row of a failed run: keyed by the (coin, day) partition it ran, else by coin '' and the UTC
    day it failed, so that the ``alerts`` asset of exactly that partition merges it."""
    coin, day = run.tags.get("dagster/partition/coin"), run.tags.get("dagster/partition/date")
    failed_on = dt.date.fromisoformat(day) if coin and day else dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).date()
    steps = "; ".join(f"{step}: {error}" for step, error in step_errors.items())
    return {
        "coin": coin if coin and day else "",
        "date": failed_on,
        "run_id": run.run_id,
        "time": now_ms,
        "job_name": run.job_name,
        "partition": run.tags.get("dagster/partition"),
        "failed_steps": ", ".join(step_errors),
        "message": f"{message} {steps}".strip(),
    }


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="On every failed run: a `run_failures` row keyed by the failed partition and run id, which that "
    "partition's `alerts` shows as a critical `RunFailed` alert. Starts RUNNING.",
)
def run_failure_alert(context: dg.RunFailureSensorContext, data_lake: DataLakeResource) -> None:
    """Record a failed run in ``run_failures`` (this sensor is the table's only writer), keyed by its partition and
    run id so a retried tick writes it once; the ``alerts`` asset of that partition shows it as a critical alert."""
    step_errors = {
        event.step_key or "?": _root_cause(event.step_failure_data.error)
        for event in context.get_step_failure_events()
        if event.step_failure_data is not None and event.step_failure_data.error is not None
    }
    now_ms = int(time.time() * 1000)
    row = run_failure_row(context.dagster_run, context.failure_event.message or "", step_errors, now_ms)
    context.log.error(f"run {row['run_id']} of job {row['job_name']} failed: {row['message']}")
    key = {k: row[k] for k in ("coin", "date", "run_id")}
    version = data_lake.lake().replace("run_failures", pl.DataFrame([row]), key)
    if row["coin"]:  # the graph's run_failures partition changed: alerts of that partition become stale
        context.instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "run_failures",
                partition=row["partition"],
                metadata={"run_id": row["run_id"], "delta_version": version, "message": row["message"]},
            )
        )
