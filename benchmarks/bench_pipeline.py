"""The nightly job on simulated demo days: wall time, peak memory, rows per second and the scaling ratio.

Scenarios are DAYSxCOINS: by default 1x1 and 7x1; ``--full`` runs the season, 60x10, with the scenarios of its
scaling ratios, 1x1, 60x1 (60-day / 1-day) and 1x10 (10-coin / 1-coin). Each scenario's partitions are backfilled
by ``pipelines.run.materialise_all`` with ``DEMO_RUN_CONFIG`` on ``--workers`` processes (default 2) in a fresh
child with its own persistent instance. Peak memory is the largest proportional set size (PSS) of the child and its
workers together, sampled every second from /proc/PID/smaps_rollup. Simulating a demo coin-day takes several
seconds of one core (8 s on this machine), so a season's 600 takes longer to generate than to backfill:
``--raw-cache DIR`` keeps the generated raw days (two coins simulated at once) and hard-links them into each run.
When 1x1, 60x1 and 1x10 ran but 60x10 did not (``--scenarios``), the season is extrapolated, labelled as such.
Goals (issue 19, 2 cores): 60x10 under 45 min with a peak under 4 GiB.

``--nightly`` measures the steady state: for each history length (default 10 and 60 days; ``--histories``) it
backfills that many demo days untimed, then times one night (the next day's partition) with an empty walk-forward
fold cache (cold) and the night after it with the cache the first night left (warm), printing every stage's share
(clean, features, markouts, fits, walk-forward, promotion) and the ratio longest / shortest history per coin-day.
Goal (issue 19): a flat cost per coin-day as history grows, under 5 s per demo-sized coin-day on 2 cores.
``--fold-hours TRAIN TEST`` sets the walk-forward's folds (default the demo's 6 h / 3 h, whose folds lie inside
the night's own day, so no fold recurs; whole-day test windows make n_folds - 1 folds recur each night).

``--backfills`` runs each scenario (default 2x2) twice side by side, each in a fresh child, and prints the ratio:
``pipelines.backfill`` (staged runs on ``--workers`` processes, steps in process) and Dagster's own asset backfill
as a UI launch runs it (``pipelines.asset_backfill``: the daemon's iteration over the declared cross-day deps, one
process per run from the default run launcher, each step in its own process by the multiprocess executor).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
"""The checkout this script belongs to: its children import the code from here (a script run by path would
otherwise import the installed package, which in a git worktree is another checkout)."""
START = dt.date(2026, 1, 1)
DEFAULT = ("1x1", "7x1")
SEASON = (60, 10)
FULL = ("1x1", f"{SEASON[0]}x1", f"1x{SEASON[1]}", f"{SEASON[0]}x{SEASON[1]}")
SEASON_GOAL_S, GOAL_BYTES = 45 * 60.0, 4 * 2**30


def _simulate(raw: str, days: int, coins: int, cache: str) -> None:
    """The raw zone of ``coins`` demo coins over ``days`` days: simulated (two coins at a time) into ``cache`` unless
    it holds that coin over at least as many days, whose first ``days`` are then hard-linked into ``raw`` (empty
    ``cache``: simulated straight into ``raw``). A prefix of a longer simulation is as much a demo market as a
    shorter one (the capture is cut at midnight UTC), so 1x1 and 30x1 reuse 60x1's days."""
    from concurrent.futures import ProcessPoolExecutor

    from data_lake.demo_market import DemoMarketConfig, simulate_to_raw

    configs = [
        DemoMarketConfig(coin=coin, days=days, seed=7 + i, start=START) for i, coin in enumerate(_coin_names(coins))
    ]
    if not cache:
        for config in configs:
            simulate_to_raw(config, raw)
        return
    folders = {config: _cached_simulation(Path(cache), config) for config in configs}
    missing = [config for config, folder in folders.items() if folder is None]
    if missing:
        fresh = [Path(cache) / f"{c.coin}-{_simulation_key(c)}-{c.days}d" for c in missing]
        with ProcessPoolExecutor(max_workers=min(2, len(missing))) as pool:
            list(pool.map(_simulate_into, missing, fresh))
        folders |= dict(zip(missing, fresh, strict=True))
    last = f"{START + dt.timedelta(days=days - 1):%Y%m%d}"
    for folder in folders.values():
        _link_tree(folder, Path(raw), last, whole=folder.name.endswith(f"-{days}d"))


def _simulation_key(config) -> str:
    """Digest of a demo config but its length and of the generator's source: a changed generator never serves stale
    days."""
    import dataclasses
    import hashlib

    import data_lake.demo_market as generator

    digest = hashlib.sha256(repr(dataclasses.replace(config, days=1)).encode())
    for source in sorted(Path(generator.__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def _cached_simulation(cache: Path, config) -> Path | None:
    """The shortest cached simulation of ``config``'s coin and parameters over at least ``config.days`` days."""
    prefix = f"{config.coin}-{_simulation_key(config)}-"
    lengths = {int(p.name[len(prefix) : -1]): p for p in cache.glob(f"{prefix}*d") if p.is_dir()}
    enough = [n for n in lengths if n >= config.days]
    return lengths[min(enough)] if enough else None


def _simulate_into(config, folder: Path) -> None:
    """Simulate ``config`` into a fresh sibling folder, then rename it to ``folder`` (an interrupted run leaves no
    half-written cache entry)."""
    import shutil

    from data_lake.demo_market import simulate_to_raw

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    simulate_to_raw(config, partial)
    partial.rename(folder)


def _link_tree(source: Path, target: Path, last_day: str, whole: bool) -> None:
    """The raw files under ``source`` of days up to ``last_day`` (YYYYMMDD) hard-linked at the same relative path
    under ``target``; the files of no day (the truth JSON, which describes the whole simulation) only if ``whole``."""
    for path in source.rglob("*"):
        if not path.is_file():
            continue
        days = [part for part in path.relative_to(source).parts if len(part) == 8 and part.isdigit()]
        if (days and days[0] <= last_day) or (not days and whole):
            linked = target / path.relative_to(source)
            linked.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, linked)


def _pipeline(raw: str, lake: str, home: str, workers: int) -> dict:
    """Backfill every partition in ``raw`` into ``lake`` on ``workers`` processes; timings and row counts."""
    import dagster as dg

    from data_lake.lake import Lake
    from pipelines.backfill import failed_partitions
    from pipelines.run import DEMO_RUN_CONFIG, materialise_all

    Path(home).mkdir(parents=True, exist_ok=True)
    instance = dg.DagsterInstance.local_temp(home)
    start = time.perf_counter()
    outcomes = materialise_all(instance, raw, run_config=DEMO_RUN_CONFIG, workers=workers)
    wall = time.perf_counter() - start
    step_s: dict[str, float] = {}
    for run in instance.get_runs():
        for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS):
            step_s[e.step_key] = step_s.get(e.step_key, 0.0) + e.dagster_event.event_specific_data.duration_ms / 1000
    store = Lake(lake, storage_options={})
    return {
        "step_s": step_s,
        "wall_s": wall,
        "partitions": len({(o.coin, o.date) for o in outcomes}),
        "failed": len(failed_partitions(outcomes)),
        "raw_lines": int(store.read("raw_captures")["lines"].sum()),
        "clean_rows": sum(store.read(t, columns=["coin"]).height for t in ("trades", "book", "asset_ctx", "fills")),
    }


NIGHTLY_HISTORIES = (10, 60)
NIGHTLY_GOAL_S = 5.0
STAGES = {
    "clean": ("raw_captures", "clean_tables", "_gx_", "quarantine"),
    "features": ("features",),
    "markouts": ("markouts",),
    "fits": ("_fit",),
    "walk-forward": ("walk_forward", "calibration_metrics"),
    "promotion": ("param_sets",),
}
"""Stage of a step key (the nightly job's ops and checks): the first stage one of whose fragments the key contains;
``other`` holds the rest (signal quality, baseline metrics, alerts)."""


def _stage_of(step_key: str) -> str:
    return next((stage for stage, parts in STAGES.items() if any(p in step_key for p in parts)), "other")


def _night_steps(instance, before: set[str]) -> dict[str, float]:
    """Seconds per stage summed over the steps of the runs not in ``before``."""
    import dagster as dg

    seconds: dict[str, float] = {}
    for run_id in set(instance.get_run_ids()) - before:
        for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS):
            stage = _stage_of(e.step_key)
            seconds[stage] = seconds.get(stage, 0.0) + e.dagster_event.event_specific_data.duration_ms / 1000
    return seconds


def _nightly(raw: str, lake: str, home: str, history: int, fold_hours: list[float] | None) -> dict:
    """Backfill the first ``history`` days of ``raw`` (untimed), then time the next day's partition with an empty fold
    cache (cold) and the day after with the cache as the first night left it (warm)."""
    import shutil

    import dagster as dg

    from pipelines.backfill import failed_partitions
    from pipelines.run import DEMO_RUN_CONFIG, materialise_all, partitions_in, with_walk_forward_folds
    from validation.experiments.fold_cache import ROOT

    config = with_walk_forward_folds(DEMO_RUN_CONFIG, *(fold_hours or (None, None)))
    Path(home).mkdir(parents=True, exist_ok=True)
    instance = dg.DagsterInstance.local_temp(home)
    days = partitions_in(raw)
    failed = failed_partitions(materialise_all(instance, raw, run_config=config, workers=2, partitions=days[:history]))
    nights = {}
    for name, day in (("cold", days[history]), ("warm", days[history + 1])):
        if name == "cold":
            shutil.rmtree(Path(lake) / ROOT, ignore_errors=True)
        before = set(instance.get_run_ids())
        start, cpu = time.perf_counter(), _cpu_s()
        failed += failed_partitions(materialise_all(instance, raw, run_config=config, workers=2, partitions=[day]))
        nights[name] = {
            "wall_s": time.perf_counter() - start,
            "cpu_s": _cpu_s() - cpu,
            "stage_s": _night_steps(instance, before),
        }
    return {"history": history, "failed": len(failed), **nights, "loadavg": _loadavg()}


def _cpu_s() -> float:
    """User + system CPU seconds of this process and of its ended children (a backfill's workers count once its
    pool has shut down): unlike the wall time, barely moved by other jobs sharing the cores."""
    import resource

    usages = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usages)


def _loadavg() -> str:
    """The 1, 5 and 15 min load averages (other jobs on the machine stretch the wall times)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_nightly(history: int, work: Path, fold_hours: list[float] | None, cache: str) -> dict:
    """Simulate ``history`` + 2 demo days, then measure the two nights after the history in one child."""
    raw, lake, home = work / f"h{history}" / "raw", work / f"h{history}" / "lake", work / f"h{history}" / "home"
    _finish(_start(["--simulate", str(raw), str(history + 2), "1", cache], {}))
    env = {"SMALLFISH_RAW": str(raw), "SMALLFISH_LAKE": str(lake), "GX_ANALYTICS_ENABLED": "false"}
    hours = [str(h) for h in fold_hours] if fold_hours else ["0", "0"]
    out, peak = _finish(_start(["--nightly-run", str(raw), str(lake), str(home), str(history), *hours], env))
    return {**json.loads(out.strip().splitlines()[-1]), "peak_bytes": peak}


def report_nightly(results: list[dict]) -> None:
    stages = [*STAGES, "other"]
    print(
        f"\n{'history d':>9} {'night':>5} {'wall s':>7} {'cpu s':>6} {'steps s':>8} "
        + " ".join(f"{s:>12}" for s in stages)
    )
    for r in results:
        for night in ("cold", "warm"):
            seconds = r[night]["stage_s"]
            total = sum(seconds.values()) or 1.0
            shares = " ".join(f"{seconds.get(s, 0.0):>5.1f} ({seconds.get(s, 0.0) / total:>3.0%})" for s in stages)
            print(
                f"{r['history']:>9} {night:>5} {r[night]['wall_s']:>7.1f} {r[night]['cpu_s']:>6.1f} "
                f"{sum(seconds.values()):>8.1f} {shares}"
            )
    short, long = results[0], results[-1]
    for night in ("cold", "warm"):
        ratio = long[night]["wall_s"] / short[night]["wall_s"]
        print(
            f"{night} night per coin-day, {long['history']} d / {short['history']} d of history: {ratio:.2f} "
            f"(flat: 1.00)"
        )
    for r in results:
        wall, cpu = r["warm"]["wall_s"], r["warm"]["cpu_s"]
        print(
            f"goal, {r['history']} d of history, warm night: {wall:.1f} s per coin-day "
            f"(< {NIGHTLY_GOAL_S:g}: {wall < NIGHTLY_GOAL_S}); {cpu:.1f} CPU s, so at least {cpu / 2:.1f} s on 2 idle "
            f"cores; load average at the end {r['loadavg']}"
        )


PROCESS_PER_RUN = {"run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"}}
"""Runs launched at once by the default run launcher (a process per run), without the queue daemon."""


def _dagster_backfill(raw: str, lake: str, home: str) -> dict:
    """Backfill every partition in ``raw`` into ``lake`` with Dagster's asset backfill; wall time and run count."""
    import dagster as dg
    from dagster._core.execution.backfill import BulkActionStatus

    from pipelines.asset_backfill import run_asset_backfill
    from pipelines.run import DEMO_RUN_CONFIG, partitions_in

    Path(home).mkdir(parents=True, exist_ok=True)
    instance = dg.DagsterInstance.local_temp(home, overrides=PROCESS_PER_RUN)
    partitions = partitions_in(raw)
    start = time.perf_counter()
    done = run_asset_backfill(instance, partitions, run_config=DEMO_RUN_CONFIG)
    return {
        "wall_s": time.perf_counter() - start,
        "runs": len(instance.get_run_ids()),
        "partitions": len(partitions),
        "failed": int(done.status != BulkActionStatus.COMPLETED_SUCCESS),
    }


def compare_backfills(name: str, work: Path, workers: int) -> dict:
    """One scenario backfilled by ``pipelines.backfill`` and by Dagster's asset backfill, each in its own child."""
    days, coins = (int(x) for x in name.split("x"))
    raw = work / name / "raw"
    _finish(_start(["--simulate", str(raw), str(days), str(coins), ""], {}))
    walls = {}
    for way, args in (("staged", ["--pipeline"]), ("dagster", ["--dagster-backfill"])):
        lake, home = work / name / way / "lake", work / name / way / "dagster_home"
        env = {"SMALLFISH_RAW": str(raw), "SMALLFISH_LAKE": str(lake), "GX_ANALYTICS_ENABLED": "false"}
        extra = [str(workers)] if way == "staged" else []
        out, peak = _finish(_start([*args, str(raw), str(lake), str(home), *extra], env))
        walls[way] = {**json.loads(out.strip().splitlines()[-1]), "peak_bytes": peak}
    return {"scenario": name, "workers": workers, **walls}


def report_backfills(results: list[dict]) -> None:
    print(
        f"\n{'scenario':>9} {'staged s':>9} {'runs':>5} {'dagster s':>10} {'runs':>5} {'dagster/staged':>15} "
        f"{'staged MiB':>11} {'dagster MiB':>12}"
    )
    for r in results:
        staged, dagster = r["staged"], r["dagster"]
        print(
            f"{r['scenario']:>9} {staged['wall_s']:>9.1f} {3 * staged['partitions']:>5} {dagster['wall_s']:>10.1f} "
            f"{dagster['runs']:>5} {dagster['wall_s'] / staged['wall_s']:>15.2f} "
            f"{staged['peak_bytes'] / 2**20:>11.0f} {dagster['peak_bytes'] / 2**20:>12.0f}"
        )


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A child running this script; its Dagster log (stderr) is kept with its stdout, shown only on failure."""
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH")))),
            **env,
        },
    )


def _tree_pss_bytes(root: int) -> int:
    """Proportional set size of ``root`` and all its descendants, from /proc: pages shared between them (the
    libraries every worker maps) count once in total rather than once per process, as in a sum of RSS."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier}
        tree |= frontier
    total_kib = 0
    for pid in tree:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        total_kib += next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
    return total_kib * 1024


def _finish(process: subprocess.Popen, sample_s: float = 1.0) -> tuple[str, int]:
    """Wait for a child while sampling its process tree's PSS; its stdout and the largest sample in bytes."""
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.append(process.stdout.read()))
    reader.start()
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_pss_bytes(process.pid))
        time.sleep(sample_s)
    reader.join()
    if process.returncode:
        raise RuntimeError(f"{process.args[2:4]} failed with exit code {process.returncode}:\n{output[0][-3000:]}")
    return output[0], peak


def _coin_names(coins: int) -> list[str]:
    return ["DEMO"] if coins == 1 else [f"DEMO{i}" for i in range(coins)]


def run_scenario(name: str, work: Path, workers: int, cache: str) -> dict:
    """Simulate (or link from ``cache``), then backfill every partition in one child on ``workers`` processes."""
    days, coins = (int(x) for x in name.split("x"))
    raw, lake, home = work / name / "raw", work / name / "lake", work / name / "dagster_home"
    start = time.perf_counter()
    _finish(_start(["--simulate", str(raw), str(days), str(coins), cache], {}))
    simulate_s = time.perf_counter() - start
    env = {"SMALLFISH_RAW": str(raw), "SMALLFISH_LAKE": str(lake), "GX_ANALYTICS_ENABLED": "false"}
    start = time.perf_counter()
    out, peak = _finish(_start(["--pipeline", str(raw), str(lake), str(home), str(workers)], env))
    wall = time.perf_counter() - start
    part = json.loads(out.strip().splitlines()[-1])
    print(
        f"   {name}: simulated in {simulate_s:.0f} s, backfilled in {wall:.0f} s, peak {peak / 2**30:.2f} GiB",
        flush=True,
    )
    return {
        "scenario": name,
        "days": days,
        "coins": coins,
        "workers": workers,
        "simulate_s": simulate_s,
        "wall_s": wall,
        "peak_bytes": peak,
        "slowest_steps_s": dict(sorted(part["step_s"].items(), key=lambda kv: -kv[1])[:6]),
        **{k: part[k] for k in ("partitions", "failed", "raw_lines", "clean_rows")},
    }


def report(results: list[dict]) -> None:
    print(
        f"\n{'scenario':>9} {'workers':>7} {'runs':>5} {'failed':>6} {'sim s':>7} {'wall s':>8} {'s/run':>7} "
        f"{'peak MiB':>9} {'raw lines':>11} {'lines/s':>9} {'clean rows/s':>12}"
    )
    for r in results:
        print(
            f"{r['scenario']:>9} {r['workers']:>7} {r['partitions']:>5} {r['failed']:>6} {r['simulate_s']:>7.0f} "
            f"{r['wall_s']:>8.1f} {r['wall_s'] / r['partitions']:>7.1f} {r['peak_bytes'] / 2**20:>9.0f} "
            f"{r['raw_lines']:>11,} {r['raw_lines'] / r['wall_s']:>9,.0f} {r['clean_rows'] / r['wall_s']:>12,.0f}"
        )
    for r in results:
        steps = ", ".join(f"{k} {v:.0f}" for k, v in r["slowest_steps_s"].items())
        print(f"{r['scenario']:>9} slowest steps (s, summed over runs): {steps}")
    for line in scaling_lines({r["scenario"]: r for r in results}):
        print(line)


def scaling_lines(by_name: dict[str, dict]) -> list[str]:
    """Each scenario's wall time over 1x1's, the season's goal, and, when the season was not run but its two
    factors were, its extrapolation (labelled as such)."""
    lines = []
    base = by_name.get("1x1")
    for r in by_name.values():
        if base and r is not base:
            n = r["days"] * r["coins"]
            lines.append(
                f"scaling {r['scenario']} / 1x1: {r['wall_s'] / base['wall_s']:.1f} (linear: {n}; per coin-day "
                f"{r['wall_s'] / n:.1f} s vs {base['wall_s']:.1f} s)"
            )
    days, coins = SEASON
    season = by_name.get(f"{days}x{coins}")
    if season:
        lines.append(
            f"goal {days}x{coins}: {season['wall_s'] / 60:.1f} min (< {SEASON_GOAL_S / 60:.0f}: "
            f"{season['wall_s'] < SEASON_GOAL_S}), peak {season['peak_bytes'] / 2**30:.2f} GiB "
            f"(< 4: {season['peak_bytes'] < GOAL_BYTES})"
        )
        return lines
    long = max(
        (r for r in by_name.values() if r["coins"] == 1 and r["days"] > 1), key=lambda r: r["days"], default=None
    )
    wide = max(
        (r for r in by_name.values() if r["days"] == 1 and r["coins"] > 1), key=lambda r: r["coins"], default=None
    )
    if base and long and wide:
        day_factor, coin_factor = days / long["days"], coins / wide["coins"]
        product = long["wall_s"] * day_factor * wide["wall_s"] * coin_factor / base["wall_s"]
        serial = coins * long["wall_s"] * day_factor
        peak = max(long["peak_bytes"], wide["peak_bytes"])
        scaled = "" if day_factor == coin_factor == 1 else f" (each scaled linearly to {days} days and {coins} coins)"
        lines.append(
            f"EXTRAPOLATED, not measured: {days}x{coins} ~ {long['scenario']} x ({wide['scenario']} / 1x1){scaled} = "
            f"{product / 60:.1f} min (the two ratios multiplied); {coins} coins one after another, each as "
            f"{long['scenario']}: {serial / 60:.1f} min (the bound when one coin already keeps both cores busy); "
            f"goal < {SEASON_GOAL_S / 60:.0f} min; peak with {long['workers']} workers taken as the larger of the two, "
            f"{peak / 2**30:.2f} GiB (< 4: {peak < GOAL_BYTES})"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--full", action="store_true", help="the season: 1x1, 60x1, 1x10 and 60x10 (hours; pair with --raw-cache)"
    )
    parser.add_argument("--scenarios", nargs="+", metavar="DAYSxCOINS", help="explicit scenarios, e.g. 1x1 30x1")
    parser.add_argument("--simulate", nargs=4, metavar=("RAW", "DAYS", "COINS", "CACHE"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--raw-cache",
        default="",
        metavar="DIR",
        help="keep the simulated demo days here and reuse them (keyed by config and generator source; default: "
        "simulate afresh into the scratch folder)",
    )
    parser.add_argument("--workers", type=int, default=2, help="processes running partitions at once")
    parser.add_argument("--pipeline", nargs=4, metavar=("RAW", "LAKE", "HOME", "WORKERS"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--backfills",
        action="store_true",
        help="pipelines.backfill against Dagster's asset backfill, side by side (default scenario 2x2)",
    )
    parser.add_argument("--dagster-backfill", nargs=3, metavar=("RAW", "LAKE", "HOME"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--nightly",
        action="store_true",
        help="one night's cost per coin-day after each history length, cold and warm fold cache",
    )
    parser.add_argument(
        "--histories",
        nargs="+",
        type=int,
        default=list(NIGHTLY_HISTORIES),
        metavar="DAYS",
        help=f"history lengths of --nightly (default {' '.join(map(str, NIGHTLY_HISTORIES))})",
    )
    parser.add_argument(
        "--fold-hours",
        nargs=2,
        type=float,
        metavar=("TRAIN", "TEST"),
        help="walk-forward train and test hours of --nightly (default the demo's)",
    )
    parser.add_argument(
        "--nightly-run", nargs=6, metavar=("RAW", "LAKE", "HOME", "HISTORY", "TRAIN", "TEST"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.nightly_run:
        raw, lake, home, history, train, test = args.nightly_run
        fold_hours = [float(train), float(test)] if float(test) > 0 else None
        print(json.dumps(_nightly(raw, lake, home, int(history), fold_hours)))
        return 0
    if args.nightly:
        with tempfile.TemporaryDirectory(prefix="bench_nightly_") as work:
            results = []
            for history in sorted(args.histories):
                print(f"== nightly after {history} days of history", flush=True)
                results.append(run_nightly(history, Path(work), args.fold_hours, args.raw_cache))
        report_nightly(results)
        return 1 if any(r["failed"] for r in results) else 0
    if args.dagster_backfill:
        print(json.dumps(_dagster_backfill(*args.dagster_backfill)))
        return 0
    if args.simulate:
        raw, days, coins, cache = args.simulate
        _simulate(raw, int(days), int(coins), cache)
        return 0
    if args.pipeline:
        raw, lake, home, workers = args.pipeline
        print(json.dumps(_pipeline(raw, lake, home, int(workers))))
        return 0
    if args.backfills:
        with tempfile.TemporaryDirectory(prefix="bench_backfills_") as work:
            compared = [compare_backfills(name, Path(work), args.workers) for name in args.scenarios or ("2x2",)]
        report_backfills(compared)
        return 1 if any(r["staged"]["failed"] or r["dagster"]["failed"] for r in compared) else 0
    scenarios = args.scenarios or (FULL if args.full else DEFAULT)
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as work:
        results = []
        for name in scenarios:
            print(f"== {name} (days x coins)", flush=True)
            results.append(run_scenario(name, Path(work), args.workers, args.raw_cache))
    report(results)
    return 1 if any(r["failed"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
