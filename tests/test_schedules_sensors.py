"""The nightly schedule requests yesterday's partition per coin; the raw-arrival sensor reacts to new files."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg

from assets.partitions import COINS, utc_today
from assets.resources import DataLakeResource
from data_lake import raw_zone
from pipelines.definitions import defs
from pipelines.sensors import RawCursor, new_raw_partitions


def test_nightly_schedule_runs_yesterday_for_every_coin_at_0030_utc() -> None:
    schedule = defs.resolve_schedule_def("nightly_recalibration_schedule")
    assert schedule.cron_schedule == "30 0 * * *" and schedule.execution_timezone == "UTC"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(COINS.name, ["DEMO", "xyz:NVDA"])
        tick = dt.datetime(2026, 1, 2, 0, 30, tzinfo=dt.UTC)
        result = schedule.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick))
        assert sorted(r.partition_key for r in result.run_requests) == ["DEMO|2026-01-01", "xyz:NVDA|2026-01-01"]
        assert {r.job_name for r in result.run_requests} <= {None, "nightly_recalibration"}


def test_raw_arrival_sensor_requests_new_partitions_once_and_adds_coins(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    line = raw_zone.envelope(1_767_225_600_000_000_000, {"channel": "trades", "data": []})
    raw_zone.write_lines(raw_zone.raw_path(raw, "ws", dt.date(2026, 1, 1), 3, "xyz:NVDA"), [line])
    sensor = defs.resolve_sensor_def("raw_arrival_sensor")
    resources = {"data_lake": DataLakeResource(lake_root=str(tmp_path / "lake"), raw_root=str(raw))}
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources=resources)
        first = sensor(context)
        assert [r.partition_key for r in first.run_requests] == ["xyz:NVDA|2026-01-01"]
        assert first.dynamic_partitions_requests[0].partition_keys == ["xyz:NVDA"]
        again = sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor))
        assert isinstance(again, dg.SkipReason)
        raw_zone.write_lines(raw_zone.raw_path(raw, "ws", dt.date(2026, 1, 2), 0, "xyz:NVDA"), [line])
        third = sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor))
        assert [r.partition_key for r in third.run_requests] == ["xyz:NVDA|2026-01-02"]
        assert RawCursor.from_json(third.cursor).high_water.keys() == {"ws"}


def test_raw_arrival_sensor_requests_only_partitions_and_takes_todays_files_after_midnight(tmp_path: Path) -> None:
    """The recorder always writes a file of today, which has no partition yet: requested, it failed every tick."""
    raw = tmp_path / "raw"
    line = raw_zone.envelope(1_767_225_600_000_000_000, {"channel": "trades", "data": []})
    today = utc_today()
    day = dt.date(2026, 1, 1)
    files = (("BTC", day), ("BTC", today), ("BTC", dt.date(1970, 1, 1)), ("BAD|COIN", day))
    for coin, day in files:
        raw_zone.write_lines(raw_zone.raw_path(raw, "ws", day, 0, coin), [line])
    sensor = defs.resolve_sensor_def("raw_arrival_sensor")
    resources = {"data_lake": DataLakeResource(lake_root=str(tmp_path / "lake"), raw_root=str(raw))}
    with dg.instance_for_test() as instance:
        first = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert [r.partition_key for r in first.run_requests] == ["BTC|2026-01-01"]
        assert first.dynamic_partitions_requests[0].partition_keys == ["BTC"]
        assert today.strftime("%Y%m%d") not in first.cursor
        raw_zone.write_lines(raw_zone.raw_path(raw, "ws", dt.date(1970, 1, 2), 0, "BTC"), [line])
        second = sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor))
        assert second.run_requests == [] and second.skip_reason.skip_message == (
            "raw files not ingested: BTC 1970-01-02: 1970-01-02 is before Hyperliquid's first data (2023-02-01, the "
            "first daily partition)"
        )
    after_midnight, cursor = new_raw_partitions(
        str(raw), RawCursor.from_json(first.cursor), before=today + dt.timedelta(days=1)
    )
    assert after_midnight.keys() == {("BTC", today.isoformat()), ("BTC", "1970-01-02")}, (
        "today's file is older than the others"
    )
    assert cursor.held_from == today + dt.timedelta(days=1)
    assert new_raw_partitions(str(raw), cursor, before=today + dt.timedelta(days=1))[0] == {}


def test_raw_arrival_cursor_stays_one_mark_per_source_and_sees_changes_and_same_tick_files(tmp_path: Path) -> None:
    """The cursor used to hold every file ever seen; now it holds a high-water mark per source, whatever the
    number of files, and still sees a changed file and a file stamped in the same tick as the mark."""
    raw = tmp_path / "raw"
    line = raw_zone.envelope(1_767_225_600_000_000_000, {"channel": "trades", "data": []})
    day = dt.date(2026, 1, 1)
    paths = [raw_zone.raw_path(raw, source, day, hour, "BTC") for source in ("ws", "archive") for hour in range(24)]
    for path in paths:
        raw_zone.write_lines(path, [line])
    before = day + dt.timedelta(days=2)
    changed, cursor = new_raw_partitions(str(raw), RawCursor(), before)
    assert changed.keys() == {("BTC", "2026-01-01")}
    assert cursor.high_water.keys() == {"ws", "archive"} and len(cursor.to_json()) < 1_000
    assert new_raw_partitions(str(raw), RawCursor.from_json(cursor.to_json()), before)[0] == {}
    latest = max(Path(p).stat().st_mtime_ns for p in paths)
    os.utime(paths[3], ns=(latest + 5, latest + 5))
    changed, cursor = new_raw_partitions(str(raw), cursor, before)
    assert changed == {("BTC", "2026-01-01"): latest + 5}
    same_tick = raw_zone.raw_path(raw, "ws", day + dt.timedelta(days=1), 0, "BTC")
    raw_zone.write_lines(same_tick, [line])
    os.utime(same_tick, ns=(latest + 5, latest + 5))
    changed, cursor = new_raw_partitions(str(raw), cursor, before)
    assert changed == {("BTC", "2026-01-02"): latest + 5}
    assert new_raw_partitions(str(raw), cursor, before)[0] == {}
