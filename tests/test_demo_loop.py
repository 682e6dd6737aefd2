"""The end of ``make demo``: the gate's reasons as printed, and the table of the quoter's own predictions computed
from hand-built logs and fills whose answers are known."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from data_lake import param_registry, raw_zone
from data_lake.demo_market import demo_coin_configs, simulate_to_raw
from pipelines.backfill import backfill
from pipelines.demo_loop import GateOutcome, failed_checks, gate_outcome, hold_out_hour, quoter_ran, replay_and_ingest
from pipelines.run import DEMO_RUN_CONFIG
from validation.statistics.baseline_table import QUOTER_TABLE_COLUMNS, quoter_prediction_table
from validation.statistics.quoter_scoring import quoted_sides, scored_fill_predictions


def _quote(time_ms: int, pull_reason: str | None = None, bid_px: float | None = 24.99, pred: float = 0.3) -> dict:
    side = {"px": bid_px, "sz": 2.0, "reason": None, "pred_fill_prob": pred}
    payload = {
        "coin": "NICHE",
        "time": time_ms,
        "book_time": time_ms - 20,
        "pull_reason": pull_reason,
        "tau_s": 1.0,
        "latency_ms": 100,
        "bid": side,
        "ask": {**side, "px": 25.01},
    }
    return {"time": time_ms, "channel": "quoterQuote", "payload": json.dumps(payload)}


def _quote_log() -> pl.DataFrame:
    """Decisions every 200 ms for 100 s on books 20 ms old (window [t + 80, t + 1080)), plus a pulled one and an
    order frame."""
    rows = [_quote(-900, pull_reason="stale_feed"), *(_quote(t) for t in range(0, 100_000, 200))]
    rows.append({"time": 5, "channel": "quoterOrder", "payload": json.dumps({"event": "place", "side": "B"})})
    return pl.DataFrame(rows)


def _marked() -> pl.DataFrame:
    """50 own bid fills, one in every other scored bid window, adverse 1 or 3 bps (predicted 1.5), net +2 / -1 bps;
    and market trades (maker side) inside the other windows, which must not count as own fills."""
    k = np.arange(50)
    own = pl.DataFrame(
        {
            "time": 500 + 2000 * k,
            "side": np.ones(50, np.int8),
            "is_market_trade": False,
            "adverse_selection_bps": np.where(k % 2 == 0, 1.0, 3.0),
            "pred_adverse_bps": 1.5,
            "spread_capture_bps": 3.0,
            "net_5000ms_bps": np.where(k % 2 == 0, 2.0, -1.0),
        }
    )
    market = own.with_columns(pl.col("time") + 1000, pl.lit(True).alias("is_market_trade"))
    return pl.concat([own, market])


def _trades() -> pl.DataFrame:
    """Market prints against the scored windows m = 0..99 ([80 + 1000 m, 1080 + 1000 m)): a sell at the bid (24.99)
    in every even window; in odd ones a sell above the bid and a buy below it (neither reaches the bid); a buy at the
    ask (25.01) in every fourth window and a buy inside the spread two windows later (not reaching the ask)."""
    m = np.arange(100)
    even, odd, fourth, other = m[m % 2 == 0], m[m % 2 == 1], m[m % 4 == 0], m[m % 4 == 2]
    parts = [
        (450 + 1000 * even, 24.99, -1),
        (450 + 1000 * odd, 25.00, -1),
        (460 + 1000 * odd, 24.90, 1),
        (700 + 1000 * fourth, 25.01, 1),
        (700 + 1000 * other, 25.00, 1),
    ]
    return pl.concat(
        [
            pl.DataFrame({"time": t.astype(np.int64), "px": np.full(t.size, px), "side": np.full(t.size, s, np.int8)})
            for t, px, s in parts
        ]
    )


def test_quoted_sides_skip_pulled_decisions_and_other_frames() -> None:
    sides = quoted_sides(_quote_log())
    assert sides.height == 2 * 500 and set(sides["side"]) == {1, -1}
    first = sides.filter(pl.col("side") == 1).row(0, named=True)
    assert (first["time"], first["window_start_ms"], first["window_end_ms"]) == (0, 80, 1080)


def test_a_window_counts_a_print_at_or_through_the_quote_and_own_fills_apart() -> None:
    scored = scored_fill_predictions(
        quoted_sides(_quote_log()), _trades(), _marked().filter(~pl.col("is_market_trade"))
    )
    bids, asks = scored.filter(pl.col("side") == 1), scored.filter(pl.col("side") == -1)
    assert bids["time"].to_list() == list(range(0, 100_000, 1000))
    assert bids["filled"].to_list() == [i % 2 == 0 for i in range(100)]
    assert asks["filled"].to_list() == [i % 4 == 0 for i in range(100)]
    assert bids["own_filled"].to_list() == [i % 2 == 0 for i in range(100)]
    assert not asks["own_filled"].any()


def test_quoter_prediction_table_has_realised_beside_predicted() -> None:
    table = quoter_prediction_table(_quote_log(), _marked(), _trades())
    assert table.schema == pl.Schema(QUOTER_TABLE_COLUMNS)
    rows = {r["metric"]: r for r in table.iter_rows(named=True)}
    fill = rows["fill_rate"]
    assert (fill["value"], fill["n"], fill["predicted"]) == (pytest.approx(0.375), 200, pytest.approx(0.3))
    assert fill["ci_low"] < 0.375 < fill["ci_high"]
    assert rows["fill_rate_minus_predicted"]["value"] == pytest.approx(0.075)
    assert rows["own_fill_rate"]["value"] == pytest.approx(0.25) and rows["own_fill_rate"]["predicted"] is None
    per_reach = rows["own_fills_per_print_reach"]
    assert (per_reach["value"], per_reach["n"]) == (pytest.approx(50 / 75), 75)
    assert "fill_cox_slope" not in rows  # one forecast value: no slope to estimate
    adverse = rows["adverse_selection_5s_bps"]
    assert (adverse["value"], adverse["n"], adverse["predicted"]) == (pytest.approx(2.0), 50, pytest.approx(1.5))
    assert rows["adverse_selection_5s_bps_minus_predicted"]["value"] == pytest.approx(0.5)
    assert rows["spread_capture_bps"]["value"] == pytest.approx(3.0)
    assert rows["net_5s_bps"]["value"] == pytest.approx(0.5)
    assert rows["win_rate"]["value"] == pytest.approx(0.5) and rows["win_rate"]["n"] == 50
    assert rows["sharpe_per_fill"]["value"] == pytest.approx(0.5 / np.std([2.0, -1.0] * 25, ddof=1))
    assert rows["spread_capture_bps"]["predicted"] is None


def test_quoter_prediction_table_without_fills_scores_the_quotes_only() -> None:
    table = quoter_prediction_table(_quote_log(), _marked().filter(pl.col("is_market_trade")), _trades())
    assert table["metric"].to_list() == [
        "fill_rate",
        "fill_rate_minus_predicted",
        "own_fill_rate",
        "own_fills_per_print_reach",
    ]
    assert table["value"].to_list()[0] == pytest.approx(0.375) and table["value"][2] == 0.0


def test_printed_reasons_are_the_gate_fail_items() -> None:
    reason = (
        "gate: ok: 400 out-of-sample fills (at least 200); fail: data-quality checks failed: a; b; "
        "skip: no promoted set to compare with; fail: out-of-sample P&L not significantly positive at alpha=0.05"
    )
    assert failed_checks(reason) == (
        "data-quality checks failed: a; b",
        "out-of-sample P&L not significantly positive at alpha=0.05",
    )
    assert GateOutcome("DEMO", False, "x", failed_checks(reason)).line() == (
        "DEMO: rejected (data-quality checks failed: a; b; out-of-sample P&L not significantly positive at alpha=0.05)"
    )
    assert GateOutcome("NICHE", True, "NICHE-1", ()).line() == "NICHE: promoted NICHE-1"


@pytest.mark.slow
def test_demo_end_decides_then_quotes_a_held_out_hour_and_scores_its_own_predictions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One NICHE day backfilled, the next day's hour 0 held out; the gate decides, and if it rejects the candidate is
    promoted by hand (as an operator would with ``smallfish params promote``) so the quoter path runs either way."""
    raw, lake = str(tmp_path / "raw"), str(tmp_path / "lake")
    monkeypatch.setenv("SMALLFISH_LAKE", lake)
    monkeypatch.setenv("SMALLFISH_RAW", raw)
    niche = demo_coin_configs(2, 7, dt.date(2026, 1, 1))[1]
    day, held_out = niche.start, niche.start + dt.timedelta(days=1)
    simulate_to_raw(niche, raw)
    hold_out_hour(raw, "NICHE", held_out, 0)
    assert {(f.date, f.hour) for f in raw_zone.discover(raw, date=held_out)} == {(held_out, 0)}
    (tmp_path / "home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "home"))
    outcomes = backfill(instance, [("NICHE", day)], run_config=DEMO_RUN_CONFIG)

    gate = gate_outcome(instance, lake, "NICHE", day, outcomes)
    assert re.fullmatch(r"NICHE: (promoted \S+|rejected \(.+\))", gate.line())
    assert gate.param_set_id is not None, gate.line()
    if not gate.promoted:
        assert all(reason and not reason.startswith(("ok:", "skip:")) for reason in gate.reasons)
        param_registry.promote(lake, "NICHE", gate.param_set_id, "test: exercise the demo's quoter path")

    replay = replay_and_ingest(instance, lake, raw, "NICHE", held_out, 0)
    assert quoter_ran(replay), replay.quoter_said
    assert set(replay.quote_log["param_set_id"].drop_nulls()) == {gate.param_set_id}
    assert replay.quote_log.filter(pl.col("channel") == "quoterQuote").height > 1_000
    own = replay.markouts.filter(~pl.col("is_market_trade"))
    table = quoter_prediction_table(replay.quote_log, replay.markouts, replay.trades)
    rows = {r["metric"]: r for r in table.iter_rows(named=True)}
    sides = quoted_sides(replay.quote_log)
    # The set decides per regime whether to quote at all: an hour it spends pulled leaves nothing to score.
    assert (rows["fill_rate"]["n"] if sides.height else 0) == len(scored_fill_predictions(sides, replay.trades, own))
    if sides.height:  # an own fill needs a print at or through its price: never more own fills than reaches
        assert rows["own_fill_rate"]["value"] <= rows["fill_rate"]["value"]
    assert own["pred_adverse_bps"].null_count() == 0
    if own.height:
        assert rows["adverse_selection_5s_bps"]["n"] == own["adverse_selection_bps"].drop_nulls().len()
        assert rows["win_rate"]["n"] == own["net_5000ms_bps"].drop_nulls().len()


def test_the_quoter_log_table_keeps_each_decisions_quoted_sides() -> None:
    """The ``quoter_log`` parser keeps the frame's whole ``data`` as payload, so the table can be scored."""
    from data_lake.parsers.frames import parse_text

    frame = json.loads(_quote(1_000)["payload"])
    line = json.dumps(
        {"time": "2026-01-01T00:00:01.000000000", "ver_num": 1, "raw": {"channel": "quoterQuote", "data": frame}}
    )
    log = parse_text(line, source="quoter").tables["quoter_log"]
    sides = quoted_sides(log)
    assert sides.select("side", "px", "pred_fill_prob", "window_end_ms").rows() == [
        (-1, 25.01, 0.3, 2_080),
        (1, 24.99, 0.3, 2_080),
    ]
