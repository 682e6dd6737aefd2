"""The walk-forward variants on the demo market: sensible backtests, the right component changed, no look-ahead."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from calibration.bars import features_1min, features_1s
from calibration.lead_lag import NoLeadLag
from calibration.markouts import maker_side_of_trades, markouts
from calibration.mids import mid_series
from data_lake.demo_market import DemoMarket, DemoMarketConfig
from data_lake.tables import BOOK_LEVELS
from validation.backtest.fold_data import FoldData
from validation.experiments.lead_lag_variant import LEAD_LAG
from validation.experiments.out_of_sample import simulate_fitted
from validation.experiments.regime_beliefs import fit_regimes, regime_reach
from validation.experiments.train_estimates import _base, _window, bipower_sigma, calm_reach, ewma_sigma
from validation.experiments.variant_registry import VARIANTS, evaluate_variant
from validation.experiments.variant_types import BASELINE, Market, VariantConfig

HOUR_MS = 3_600_000
DEMO = DemoMarketConfig(coin="DEMO", days=1, seed=11)
CONFIG = VariantConfig(vpin_buckets_per_day=2_000, vpin_window=20)
"""VPIN buckets of ~40 s and windows of ~15 min, so that hour-scale train windows hold VPIN values."""


def demo_lake_frames(market: DemoMarket) -> dict[str, pl.DataFrame]:
    """The demo market as the lake's ``trades``, ``book`` (5 levels every 500 ms and at every change of the
    touch), ``features`` (1 s and 1 min bars) and ``markouts`` (market trades from the maker side) frames."""
    c = market.config
    times = np.union1d(
        np.arange(c.start_ms, c.end_ms, c.book_interval_ms, dtype=np.int64), market.mids["time"].to_numpy()
    )
    bid = market.bid_ticks_at(times)
    scale = 10**c.tick_decimals
    levels = {}
    for i in range(1, BOOK_LEVELS + 1):
        levels |= {f"bid_px_{i}": (bid - i + 1) / scale, f"ask_px_{i}": (bid + i) / scale}
        levels |= {
            f"bid_sz_{i}": np.full(times.size, c.level_size_median),
            f"ask_sz_{i}": np.full(times.size, c.level_size_median),
        }
    book = pl.DataFrame({"coin": c.coin, "time": times, "source": "l2Book", **levels}).with_columns(
        mid=(pl.col("bid_px_1") + pl.col("ask_px_1")) / 2
    )
    trades = market.trades.select(
        pl.lit(c.coin).alias("coin"), "time", "tid", "px", "sz", pl.col("side").cast(pl.Int8), "buyer", "seller", "hash"
    )
    features = pl.concat([features_1s(trades, book), features_1min(trades, book)])
    marked = markouts(maker_side_of_trades(trades), mid_series(book))
    return {"trades": trades, "book": book, "features": features, "markouts": marked}


def window(frames: Market, start_ms: int, end_ms: int) -> dict[str, pl.DataFrame]:
    """Every frame's rows with ``time`` in [start_ms, end_ms)."""
    return {name: frame.filter(pl.col("time").is_between(start_ms, end_ms - 1)) for name, frame in frames.items()}


@pytest.fixture(scope="module")
def demo(demo_market: DemoMarket, demo_frames: dict[str, pl.DataFrame]) -> tuple[DemoMarket, dict[str, pl.DataFrame]]:
    return demo_market, demo_frames


@pytest.fixture(scope="module")
def split(demo: tuple[DemoMarket, dict[str, pl.DataFrame]]) -> tuple[Market, Market]:
    """Train on hours 1-5, test on hour 5-6 of the demo day."""
    _, frames = demo
    start = DEMO.start_ms
    return window(frames, start + HOUR_MS, start + 5 * HOUR_MS), window(
        frames, start + 5 * HOUR_MS, start + 6 * HOUR_MS
    )


def test_baseline_recovers_the_demo_truth_and_backtests_sensibly(split: tuple[Market, Market]) -> None:
    train, test = split
    outcome = evaluate_variant(BASELINE, train, test, CONFIG)
    params = outcome.fitted.params
    assert params["kappa_px"] == pytest.approx(DEMO.kappa_per_price, rel=0.05)
    assert params["arrival_rate_per_s"] == pytest.approx(DEMO.fill_intensity_a_per_s, rel=0.1)
    assert params["order_size"] * params["mid_px"] == pytest.approx(CONFIG.order_notional, rel=0.02)
    assert outcome.n_fills > 100
    assert outcome.period_pnl.height == 60 and math.isfinite(outcome.pnl)
    assert abs(outcome.final_inventory) <= CONFIG.position_limit_orders * params["order_size"] + 1e-9
    # the fitted curve predicts how often a market print reaches the quote within tau (~ a few %)
    assert outcome.quotes.height > 6_000
    assert 0.01 < outcome.actual_fill_rate < 0.1
    assert outcome.predicted_fill_rate == pytest.approx(outcome.actual_fill_rate, rel=0.3)
    assert outcome.brier < outcome.actual_fill_rate  # better than always saying "filled"
    # every fill is marked out; P&L per fill is spread capture + markout - fee on its notional
    fills = outcome.fills
    assert fills["realised_adverse_bps"].null_count() == 0
    expected = fills["net_5000ms_bps"] * 1e-4 * fills["mid_at_fill"] * fills["sz"]
    assert np.allclose(fills["pnl"].to_numpy(), expected.to_numpy())
    assert fills["spread_capture_bps"].median() > CONFIG.maker_fee_bps  # quotes sit beyond the fee
    assert outcome.predicted_adverse_bps == pytest.approx(params["adverse_bps"])


def test_each_variant_changes_only_its_component(split: tuple[Market, Market]) -> None:
    train, _ = split
    fitted = {name: variant.fit(train, CONFIG) for name, variant in VARIANTS.items() if not variant.optional}
    with pytest.raises(NoLeadLag, match="no leader mids in the train window"):
        VARIANTS[LEAD_LAG].fit(train, CONFIG)  # DEMO follows no one (tests/test_lead_lag_variant.py has a follower)
    base = fitted[BASELINE]
    assert base.policy.kappa_se_mult == 0.0 and base.regime_names == ("calm",)
    for name, f in fitted.items():
        assert f.name == name
        assert f.model.kappa == base.model.kappa and f.policy.order_size == base.policy.order_size
        assert f.reach.horizon_ms == CONFIG.backtest.fill_prob_horizon_ms and f.reach.latency_ms == CONFIG.latency_ms
    assert fitted["+bipower"].model.sigma != base.model.sigma
    assert fitted["+bipower"].model.arrival_rate == base.model.arrival_rate
    hmm = fitted["+hmm_blending"]
    assert hmm.regime_names[:2] == ("calm", "volatile")
    assert list(hmm.policy.gamma_by_regime) == sorted(hmm.policy.gamma_by_regime)
    assert hmm.adverse_bps_by_regime[1] > hmm.adverse_bps_by_regime[0]  # informed flow lives in the volatile regime
    assert hmm.policy.pull_by_regime == tuple(n == "cascade" for n in hmm.regime_names)
    vpin = fitted["+vpin_widening"]
    assert vpin.policy.min_spread_bps_by_regime == (0.0, CONFIG.vpin_widening_bps)
    assert 0.0 < vpin.params["vpin_toxic_share_train"] < 0.3
    widened = fitted["+uncertainty_widening"]
    assert widened.policy.kappa_se_mult == CONFIG.kappa_se_mult
    assert (widened.model, widened.params) == (base.model, base.params)


@pytest.mark.slow  # fits every variant twice
def test_fitting_reads_nothing_after_the_train_window(split: tuple[Market, Market]) -> None:
    """Plant absurd future information (a different test tape; train bars and markouts that close only after the
    train end) and show that no fitted number moves."""
    train, test = split
    train_end = int(train["book"]["time"].max()) + 1
    planted_train = dict(train)
    planted_train["features"] = pl.concat(
        [
            train["features"],
            train["features"]
            .filter(pl.col("bar_ms") == 60_000)
            .tail(1)
            .with_columns(
                time=pl.lit(train_end - 30_000, dtype=pl.Int64),
                ewma_var=pl.lit(1.0),
                bv=pl.lit(1.0),
                rv=pl.lit(1.0),
                log_return=pl.lit(0.5),
            ),
            train["features"]
            .filter(pl.col("bar_ms") == 1000)
            .tail(1)
            .with_columns(time=pl.lit(train_end - 500, dtype=pl.Int64), ewma_var=pl.lit(1.0)),
        ]
    )
    planted_train["markouts"] = pl.concat(
        [
            train["markouts"],
            train["markouts"]
            .filter(pl.col("is_market_trade"))
            .tail(50)
            .with_columns(time=pl.lit(train_end - 1_000, dtype=pl.Int64), markout_5000ms_bps=pl.lit(-1_000.0)),
        ]
    )
    crashed = dict(test)
    crashed["book"] = test["book"].with_columns(pl.col("^(bid|ask)_px_.*$", "mid") * 0.5)
    crashed["trades"] = test["trades"].with_columns(pl.col("px") * 0.5, pl.col("sz") * 100)
    crashed["features"] = test["features"].with_columns(
        pl.col("log_return") * 50, pl.col("rv", "bv", "ewma_var") * 2500
    )
    for name, variant in ((n, v) for n, v in VARIANTS.items() if not v.optional):
        clean = variant.fit(train, CONFIG)
        planted = variant.fit(planted_train, CONFIG)
        assert planted.params == clean.params, name
        outcome = simulate_fitted(clean, crashed, CONFIG)
        assert outcome.fitted.params == clean.params
        assert (outcome.fitted.model, outcome.fitted.policy) == (clean.model, clean.policy), name


@pytest.mark.parametrize("name", ["+hmm_blending", "+vpin_widening"])
def test_test_window_beliefs_and_fills_are_causal(name: str, split: tuple[Market, Market]) -> None:
    """Rewriting the test data after t leaves every belief and every fill up to t unchanged."""
    train, test = split
    fitted = VARIANTS[name].fit(train, CONFIG)
    cut = int(test["book"]["time"].min()) + 30 * 60_000
    later = pl.col("time") >= cut
    rewritten = dict(test)
    rewritten["trades"] = test["trades"].with_columns(pl.when(later).then(pl.col("sz") * 50).otherwise(pl.col("sz")))
    rewritten["features"] = test["features"].with_columns(
        pl.when(later).then(pl.col("log_return") * 30).otherwise(pl.col("log_return")),
        pl.when(later).then(pl.col("rv") * 900).otherwise(pl.col("rv")),
    )
    start = int(test["book"]["time"].min())
    original, changed = fitted.beliefs(test, start), fitted.beliefs(rewritten, start)
    assert original.filter(pl.col("time") < cut).equals(changed.filter(pl.col("time") < cut))
    assert not original.equals(changed)  # the rewrite did reach the beliefs after the cut
    before = simulate_fitted(fitted, test, CONFIG).fills.filter(pl.col("time") < cut)
    after = simulate_fitted(fitted, rewritten, CONFIG).fills.filter(pl.col("time") < cut)
    assert before.select("time", "side", "px", "sz").equals(after.select("time", "side", "px", "sz"))


def test_hmm_beliefs_follow_the_true_regime(
    demo: tuple[DemoMarket, dict[str, pl.DataFrame]], split: tuple[Market, Market]
) -> None:
    market, frames = demo
    train, _ = split
    test = window(frames, DEMO.start_ms + 5 * HOUR_MS, DEMO.start_ms + 9 * HOUR_MS)
    beliefs = VARIANTS["+hmm_blending"].fit(train, CONFIG).beliefs(test, DEMO.start_ms + 5 * HOUR_MS)
    minutes = beliefs.filter(pl.col("time") % 60_000 == 0).select(
        minute_start=pl.col("time") - 60_000, volatile=pl.col("belief_volatile") > 0.5
    )
    truth = market.regimes.select(minute_start="time", true_volatile=pl.col("state") == 1)
    joined = minutes.join(truth, on="minute_start")
    assert joined.height > 200 and joined["true_volatile"].any()
    assert (joined["volatile"] == joined["true_volatile"]).mean() > 0.85


def test_vpin_widening_quotes_wider_while_toxic(split: tuple[Market, Market]) -> None:
    train, test = split
    outcome = evaluate_variant("+vpin_widening", train, test, CONFIG)
    beliefs = outcome.fitted.beliefs(test, int(test["book"]["time"].min())).sort("time")
    quotes = outcome.quotes.sort("time").join_asof(beliefs, on="time", strategy="backward")
    toxic = quotes.filter(pl.col("belief_toxic") == 1.0)["depth_px"]
    normal = quotes.filter(pl.col("belief_toxic") == 0.0)["depth_px"]
    assert toxic.len() > 0 and normal.len() > 0
    mid = outcome.fitted.params["mid_px"]
    # the floor only binds where it is wider than the GLFT half-spread (fee-shifted): at least one tick wider
    assert toxic.median() - normal.median() >= 0.001 - 1e-9
    assert toxic.median() >= 0.5 * CONFIG.vpin_widening_bps * 1e-4 * mid


def test_the_variants_of_a_fold_part_share_one_fit_of_what_they_all_derive(split: tuple[Market, Market]) -> None:
    """On one fold part (a FoldData) the baseline estimates, the HMM and the reach curves are fitted once and shared
    by every variant that starts from them; a plain mapping refits them, to the same values."""
    train = FoldData(split[0])
    end_ms = _window(train)[1]
    assert _base(train, CONFIG, ewma_sigma) is _base(train, CONFIG, ewma_sigma)
    assert _base(train, CONFIG, bipower_sigma).sigma != _base(train, CONFIG, ewma_sigma).sigma
    regimes = fit_regimes(train, end_ms, CONFIG)
    assert regimes is fit_regimes(train, end_ms, CONFIG)
    hmm, pull, candidate = (
        VARIANTS[name].fit(train, CONFIG) for name in ("+hmm_blending", "+regime_pull", "candidate")
    )
    assert hmm.reach is pull.reach is regime_reach(train, end_ms, CONFIG)
    assert candidate.regime_names == hmm.regime_names == regimes.names
    baseline, bipower = VARIANTS[BASELINE].fit(train, CONFIG), VARIANTS["+bipower"].fit(train, CONFIG)
    assert baseline.reach is bipower.reach is calm_reach(train, CONFIG)
    fresh = split[0]  # a plain dict: nothing kept, every fit redone on the same rows
    assert _base(fresh, CONFIG, ewma_sigma) is not _base(fresh, CONFIG, ewma_sigma)
    assert _base(fresh, CONFIG, ewma_sigma).params == _base(train, CONFIG, ewma_sigma).params
    assert regime_reach(fresh, end_ms, CONFIG) == regime_reach(train, end_ms, CONFIG)
