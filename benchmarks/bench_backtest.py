"""Backtest throughput: ``validation.backtest.runner.run_backtest`` against hftbacktest running the same GLFT quoter.

Synthetic week of one coin near 25 USDC (tick 0.001 = Hyperliquid's 5-significant-figure grid there, lot 0.1):
a 5-level book snapshot every 500 ms and about two trades a second, ~2.4M book rows + trades. hftbacktest gets
the same data as its event array (``data_lake.export_hftbacktest``, as ``smallfish export hftbacktest`` writes it:
snapshot diffs as depth events, trades as trade events, 100 ms feed latency)
and a loop that quotes through the same compiled ``glft_quote_core`` every 500 ms (one decision per book row,
as ours), with 100 ms order entry/response latency, its risk-averse queue model and a 1.5 bp maker fee.
Both sides are timed after compilation, best of ``--repeat`` runs (the numbers are noisy on a shared machine);
throughput is in book rows + trades per second for both. Run: ``python benchmarks/bench_backtest.py [--days 7]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl
from hftbacktest import BUY, GTX, LIMIT, BacktestAsset, ROIVectorMarketDepthBacktest
from numba import njit

from data_lake.export_hftbacktest import hftbacktest_events
from data_lake.fees import MAKER_FEE_BPS, TAKER_FEE_BPS
from quoting.core.exchange_rules import AssetRules
from quoting.core.glft import QUOTED, GlftInputs, MarketModel, QuotePolicy, RegimeBlend, glft_quote_core
from validation.backtest.runner import BacktestConfig, run_backtest

TICK, LOT, LEVELS = 0.001, 0.1, 5
BOOK_EVERY_MS, TRADES_PER_S = 500, 2.0
FEED_MS, ORDER_MS = 100, 100
MS_NS = 1_000_000
MODEL = MarketModel(sigma=0.0009, kappa=500.0, kappa_se=50.0, arrival_rate=2.0)  # ~1%/day, 1/kappa = 2 ticks
POLICY = QuotePolicy(
    gamma_by_regime=(200.0, 400.0, 1000.0),  # calm: ~0.5 tick of skew per unit, half-spread ~5.5 ticks with fee
    min_spread_bps_by_regime=(0.0, 2.0, 10.0),
    order_size=1.0,
    position_limit=10.0,
    rules=AssetRules(sz_decimals=1),
    maker_fee_bps=MAKER_FEE_BPS,
)


def synthetic_week(days: float, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(book, trades) with the lake's column names: random-walk touch in ticks, 5 contiguous levels, Poisson trades."""
    rng = np.random.default_rng(seed)
    n_book = int(days * 86_400_000 / BOOK_EVERY_MS)
    book_time = np.arange(n_book, dtype=np.int64) * BOOK_EVERY_MS
    best_bid = 25_000 + np.cumsum(rng.choice([-1, 0, 1], n_book, p=[0.2, 0.6, 0.2]))
    best_bid = np.clip(best_bid, 11_000, 98_000)  # stay inside the [10, 100) decade: one tick size
    best_ask = best_bid + rng.choice([1, 1, 1, 2, 3], n_book)
    columns: dict[str, np.ndarray] = {"time": book_time}
    for side, touch, sign in (("bid", best_bid, -1), ("ask", best_ask, 1)):
        for level in range(LEVELS):
            fresh = np.round(rng.lognormal(3.0, 1.0, n_book), 1) + LOT
            keep = rng.random(n_book) < 0.7  # most levels keep their size between snapshots
            last_fresh = np.maximum.accumulate(np.where(keep, 0, np.arange(n_book)))
            columns[f"{side}_px_{level + 1}"] = (touch + sign * level) / 1000.0
            columns[f"{side}_sz_{level + 1}"] = fresh[last_fresh]
    columns["mid"] = (best_bid + best_ask) / 2000.0
    book = pl.DataFrame(columns)

    n_trades = rng.poisson(TRADES_PER_S * days * 86_400)
    trade_time = np.sort(rng.integers(BOOK_EVERY_MS, n_book * BOOK_EVERY_MS, n_trades))
    row = np.searchsorted(book_time, trade_time, side="right") - 1
    side = rng.choice(np.array([-1, 1], dtype=np.int8), n_trades)
    depth_ticks = rng.geometric(0.7, n_trades) - 1  # mostly at the touch, sometimes sweeping deeper
    px_ticks = np.where(side == 1, best_ask[row] + depth_ticks, best_bid[row] - depth_ticks)
    trades = pl.DataFrame(
        {
            "time": trade_time,
            "px": px_ticks / 1000.0,
            "sz": np.round(rng.lognormal(1.0, 1.0, n_trades), 1) + LOT,
            "side": side,
        }
    )
    return book, trades


@njit
def hftbacktest_glft(hbt, step_ns, inputs, blend):
    """hftbacktest loop quoting one bid and one ask through ``glft_quote_core`` (one regime: ``blend``), re-quoting
    every ``step_ns``."""
    decisions = 0
    while hbt.elapse(step_ns) == 0:
        hbt.clear_inactive_orders(0)
        depth = hbt.depth(0)
        best_bid, best_ask = depth.best_bid, depth.best_ask
        if not (np.isfinite(best_bid) and np.isfinite(best_ask) and best_ask > best_bid):
            continue
        decisions += 1
        bid_px, ask_px, bid_sz, ask_sz, _, _, _, bid_code, ask_code = glft_quote_core(
            inputs,
            blend,
            0.5 * (best_bid + best_ask),
            hbt.position(0),
            1.0,
            False,
            best_bid,
            best_ask,
            0.0,
            0.0,
        )
        bid_id = np.uint64(round(bid_px / depth.tick_size) * 2) if bid_code == QUOTED else np.uint64(0)
        ask_id = np.uint64(round(ask_px / depth.tick_size) * 2 + 1) if ask_code == QUOTED else np.uint64(0)
        orders = hbt.orders(0)
        values = orders.values()
        while values.has_next():
            order = values.get()
            if order.cancellable and order.order_id != (bid_id if order.side == BUY else ask_id):
                hbt.cancel(0, order.order_id, False)
        if bid_code == QUOTED and bid_id not in orders:
            hbt.submit_buy_order(0, bid_id, bid_px, bid_sz, GTX, LIMIT, False)
        if ask_code == QUOTED and ask_id not in orders:
            hbt.submit_sell_order(0, ask_id, ask_px, ask_sz, GTX, LIMIT, False)
    return decisions


def run_hftbacktest(events: np.ndarray) -> tuple[float, int, float, float]:
    """(seconds, decisions, fills, final position) of the hftbacktest GLFT loop over ``events``."""
    asset = (
        BacktestAsset()
        .data(events)
        .linear_asset(1.0)
        .constant_order_latency(ORDER_MS * MS_NS, FEED_MS * MS_NS)
        .risk_adverse_queue_model()
        .no_partial_fill_exchange()
        .trading_value_fee_model(POLICY.maker_fee_bps * 1e-4, TAKER_FEE_BPS * 1e-4)
        .tick_size(TICK)
        .lot_size(LOT)
        .roi_lb(10.0)
        .roi_ub(100.0)
    )
    start = time.perf_counter()
    hbt = ROIVectorMarketDepthBacktest([asset])
    calm = RegimeBlend(MODEL.sigma, POLICY.gamma_by_regime[0], POLICY.min_spread_bps_by_regime[0], POLICY.maker_fee_bps)
    decisions = hftbacktest_glft(hbt, BOOK_EVERY_MS * MS_NS, GlftInputs.of(MODEL, POLICY), calm)
    elapsed = time.perf_counter() - start
    state = hbt.state_values(0)
    fills, position = state.num_trades, hbt.position(0)
    hbt.close()
    return elapsed, decisions, fills, position


def run_ours(book: pl.DataFrame, trades: pl.DataFrame) -> tuple[float, int, int, float]:
    """(seconds, orders sent, fills, final inventory) of ``run_backtest`` on the frames."""
    config = BacktestConfig(
        fill_model="queue", feed_latency_ms=FEED_MS, order_latency_ms=ORDER_MS, requote_ms=BOOK_EVERY_MS
    )
    start = time.perf_counter()
    result = run_backtest(book, trades, MODEL, POLICY, config)
    elapsed = time.perf_counter() - start
    return elapsed, result.orders_sent, result.fills.height, result.final_inventory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    book, trades = synthetic_week(args.days)
    n_events = book.height + trades.height
    start = time.perf_counter()
    events = hftbacktest_events(book, trades, TICK, LOT, feed_latency_ms=FEED_MS)
    convert_s = time.perf_counter() - start
    print(
        f"synthetic {args.days:g} days: {book.height:,} book rows + {trades.height:,} trades = {n_events:,} events"
        f" ({events.shape[0]:,} hftbacktest events, converted in {convert_s:.1f} s)"
    )

    warm_book, warm_trades = book.head(2_000), trades.filter(pl.col("time") < book["time"][1_999])
    run_ours(warm_book, warm_trades)  # compile (or load the numba cache)
    run_hftbacktest(hftbacktest_events(warm_book, warm_trades, TICK, LOT, feed_latency_ms=FEED_MS))

    ours_runs = [run_ours(book, trades) for _ in range(args.repeat)]
    hbt_runs = [run_hftbacktest(events) for _ in range(args.repeat)]
    ours_s, orders, our_fills, our_q = min(ours_runs)
    hbt_s, decisions, hbt_fills, hbt_q = min(hbt_runs)
    ours_rate, hbt_rate = n_events / ours_s, n_events / hbt_s
    row = "{:<14}{:>9.2f}{:>14,.0f}{:>10,}{:>10.1f}   {}"
    print(f"{'engine':<14}{'seconds':>9}{'events/s':>14}{'fills':>10}{'final q':>10}")
    print(row.format("smallfish", ours_s, ours_rate, our_fills, our_q, f"({orders:,} orders sent)"))
    print(
        row.format(
            "hftbacktest",
            hbt_s,
            hbt_rate,
            hbt_fills,
            hbt_q,
            f"({decisions:,} decisions; {events.shape[0] / hbt_s:,.0f} of its own events/s)",
        )
    )
    print(f"ratio smallfish / hftbacktest throughput: {ours_rate / hbt_rate:.2f}x (goal: >= 0.5x)")


if __name__ == "__main__":
    main()
