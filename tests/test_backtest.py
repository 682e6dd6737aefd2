"""Backtest simulator on hand-built tapes: fills worked out by hand for both fill models, latency, limits, fees.

Common setup: mid 100, sigma 0 (no skew), gamma tiny so the GLFT half-spread is c1 ~ 1/kappa = 0.05, below
the 20 bps floor (half-spread 0.10); plus a 1 bp maker fee (0.01) -> bid 99.89, ask 100.11 while flat.
Feed and order latency 100 ms each: a book row stamped t puts orders live at t + 200, and they can fill
on trades stamped strictly after that.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quoting.core.exchange_rules import AssetRules, is_valid_price
from quoting.core.fill_prediction import ReachModel
from quoting.core.glft import MarketModel, QuotePolicy
from quoting.core.lead_lag_shift import LeadLagShift
from validation.backtest.runner import BacktestConfig, in_time_order, run_backtest

MODEL = MarketModel(sigma=0.0, kappa=20.0, kappa_se=0.0, arrival_rate=1.0)
BOOK = (99.95, 5.0, 99.89, 3.0, 100.05, 5.0, 100.11, 4.0)  # bid1, bid2, ask1, ask2 as (px, sz)
FEE = 1e-4  # 1 bp
REACH = ReachModel((0.0, 20.0), ((1.0, -3.0), (0.0, -4.0), (-1.0, -5.0)), horizon_ms=1_000, latency_ms=200)
PRED_PROB = 1 - math.exp(-math.exp(1.0 - 0.2 * 11.0))  # depth 0.11 = 11 bps of mid 100, the calm curve


def policy(limit: float = 2.0, pull_threshold: float = 0.5) -> QuotePolicy:
    return QuotePolicy(
        gamma_by_regime=(1e-6, 1e-6, 1e-6),
        min_spread_bps_by_regime=(20.0, 20.0, 20.0),
        order_size=1.0,
        position_limit=limit,
        rules=AssetRules(sz_decimals=2),
        maker_fee_bps=1.0,
        pull_by_regime=(False, False, True),
        pull_threshold=pull_threshold,
    )


def book(rows: list[tuple[int, tuple[float, ...]]]) -> pl.DataFrame:
    names = ["bid_px_1", "bid_sz_1", "bid_px_2", "bid_sz_2", "ask_px_1", "ask_sz_1", "ask_px_2", "ask_sz_2"]
    return pl.DataFrame(
        [{"time": t, **dict(zip(names, levels)), "mid": 100.0} for t, levels in rows],
        schema={"time": pl.Int64, **{n: pl.Float64 for n in names}, "mid": pl.Float64},
    )


def trades(rows: list[tuple[int, float, float, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"time": pl.Int64, "px": pl.Float64, "sz": pl.Float64, "side": pl.Int8}, orient="row"
    )


TAPE_BOOK = book([(1000, BOOK), (2000, BOOK)])
TAPE_TRADES = trades(
    [
        (1150, 99.80, 2.0, -1),  # through our bid, but the bid is not live before 1200
        (1200, 99.85, 1.0, -1),  # same millisecond as landing: not yet eligible
        (1300, 99.89, 2.0, -1),  # at our bid: queue 3 -> 1
        (1400, 99.89, 1.5, -1),  # queue 1 exhausted, 0.5 left for us
        (1500, 99.88, 0.3, -1),  # through our bid
        (1600, 100.11, 10.0, 1),  # at our ask: queue 4 exhausted, 6 left, we sell our 1
        (2300, 99.50, 5.0, -1),  # through the bid kept at the 2000 decision
    ]
)


def run(fill_model: str, tape_book: pl.DataFrame = TAPE_BOOK, tape_trades: pl.DataFrame = TAPE_TRADES, **kw):
    config = BacktestConfig(fill_model=fill_model, requote_ms=0)
    return run_backtest(
        tape_book,
        tape_trades,
        MODEL,
        kw.pop("pol", policy()),
        config,
        adverse_bps_by_regime=(1.0, 2.0, 5.0),
        reach=REACH,
        **kw,
    )


def fills_as_tuples(result) -> list[tuple[int, int, float, float]]:
    return [(r["time"], r["side"], r["px"], round(r["sz"], 10)) for r in result.fills.iter_rows(named=True)]


def test_trade_through_fills_only_on_prints_strictly_through_our_price() -> None:
    result = run("trade_through")
    assert fills_as_tuples(result) == [
        (1500, 1, 99.89, 0.3),
        (2300, 1, 99.89, 0.7),  # the rest of the bid, kept (same price) at the 2000 decision
    ]
    assert result.final_inventory == pytest.approx(1.0)


def test_queue_position_fills_after_the_queue_ahead_is_eaten() -> None:
    result = run("queue")
    assert fills_as_tuples(result) == [
        (1400, 1, 99.89, 0.5),
        (1500, 1, 99.89, 0.3),
        (1600, -1, 100.11, 1.0),
        (2300, 1, 99.89, 0.2),  # remaining 0.2 of the kept bid
    ]
    assert result.final_inventory == pytest.approx(0.0)
    assert result.fills["inventory"].to_list() == pytest.approx([0.5, 0.8, -0.2, 0.0])


def test_fill_log_carries_predictions_beliefs_and_quote_age() -> None:
    fills = run("queue").fills
    first = fills.row(0, named=True)
    assert first["mid"] == 100.0
    assert first["quote_age_ms"] == 200  # live at 1200, filled at 1400
    assert first["pred_fill_prob"] == pytest.approx(PRED_PROB)
    assert first["pred_adverse_bps"] == pytest.approx(1.0)  # calm regime certain without beliefs
    assert (first["belief_calm"], first["belief_volatile"], first["belief_cascade"]) == (1.0, 0.0, 0.0)
    assert first["fee"] == pytest.approx(FEE * 99.89 * 0.5)
    assert fills["quote_age_ms"].to_list() == [200, 300, 400, 1100]


def test_a_leader_move_lifts_the_quotes_into_a_fill_the_plain_quoter_misses() -> None:
    """The leader rose 1% in the 2 s before the 1000 row; with beta 0.5 the fair value is 100.4988, so the bid
    (100.39) would cross the 100.05 ask and sits one tick inside it, 100.04: the 99.95 sell at 1300 goes through it.
    The plain quoter's bid (99.89) is not reached; a stale leader (last mid 4 s old) shifts nothing."""
    pol = replace(policy(), lead_lag=LeadLagShift(leader="LEAD", lag_ms=2_000, beta=0.5))
    leader = pl.DataFrame({"time": [-1_500, 950], "mid": [50.0, 50.5]})
    tape = trades([(1300, 99.95, 1.0, -1)])
    led = run("trade_through", tape_trades=tape, pol=pol, leader_mids=leader)
    assert fills_as_tuples(led) == [(1300, 1, 100.04, 1.0)]
    assert fills_as_tuples(run("trade_through", tape_trades=tape)) == []
    stale = pl.DataFrame({"time": [-5_000, -3_100], "mid": [50.0, 50.5]})
    assert fills_as_tuples(run("trade_through", tape_trades=tape, pol=pol, leader_mids=stale)) == []
    with pytest.raises(ValueError, match="pass that leader's mids"):
        run("trade_through", tape_trades=tape, pol=pol)


def test_fees_and_pnl_identity() -> None:
    for model in ("queue", "trade_through"):
        result = run(model)
        fills = result.fills
        expected_cash = (
            -(fills["side"].cast(pl.Float64) * fills["px"] * fills["sz"]).sum()
            - (FEE * fills["px"] * fills["sz"]).sum()
        )
        assert result.final_cash == pytest.approx(expected_cash, abs=1e-9)
        assert result.final_equity == pytest.approx(result.final_cash + result.final_inventory * 100.0)
        last = result.equity.row(-1, named=True)
        assert last["equity"] == pytest.approx(last["cash"] + last["inventory"] * last["mid"])
    queue = run("queue")
    # bought 1.0 at 99.89, sold 1.0 at 100.11: 0.22 spread minus fees on 99.89 + 100.11 of notional
    assert queue.final_equity == pytest.approx(0.22 - FEE * (99.89 + 100.11))


def test_position_limit_pulls_the_bid_once_full() -> None:
    tape = trades(
        [
            (1300, 99.50, 5.0, -1),  # fills the whole bid: inventory 1 = limit
            (2300, 99.50, 5.0, -1),  # no bid was placed at the 2000 decision
            (3300, 99.50, 5.0, -1),
        ]
    )
    result = run("trade_through", book([(1000, BOOK), (2000, BOOK), (3000, BOOK)]), tape, pol=policy(limit=1.0))
    assert fills_as_tuples(result) == [(1300, 1, 99.89, 1.0)]
    assert result.equity["inventory"].abs().max() <= 1.0


def test_replaced_order_counts_against_the_limit_until_its_cancel_lands() -> None:
    """Long 1 of limit 2 with a bid of 1 resting: a new bid price can only be sized 0 -> the bid is cancelled."""
    moved = tuple(px + 0.5 if i % 2 == 0 else px for i, px in enumerate(BOOK))  # book and mid move up 0.5
    tape_book = book([(1000, BOOK), (1500, BOOK)]).vstack(book([(2000, moved)]).with_columns(mid=pl.lit(100.5)))
    tape = trades([(1300, 99.89, 100.0, -1), (2150, 99.0, 10.0, -1), (2250, 99.0, 10.0, -1)])
    result = run("queue", tape_book, tape, pol=policy(limit=2.0))
    assert fills_as_tuples(result) == [(1300, 1, 99.89, 1.0), (2150, 1, 99.89, 1.0)]
    assert result.equity["inventory"].max() <= 2.0


def test_post_only_order_crossing_the_book_on_arrival_is_rejected() -> None:
    crossed = (99.80, 5.0, 99.70, 3.0, 99.85, 5.0, 99.90, 4.0)  # best ask 99.85 <= our bid 99.89
    result = run("queue", book([(1000, BOOK), (1150, crossed)]), trades([(1300, 99.0, 10.0, -1)]))
    assert result.alo_rejects == 1
    assert result.fills.height == 0


def test_book_update_shortens_the_queue() -> None:
    thinner = BOOK[:3] + (1.0,) + BOOK[4:]  # 99.89 level drops from 3 to 1
    tape = trades([(1300, 99.89, 1.5, -1)])
    result = run("queue", book([(1000, BOOK), (1250, thinner)]), tape)
    assert fills_as_tuples(result) == [(1300, 1, 99.89, 0.5)]


def test_cascade_belief_cancels_quotes_after_the_order_latency() -> None:
    beliefs = pl.DataFrame(
        {"time": [0, 1700], "belief_calm": [1.0, 0.05], "belief_volatile": [0.0, 0.05], "belief_cascade": [0.0, 0.9]}
    )
    tape = trades([(2150, 99.50, 0.4, -1), (2250, 99.50, 5.0, -1), (2260, 100.50, 5.0, 1)])
    result = run("trade_through", tape_trades=tape, beliefs=beliefs)
    # the row at 2000 sees cascade 0.9 > 0.5: cancels land at 2200; the print at 2150 still fills the bid
    assert fills_as_tuples(result) == [(2150, 1, 99.89, 0.4)]
    assert result.cancels_sent == 2


def test_beliefs_are_used_causally() -> None:
    """A belief stamped after a book row is not used for that row: before any belief, no quotes at all."""
    beliefs = pl.DataFrame({"time": [1500], "belief_calm": [0.0], "belief_volatile": [1.0], "belief_cascade": [0.0]})
    result = run("trade_through", tape_trades=trades([(1300, 99.0, 5.0, -1), (2300, 99.0, 5.0, -1)]), beliefs=beliefs)
    assert fills_as_tuples(result) == [(2300, 1, 99.89, 1.0)]
    assert result.fills["belief_volatile"].to_list() == [1.0]
    assert result.fills["pred_adverse_bps"].to_list() == [2.0]


def test_deterministic_for_a_seed_with_latency_jitter() -> None:
    config = BacktestConfig(fill_model="queue", requote_ms=0, order_latency_jitter_ms=300, seed=7)
    one = run_backtest(TAPE_BOOK, TAPE_TRADES, MODEL, policy(), config)
    two = run_backtest(TAPE_BOOK, TAPE_TRADES, MODEL, policy(), config)
    assert one.fills.equals(two.fills) and one.equity.equals(two.equity)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    fill_model=st.sampled_from(["queue", "trade_through"]),
    limit=st.sampled_from([1.0, 1.5, 3.0]),
    size=st.sampled_from([0.3, 1.0, 2.0]),
    jitter=st.integers(0, 400),
)
def test_random_tapes_respect_limit_latency_and_accounting(
    seed: int, fill_model: str, limit: float, size: float, jitter: int
) -> None:
    tape_book, tape_trades = random_tape(np.random.default_rng(seed))
    pol = QuotePolicy(
        gamma_by_regime=(0.5, 0.5, 0.5),
        min_spread_bps_by_regime=(0.0, 0.0, 0.0),
        order_size=size,
        position_limit=limit,
        rules=AssetRules(sz_decimals=1),
        maker_fee_bps=1.5,
    )
    model = MarketModel(sigma=0.02, kappa=30.0, kappa_se=3.0, arrival_rate=1.0)
    config = BacktestConfig(fill_model=fill_model, requote_ms=0, order_latency_jitter_ms=jitter, seed=seed)
    result = run_backtest(tape_book, tape_trades, model, pol, config)
    fills = result.fills
    assert fills["inventory"].abs().max() is None or fills["inventory"].abs().max() <= limit + 1e-9
    assert (fills["quote_age_ms"] > 0).all()  # no print at or before an order's landing fills it
    assert all(is_valid_price(px, pol.rules) for px in fills["px"])
    expected_cash = -(fills["side"].cast(pl.Float64) * fills["px"] * fills["sz"]).sum() - fills["fee"].sum()
    assert result.final_cash == pytest.approx(expected_cash, abs=1e-9)
    assert fills["fee"].to_numpy() == pytest.approx(1.5e-4 * (fills["px"] * fills["sz"]).to_numpy())


def random_tape(rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame]:
    """200 two-level book rows every 500 ms around 30 (tick 0.01) and ~300 trades at or through the touch."""
    n = 200
    bid = 3000 + np.cumsum(rng.choice([-2, -1, 0, 1, 2], n))
    ask = bid + rng.choice([1, 2, 3], n)
    rows = [
        (
            500 * i,
            (
                bid[i] / 100,
                float(rng.integers(1, 20)),
                (bid[i] - 1) / 100,
                float(rng.integers(1, 20)),
                ask[i] / 100,
                float(rng.integers(1, 20)),
                (ask[i] + 1) / 100,
                float(rng.integers(1, 20)),
            ),
        )
        for i in range(n)
    ]
    tape_book = book(rows).with_columns(mid=pl.Series((bid + ask) / 200))
    times = np.sort(rng.integers(0, 500 * n, 300))
    sides = rng.choice([-1, 1], 300)
    at = np.searchsorted(500 * np.arange(n), times, side="right") - 1
    px = np.where(sides == 1, ask[at] + rng.integers(0, 4, 300), bid[at] - rng.integers(0, 4, 300)) / 100
    tape_trades = trades(
        [(int(t), float(p), float(rng.integers(1, 30)) / 10, int(s)) for t, p, s in zip(times, px, sides)]
    )
    return tape_book, tape_trades


# Queue ahead on bbo rows and deep levels: book rows with a ``source``, as in the lake. Our bid 99.89, ask 100.11.
LEVELS = 20


def sourced_book(rows: list[tuple[int, str, list[tuple[float, float]], list[tuple[float, float]]]]) -> pl.DataFrame:
    """Book rows (time, source, bids, asks) with all 20 level columns, nulls where a row shows no level."""
    records = []
    for t, source, bids, asks in rows:
        record = {"time": t, "source": source, "mid": 100.0}
        for side, levels in (("bid", bids), ("ask", asks)):
            for i in range(LEVELS):
                px, sz = levels[i] if i < len(levels) else (None, None)
                record |= {f"{side}_px_{i + 1}": px, f"{side}_sz_{i + 1}": sz}
        records.append(record)
    schema = {"time": pl.Int64, "source": pl.String, "mid": pl.Float64}
    schema |= {f"{s}_{f}_{i}": pl.Float64 for s in ("bid", "ask") for f in ("px", "sz") for i in range(1, LEVELS + 1)}
    return pl.DataFrame(records, schema=schema)


SNAPSHOT_BIDS, SNAPSHOT_ASKS = [(99.95, 5.0), (99.89, 3.0)], [(100.05, 5.0), (100.11, 4.0)]
TOUCH_BID, TOUCH_ASK = [(99.95, 6.0)], [(100.05, 6.0)]


def test_order_landing_on_a_bbo_row_queues_behind_the_last_snapshots_size() -> None:
    # orders decided at 1000 land at 1200 on the bbo row of 1150, which shows only the touch: the 3 the l2Book
    # showed at 99.89 are still ahead (the old model put us first, and the 1300 print would have filled us)
    tape = sourced_book([(1000, "l2Book", SNAPSHOT_BIDS, SNAPSHOT_ASKS), (1150, "bbo", TOUCH_BID, TOUCH_ASK)])
    prints = trades([(1300, 99.89, 2.0, -1), (1400, 99.89, 1.5, -1), (1500, 100.11, 4.5, 1)])
    assert fills_as_tuples(run("queue", tape, prints)) == [(1400, 1, 99.89, 0.5), (1500, -1, 100.11, 0.5)]


def test_order_six_to_twenty_levels_deep_queues_behind_that_level() -> None:
    bids = [(round(99.95 - 0.01 * i, 2), float(i + 1)) for i in range(LEVELS)]  # 99.89 is level 7, size 7
    asks = [(round(100.05 + 0.01 * i, 2), float(i + 1)) for i in range(LEVELS)]  # 100.11 is level 7, size 7
    tape = sourced_book([(1000, "l2Book", bids, asks), (1150, "bbo", TOUCH_BID, TOUCH_ASK)])
    prints = trades([(1300, 99.89, 6.0, -1), (1400, 99.89, 1.5, -1), (1500, 100.11, 7.0, 1), (1600, 100.11, 0.25, 1)])
    assert fills_as_tuples(run("queue", tape, prints)) == [(1400, 1, 99.89, 0.5), (1600, -1, 100.11, 0.25)]


def test_bbo_row_neither_resets_nor_lengthens_nor_shortens_the_queue_at_prices_it_does_not_show() -> None:
    # landing at 1200 on the bbo row of 1150, whose touch is our 99.89 with 4 (fresher than the snapshot's 1);
    # the bbo rows of 1250 and 1350 show a better touch and so nothing about 99.89: the queue stays 4 (not cut to
    # the snapshot's stale 1), the 1300 print leaves 0.5 ahead (not reset to 1 or 4, nor 0), the 1400 print fills 1.0
    thin = [(99.95, 5.0), (99.89, 1.0)]
    tape = sourced_book(
        [
            (1000, "l2Book", thin, SNAPSHOT_ASKS),
            (1150, "bbo", [(99.89, 4.0)], TOUCH_ASK),
            (1250, "bbo", TOUCH_BID, TOUCH_ASK),
            (1350, "bbo", TOUCH_BID, TOUCH_ASK),
        ]
    )
    prints = trades([(1300, 99.89, 3.5, -1), (1400, 99.89, 1.5, -1)])
    assert fills_as_tuples(run("queue", tape, prints)) == [(1400, 1, 99.89, 1.0)]
    # the same tape with the bbo of 1350 showing an empty 99.89 (touch below it): the queue ahead is gone
    below = tape.with_columns(bid_px_1=pl.when(pl.col("time") == 1350).then(99.88).otherwise(pl.col("bid_px_1")))
    assert fills_as_tuples(run("queue", below, trades([(1300, 99.89, 3.5, -1), (1400, 99.89, 0.4, -1)]))) == [
        (1400, 1, 99.89, 0.4)
    ]


def test_trade_through_ignores_the_queue_on_bbo_rows() -> None:
    tape = sourced_book([(1000, "l2Book", SNAPSHOT_BIDS, SNAPSHOT_ASKS), (1150, "bbo", TOUCH_BID, TOUCH_ASK)])
    prints = trades([(1300, 99.89, 2.0, -1), (1400, 99.88, 0.3, -1), (1500, 100.11, 9.0, 1), (1600, 100.12, 2.0, 1)])
    expected = [(1400, 1, 99.89, 0.3), (1600, -1, 100.11, 1.0)]
    assert fills_as_tuples(run("trade_through", tape, prints)) == expected
    assert fills_as_tuples(run("trade_through", tape.filter(pl.col("source") == "l2Book"), prints)) == expected


def test_in_time_order_returns_a_sorted_frame_as_is_and_sorts_any_other_stably() -> None:
    """A lake read (or its fold slice) is already in time order: handed back untouched, not gathered again. Any other
    frame is sorted by time, rows of one millisecond kept in their order (a bbo row and a snapshot may share it)."""
    ordered = pl.DataFrame({"time": [1, 2, 2, 3], "row": ["a", "b", "c", "d"]})
    assert in_time_order(ordered) is ordered
    shuffled = pl.DataFrame({"time": [3, 2, 1, 2, 1], "row": ["e", "b", "a", "c", "f"]})
    assert in_time_order(shuffled)["row"].to_list() == ["a", "f", "b", "c", "e"]
    with_null = pl.DataFrame({"time": [1, None, 2], "row": ["a", "n", "b"]})
    assert in_time_order(with_null)["row"].to_list() == ["n", "a", "b"]
