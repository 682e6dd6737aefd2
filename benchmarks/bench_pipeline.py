"""The nightly job on simulated demo days: wall time, peak memory, rows per second and the scaling ratio.

Scenarios are DAYSxCOINS: by default 1x1 and 7x1; ``--full`` adds 30x1 and 7x10 (slow). Every (coin, day) is
materialised oldest first with ``pipelines.run.materialise_all`` and ``DEMO_RUN_CONFIG`` in fresh child
processes, whose peak RSS is the kernel's high-water mark (wait4, which covers everything polars allocates).
Coins run in ``--concurrent-runs`` children at once (default 2, the instance's ``max_concurrent_runs``), each
taking its share of the coins; peak memory is then the sum of the children's peaks (an upper bound).
Goals (issue 8, 2 cores): 30x1 under 10 min and 4 GiB; 30-day time / 1-day time <= 30 (linear or better).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

START = dt.date(2026, 1, 1)
DEFAULT = ("1x1", "7x1")
FULL = ("1x1", "7x1", "30x1", "7x10")
GOAL_S, GOAL_BYTES = 600.0, 4 * 2**30


def _simulate(raw: str, days: int, coins: int) -> None:
    from data_lake.demo_market import DemoMarketConfig, simulate_to_raw

    for i, coin in enumerate(_coin_names(coins)):
        simulate_to_raw(DemoMarketConfig(coin=coin, days=days, seed=7 + i, start=START), raw)


def _pipeline(raw: str, lake: str, coins: list[str]) -> dict:
    """Run the nightly job on every partition of ``coins`` in ``raw`` into ``lake``; timings and row counts."""
    import time

    import dagster as dg

    from data_lake.lake import Lake
    from pipelines.run import DEMO_RUN_CONFIG, materialise_all

    instance = dg.DagsterInstance.ephemeral()
    start = time.perf_counter()
    outcomes = materialise_all(instance, raw, run_config=DEMO_RUN_CONFIG, coins=coins)
    wall = time.perf_counter() - start
    step_s: dict[str, float] = {}
    for run in instance.get_runs():
        for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS):
            step_s[e.step_key] = step_s.get(e.step_key, 0.0) + e.dagster_event.event_specific_data.duration_ms / 1000
    store = Lake(lake, storage_options={})
    return {
        "step_s": step_s,
        "wall_s": wall,
        "partitions": len(outcomes),
        "failed": sum(not ok for *_, ok in outcomes),
        "raw_lines": int(store.read("raw_captures", coins=coins)["lines"].sum()),
        "clean_rows": sum(store.read(t, coins=coins, columns=["coin"]).height
                          for t in ("trades", "book", "asset_ctx", "fills")),
    }


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A child running this script; its Dagster log (stderr) is kept with its stdout, shown only on failure."""
    return subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, **env})


def _finish(process: subprocess.Popen) -> tuple[str, int]:
    """Wait for a child; its stdout and peak RSS in bytes (ru_maxrss is KiB on Linux)."""
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{process.args[2:4]} failed with exit code {process.returncode}:\n{out[-3000:]}")
    return out, usage.ru_maxrss * 1024


def _coin_names(coins: int) -> list[str]:
    return ["DEMO"] if coins == 1 else [f"DEMO{i}" for i in range(coins)]


def run_scenario(name: str, work: Path, concurrent_runs: int) -> dict:
    """Simulate, then run the coins' partitions in up to ``concurrent_runs`` children at once."""
    import time

    days, coins = (int(x) for x in name.split("x"))
    raw, lake = work / name / "raw", work / name / "lake"
    _finish(_start(["--simulate", str(raw), str(days), str(coins)], {}))
    env = {"SMALLFISH_RAW": str(raw), "SMALLFISH_LAKE": str(lake), "GX_ANALYTICS_ENABLED": "false"}
    names = _coin_names(coins)
    shares = [names[i::concurrent_runs] for i in range(min(concurrent_runs, len(names)))]
    start = time.perf_counter()
    children = [_start(["--pipeline", str(raw), str(lake), ",".join(share)], env) for share in shares]
    finished = [_finish(child) for child in children]
    wall = time.perf_counter() - start
    parts = [json.loads(out.strip().splitlines()[-1]) for out, _ in finished]
    step_s: dict[str, float] = {}
    for part in parts:
        for step, seconds in part["step_s"].items():
            step_s[step] = step_s.get(step, 0.0) + seconds
    return {
        "scenario": name, "days": days, "coins": coins, "children": len(shares), "wall_s": wall,
        "peak_bytes": sum(peak for _, peak in finished),
        "slowest_steps_s": dict(sorted(step_s.items(), key=lambda kv: -kv[1])[:6]),
        **{k: sum(p[k] for p in parts) for k in ("partitions", "failed", "raw_lines", "clean_rows")},
    }


def report(results: list[dict]) -> None:
    print(f"\n{'scenario':>9} {'procs':>5} {'runs':>5} {'failed':>6} {'wall s':>8} {'s/run':>7} {'peak MiB':>9} {'raw lines':>11} "
          f"{'lines/s':>9} {'clean rows/s':>12}")
    for r in results:
        print(f"{r['scenario']:>9} {r['children']:>5} {r['partitions']:>5} {r['failed']:>6} {r['wall_s']:>8.1f} "
              f"{r['wall_s'] / r['partitions']:>7.1f} {r['peak_bytes'] / 2**20:>9.0f} {r['raw_lines']:>11,} "
              f"{r['raw_lines'] / r['wall_s']:>9,.0f} {r['clean_rows'] / r['wall_s']:>12,.0f}")
    for r in results:
        steps = ", ".join(f"{k} {v:.0f}" for k, v in r["slowest_steps_s"].items())
        print(f"{r['scenario']:>9} slowest steps (s, summed over runs): {steps}")
    by_name = {r["scenario"]: r for r in results}
    if "1x1" in by_name:
        base = by_name["1x1"]["wall_s"]
        for r in results:
            if r["scenario"] != "1x1":
                n = r["days"] * r["coins"]
                print(f"scaling {r['scenario']} / 1x1: {r['wall_s'] / base:.1f} (linear: {n}; per coin-day "
                      f"{r['wall_s'] / n:.1f} s vs {base:.1f} s)")
    if "30x1" in by_name:
        r = by_name["30x1"]
        print(f"goal 30x1: {r['wall_s']:.0f} s (< {GOAL_S:.0f}: {r['wall_s'] < GOAL_S}), "
              f"peak {r['peak_bytes'] / 2**30:.2f} GiB (< 4: {r['peak_bytes'] < GOAL_BYTES})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also 30 days of one coin and 7 days of 10 coins")
    parser.add_argument("--scenarios", nargs="+", metavar="DAYSxCOINS", help="explicit scenarios, e.g. 1x1 30x1")
    parser.add_argument("--simulate", nargs=3, metavar=("RAW", "DAYS", "COINS"), help=argparse.SUPPRESS)
    parser.add_argument("--concurrent-runs", type=int, default=2,
                        help="coins run in this many processes at once (the instance's max_concurrent_runs)")
    parser.add_argument("--pipeline", nargs=3, metavar=("RAW", "LAKE", "COINS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.simulate:
        _simulate(args.simulate[0], int(args.simulate[1]), int(args.simulate[2]))
        return 0
    if args.pipeline:
        raw, lake, coins = args.pipeline
        print(json.dumps(_pipeline(raw, lake, coins.split(","))))
        return 0
    scenarios = args.scenarios or (FULL if args.full else DEFAULT)
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as work:
        results = []
        for name in scenarios:
            print(f"== {name} (days x coins)", flush=True)
            results.append(run_scenario(name, Path(work), args.concurrent_runs))
    report(results)
    return 1 if any(r["failed"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
