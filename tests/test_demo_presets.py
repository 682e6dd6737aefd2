"""The demo coins of ``make demo``: ``NICHE`` documents an edge a maker can take in its calm regime, the ``DEMO``
control none; a simulated day's maker-side markouts of market trades confirm both truths."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from calibration.markouts import maker_side_of_trades, markouts
from data_lake.demo_market import DemoMarket, DemoMarketConfig, demo_coin_configs, simulate
from data_lake.demo_market.edge import EDGE_DEPTHS_BPS
from data_lake.demo_market.truth import truth
from data_lake.fees import MAKER_FEE_BPS
from validation.statistics.significance import hac_mean_test

START = dt.date(2026, 1, 1)
DEPTH_BINS_BPS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, np.inf)
MIN_ORDERS_PER_BIN = 30


@pytest.fixture(scope="module")
def markets(demo_coin_markets: dict[str, DemoMarket]) -> dict[str, DemoMarket]:
    return {config.coin: demo_coin_markets[config.coin] for config in demo_coin_configs(1, 7, START)}


def test_presets_are_the_control_and_the_niche_with_distinct_seeds() -> None:
    configs = demo_coin_configs(3, 7, START)
    assert [c.coin for c in configs] == ["DEMO", "NICHE"]
    assert len({c.seed for c in configs}) == 2 and all(c.days == 3 and c.start == START for c in configs)
    assert [c.seed for c in demo_coin_configs(3, 7, START)] == [c.seed for c in configs]
    assert {c.seed for c in demo_coin_configs(3, 8, START)}.isdisjoint({c.seed for c in configs})
    assert DemoMarketConfig().impact_per_reach == ()


def test_truth_says_niche_has_an_edge_in_calm_only_and_demo_none(markets: dict[str, DemoMarket]) -> None:
    niche, demo = truth(markets["NICHE"]), truth(markets["DEMO"])
    assert niche["edge"] is True and demo["edge"] is False
    edge = niche["maker_edge"]
    assert edge["depths_bps"] == list(EDGE_DEPTHS_BPS) and edge["maker_fee_bps"] == MAKER_FEE_BPS
    intensity = np.array(edge["fill_intensity_per_side_per_s"])
    assert (intensity > 0).all() and (np.diff(intensity) < 0).all()
    calm, volatile = (np.array(edge["regimes"][r]["net_bps"]) for r in ("calm", "volatile"))
    depths = np.array(EDGE_DEPTHS_BPS)
    # calm: d - 0.05 * 3 bps informed - 1.5 bps fee; volatile: the order's impact takes d + 1/kappa back.
    np.testing.assert_allclose(calm, depths - 0.15 - MAKER_FEE_BPS)
    assert (calm[depths >= 3] > 1).all() and (volatile < 0).all()
    for regime in demo["maker_edge"]["regimes"].values():
        assert max(regime["net_bps"]) < 0 and max(regime["gross_edge_bps"]) < 0


def _maker_net_by_depth(market: DemoMarket) -> pl.DataFrame:
    """Per (regime, depth bin) of the market trades seen from the maker side: mean net 5 s markout (spread capture
    + markout - 1.5 bps fee) with a HAC 95% CI over taker orders (an order's prints share their markout)."""
    trades = market.trades.with_columns(market.orders["regime"].gather(market.trades["order"]))
    marked = markouts(
        maker_side_of_trades(trades.select("time", "side", "px", "order", "regime"), MAKER_FEE_BPS),
        market.mids.select("time", "mid"),
        horizons_ms=(5000,),
    )
    depth_bin = np.digitize(marked["spread_capture_bps"].to_numpy(), DEPTH_BINS_BPS) - 1
    per_order = (
        marked.with_columns(pl.Series("bin", depth_bin))
        .filter(pl.col("bin") >= 0)
        .group_by("regime", "bin", "order")
        .agg(pl.col("time").first(), pl.col("net_5000ms_bps").mean())
        .drop_nulls()
        .sort("time")
    )
    rows = []
    for (regime, depth_bin), frame in per_order.group_by("regime", "bin"):
        if frame.height >= MIN_ORDERS_PER_BIN:
            test = hac_mean_test(frame["net_5000ms_bps"].to_numpy(), alternative="two-sided")
            rows.append(
                {
                    "regime": market.config.regime_names[regime],
                    "from_bps": DEPTH_BINS_BPS[depth_bin],
                    "net_bps": test.estimate,
                    "ci_low": test.ci[0],
                    "ci_high": test.ci[1],
                    "n": frame.height,
                }
            )
    return pl.DataFrame(rows).sort("regime", "from_bps")


def test_niche_calm_quotes_a_few_bps_out_earn_after_fees_and_volatile_ones_lose(markets: dict[str, DemoMarket]) -> None:
    net = _maker_net_by_depth(markets["NICHE"])
    calm, volatile = net.filter(pl.col("regime") == "calm"), net.filter(pl.col("regime") == "volatile")
    deep_calm = calm.filter(pl.col("from_bps") >= 3)
    assert deep_calm.height >= 2 and (deep_calm["ci_low"] > 0).all(), calm
    assert (volatile["ci_high"] < 0).all() and volatile.height >= 5, volatile


def test_demo_control_loses_at_every_depth_in_every_regime(markets: dict[str, DemoMarket]) -> None:
    net = _maker_net_by_depth(markets["DEMO"])
    assert net.height >= 10 and set(net["regime"]) == {"calm", "volatile"}
    assert (net["net_bps"] <= 0).all() and (net["ci_low"] < 0).all(), net


@pytest.mark.slow  # simulates a week of each preset coin
def test_impact_keeps_the_price_path_on_the_tick_grid_for_a_week() -> None:
    for config in demo_coin_configs(7, 3, START):
        mids = simulate(config).mids["mid"]
        assert 0.5 * config.start_price < mids.min() and mids.max() < min(2 * config.start_price, config.max_price)
