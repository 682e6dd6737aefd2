"""The production profile end to end: PostgreSQL instance storage, dagster-celery workers on Redis, lake on S3.

One demo (coin, day) goes through the nightly job by ``dagster job execute`` with only configuration changed:
the instance yaml in deploy/, ``SMALLFISH_EXECUTOR=celery``, an ``s3://`` SMALLFISH_LAKE on moto's server. The servers
are started here on 127.0.0.1 and the test skips when their binaries are not installed (``make services``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from data_lake.cleaning import CLEAN_TABLES
from tests import services
from tests.support import DEMO_COIN, DEMO_DAY, run_job

pytestmark = [pytest.mark.needs_services, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "smallfish"
LAKE = f"s3://{BUCKET}/lake"
WORKER_PROCESSES = 2
PARTITION = f"{DEMO_COIN}|{DEMO_DAY.isoformat()}"
TABLES = ("raw_captures", *CLEAN_TABLES, "quarantine")


def _require_production() -> None:
    reasons = services.missing("postgres", "redis")
    if reasons:
        pytest.skip("production services unavailable: " + "; ".join(reasons))
    for module in ("dagster_postgres", "dagster_celery", "psycopg2", "redis"):
        pytest.importorskip(module, reason=f"{module} missing: pip install -e '.[production]'")


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """moto's S3 server with the lake bucket; the ``AWS_*`` variables that reach it."""
    for module in ("moto", "boto3"):
        pytest.importorskip(module, reason=f"{module} missing: pip install -e '.[production]'")
    with services.moto_s3(BUCKET) as aws:
        yield aws


@pytest.fixture
def aws_env(s3: dict[str, str]) -> Iterator[dict[str, str]]:
    """This process pointed at moto (what ``data_lake.lake.storage_options_from_env`` reads)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in s3.items():
            mp.setenv(key, value)
        yield s3


@pytest.fixture(scope="module")
def profile(
    tmp_path_factory: pytest.TempPathFactory, demo_day: tuple[Path, Path], s3: dict[str, str]
) -> Iterator[dict[str, str]]:
    """Running servers and the environment of the production profile (instance yaml in a fresh DAGSTER_HOME)."""
    _require_production()
    work = tmp_path_factory.mktemp("production")
    home = work / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    with services.postgres() as pg, services.redis(work) as broker:
        env = {
            **pg.env(),
            **s3,
            "DAGSTER_HOME": str(home),
            "SMALLFISH_EXECUTOR": "celery",
            "SMALLFISH_CELERY_BROKER": broker,
            "SMALLFISH_CELERY_BACKEND": broker,
            "SMALLFISH_LAKE": LAKE,
            "SMALLFISH_RAW": str(demo_day[0]),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        with pytest.MonkeyPatch.context() as mp:
            for key, value in pg.env().items():
                mp.setenv(key, value)
            yield env


@pytest.fixture(scope="module")
def workers(profile: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen]:
    """One dagster-celery worker with two worker processes, started as an operator would (deploy/celery.yaml)."""
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    with services.celery_worker({**os.environ, **profile}, "smallfish", WORKER_PROCESSES, log) as process:
        yield process


@pytest.fixture(scope="module")
def production_run(
    profile: dict[str, str], workers: subprocess.Popen, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dg.DagsterInstance, str]:
    """Run the nightly job on the demo partition with ``dagster job execute``; (instance, run id)."""
    from assets.partitions import COINS
    from pipelines.run import DEMO_RUN_CONFIG

    instance = dg.DagsterInstance.from_config(profile["DAGSTER_HOME"])
    instance.add_dynamic_partitions(COINS.name, [DEMO_COIN])
    tags = {
        "dagster/partition": PARTITION,
        "dagster/partition/coin": DEMO_COIN,
        "dagster/partition/date": DEMO_DAY.isoformat(),
    }
    run_config = tmp_path_factory.mktemp("run_config") / "demo.yaml"
    run_config.write_text(json.dumps(DEMO_RUN_CONFIG))  # JSON is YAML
    cmd = [
        sys.executable,
        "-m",
        "dagster",
        "job",
        "execute",
        "-m",
        "pipelines.definitions",
        "-a",
        "defs",
        "-j",
        "nightly_recalibration",
        "-c",
        str(run_config),
        "--tags",
        json.dumps(tags),
    ]
    done = subprocess.run(
        cmd, check=False, cwd=ROOT, env={**os.environ, **profile}, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    runs = instance.get_runs()
    assert len(runs) == 1
    return instance, runs[0].run_id


def test_run_history_lives_in_postgres(profile: dict[str, str], production_run) -> None:
    import psycopg2

    instance, run_id = production_run
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    with (
        psycopg2.connect(
            host=profile["DAGSTER_PG_HOST"],
            port=profile["DAGSTER_PG_PORT"],
            user=profile["DAGSTER_PG_USER"],
            password=profile["DAGSTER_PG_PASSWORD"],
            dbname=profile["DAGSTER_PG_DB"],
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT status, partition FROM runs WHERE run_id = %s", (run_id,))
        assert cur.fetchall() == [("SUCCESS", PARTITION)]
    assert instance.get_dynamic_partitions("coins") == [DEMO_COIN]


def test_steps_ran_in_two_celery_worker_processes(production_run, workers: subprocess.Popen) -> None:
    instance, run_id = production_run
    logs = [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event]
    delegated = {
        e.step_key: e.event_specific_data.metadata["Celery worker"].text
        for e in logs
        if "in celery worker" in (e.message or "")
    }
    starts = {e.step_key: e.pid for e in logs if e.event_type == dg.DagsterEventType.STEP_START}
    assert (
        set(delegated)
        == set(starts)
        >= {
            "raw_captures",
            "clean_tables",
            "quarantine_reconciliation",
            "kappa_fit",
            "walk_forward_assets",
            "param_sets",
        }
    )
    assert set(delegated.values()) == {f"smallfish@{socket.gethostname()}"}
    assert len(set(starts.values())) == WORKER_PROCESSES
    assert workers.pid not in starts.values()


def test_tables_land_on_s3_with_passing_blocking_checks(
    production_run, aws_env: dict[str, str], tmp_path: Path, demo_day: tuple[Path, Path]
) -> None:
    import boto3

    from data_lake.lake import Lake

    instance, run_id = production_run
    checks = {
        e.dagster_event.event_specific_data.asset_check_key.name: e.dagster_event.event_specific_data.passed
        for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    }
    blocking = {name: passed for name, passed in checks.items() if name == "reconciliation" or name.startswith("gx_")}
    assert "gx_book_suite" in blocking and all(blocking.values()), checks

    client = boto3.client("s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"], region_name=aws_env["AWS_REGION"])
    assert client.list_objects_v2(Bucket=BUCKET, Prefix="lake/trades/_delta_log/")["KeyCount"] >= 1

    # Same code, default profile: an in-process run on a local lake gives the same tables.
    assert run_job("ingest", tmp_path / "lake", demo_day[0]).success
    remote, local = Lake(LAKE), Lake(tmp_path / "lake", storage_options={})
    for name in TABLES:
        on_s3 = remote.read_partition(name, DEMO_COIN, DEMO_DAY)
        assert on_s3.sort(on_s3.columns).equals(local.read_partition(name, DEMO_COIN, DEMO_DAY).sort(on_s3.columns))
    assert remote.read_partition("trades", DEMO_COIN, DEMO_DAY).height > 10_000
    for name in ("features", "kappa_fit", "walk_forward"):
        assert remote.read_partition(name, DEMO_COIN, DEMO_DAY).height > 0, name
    decided = remote.read("param_sets", coins=DEMO_COIN)["status"].to_list()
    assert "candidate" in decided and len(decided) >= 2  # registered on S3, then the gate's decision


def test_promotion_on_s3_refuses_a_tampered_set_and_the_quoter_keeps_the_last_good(aws_env: dict[str, str]) -> None:
    import boto3

    from data_lake import param_registry as registry
    from data_lake.param_schema import InvalidParameterSet
    from quoting.runtime.params import PromotionWatcher
    from tests.test_param_registry import COIN, DAY_S, make_set

    root = f"s3://{BUCKET}/params"
    client = boto3.client("s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"], region_name=aws_env["AWS_REGION"])

    def tamper(set_id: str, old: str, new: str) -> None:
        key = f"params/{registry.set_path(COIN, set_id)}"
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
        assert old in body
        client.put_object(Bucket=BUCKET, Key=key, Body=body.replace(old, new).encode())

    a, b, c = (registry.register_candidate(root, make_set(i)) for i in range(3))
    registry.promote(root, COIN, a.param_set_id, "first")
    watcher = PromotionWatcher(root, COIN, max_age_s=DAY_S)
    assert watcher.poll() and watcher.current.param_set_id == a.param_set_id

    tamper(b.param_set_id, '"calm": 0.004', '"calm": 0.0001')
    with pytest.raises(InvalidParameterSet, match="does not match the content hash"):
        registry.promote(root, COIN, b.param_set_id, "tampered")
    assert registry.read_pointer(root, COIN).param_set_id == a.param_set_id

    registry.promote(root, COIN, c.param_set_id, "valid when promoted")
    tamper(c.param_set_id, '"value": 0.05', '"value": 0.5')
    with pytest.raises(InvalidParameterSet, match="pointer expects sha256"):
        registry.load_promoted(root, COIN)
    assert not watcher.poll()
    assert watcher.current.param_set_id == a.param_set_id and isinstance(watcher.last_error, InvalidParameterSet)
