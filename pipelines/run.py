"""Run the pipeline from the command line against a persistent Dagster instance (``$DAGSTER_HOME``).

``python -m pipelines.run demo``   generate the demo coins (``DEMO``, the control, and ``NICHE``; with
                                   ``--with-follower`` also ``FOLLOW``, led by ``DEMO``), materialise their
                                   days, print each coin's gate decision, then quote a held-out hour with the paper
                                   quoter on each promoted set and print the table of its own predictions
                                   (``pipelines.demo_loop``);
``python -m pipelines.run ingest`` materialise every (coin, day) found in the raw zone (real captures).
Both backfill in stages on ``--workers`` processes (``pipelines.backfill``: each coin's fits oldest day first);
``--train-hours``, ``--test-hours`` and ``--folds`` set the walk-forward's folds (default 1440 h / 168 h / 4 folds,
the demo 6 h / 3 h / 4 folds).
Runs land in the same instance the UI reads, so ``dg dev -w workspace.yaml`` shows them afterwards. Every start
first marks failed the runs a killed earlier backfill left unfinished (``pipelines.stale_runs``), and the workers die
with this process (``pipelines.process_life``).
"""

import argparse
import copy
import datetime as dt
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import dagster as dg
import polars as pl
from tqdm import tqdm

from data_lake import param_registry, raw_zone, settings
from data_lake.lake import Lake
from pipelines.backfill import FEATURES, FITS, INGEST, Outcome, Skipped, backfill, failed_partitions
from pipelines.run_config import DEMO_RUN_CONFIG
from pipelines.run_notes import AssetNote, run_notes
from pipelines.stale_runs import fail_runs_of_dead_processes
from pipelines.walk_forward_summary import walk_forward_lines
from quoting.cli.params import params_show

STAGE_ORDER = (INGEST, FEATURES, FITS)
PROGRESS_BAR_OVER = 30
"""Backfills of more stages show a progress bar rather than a line per stage."""
DEMO_REPLAY_HOUR = 0
"""The held-out day's hour the paper quoter replays: the first after every training window."""


def partitions_in(raw_root: str) -> list[tuple[str, dt.date]]:
    """Every (coin, day) with at least one raw file."""
    return sorted({(f.coin, f.date) for f in raw_zone.discover(raw_root)})


def with_walk_forward_folds(
    run_config: dict | None,
    train_hours: float | None = None,
    test_hours: float | None = None,
    n_folds: int | None = None,
) -> dict | None:
    """``run_config`` with the walk-forward's fold lengths set where given (None keeps the config's or the asset's
    default); ``run_config`` itself is left unchanged."""
    chosen = {"train_hours": train_hours, "test_hours": test_hours, "n_folds": n_folds}
    chosen = {name: value for name, value in chosen.items() if value is not None}
    if not chosen:
        return run_config
    config = copy.deepcopy(run_config or {})
    config.setdefault("ops", {}).setdefault("walk_forward_assets", {}).setdefault("config", {}).update(chosen)
    return config


def _positive(kind: type) -> Callable[[str], float | int]:
    """An argparse type: ``kind`` of the text, refused unless greater than 0."""

    def parse(text: str) -> float | int:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    return parse


def log_file_of(instance: dg.DagsterInstance) -> Path | None:
    """Where the runs' console output goes: ``$DAGSTER_HOME/logs/pipelines_run.log`` (None: an ephemeral instance
    keeps it on stderr)."""
    if instance.is_ephemeral:
        return None
    path = Path(instance.root_directory) / "logs" / "pipelines_run.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def materialise_all(
    instance: dg.DagsterInstance,
    raw_root: str,
    run_config: dict | None = None,
    workers: int = 1,
    partitions: list[tuple[str, dt.date]] | None = None,
) -> list[Outcome]:
    """Backfill the nightly job over ``partitions`` (default: every partition in the raw zone), printing each (coin,
    day) that is no partition with why and each stage's outcome as it finishes (a progress bar instead when there
    are more than :data:`PROGRESS_BAR_OVER` stages; failures are printed either way); every outcome. The runs'
    console output goes to :func:`log_file_of`. ``run_config`` None: each partition's default (demo coins: the
    demo's folds)."""
    chosen = partitions_in(raw_root) if partitions is None else partitions
    stages = len(set(chosen)) * len(STAGE_ORDER)
    bar = tqdm(total=stages, unit="stage", desc="backfill", disable=stages <= PROGRESS_BAR_OVER)

    def report(o: Outcome) -> None:
        status = {True: "ok", False: "FAILED", None: "skipped, an earlier stage failed"}[o.success]
        line = f"  {o.coin} {o.date} {o.stage:<8}: {status}{f' (run {o.run_id[:8]})' if o.run_id else ''}"
        if bar.disable:
            print(line, flush=True)
        else:
            bar.set_postfix_str(f"{o.coin} {o.date} {o.stage}")
            bar.update()
            if not o.success:
                bar.write(line)

    def skip(s: Skipped) -> None:
        bar.write(f"  {s.coin} {s.date}: skipped, {s.reason}")

    log_file = log_file_of(instance)
    if log_file:
        print(f"Dagster's event log of every run: the UI, and {log_file}", flush=True)
    try:
        return backfill(
            instance, chosen, run_config=run_config, workers=workers, report=report, skip=skip, log_file=log_file
        )
    finally:
        bar.close()


def default_workers(instance: dg.DagsterInstance) -> int:
    """One worker per available core on a persistent instance; an ephemeral one only runs in this process."""
    return 1 if instance.is_ephemeral else len(os.sched_getaffinity(0))


def _summary(lake: Lake) -> None:
    print(f"\nlake: {lake.root}")
    for name in (
        "raw_captures",
        "trades",
        "book",
        "quarantine",
        "features",
        "markouts",
        "kappa_fit",
        "hawkes_fit",
        "regime_fit",
        "vol_fit",
        "walk_forward",
        "calibration_metrics",
        "alerts",
        "param_sets",
    ):
        rows = lake.scan(name).select("coin").collect().height if lake.exists(name) else 0
        print(f"  {name:<14} {rows:>10,} rows   {lake.uri(name)}")


def _print_notes(instance: dg.DagsterInstance, outcomes: list[Outcome]) -> None:
    """Every asset that skipped, failed or did not run, with its reason, by partition in stage order."""
    lines = []
    for o in sorted(outcomes, key=lambda o: (o.coin, o.date, STAGE_ORDER.index(o.stage))):
        earlier_failed = [AssetNote(o.stage, "not run", "an earlier stage failed")]
        notes = run_notes(instance, o.run_id) if o.run_id else earlier_failed
        lines += [f"  {o.coin} {o.date} {note.line()}" for note in notes]
    print("skipped or failed assets, with their reasons:")
    print("\n".join(lines or ["  none"]))


def _print_table(table: pl.DataFrame) -> None:
    print(f"    {'metric':<40} {'value':>9} {'95% CI':>21} {'n':>7} {'predicted':>10}")
    for r in table.iter_rows(named=True):
        ci = f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}]" if r["ci_low"] is not None else ""
        predicted = f"{r['predicted']:.4g}" if r["predicted"] is not None else ""
        print(f"    {r['metric']:<40} {r['value']:>9.4g} {ci:>21} {r['n']:>7} {predicted:>10}")


def _demo_end(instance: dg.DagsterInstance, raw_root: str, outcomes: list[Outcome], held_out: dt.date) -> None:
    """Print each coin's gate decision on its last backfilled day, then the paper quoter's replay of a held-out
    hour on every promoted set and the table of its own predictions."""
    from pipelines.demo_loop import gate_outcome, quoter_ran, replay_and_ingest
    from validation.statistics.baseline_table import quoter_prediction_table
    from validation.statistics.quoter_scoring import quoted_sides

    lake_root = Lake().root
    coins = sorted({o.coin for o in outcomes})
    print("\ngate decisions (last backfilled day):")
    for coin in coins:
        last = max(o.date for o in outcomes if o.coin == coin)
        print(gate_outcome(instance, lake_root, coin, last, outcomes).line())
    live = {c: pointer for c in coins if (pointer := param_registry.read_pointer(lake_root, c)) is not None}
    if not live:
        print("\npaper quoter not run: no coin has a promoted parameter set (the gate promoted no candidate)")
        return
    for coin, pointer in live.items():
        set_id = pointer.param_set_id
        print(
            f"\n{coin}: paper quoter on promoted set {set_id}, replaying held-out hour {held_out} "
            f"{DEMO_REPLAY_HOUR:02d}:00 UTC (as fast as it reads; the set is aged on the wall clock, "
            "so --max-param-age-s allows 10 years)"
        )
        replay = replay_and_ingest(
            instance, lake_root, raw_root, coin, held_out, DEMO_REPLAY_HOUR, log_file_of(instance)
        )
        if not quoter_ran(replay):
            print(
                f"  quoter exit code {replay.exit_code} ({replay.quoter_said}), ingest "
                f"{'ok' if replay.ingested else 'FAILED'}, {replay.quote_log.height} log rows: no table"
            )
            continue
        own = replay.markouts.filter(~pl.col("is_market_trade"))
        decisions = replay.quote_log.filter(pl.col("channel") == "quoterQuote").height
        table = quoter_prediction_table(replay.quote_log, replay.markouts, replay.trades)
        print(
            f"  {decisions:,} decisions, {quoted_sides(replay.quote_log).height:,} quoted sides, {own.height:,} own "
            f"fills marked{'; its own predictions:' if table.height else ': nothing quoted, nothing to score'}"
        )
        if table.height:
            _print_table(table)


def _report_stale_runs(instance: dg.DagsterInstance) -> None:
    """Mark failed, and print, the runs an earlier backfill left unfinished when its process died."""
    stale = fail_runs_of_dead_processes(instance)
    if stale:
        print(
            f"{len(stale)} run(s) left unfinished by a process that died, now marked failed (the failure sensor "
            "records them in run_failures):",
            flush=True,
        )
        print("\n".join(f"  {run.line()}" for run in stale), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.run", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="generate the demo market and run the pipeline on it")
    demo.add_argument("--days", type=int, default=2, help="days backfilled (one more is simulated, held out)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 1, 1))
    demo.add_argument(
        "--with-follower",
        action="store_true",
        help="add FOLLOW, whose mid follows DEMO's 2 s later (lead-lag; about half the demo's time again)",
    )
    sub.add_parser("ingest", help="run the pipeline on every (coin, day) in the raw zone")
    for command in sub.choices.values():
        command.add_argument("--workers", type=int, help="processes running partitions at once (default: one per core)")
        command.add_argument(
            "--train-hours",
            type=_positive(float),
            help="walk-forward training window of each fold, hours (default 1440; demo 6)",
        )
        command.add_argument(
            "--test-hours",
            type=_positive(float),
            help="walk-forward test window of each fold and the step between folds, hours (default 168; demo 3)",
        )
        command.add_argument("--folds", type=_positive(int), help="walk-forward folds wanted (default 4)")
    args = parser.parse_args(argv)

    raw_root = settings.raw_root()
    partitions = None
    if args.command == "ingest":
        if not os.path.isdir(raw_root):
            print(
                f"python -m pipelines.run ingest: error: raw zone {raw_root!r} does not exist: check $SMALLFISH_RAW",
                file=sys.stderr,
            )
            return 2
        partitions = partitions_in(raw_root)
        if not partitions:
            print(
                f"python -m pipelines.run ingest: error: no captures under raw zone {raw_root!r} "
                "(expected {source}/{YYYYMMDD}/{H}/{coin}.jsonl[.lz4]): check $SMALLFISH_RAW",
                file=sys.stderr,
            )
            return 2
    if args.command == "demo":
        from data_lake.demo_market import demo_coin_configs, load_truth, simulate_coins_to_raw
        from data_lake.leaders import ENV_VAR
        from pipelines.demo_loop import hold_out_hour

        configs = demo_coin_configs(args.days + 1, args.seed, args.start, follower=args.with_follower)
        if args.with_follower:  # the follower's lead-lag reads its leader (an explicit $SMALLFISH_LEADERS wins)
            os.environ.setdefault(ENV_VAR, ";".join(f"{c.coin}={c.leader}" for c in configs if c.leader))
        for config, truth in zip(configs, simulate_coins_to_raw(configs, raw_root), strict=True):
            print(
                f"demo coin {config.coin} written to {raw_root} (ground truth: {truth}, edge: "
                f"{str(load_truth(truth)['edge']).lower()})"
            )
        days = [args.start + dt.timedelta(days=d) for d in range(args.days)]
        partitions = [(c.coin, day) for c in configs for day in days]
        held_out = args.start + dt.timedelta(days=args.days)
        for config in configs:
            hold_out_hour(raw_root, config.coin, held_out, DEMO_REPLAY_HOUR)
        print(f"backfilling {days[0]}..{days[-1]}; {held_out} {DEMO_REPLAY_HOUR:02d}:00 UTC is held out for the quoter")

    instance = dg.DagsterInstance.get()
    _report_stale_runs(instance)
    run_config = with_walk_forward_folds(
        DEMO_RUN_CONFIG if args.command == "demo" else None, args.train_hours, args.test_hours, args.folds
    )
    outcomes = materialise_all(
        instance,
        raw_root,
        run_config=run_config,
        workers=args.workers or default_workers(instance),
        partitions=partitions,
    )
    _summary(Lake())
    materialised = {(o.coin, o.date) for o in outcomes}
    failed = failed_partitions(outcomes)
    print(
        f"\n{len(materialised) - len(failed)}/{len(materialised)} partitions materialised; "
        f"Dagster home: {instance.root_directory}"
    )
    _print_notes(instance, outcomes)
    print("\n".join(["walk-forward:", *walk_forward_lines(instance, outcomes)]))
    if args.command == "demo":
        _demo_end(instance, raw_root, outcomes, held_out)
    else:
        for coin in sorted({coin for coin, _ in materialised}):
            print(params_show(Lake().root, coin))
    print("\nopen the UI with: make ui   (http://127.0.0.1:3000)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
