"""The quoter's logged fill probabilities scored on the prints they predict: a calibrated log is found calibrated,
a log that over-predicts is caught (known truth: outcomes drawn from the logged probabilities)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from validation.statistics.quoter_scoring import live_fill_calibration, quoted_sides

BID, ASK = 24.99, 25.01


def _log_and_trades(n: int, seed: int, reported_scale: float = 1.0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n`` decisions 1.5 s apart (windows of 1 s after 200 ms, on books 30 ms old), each side reached with the
    probability p it truly has; the log reports ``reported_scale`` x p."""
    rng = np.random.default_rng(seed)
    rows, trades = [], []
    for k in range(n):
        t = 1_000_000 + 1_500 * k
        p_bid, p_ask = rng.uniform(0.05, 0.6, 2)
        start = t - 30 + 200
        if rng.random() < p_bid:
            trades.append((start + int(rng.integers(0, 1_000)), BID - 0.001 * int(rng.integers(0, 3)), -1))
        else:  # a print that does not reach the bid: a sell above it
            trades.append((start + int(rng.integers(0, 1_000)), BID + 0.01, -1))
        if rng.random() < p_ask:
            trades.append((start + int(rng.integers(0, 1_000)), ASK, 1))
        payload = {
            "time": t,
            "book_time": t - 30,
            "pull_reason": None,
            "tau_s": 1.0,
            "latency_ms": 200,
            "bid": {"px": BID, "pred_fill_prob": reported_scale * p_bid},
            "ask": {"px": ASK, "pred_fill_prob": reported_scale * p_ask},
        }
        rows.append({"time": t, "channel": "quoterQuote", "payload": json.dumps(payload)})
    time, px, side = zip(*trades, strict=True)
    return pl.DataFrame(rows), pl.DataFrame({"time": time, "px": px, "side": pl.Series(side, dtype=pl.Int8)})


NO_OWN_FILLS = pl.DataFrame({"time": [], "side": []}, schema={"time": pl.Int64, "side": pl.Int8})


def test_the_window_starts_at_the_book_time_plus_latency() -> None:
    log, _ = _log_and_trades(3, 0)
    first = quoted_sides(log).row(0, named=True)
    assert (first["window_start_ms"], first["window_end_ms"]) == (1_000_170, 1_001_170)


def test_a_calibrated_log_is_calibrated_and_an_overconfident_one_is_caught() -> None:
    log, trades = _log_and_trades(1_500, 1)
    result = live_fill_calibration(log, trades, NO_OWN_FILLS)
    assert result is not None
    metrics, (start, end) = result
    assert metrics.n == 3_000 and (start, end) == (1_000_170, 1_000_000 + 1_500 * 1_499 + 1_170)
    assert metrics.slope_ci[0] < 1.0 < metrics.slope_ci[1]
    assert metrics.intercept_ci[0] < 0.0 < metrics.intercept_ci[1]

    over, trades = _log_and_trades(1_500, 1, reported_scale=1.5)
    metrics, _ = live_fill_calibration(over, trades, NO_OWN_FILLS)
    assert metrics.intercept_ci[1] < 0.0  # fewer prints reached the quotes than the log claimed


def test_too_few_scored_sides_give_no_calibration() -> None:
    log, trades = _log_and_trades(10, 2)
    assert live_fill_calibration(log, trades, NO_OWN_FILLS) is None
    assert live_fill_calibration(log.clear(), trades, NO_OWN_FILLS) is None


def test_sides_without_a_prediction_are_not_scored() -> None:
    log, _ = _log_and_trades(40, 3)
    payloads = [json.loads(p) for p in log["payload"]]
    for p in payloads[::2]:
        p["bid"]["pred_fill_prob"] = None  # a request in flight on that side
    log = log.with_columns(payload=pl.Series([json.dumps(p) for p in payloads]))
    sides = quoted_sides(log)
    assert sides.filter(pl.col("side") == 1).height == 20 and sides.filter(pl.col("side") == -1).height == 40
