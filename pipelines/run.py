"""Run the pipeline from the command line against a persistent Dagster instance (``$DAGSTER_HOME``).

``python -m pipelines.run demo``   generate the demo market, then materialise every partition it produced;
``python -m pipelines.run ingest`` materialise every (coin, day) found in the raw zone (real captures).
Both backfill in stages on ``--workers`` processes (``pipelines.backfill``: each coin's fits oldest day first).
Runs land in the same instance the UI reads, so ``dagster dev -w workspace.yaml`` shows them afterwards.
"""

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence

import dagster as dg

from data_lake import raw_zone
from data_lake.lake import Lake
from pipelines.backfill import Outcome, backfill, failed_partitions
from pipelines.resources import default_raw_root
from quoting.params_cli import params_show


def partitions_in(raw_root: str) -> list[tuple[str, dt.date]]:
    """Every (coin, day) with at least one raw file."""
    return sorted({(f.coin, f.date) for f in raw_zone.discover(raw_root)})


DEMO_RUN_CONFIG = {
    "ops": {
        "walk_forward_assets": {
            "config": {"train_hours": 6, "test_hours": 3, "n_folds": 4, "vpin_buckets_per_day": 2000, "vpin_window": 20}
        },
        "signal_quality": {"config": {"lookback_days": 2, "window_hours": 6}},
        "param_sets": {"config": {"min_paired_periods": 30}},
    }
}
"""Hour-scale folds: the demo market spans days, the production defaults (60 d train, 7 d test) need months."""


def materialise_all(
    instance: dg.DagsterInstance, raw_root: str, run_config: dict | None = None, workers: int = 1
) -> list[Outcome]:
    """Backfill the nightly job over every partition in the raw zone, printing each stage's outcome as it
    finishes; every outcome."""
    def report(o: Outcome) -> None:
        status = {True: "ok", False: "FAILED", None: "skipped, an earlier stage failed"}[o.success]
        print(f"  {o.coin} {o.date} {o.stage:<8}: {status}{f' (run {o.run_id[:8]})' if o.run_id else ''}", flush=True)

    return backfill(instance, partitions_in(raw_root), run_config=run_config, workers=workers, report=report)


def default_workers(instance: dg.DagsterInstance) -> int:
    """One worker per available core on a persistent instance; an ephemeral one only runs in this process."""
    return 1 if instance.is_ephemeral else len(os.sched_getaffinity(0))


def _summary(lake: Lake) -> None:
    print(f"\nlake: {lake.root}")
    for name in ("raw_captures", "trades", "book", "quarantine", "features", "markouts", "kappa_fit", "hawkes_fit",
                 "regime_fit", "vol_fit", "walk_forward", "calibration_metrics", "alerts", "param_sets"):
        rows = lake.scan(name).select("coin").collect().height if lake.exists(name) else 0
        print(f"  {name:<14} {rows:>10,} rows   {lake.uri(name)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.run", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="generate the demo market and run the pipeline on it")
    demo.add_argument("--days", type=int, default=2)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--coin", default="DEMO")
    demo.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 1, 1))
    sub.add_parser("ingest", help="run the pipeline on every (coin, day) in the raw zone")
    for command in sub.choices.values():
        command.add_argument("--workers", type=int, help="processes running partitions at once (default: one per core)")
    args = parser.parse_args(argv)

    raw_root = default_raw_root()
    if args.command == "demo":
        from data_lake.demo_market import DemoMarketConfig, simulate_to_raw

        truth = simulate_to_raw(DemoMarketConfig(coin=args.coin, days=args.days, seed=args.seed, start=args.start), raw_root)
        print(f"demo market written to {raw_root} (ground truth: {truth})")

    instance = dg.DagsterInstance.get()
    outcomes = materialise_all(instance, raw_root, run_config=DEMO_RUN_CONFIG if args.command == "demo" else None,
                               workers=args.workers or default_workers(instance))
    _summary(Lake())
    partitions = {(o.coin, o.date) for o in outcomes}
    failed = failed_partitions(outcomes)
    print(f"\n{len(partitions) - len(failed)}/{len(partitions)} partitions materialised; Dagster home: {instance.root_directory}")
    for coin, date, stage in failed:
        print(f"  FAILED {coin} {date} at stage {stage}: see its run in the UI")
    print(f"walk-forward reports: {Lake().root}/reports/")
    for coin in sorted({coin for coin, _ in partitions}):
        print(params_show(Lake().root, coin))
    print("open the UI with: make ui   (http://127.0.0.1:3000)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
