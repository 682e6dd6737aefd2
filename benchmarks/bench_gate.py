"""The promotion gate's error rates on the demo coins: power on ``NICHE`` and false promotions on ``DEMO``.

For each seed and number of days, the demo coin is simulated (``data_lake.demo_market.demo_coin_configs``), turned
into the lake's frames, and walked forward with hour-scale folds (6 h train, 3 h test, tiling the days after the
first train window) over the baseline and the ``candidate``; the candidate's out-of-sample evidence goes through
:func:`validation.decisions.promotion_gate.evaluate_gate` against "not quoting" exactly as the nightly ``param_sets``
asset builds it (data quality taken as passed: the frames are simulated, not ingested). Printed per coin and days: the
promotion rate with its Clopper-Pearson 95% interval, beside the goal (``NICHE``: >= 80% power; ``DEMO``: at most
alpha = 5%) and the days at which ``NICHE`` first reaches 80%.

Run: ``python benchmarks/bench_gate.py [--seeds 8] [--days 1 2]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import polars as pl
from scipy.stats import beta

from data_lake.units import HOUR_MS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_lake.demo_market import demo_coin_configs, simulate  # noqa: E402
from tests.test_variants import CONFIG, demo_lake_frames  # noqa: E402
from validation.decisions.promotion_gate import GateConfig, build_evidence, evaluate_gate  # noqa: E402
from validation.experiments.candidate import CANDIDATE  # noqa: E402
from validation.experiments.walk_forward import rolling_folds  # noqa: E402
from validation.experiments.walk_forward_run import POOLED, walk_forward  # noqa: E402


def promoted(coin: str, seed: int, days: int) -> tuple[bool, list[str]]:
    """Whether the gate promotes the candidate of ``coin`` walked forward over ``days`` simulated days."""
    config = next(c for c in demo_coin_configs(days, seed, dt.date(2026, 1, 1)) if c.coin == coin)
    frames = demo_lake_frames(simulate(config))
    folds = rolling_folds(config.start_ms, config.end_ms, train_ms=6 * HOUR_MS, test_ms=3 * HOUR_MS)
    run = walk_forward(folds, frames, CONFIG, variants=("baseline", CANDIDATE))
    row = run.rows.filter((pl.col("fold") == POOLED) & (pl.col("variant") == CANDIDATE)).row(0, named=True)
    evidence = build_evidence(
        folds=len(run.complete_folds),
        oos_fills=int(row["n_fills"]),
        period_ms=CONFIG.period_ms,
        period_start_ms=run.pnl["time"].to_list(),
        pnl=run.pnl[CANDIDATE].to_list(),
        fill_calibration=run.fill_calibration,
        adverse_calibration=run.adverse_calibration,
        data_quality={"reconciliation": (True, "simulated frames")},
    )
    decision = evaluate_gate(evidence, None, GateConfig())
    return decision.promote, [r for r in decision.reasons if r.startswith("fail:")]


def interval(k: int, n: int) -> tuple[float, float]:
    """Clopper-Pearson 95% interval of k successes in n."""
    low = beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    high = beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--days", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    started = time.perf_counter()
    for days in args.days:
        for coin, goal in (("NICHE", "power >= 80%"), ("DEMO", "false promotion <= 5%")):
            outcomes = [promoted(coin, seed, days) for seed in range(args.seeds)]
            k = sum(p for p, _ in outcomes)
            low, high = interval(k, args.seeds)
            reasons = sorted({r.split(" (")[0] for _, fails in outcomes for r in fails})
            print(
                f"{coin:<6} {days} day(s): promoted {k}/{args.seeds} = {k / args.seeds:.0%} "
                f"[95% CI {low:.0%}, {high:.0%}]  goal: {goal}",
                flush=True,
            )
            for reason in reasons:
                print(f"         seen: {reason}", flush=True)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
