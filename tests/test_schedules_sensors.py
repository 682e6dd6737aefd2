"""The nightly schedule requests yesterday's partition per coin; the raw-arrival sensor reacts to new files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg

from assets.partitions import COINS, utc_today
from data_lake import raw_zone
from pipelines.definitions import defs
from pipelines.resources import DataLakeResource
from pipelines.sensors import new_raw_partitions


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
        assert json.loads(third.cursor).keys() >= json.loads(first.cursor).keys()


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
        assert not any(today.strftime("%Y%m%d") in path for path in json.loads(first.cursor))
        raw_zone.write_lines(raw_zone.raw_path(raw, "ws", dt.date(1970, 1, 2), 0, "BTC"), [line])
        second = sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor))
        assert second.run_requests == [] and second.skip_reason.skip_message == (
            "raw files not ingested: BTC 1970-01-02: 1970-01-02 is before Hyperliquid's first data (2023-02-01, the "
            "first daily partition)")
    after_midnight, cursor = new_raw_partitions(str(raw), json.loads(first.cursor), before=today + dt.timedelta(days=1))
    assert after_midnight.keys() == {("BTC", today.isoformat()), ("BTC", "1970-01-02")}
    assert cursor.keys() > json.loads(first.cursor).keys()
