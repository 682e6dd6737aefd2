"""The Hawkes component against known truth: the demo market's taker orders arrive as a Hawkes process (mu 0.4/s,
alpha 1.2/s, beta 2/s: branching ratio 0.6), so a quote's chance of being reached rises after a burst of orders.

The intensity multiplier is one function in every path (a tape in the backtest and the walk-forward, one trade at a
time in the quoter); on the clustered tape it fixes the simple quoter's fill-probability calibration (Cox slope
closer to 1) and the fill-rate diagnosis row carries the +hawkes verdict; on a Poisson tape (alpha 0.02/s) the
simple version is not shown to fail and the diagnosis keeps it simple.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from calibration.window_fits import order_arrival_times
from data_lake.demo_market import simulate
from quoting.core.exchange_rules import AssetRules
from quoting.core.glft import MarketModel, QuotePolicy, quote
from quoting.core.hawkes_intensity import HawkesIntensity, TakerOrderIntensity, intensity_multipliers
from quoting.runtime.online_state import TradeIntensity
from tests.test_variants import CONFIG, DEMO, HOUR_MS, demo_lake_frames, window
from validation.decisions.component_verdict import diagnose_run
from validation.decisions.verdict_text import KEEP_SIMPLE
from validation.experiments.hawkes_variant import HAWKES
from validation.experiments.out_of_sample import VariantOutcome, simulate_fitted
from validation.experiments.prediction_checks import fill_probability_check
from validation.experiments.variant_registry import VARIANTS
from validation.experiments.variant_types import BASELINE, Market
from validation.experiments.walk_forward import rolling_folds
from validation.experiments.walk_forward_run import walk_forward
from validation.statistics.calibration_metrics import calibration_metrics

POISSON = replace(DEMO, coin="POISSON", hawkes_alpha_per_s=0.02)
"""The same market with taker orders that barely cluster (branching ratio 0.01)."""


def split(frames: dict[str, pl.DataFrame], start_ms: int) -> tuple[Market, Market]:
    """Train on hours 1-5, test on hours 5-8."""
    return window(frames, start_ms + HOUR_MS, start_ms + 5 * HOUR_MS), window(
        frames, start_ms + 5 * HOUR_MS, start_ms + 8 * HOUR_MS
    )


@pytest.fixture(scope="module")
def clustered(demo_frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return demo_frames


@pytest.fixture(scope="module")
def poisson() -> dict[str, pl.DataFrame]:
    return demo_lake_frames(simulate(POISSON))


def outcomes(frames: dict[str, pl.DataFrame], start_ms: int) -> dict[str, VariantOutcome]:
    train, test = split(frames, start_ms)
    return {name: simulate_fitted(VARIANTS[name].fit(train, CONFIG), test, CONFIG) for name in (BASELINE, HAWKES)}


def cox_slope(outcome: VariantOutcome) -> tuple[float, tuple[float, float]]:
    q = outcome.quotes
    metrics = calibration_metrics(q["filled"].cast(pl.Float64).to_numpy(), q["pred_fill_prob"].to_numpy())
    return metrics.slope, metrics.slope_ci


def test_the_recursion_is_the_hawkes_intensity_and_one_function_in_both_paths(
    clustered: dict[str, pl.DataFrame],
) -> None:
    """Batch over a tape and online print by print give the same m(t); m(t) is the direct sum over past orders."""
    hawkes = HawkesIntensity(mu=0.4, alpha=1.2, beta=2.0)
    trades = clustered["trades"].filter(pl.col("time") < DEMO.start_ms + 600_000).sort("time")
    events = np.sort(np.concatenate(list(order_arrival_times(trades).values())))
    at = np.arange(DEMO.start_ms, DEMO.start_ms + 600_000, 250, dtype=np.int64)
    batch = intensity_multipliers(events, at, hawkes)

    online, frames_online = TakerOrderIntensity(hawkes), TradeIntensity(hawkes)
    live = np.empty(at.size)
    rows = trades.iter_rows(named=True)
    pending = next(rows, None)
    for k, t in enumerate(at):
        while pending is not None and pending["time"] <= t:
            taker = pending["buyer"] if pending["side"] > 0 else pending["seller"]
            online.on_trade(pending["time"], pending["side"], taker)
            frames_online.on_trades(
                [
                    {
                        "coin": "DEMO",
                        "side": "B" if pending["side"] > 0 else "A",
                        "time": pending["time"],
                        "users": [pending["buyer"], pending["seller"]],
                    }
                ],
                "DEMO",
            )
            pending = next(rows, None)
        live[k] = online.multiplier(int(t))
        assert frames_online.multiplier(int(t)) == live[k]
    np.testing.assert_array_equal(batch, live)

    age_s = (at[:, None] - events[None, :]) / 1e3
    direct = hawkes.mu + np.where(age_s >= 0, hawkes.alpha * np.exp(-hawkes.beta * np.maximum(age_s, 0.0)), 0.0).sum(1)
    np.testing.assert_allclose(batch, direct / hawkes.mean_intensity, rtol=1e-9)
    assert hawkes.mean_intensity == pytest.approx(1.0) and batch.max() > 3.0 and batch.min() < 0.5


def test_a_burst_narrows_the_glft_quote_a_lull_widens_it() -> None:
    """A * m in c2: the half-spread falls as the multiplier rises, and m = 1 is the plain quote."""
    model = MarketModel(sigma=0.01, kappa=500.0, kappa_se=0.0, arrival_rate=0.5)
    policy = QuotePolicy(
        (0.3,),
        (0.0,),
        order_size=2.0,
        position_limit=10.0,
        rules=AssetRules(sz_decimals=2),
        hawkes=HawkesIntensity(0.4, 1.2, 2.0),
    )
    spreads = [quote(25.0, 0.0, (1.0,), model, policy, intensity_multiplier=m).half_spread for m in (0.4, 1.0, 5.0)]
    assert spreads[0] > spreads[1] > spreads[2]
    assert quote(25.0, 0.0, (1.0,), model, policy).half_spread == spreads[1]


def test_on_a_clustered_tape_the_multiplier_calibrates_the_fill_probability(
    clustered: dict[str, pl.DataFrame],
) -> None:
    """Trained on 4 h, tested on the next 3 h: the fitted process is the truth within its SEs, the simple
    quoter's Cox slope is significantly above 1 (its constant forecast misses the bursts), the +hawkes one is
    closer to 1 with 1 in its interval, and its Brier score is lower."""
    runs = outcomes(clustered, DEMO.start_ms)
    params = runs[HAWKES].fitted.params
    assert params["hawkes_branching_ratio"] == pytest.approx(0.6, abs=3 * params["hawkes_branching_ratio_se"] + 0.01)
    assert params["hawkes_mu_per_s"] == pytest.approx(DEMO.hawkes_mu_per_s, rel=0.1)
    simple_slope, simple_ci = cox_slope(runs[BASELINE])
    hawkes_slope, hawkes_ci = cox_slope(runs[HAWKES])
    assert simple_ci[0] > 1.0
    assert abs(hawkes_slope - 1.0) < abs(simple_slope - 1.0) and hawkes_ci[0] < 1.0 < hawkes_ci[1]
    assert runs[HAWKES].brier < runs[BASELINE].brier
    assert not np.array_equal(runs[HAWKES].period_pnl["pnl"].to_numpy(), runs[BASELINE].period_pnl["pnl"].to_numpy())


@pytest.mark.slow  # simulates and backtests a Poisson demo day
def test_on_a_poisson_tape_the_simple_version_is_kept(poisson: dict[str, pl.DataFrame]) -> None:
    """Branching ratio 0.01: the multiplier stays near 1, the simple fill probability is not shown to fail over two
    walk-forward folds, and the fill-rate row's verdict is keep simple with the +hawkes evidence beside it."""
    folds = rolling_folds(POISSON.start_ms, POISSON.start_ms + 9 * HOUR_MS, train_ms=4 * HOUR_MS, test_ms=2 * HOUR_MS)
    run = walk_forward(folds, poisson, CONFIG, variants=(BASELINE, HAWKES))
    assert len(run.complete_folds) == len(folds) >= 2
    pooled = run.rows.filter((pl.col("fold") == -1) & (pl.col("variant") == HAWKES)).row(0, named=True)
    assert pooled["status"] == "ok"
    assert not fill_probability_check(run.baseline_quotes).fails(run.alpha)
    rows = {v.diagnosis.component: v for v in diagnose_run(run, poisson, CONFIG)}
    assert rows["hawkes"].verdict == KEEP_SIMPLE and rows["hawkes"].addition.variant == HAWKES
    assert math.isfinite(rows["hawkes"].simple.p_value)


def test_on_the_clustered_tape_the_fill_rate_row_carries_the_hawkes_verdict(
    clustered: dict[str, pl.DataFrame],
) -> None:
    """Two walk-forward folds: the simple fill probability fails, and the row's verdict is decided by the +hawkes
    variant's P&L test (counted as a trial: its P&L differs from the baseline's), not left untested."""
    folds = rolling_folds(DEMO.start_ms, DEMO.start_ms + 9 * HOUR_MS, train_ms=4 * HOUR_MS, test_ms=2 * HOUR_MS)
    run = walk_forward(folds, clustered, CONFIG, variants=(BASELINE, HAWKES))
    assert HAWKES in run.trials
    rows = {v.diagnosis.component: v for v in diagnose_run(run, clustered, CONFIG)}
    row = rows["hawkes"]
    assert row.simple.fails(run.alpha)
    assert row.verdict in {"add", "no fix"} and math.isfinite(row.addition.adjusted_p)
    assert row.addition.n_trials == 1
