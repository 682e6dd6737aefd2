"""The staged backfill on the production profile (PostgreSQL, dagster-celery, the lake on S3) with 1, 2 and 4 worker
processes, beside the local profile (SQLite, multiprocess executor, local lake) on the same demo days.

One command: it simulates ``--days`` demo days of ``--coins`` coins, starts PostgreSQL, Redis and moto's S3 server on
127.0.0.1 (``tests/services.py``: free ports, temporary directories, stopped at exit even on failure), then for each
worker count starts one dagster-celery worker with that many processes, runs ``pipelines.run.materialise_all`` (the
staged backfill, ``DEMO_RUN_CONFIG``) against a fresh database and a fresh lake prefix with ``--runs-per-process``
runs at once per worker process (each run only coordinates: its steps go through Redis to the worker), and stops
the worker. The anchor is the same backfill on the local profile with ``bench_pipeline``'s 2 run processes.

Printed per configuration: wall time, throughput (coin-days per minute), the CPU seconds of every stage (clean,
features, markouts, fits, walk-forward, promotion, other) and of the run coordinators, the celery tasks' overhead
outside the steps, PostgreSQL, Redis and moto, the peak RSS of one worker process; then the scaling ratios
(throughput 2w/1w, 4w/1w) beside the ideal and the ideal on this machine's cores, and a content hash per output
table, which must agree across configurations and with the local run (run stamps left out, as in
``tests/test_backfill.py``).

A step's CPU seconds are its process's CPU clock (``/proc/PID/stat``, sampled every ``SAMPLE_S``) between the step's
start (celery's "Executing steps ... in celery worker" event, else STEP_START) and its end in Dagster's event log.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import bench_pipeline as local_bench

from tests import services

WORKER_COUNTS = (1, 2, 4)
LOCAL_RUN_PROCESSES = 2
"""bench_pipeline's default: the local profile's backfill on 2 run processes, steps in process."""
BUCKET = "smallfish"
SAMPLE_S = 0.5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STAGES = [*local_bench.STAGES, "other"]


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/PID/stat (after the command name), or None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _own_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` itself."""
    fields = _stat_fields(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(int(stat.parent.name))
        if fields is not None:
            parents[int(stat.parent.name)] = int(fields[1])
    return parents


def _descendants(root: int, parents: dict[int, int] | None = None) -> set[int]:
    """``root`` and every process below it."""
    parents = _parents() if parents is None else parents
    tree, frontier = {root}, {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier}
        tree |= frontier
    return tree


def _tree_cpu_s(root: int) -> float:
    """CPU seconds of ``root``, of its children it has reaped and of every live descendant: measured before and after,
    the difference counts short-lived children too (PostgreSQL's backends, one per connection)."""
    fields = _stat_fields(root)
    if fields is None:
        return 0.0
    total = sum(int(f) for f in fields[11:15]) / CLOCK_TICKS
    return total + sum(_own_cpu_s(pid) or 0.0 for pid in _descendants(root) - {root})


def _peak_rss_bytes(pid: int) -> int:
    """The high-water mark of ``pid``'s resident set (VmHWM)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class CpuSampler:
    """Samples the CPU clock of every process under ``roots`` every :data:`SAMPLE_S` in a background thread."""

    def __init__(self, roots: dict[str, int]):
        self.roots = roots
        self.series: dict[int, list[tuple[float, float]]] = {}
        self.group: dict[int, str] = {}
        self.loads: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._sample(first=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self._sample(first=False)

    def _sample(self, first: bool) -> None:
        now, parents = time.time(), _parents()
        self.loads.append(os.getloadavg()[0])
        for name, root in self.roots.items():
            for pid in _descendants(root, parents):
                cpu = _own_cpu_s(pid)
                if cpu is None:
                    continue
                if pid not in self.series:  # a process born after the first sample started at 0 CPU seconds
                    self.series[pid] = [] if first else [(now - SAMPLE_S, 0.0)]
                    self.group[pid] = name
                self.series[pid].append((now, cpu))

    def total(self, name: str) -> float:
        """CPU seconds the processes of group ``name`` spent while sampled."""
        return sum(s[-1][1] - s[0][1] for pid, s in self.series.items() if self.group[pid] == name)

    def between(self, pid: int, start: float, end: float) -> float:
        """CPU seconds ``pid`` spent between two epoch times (linear between samples)."""
        series = self.series.get(pid, [])
        return _at(series, end) - _at(series, start) if series else 0.0


def _at(series: list[tuple[float, float]], t: float) -> float:
    i = bisect_left(series, (t, float("-inf")))
    if i == 0:
        return series[0][1]
    if i == len(series):
        return series[-1][1]
    (t0, c0), (t1, c1) = series[i - 1], series[i]
    return c0 + (c1 - c0) * (t - t0) / (t1 - t0)


# --- children (run in their own interpreter, with the profile's environment) ---


def _backfill_child(raw: str, run_processes: int) -> dict:
    """The staged backfill of every partition in ``raw`` on the instance of ``$DAGSTER_HOME`` (steps in process, or on
    the celery workers, as ``SMALLFISH_EXECUTOR`` says); its wall time and every step's pid and time span."""
    import dagster as dg

    from pipelines.backfill import failed_partitions
    from pipelines.run import DEMO_RUN_CONFIG, materialise_all

    instance = dg.DagsterInstance.get()
    start = time.perf_counter()
    outcomes = materialise_all(instance, raw, run_config=DEMO_RUN_CONFIG, workers=run_processes)
    wall = time.perf_counter() - start
    steps = []
    for run_id in instance.get_run_ids():
        begun: dict[str, tuple[float, int]] = {}
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None or not entry.step_key:
                continue
            if "in celery worker" in (event.message or ""):
                begun[entry.step_key] = (entry.timestamp, begun.get(entry.step_key, (0.0, 0))[1])
            elif event.event_type == dg.DagsterEventType.STEP_START:
                begun[entry.step_key] = (begun.get(entry.step_key, (entry.timestamp, 0))[0], event.pid)
            elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                started, pid = begun[entry.step_key]
                steps.append({"step": entry.step_key, "pid": pid, "start": started, "end": entry.timestamp})
    return {
        "wall_s": wall,
        "partitions": len({(o.coin, o.date) for o in outcomes}),
        "failed": len(failed_partitions(outcomes)),
        "runs": len(outcomes),
        "steps": steps,
        "step_count": len(steps),
    }


def _hash_child(lake_root: str) -> dict[str, str]:
    """A content hash of every table in the lake, partition by partition (one coin-day of ``book`` in memory at a
    time, not the table): each partition's rows sorted on every column but the run stamps, hashed in partition order;
    prefixed with the table's row count."""
    import polars as pl

    import pipelines.definitions  # noqa: F401  (registers every table of the catalogue)
    from data_lake.lake import Lake
    from data_lake.tables import CATALOGUE
    from tests.test_backfill import RUN_STAMPS, STAMPED

    lake, hashes = Lake(lake_root), {}
    for name in sorted(CATALOGUE):
        if not lake.exists(name):
            continue
        keys = list(CATALOGUE[name].partition_by)
        parts = lake.scan(name).select(keys).unique().collect().sort(keys).iter_rows() if keys else [()]
        digest, rows = hashlib.sha256(), 0
        for values in parts:
            where = [pl.col(k) == v for k, v in zip(keys, values, strict=True)]
            df = (lake.scan(name).filter(*where) if where else lake.scan(name)).collect()
            kept = [c for c in df.columns if c not in RUN_STAMPS and not (name == "param_sets" and c in STAMPED)]
            digest.update(df.select(kept).sort(kept, nulls_last=True).hash_rows(seed=0).to_numpy().tobytes())
            rows += df.height
        hashes[name] = f"{rows}:{digest.hexdigest()[:12]}"
    return hashes


# --- the orchestration ---


@dataclasses.dataclass
class Profile:
    """Servers of the production profile and the environment that reaches them."""

    pg: services.Postgres
    broker: str
    aws: dict[str, str]
    pids: dict[str, int]
    """PostgreSQL's postmaster, redis-server and moto's server, for their CPU seconds."""


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PYTHONPATH": str(ROOT),
        "GX_ANALYTICS_ENABLED": "false",
        "OPENBLAS_NUM_THREADS": "1",
        "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache")),
        "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
        **extra,
    }


def _find_pid(test: Callable[[list[str]], bool], parent: int | None = None) -> int:
    """The pid of the process whose argv passes ``test`` (and whose parent is ``parent``, when given)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        pid = int(cmdline.parent.name)
        try:
            argv = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        fields = _stat_fields(pid)
        if fields is not None and (parent is None or int(fields[1]) == parent) and test(argv):
            return pid
    raise RuntimeError("service process not found")


class ServicesMissing(RuntimeError):
    """PostgreSQL or Redis is not installed (``make services``)."""


@contextlib.contextmanager
def production_services(work: Path) -> Iterator[Profile]:
    """PostgreSQL, Redis and moto's S3 on loopback (the needs_services tests' servers), stopped on exit."""
    reasons = services.missing("postgres", "redis")
    if reasons:
        raise ServicesMissing("production services unavailable: " + "; ".join(reasons))
    with services.moto_s3(BUCKET) as aws, services.postgres() as pg, services.redis(work) as broker:
        me = os.getpid()
        pids = {
            "postgres": _find_pid(lambda a: a[0].endswith("postgres") and "-p" in a and str(pg.port) in a),
            "redis": _find_pid(lambda a: "redis-server" in a[0], parent=me),
            "moto": _find_pid(lambda a: "moto.server" in a, parent=me),
        }
        yield Profile(pg, broker, aws, pids)


def _create_database(pg: services.Postgres, name: str) -> services.Postgres:
    import psycopg2

    conn = psycopg2.connect(host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname=pg.db)
    conn.autocommit = True
    conn.cursor().execute(f"CREATE DATABASE {name}")
    conn.close()
    return dataclasses.replace(pg, db=name)


@contextlib.contextmanager
def celery_worker(env: dict[str, str], processes: int, log: Path) -> Iterator[subprocess.Popen]:
    """One dagster-celery worker of ``processes`` processes (:func:`tests.services.celery_worker`), ready to take
    tasks; stopped with its process group on exit."""
    with services.celery_worker(env, f"bench{processes}", processes, log) as process:
        yield process


def _measure(raw: Path, env: dict[str, str], run_processes: int, roots: dict[str, int], services_pids: dict) -> dict:
    """Run the backfill child under a CPU sampler; wall time, per-stage CPU and the other processes' CPU seconds."""
    before = {name: _tree_cpu_s(pid) for name, pid in services_pids.items()}
    kernels = _numba_cache_files()
    child = _start(["--backfill-child", str(raw), str(run_processes)], env)
    with CpuSampler({**roots, "coordinators": child.pid}) as sampler:
        out, peak = local_bench._finish(child)
        worker_pids = [pid for pid, group in sampler.group.items() if group == "workers"]
        peak_rss = max((_peak_rss_bytes(pid) for pid in worker_pids), default=0)
    result = json.loads(out.strip().splitlines()[-1])
    stage_cpu = dict.fromkeys(STAGES, 0.0)
    in_steps: dict[str, float] = {}
    for step in result.pop("steps"):
        cpu = sampler.between(step["pid"], step["start"], step["end"])
        stage_cpu[local_bench._stage_of(step["step"])] += cpu
        group = sampler.group.get(step["pid"], "coordinators")
        in_steps[group] = in_steps.get(group, 0.0) + cpu
    groups = {name: sampler.total(name) for name in {*roots, "coordinators"}}
    service_cpu = {name: _tree_cpu_s(pid) - before[name] for name, pid in services_pids.items()}
    everything = sum(groups.values()) + sum(service_cpu.values())
    return {
        **result,
        "stage_cpu_s": stage_cpu,
        "coordinators_cpu_s": groups["coordinators"] - in_steps.get("coordinators", 0.0),
        "task_overhead_cpu_s": groups.get("workers", 0.0) - in_steps.get("workers", 0.0),
        "service_cpu_s": service_cpu,
        "cores_busy": everything / result["wall_s"],
        "load_average": sum(sampler.loads) / len(sampler.loads),
        "coordinator_peak_bytes": peak,
        "worker_peak_rss_bytes": peak_rss,
        "compiled_files": _numba_cache_files() - kernels,
    }


def _numba_cache_files() -> int:
    """Files in numba's on-disk cache: a configuration that adds some paid for JIT compiles (once per machine and
    code version) in its CPU seconds."""
    cache = os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    return sum(len(files) for _, _, files in os.walk(cache))


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A child running this script (bench_pipeline._start runs bench_pipeline); its log kept with its stdout."""
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
    )


def _hashes(lake: str, env: dict[str, str]) -> dict[str, str]:
    out, _ = local_bench._finish(_start(["--hash-child", lake], env))
    return json.loads(out.strip().splitlines()[-1])


def run_local(raw: Path, work: Path) -> dict:
    """The anchor: the same backfill on the default profile (repository dagster.yaml, SQLite, local lake)."""
    home, lake = work / "local" / "dagster_home", work / "local" / "lake"
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = _child_env({"DAGSTER_HOME": str(home), "SMALLFISH_LAKE": str(lake), "SMALLFISH_RAW": str(raw)})
    result = _measure(raw, env, LOCAL_RUN_PROCESSES, {}, {})
    return {
        "name": f"local {LOCAL_RUN_PROCESSES} proc",
        "processes": LOCAL_RUN_PROCESSES,
        **result,
        "hashes": _hashes(str(lake), env),
    }


def run_celery(raw: Path, work: Path, profile: Profile, processes: int, runs_per_process: int) -> dict:
    """The backfill on the production profile with one celery worker of ``processes`` processes."""
    home = work / f"w{processes}" / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    pg = _create_database(profile.pg, f"dagster_w{processes}")
    broker = profile.broker.rsplit("/", 1)[0] + f"/{processes}"
    lake = f"s3://{BUCKET}/w{processes}/lake"
    env = _child_env(
        {
            **pg.env(),
            **profile.aws,
            "DAGSTER_HOME": str(home),
            "SMALLFISH_EXECUTOR": "celery",
            "SMALLFISH_CELERY_BROKER": broker,
            "SMALLFISH_CELERY_BACKEND": broker,
            "SMALLFISH_LAKE": lake,
            "SMALLFISH_RAW": str(raw),
        }
    )
    started = time.perf_counter()
    with celery_worker({**os.environ, **env}, processes, work / f"celery_w{processes}.log") as worker:
        ready_s = time.perf_counter() - started
        result = _measure(raw, env, processes * runs_per_process, {"workers": worker.pid}, profile.pids)
    objects, hashes = _lake_objects(profile.aws, f"w{processes}/"), _hashes(lake, env)
    _drop_objects(profile.aws, f"w{processes}/")  # moto keeps every object in memory
    return {
        "name": f"celery {processes}w",
        "processes": processes,
        **result,
        "worker_ready_s": ready_s,
        "lake_objects": objects,
        "hashes": hashes,
    }


def _s3_client(aws: dict[str, str]) -> Any:
    """A boto3 S3 client of the server the ``AWS_*`` variables ``aws`` reach."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=aws["AWS_ENDPOINT_URL"],
        region_name=aws["AWS_REGION"],
        aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
    )


def _lake_objects(aws: dict[str, str], prefix: str) -> tuple[int, int]:
    """(objects, bytes) under ``prefix`` of the bucket."""
    count = size = 0
    for page in _s3_client(aws).get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in page.get("Contents", []):
            count, size = count + 1, size + obj["Size"]
    return count, size


def _drop_objects(aws: dict[str, str], prefix: str) -> None:
    """Delete every object under ``prefix`` of the bucket."""
    client = _s3_client(aws)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys})


def report_one(r: dict, coin_days: int) -> None:
    """One configuration's figures as soon as it is done (the full table comes at the end)."""
    steps = sum(r["stage_cpu_s"].values())
    stages = ", ".join(f"{s} {r['stage_cpu_s'][s]:.1f}" for s in STAGES)
    print(
        f"   {r['name']}: wall {r['wall_s']:.1f} s, {60 * coin_days / r['wall_s']:.2f} coin-days/min, "
        f"failed {r['failed']}, "
        f"step CPU {steps:.1f} s ({stages}), coordinators {r['coordinators_cpu_s']:.1f} s, task overhead "
        f"{r['task_overhead_cpu_s']:.1f} s, services {r['service_cpu_s']}, {r['cores_busy']:.2f} cores busy, "
        f"load average {r['load_average']:.1f}",
        flush=True,
    )


def report(results: list[dict], coin_days: int) -> None:
    cores = len(os.sched_getaffinity(0))
    print(f"\n{coin_days} coin-days; {cores} cores; CPU seconds summed over processes")
    header = f"{'config':>15} {'runs':>5} {'failed':>6} {'wall s':>7} {'cd/min':>7} " + " ".join(
        f"{s:>12}" for s in STAGES
    )
    print(
        header + f" {'steps':>7} {'coord':>6} {'task oh':>7} {'pg':>5} {'redis':>5} {'moto':>5} {'wkr MiB':>7} "
        f"{'busy':>5} {'load':>5}"
    )
    for r in results:
        steps = sum(r["stage_cpu_s"].values())
        cells = " ".join(f"{r['stage_cpu_s'][s]:>5.1f} ({r['stage_cpu_s'][s] / (steps or 1):>3.0%})" for s in STAGES)
        svc = r["service_cpu_s"]
        print(
            f"{r['name']:>15} {r['runs']:>5} {r['failed']:>6} {r['wall_s']:>7.1f} {60 * coin_days / r['wall_s']:>7.2f} "
            f"{cells} {steps:>7.1f} {r['coordinators_cpu_s']:>6.1f} {r['task_overhead_cpu_s']:>7.1f} "
            f"{svc.get('postgres', 0):>5.1f} {svc.get('redis', 0):>5.1f} {svc.get('moto', 0):>5.1f} "
            f"{r['worker_peak_rss_bytes'] / 2**20:>7.0f} {r['cores_busy']:>5.2f} {r['load_average']:>5.1f}"
        )
    print(
        "per coin-day (CPU s): "
        + "; ".join(
            f"{r['name']}: steps {sum(r['stage_cpu_s'].values()) / coin_days:.1f}, coordinators "
            f"{r['coordinators_cpu_s'] / coin_days:.1f}, services {sum(r['service_cpu_s'].values()) / coin_days:.1f}"
            for r in results
        )
    )
    print("CPU seconds per coin-day by stage:")
    for r in results:
        cells = " ".join(f"{s} {r['stage_cpu_s'][s] / coin_days:.2f}" for s in STAGES)
        print(f"  {r['name']:>15}: {cells}")
    for r in results:
        if r["compiled_files"]:
            print(f"{r['name']}: JIT-compiled {r['compiled_files']} numba cache files (its CPU seconds include them)")
        if "worker_ready_s" in r:
            print(f"{r['name']}: worker ready after {r['worker_ready_s']:.1f} s (not in its wall time)")
        print(
            f"{r['name']}: {r['runs']} runs, {r['step_count']} steps: "
            f"coordinators {r['coordinators_cpu_s'] / r['runs']:.2f} "
            f"CPU s a run, task overhead {r['task_overhead_cpu_s'] / r['step_count']:.2f} CPU s a step; "
            f"peak PSS of the "
            f"coordinators {r['coordinator_peak_bytes'] / 2**30:.2f} GiB"
        )
    for r in results:
        if "lake_objects" in r:
            count, size = r["lake_objects"]
            print(
                f"{r['name']}: lake on S3 {count} objects, {size / 2**20:.0f} MiB "
                f"({size / coin_days / 2**20:.0f} MiB per coin-day)"
            )
    celery = {r["processes"]: r for r in results if r["name"].startswith("celery")}
    local = next((r for r in results if r["name"].startswith("local")), None)
    if 1 in celery:
        base = celery[1]["wall_s"]
        for n, r in sorted(celery.items()):
            if n > 1:
                print(
                    f"scaling {n}w/1w (throughput): {base / r['wall_s']:.2f} (ideal {n:.2f}; on {cores} cores at most "
                    f"{min(n, cores):.2f})"
                )
    if local is not None:
        for n, r in sorted(celery.items()):
            print(f"celery {n}w / local {local['processes']} proc (throughput): {local['wall_s'] / r['wall_s']:.2f}")
    reference = results[0]["hashes"]
    tables = sorted(set().union(*(r["hashes"] for r in results)))
    same = [t for t in tables if all(r["hashes"].get(t) == reference.get(t) for r in results)]
    print(
        f"identical tables across {len(results)} configurations (content hash, run stamps left out): "
        f"{len(same)}/{len(tables)}"
    )
    for table in sorted(set(tables) - set(same)):
        print(f"  DIFFERS {table}: " + ", ".join(f"{r['name']} {r['hashes'].get(table)}" for r in results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=4, help="demo days per coin (default 4)")
    parser.add_argument("--coins", type=int, default=2, help="demo coins (default 2)")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=list(WORKER_COUNTS), help="celery worker processes per configuration"
    )
    parser.add_argument(
        "--runs-per-process",
        type=int,
        default=2,
        help="backfill runs at once per celery worker process (default 2: the workers never wait for a run)",
    )
    parser.add_argument("--no-local", action="store_true", help="skip the local profile's anchor")
    parser.add_argument("--backfill-child", nargs=2, metavar=("RAW", "RUN_PROCESSES"), help=argparse.SUPPRESS)
    parser.add_argument("--hash-child", metavar="LAKE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.backfill_child:
        print(json.dumps(_backfill_child(args.backfill_child[0], int(args.backfill_child[1]))))
        return 0
    if args.hash_child:
        print(json.dumps(_hash_child(args.hash_child)))
        return 0
    os.chdir(ROOT)  # the runs' code location is loaded from the working directory
    coin_days = args.days * args.coins
    with tempfile.TemporaryDirectory(prefix="bench_distributed_") as tmp:
        work = Path(tmp)
        raw = work / "raw"
        print(f"== simulating {args.days} demo days x {args.coins} coins", flush=True)
        local_bench._finish(
            local_bench._start(["--simulate", str(raw), str(args.days), str(args.coins)], _child_env({}))
        )
        results = []
        if not args.no_local:
            print(f"== local profile, {LOCAL_RUN_PROCESSES} run processes", flush=True)
            results.append(run_local(raw, work))
            report_one(results[-1], coin_days)
        try:
            with production_services(work) as profile:
                for n in args.workers:
                    print(f"== production profile, celery worker of {n} processes", flush=True)
                    results.append(run_celery(raw, work, profile, n, args.runs_per_process))
                    report_one(results[-1], coin_days)
        except ServicesMissing as missing:
            print(f"skipped the production profile: {missing}")
    if results:
        report(results, coin_days)
    return 1 if any(r["failed"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
