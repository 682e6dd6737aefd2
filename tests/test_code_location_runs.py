"""Runs of ``python -m pipelines.run`` are runs of the ``smallfish`` code location: the UI's job Runs tab, timeline
and partition status (filtered by the repository label and partition-set tag) list them, and a demo partition's
run config is the one a UI launch of that partition gets by default."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.storage.tags import PARTITION_SET_TAG, REPOSITORY_LABEL_TAG

from assets.partitions import COINS, partition_key
from data_lake import raw_zone
from pipelines.code_location import ATTRIBUTE, LOCATION_NAME, MODULE, partition_run_config
from pipelines.definitions import defs, nightly_job
from pipelines.executors import IN_PROCESS
from pipelines.run import DEMO_RUN_CONFIG, main
from tests.test_run_cli import capture_lines

DAY = dt.date(2026, 1, 1)
LABEL = f"__repository__@{LOCATION_NAME}"
"""The repository label the UI filters a job's runs by: ``<repository>@<code location>``."""


def test_runs_are_submitted_as_the_code_location_of_workspace_yaml() -> None:
    (entry,) = yaml.safe_load(Path("workspace.yaml").read_text())["load_from"]
    assert entry["python_module"] == {"module_name": MODULE, "attribute": ATTRIBUTE, "location_name": LOCATION_NAME}


def test_a_demo_partition_defaults_to_the_demo_config_and_other_coins_to_the_assets_defaults() -> None:
    job = defs.resolve_job_def(nightly_job.name)
    assert job.partitioned_config.get_run_config_for_partition_key(str(partition_key("NICHE", DAY))) == DEMO_RUN_CONFIG
    assert partition_run_config(nightly_job.name, str(partition_key("DEMO", DAY))) == DEMO_RUN_CONFIG
    assert partition_run_config(nightly_job.name, str(partition_key("BTC", DAY))) == {}


def test_the_nightly_schedule_gives_a_demo_coin_the_demo_config_and_other_coins_none() -> None:
    schedule = defs.resolve_schedule_def("nightly_recalibration_schedule")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(COINS.name, ["NICHE", "xyz:NVDA"])
        tick = dt.datetime(2026, 1, 2, 0, 30, tzinfo=dt.UTC)
        result = schedule.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick))
    configs = {r.partition_key: r.run_config for r in result.run_requests}
    assert configs == {"NICHE|2026-01-01": DEMO_RUN_CONFIG, "xyz:NVDA|2026-01-01": {}}


@pytest.mark.slow
def test_a_pipelines_run_shows_on_the_jobs_runs_and_partitions_with_the_uis_default_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One 10-minute demo-coin day through ``pipelines.run ingest``; then the instance answers the UI's queries.
    The terminal gets a line per stage; Dagster's event lines go to the log file."""
    raw = tmp_path / "raw"
    start_ms = int(dt.datetime.combine(DAY, dt.time(23, 50), tzinfo=dt.UTC).timestamp() * 1000)
    raw_zone.write_lines(raw_zone.raw_path(raw, "ws", DAY, 23, "DEMO"), capture_lines("DEMO", start_ms, 10))
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("SMALLFISH_RAW", str(raw))
    monkeypatch.setenv("SMALLFISH_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))

    assert main(["ingest", "--workers", "1"]) == 0
    printed = capsys.readouterr()
    assert "DEMO 2026-01-01 fits    : ok" in printed.out
    assert "DEBUG" not in printed.out + printed.err
    log = (tmp_path / "home" / "logs" / "pipelines_run.log").read_text()
    assert log.count("RUN_START") == 3 and "STEP_SUCCESS" in log

    instance = dg.DagsterInstance.get()
    key = str(partition_key("DEMO", DAY))
    runs = instance.get_runs(dg.RunsFilter(job_name=nightly_job.name, tags={REPOSITORY_LABEL_TAG: LABEL}))
    assert len(runs) == 3  # ingest, features, fits: the job's Runs tab and timeline list every one
    for run in runs:
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.remote_job_origin.repository_origin.get_label() == LABEL
        assert run.job_code_origin.job_name == nightly_job.name
        assert run.tags["dagster/partition"] == key
        assert {k: v for k, v in run.run_config.items() if k != "execution"} == DEMO_RUN_CONFIG
        assert run.run_config["execution"] == IN_PROCESS["execution"]
    by_partition = instance.run_storage.get_run_partition_data(
        dg.RunsFilter(tags={PARTITION_SET_TAG: f"{nightly_job.name}_partition_set", REPOSITORY_LABEL_TAG: LABEL})
    )
    assert {(p.partition, p.status) for p in by_partition} == {(key, dg.DagsterRunStatus.SUCCESS)}
    for asset in ("trades", "features", "markouts", "walk_forward", "param_sets"):
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {key}, asset

    # a UI launch of the partition with the job's default config: the same ops config as pipelines.run used
    launcher = dg.DagsterInstance.ephemeral()
    launcher.add_dynamic_partitions(COINS.name, ["DEMO"])
    ui = defs.resolve_job_def(nightly_job.name).execute_in_process(
        partition_key=key, instance=launcher, asset_selection=[dg.AssetKey("raw_captures")]
    )
    assert ui.dagster_run.run_config == DEMO_RUN_CONFIG
