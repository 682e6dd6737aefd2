"""Sensors: materialise clean partitions when raw files arrive; record failed runs as alerts."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field

import dagster as dg
import polars as pl

from assets.partitions import COINS, partition_key, partition_problem, utc_today
from data_lake import raw_zone
from pipelines.resources import DataLakeResource


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
def raw_arrival_sensor(context: dg.SensorEvaluationContext, data_lake: DataLakeResource) -> dg.SensorResult | dg.SkipReason:
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
    known = set(context.instance.get_dynamic_partitions(COINS.name))
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


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="On every failed run: a critical `RunFailed` alert row with the run id, job and error. Starts RUNNING.",
)
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
