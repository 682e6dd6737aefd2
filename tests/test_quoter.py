"""The quoter end to end: promoted parameters only, hot reload, pulls, live orders on the fake exchange, paper fills.

Only the exchange is faked (tests/fake_hyperliquid, real wire protocol and signatures); the parameter registry,
raw zone, fill model, SDK and quoter are the real ones.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info

from data_lake.param_registry import promote, register_candidate, reject
from data_lake.param_schema import ParamSet
from data_lake.parsers.frames import parse_text
from data_lake.raw_zone import discover, read_bytes, read_lines
from quoting.cli.quote import EXIT_OK, EXIT_REFUSED, build_quoter, quote_main
from quoting.core.exchange_rules import AssetRules, is_valid_price
from quoting.runtime.api_key import KEY_ENV, KEY_FILE_ENV, ApiKeyError, load_api_wallet
from quoting.runtime.live import LiveConfig
from quoting.runtime.session import Quoter, QuoterConfig
from tests.fake_hyperliquid import FakeHyperliquid

REPO = Path(__file__).resolve().parents[1]
COIN = "DEMO"
HOUR_MS = 3_600_000
MASTER: LocalAccount = Account.from_key("0x" + "4d" * 32)
AGENT_KEY = "0x" + "5e" * 32
AGENT: LocalAccount = Account.from_key(AGENT_KEY)
RULES = AssetRules(sz_decimals=2)
DEMO_DAY = dt.date(2026, 1, 1)
DEMO_HOUR = 3


# -- parameter sets consistent with the demo market (tick 0.001, szDecimals 2, price ~25) ----------------------

ADVERSE_BPS = {"calm": 0.9, "volatile": 3.1, "cascade": 8.0}
"""Expected 5 s adverse selection per regime, bps (the demo's figures for calm and volatile)."""


DEMO_MARKET_FITS: dict[str, Any] = {
    "gamma_per_quote_by_regime": {"calm": 0.05, "volatile": 0.1, "cascade": 0.5},
    "kappa": {"value": 500.0, "se": 25.0, "unit": "1/px"},
    "arrival_rate": {"value": 0.64, "se": 0.03, "unit": "1/s per side"},
    "sigma": {"value": 0.00375, "se": 0.0002, "unit": "px/sqrt(s)"},  # 1.5 bps/sqrt(s) at 25
    "hmm": {
        "state_names": ["calm", "volatile", "cascade"],
        "feature_names": ["log_return", "log_rv"],
        "feature_mean": [0.0, -14.5],
        "feature_scale": [4e-4, 1.5],
        "startprob": [0.7, 0.25, 0.05],
        "transmat": [[0.95, 0.04, 0.01], [0.06, 0.9, 0.04], [0.05, 0.15, 0.8]],
        "means": [[0.0, -0.8], [0.0, 1.0], [0.0, 2.5]],
        "variances": [[0.3, 0.3], [2.0, 0.3], [8.0, 0.5]],
    },
    "order_size_base": 1.0,
    "sz_decimals": 2,
    "is_spot": False,
    "cascade_threshold": 0.5,
    "kappa_se_mult": 1.0,
}
"""The fits and exchange rules of a parameter set consistent with the demo market (tick 0.001, szDecimals 2, price
~25, kappa 500/px, A 0.64/s), shared by these tests and ``benchmarks/bench_quoter.py``."""


def parameters(floor_bps: float | None = None, **overrides: Any) -> dict[str, Any]:
    floors = (
        {"calm": 2.0, "volatile": 4.0, "cascade": 10.0}
        if floor_bps is None
        else dict.fromkeys(("calm", "volatile", "cascade"), floor_bps)
    )
    return {
        **DEMO_MARKET_FITS,
        "min_spread_bps_by_regime": floors,
        "maker_fee_bps": 1.5,
        "position_limit_base": 3.0,
        "daily_loss_limit_quote": 50.0,
        "adverse_selection_bps_by_regime": {s: {"value": v, "se": 0.1, "n": 1_000} for s, v in ADVERSE_BPS.items()},
        "fill_probability": {
            "horizon_ms": 1_000,
            "latency_ms": 200,
            "depth_knots_bps": [0.0, 2.0, 8.0],
            "log_intensity_by_regime": {
                "calm": [-1.0, -3.0, -8.0],
                "volatile": [0.0, -2.0, -6.0],
                "cascade": [1.0, -1.0, -4.0],
            },
        },
        **overrides,
    }


def make_set(window_end_ms: int | None = None, tag: str = "a", **kw: Any) -> ParamSet:
    end = time.time_ns() // 1_000_000 - HOUR_MS if window_end_ms is None else window_end_ms
    return ParamSet.create(
        coin=COIN,
        window_start_ms=end - 24 * HOUR_MS,
        window_end_ms=end,
        code_version=f"test-{tag}",
        parameters=parameters(**kw),
        evidence={"tag": tag},
        created_at_ms=end,
    )


def promoted(lake: Path, **kw: Any) -> ParamSet:
    ps = register_candidate(lake, make_set(**kw))
    promote(lake, COIN, ps.param_set_id, "test")
    return ps


# -- the quoter's log ------------------------------------------------------------------------------------------


def blended_adverse_bps(frame: dict[str, Any]) -> float:
    """The adverse-selection prediction a frame's logged beliefs imply under :data:`ADVERSE_BPS`."""
    return sum(frame[f"belief_{s}"] * v for s, v in ADVERSE_BPS.items())


def frames(raw: Path, channel: str | None = None) -> list[dict[str, Any]]:
    """Every frame the quoter wrote (plain and compressed files), in file order."""
    out = []
    for f in discover(raw, COIN):
        if f.source == "quoter":
            out += [json.loads(line)["raw"] for line in read_lines(f.path)]
    return [fr for fr in out if channel is None or fr["channel"] == channel]


def data(raw: Path, channel: str) -> list[dict[str, Any]]:
    return [fr["data"] for fr in frames(raw, channel)]


def pulls(raw: Path) -> list[str]:
    return [d["reason"] for d in data(raw, "quoterPull") if d["state"] == "pulled"]


def wait_until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# -- fixtures --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from data_lake.demo_market import DemoMarketConfig, simulate_to_raw

    root = tmp_path_factory.mktemp("demo")
    simulate_to_raw(DemoMarketConfig(coin=COIN, days=1, seed=5, start=DEMO_DAY), root)
    return root


@pytest.fixture
def demo_hour(demo_raw: Path) -> Path:
    [hour] = [f.path for f in discover(demo_raw, COIN) if f.date == DEMO_DAY and f.hour == DEMO_HOUR]
    return hour


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    return tmp_path / "raw"


@pytest.fixture
def fake() -> Iterator[FakeHyperliquid]:
    with FakeHyperliquid(universe=[(COIN, 2)], idle_timeout_s=60.0) as server:
        server.add_account(MASTER.address, agents=[AGENT.address])
        yield server


class Running:
    """A quoter running on its own event loop in a thread (the test thread plays the market and the operator)."""

    def __init__(self, config: QuoterConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.quoter: Quoter | None = None
        self.code: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        wait_until(lambda: self.quoter is not None or self.error is not None, what="quoter built")
        if self.error is not None:
            raise self.error

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.stop_event = asyncio.Event()
            self.quoter = build_quoter(self.config)
            self.code = self.loop.run_until_complete(self.quoter.run(self.stop_event))
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self.error = exc

    def stop(self) -> int | None:
        if self.thread.is_alive() and self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "the quoter did not stop"
        if self.error is not None:
            raise self.error
        return self.code


# -- parameters: promoted only ----------------------------------------------------------------------------------


def paper_args(lake: Path, raw: Path, feed: str, *extra: str) -> list[str]:
    return ["--coin", COIN, "--mode", "paper", "--feed", feed, "--lake", str(lake), "--raw", str(raw), *extra]


@pytest.mark.slow  # replays a simulated demo hour through the paper quoter
def test_refuses_to_start_without_a_promoted_set_and_ignores_candidates_and_rejected(
    lake: Path, raw: Path, demo_hour: Path
) -> None:
    feed = f"replay:{demo_hour}"
    assert quote_main(paper_args(lake, raw / "1", feed)) == EXIT_REFUSED
    candidate = register_candidate(lake, make_set(tag="candidate"))
    rejected = register_candidate(lake, make_set(tag="rejected"))
    reject(lake, COIN, rejected.param_set_id, "failed the gate")
    assert quote_main(paper_args(lake, raw / "2", feed)) == EXIT_REFUSED
    for run in ("1", "2"):
        [refusal] = data(raw / run, "quoterParams")
        assert refusal["event"] == "refused" and "no parameter set has been promoted" in refusal["error"]
        assert not data(raw / run, "quoterQuote")

    live = promoted(lake, tag="live")
    candidate_later = register_candidate(lake, make_set(tag="later candidate", floor_bps=20.0))
    assert quote_main(paper_args(lake, raw / "3", feed)) == EXIT_OK
    used = {d["param_set_id"] for d in data(raw / "3", "quoterQuote")}
    assert used == {live.param_set_id}
    assert not {candidate.param_set_id, rejected.param_set_id, candidate_later.param_set_id} & used


@pytest.mark.slow  # reads the simulated demo day that only the quoter runs share
def test_refuses_a_stale_promoted_set(lake: Path, raw: Path, demo_hour: Path) -> None:
    promoted(lake, window_end_ms=time.time_ns() // 1_000_000 - 3 * HOUR_MS)
    assert quote_main(paper_args(lake, raw, f"replay:{demo_hour}", "--max-param-age-s", "7200")) == EXIT_REFUSED
    [refusal] = data(raw, "quoterParams")
    assert refusal["event"] == "refused" and "ended" in refusal["error"]


def paper_config(lake: Path, raw: Path, feed: str, **kw: Any) -> QuoterConfig:
    return QuoterConfig(coin=COIN, mode="paper", feed=feed, lake_root=lake, raw_root=raw, **kw)


@pytest.mark.slow  # a quoter running on a replayed demo hour in real time
def test_hot_reload_of_a_new_promotion_within_one_second(lake: Path, raw: Path, demo_hour: Path) -> None:
    first = promoted(lake, tag="first")
    running = Running(paper_config(lake, raw, f"replay:{demo_hour}", replay_speed=20.0, min_regime_minutes=0))
    try:
        quoter = running.quoter
        assert quoter is not None
        wait_until(lambda: quoter.decisions > 20, what="decisions on the first set")
        assert quoter.params is not None and quoter.params.param_set_id == first.param_set_id
        second = register_candidate(lake, make_set(tag="second", floor_bps=12.0))
        time.sleep(0.5)
        assert quoter.params.param_set_id == first.param_set_id  # a candidate is not loaded
        promote(lake, COIN, second.param_set_id, "better")
        started = time.monotonic()
        wait_until(lambda: quoter.params.param_set_id == second.param_set_id, timeout=2.0, what="reload")
        reload_s = time.monotonic() - started
        decisions = quoter.decisions
        wait_until(lambda: quoter.decisions > decisions + 5, what="decisions on the second set")
    finally:
        assert running.stop() == EXIT_OK
    assert reload_s < 1.0
    loaded = [d["param_set_id"] for d in data(raw, "quoterParams") if d["event"] == "loaded"]
    assert loaded == [first.param_set_id, second.param_set_id]
    used = [d["param_set_id"] for d in data(raw, "quoterQuote")]
    assert used[0] == first.param_set_id and used[-1] == second.param_set_id
    assert used.index(second.param_set_id) > 0 and set(used[used.index(second.param_set_id) :]) == {second.param_set_id}


@pytest.mark.slow  # a quoter running on a replayed demo hour in real time
def test_a_broken_pointer_pulls_the_quotes_and_its_byte_for_byte_repair_resumes_them(
    lake: Path, raw: Path, demo_hour: Path
) -> None:
    first = promoted(lake, tag="first")
    pointer_file = lake / "promoted" / f"{COIN}.json"
    good = pointer_file.read_bytes()
    running = Running(paper_config(lake, raw, f"replay:{demo_hour}", replay_speed=20.0, min_regime_minutes=0))
    try:
        quoter = running.quoter
        assert quoter is not None
        wait_until(lambda: quoter.decisions > 20 and quoter.pull is None, what="quoting on the first set")
        pointer_file.write_bytes(b"garbage")
        wait_until(lambda: quoter.pull is not None and quoter.pull[0] == "parameters_refused", what="the pull")
        time.sleep(1.0)  # several polls of the broken pointer
        pointer_file.write_bytes(good)
        wait_until(lambda: quoter.pull is None, timeout=3.0, what="quoting resumed after the repair")
        decisions = quoter.decisions
        wait_until(lambda: quoter.decisions > decisions + 5, what="decisions after the repair")
    finally:
        assert running.stop() == EXIT_OK
    events = [(d["event"], d.get("param_set_id")) for d in data(raw, "quoterParams")]
    assert events[0] == ("loaded", first.param_set_id)
    assert events[1][0] == "refused" and events[-1] == ("loaded", first.param_set_id)


@pytest.mark.slow  # a quoter running on a replayed demo hour until its set expires
def test_stale_parameters_pull_every_quote(lake: Path, raw: Path, demo_hour: Path) -> None:
    max_age_s = 2 * 3_600.0
    expires_in_ms = 4_000
    promoted(lake, window_end_ms=time.time_ns() // 1_000_000 - int(max_age_s * 1000) + expires_in_ms)
    config = paper_config(
        lake, raw, f"replay:{demo_hour}", replay_speed=20.0, min_regime_minutes=0, max_param_age_s=max_age_s
    )
    running = Running(config)
    try:
        quoter = running.quoter
        assert quoter is not None
        wait_until(
            lambda: quoter.pull is not None and quoter.pull[0] == "stale_parameters",
            timeout=10.0,
            what="the stale-parameter pull",
        )
        wait_until(lambda: quoter.working == {"B": None, "A": None}, what="quotes pulled")
        decisions = quoter.decisions
        wait_until(lambda: quoter.decisions > decisions + 10, what="decisions after the pull")
    finally:
        running.stop()
    log = frames(raw)
    [pull_at] = [
        i for i, f in enumerate(log) if f["channel"] == "quoterPull" and f["data"]["reason"] == "stale_parameters"
    ]
    before = [f["data"] for f in log[:pull_at] if f["channel"] == "quoterOrder" and f["data"]["event"] == "place"]
    after = [f["data"] for f in log[pull_at:] if f["channel"] == "quoterOrder"]
    assert before, "the set was quoted with before it expired"
    assert {d["event"] for d in after} <= {"cancel", "update", "cancel_all"}
    assert any(d["event"] == "cancel" for d in after)
    assert all(d["pull_reason"] == "stale_parameters" for d in data(raw, "quoterQuote")[-10:])


# -- paper mode on a replayed demo hour --------------------------------------------------------------------------


@pytest.mark.slow  # a full paper replay of a demo hour: about 16 s
def test_paper_replay_writes_quotes_fills_and_userfills_frames(lake: Path, raw: Path, demo_hour: Path) -> None:
    ps = promoted(lake)
    assert quote_main(paper_args(lake, raw, f"replay:{demo_hour}")) == EXIT_OK
    [log_file] = [f for f in discover(raw, COIN) if f.source == "quoter"]
    assert (log_file.date, log_file.hour, log_file.path.name) == (DEMO_DAY, DEMO_HOUR, f"{COIN}.jsonl.lz4")

    quotes = data(raw, "quoterQuote")
    quoted = [q for q in quotes if q["pull_reason"] is None]
    # at most one decision a second (the backtest's requote interval), whether it quotes or stands pulled
    assert 1_000 < len(quotes) < 5_000
    quoting = [q for q in quoted if "regime" not in (q["bid"]["reason"], q["ask"]["reason"])]
    assert np.diff([q["time"] for q in quoting]).min() >= 1_000
    predicted = [q[s] for q in quoted for s in ("bid", "ask") if q[s]["px"] is not None]
    unpredicted = [p for p in predicted if p["pred_fill_prob"] is None]  # a request in flight on that side
    assert len(unpredicted) < 0.1 * len(predicted)
    for q in quoted[:: len(quoted) // 50]:
        assert q["param_set_id"] == ps.param_set_id
        assert 0.99 < q["belief_calm"] + q["belief_volatile"] + q["belief_cascade"] < 1.01
        assert q["pred_adverse_bps"] == pytest.approx(blended_adverse_bps(q))
        for side, px in (("bid", q["bid"]["px"]), ("ask", q["ask"]["px"])):
            if px is not None:
                assert is_valid_price(px, RULES)
                assert q[side]["pred_fill_prob"] is None or 0.0 < q[side]["pred_fill_prob"] < 1.0
        if q["bid"]["px"] is not None:
            assert q["bid"]["px"] < q["best_ask"]
        if q["ask"]["px"] is not None:
            assert q["ask"]["px"] > q["best_bid"]

    fills = data(raw, "quoterFill")
    assert len(fills) >= 5
    assert all(f["param_set_id"] == ps.param_set_id and 0.0 < f["pred_fill_prob"] < 1.0 for f in fills)
    assert all(f["pred_adverse_bps"] == pytest.approx(blended_adverse_bps(f)) for f in fills)
    assert all(d["pred_adverse_bps"] is not None for d in data(raw, "quoterOrder") if d["event"] == "place")
    assert max(abs(f["inventory"]) for f in fills) <= 3.0  # the position limit, resting orders counted
    placed = {d["oid"] for d in data(raw, "quoterOrder") if d["event"] in ("place", "modify") and d["oid"]}
    assert {f["oid"] for f in fills} <= placed

    user_fills = frames(raw, "userFills")
    assert sum(len(f["data"]["fills"]) for f in user_fills) == len(fills)
    text = read_bytes(log_file.path).decode()
    table = parse_text(text, source="quoter").tables["fills"]  # the existing parser reads them as own fills
    assert table.height == len(fills)
    assert sorted(table["oid"].to_list()) == sorted(f["oid"] for f in fills)
    assert sorted(table["tid"].to_list()) == sorted(f["tid"] for f in fills)
    assert table["is_maker"].all() and (table["user"] == "paper").all()
    inventory = table.sort("time").select((pl.col("side") * pl.col("sz")).cum_sum())[-1, 0]
    assert inventory == pytest.approx(fills[-1]["inventory"])


FOLLOWER = "FOLLOW"
LEAD_LAG = {"leader": "DEMO", "lag_ms": 2_000, "beta": 0.6, "beta_se": 0.01}
FOLLOWER_MINUTES = 12


@pytest.fixture(scope="module")
def follower_hour(demo_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first minutes of a demo hour of FOLLOW, whose mid follows the demo coin's 2 s later by 0.6, with the demo
    coin's file of the same hour beside it, as the recorder lays them out."""
    from data_lake.demo_market import DemoMarketConfig, simulate
    from data_lake.demo_market.raw_writer import write_raw
    from data_lake.raw_zone import raw_path, write_lines

    leader = simulate(DemoMarketConfig(coin=COIN, days=1, seed=5, start=DEMO_DAY))  # demo_raw's market
    follower = DemoMarketConfig(
        coin=FOLLOWER,
        days=1,
        seed=6,
        start=DEMO_DAY,
        leader=COIN,
        leader_lag_ms=LEAD_LAG["lag_ms"],
        leader_beta=LEAD_LAG["beta"],
    )
    full, cut = tmp_path_factory.mktemp("follower"), tmp_path_factory.mktemp("follower_cut")
    write_raw(simulate(follower, leader), full)
    for root, coin in ((demo_raw, COIN), (full, FOLLOWER)):
        lines = read_lines(raw_path(root, "ws", DEMO_DAY, DEMO_HOUR, coin))
        kept = [line for line in lines if int(json.loads(line)["time"][14:16]) < FOLLOWER_MINUTES]
        write_lines(raw_path(cut, "ws", DEMO_DAY, DEMO_HOUR, coin), kept)
    return raw_path(cut, "ws", DEMO_DAY, DEMO_HOUR, FOLLOWER)


def _follower_log(lake: Path, raw: Path, hour: Path, *extra: str) -> list[dict[str, Any]]:
    """FOLLOW's quoter log of a paper replay of ``hour`` with a promoted set leaning on DEMO."""
    end = time.time_ns() // 1_000_000 - HOUR_MS
    ps = register_candidate(
        lake,
        ParamSet.create(
            coin=FOLLOWER,
            window_start_ms=end - 24 * HOUR_MS,
            window_end_ms=end,
            code_version="test-lead-lag",
            parameters=parameters(lead_lag=LEAD_LAG),
            evidence={},
            created_at_ms=end,
        ),
    )
    promote(lake, FOLLOWER, ps.param_set_id, "test")
    args = ["--coin", FOLLOWER, "--mode", "paper", "--feed", f"replay:{hour}", "--lake", str(lake), "--raw", str(raw)]
    assert quote_main([*args, "--min-regime-minutes", "0", *extra]) == EXIT_OK
    return [
        json.loads(line)["raw"] for f in discover(raw, FOLLOWER) if f.source == "quoter" for line in read_lines(f.path)
    ]


@pytest.mark.slow  # simulates a follower day, then a paper replay of it
def test_a_lead_lag_set_quotes_around_the_fair_value_its_leader_moves(
    lake: Path, raw: Path, follower_hour: Path
) -> None:
    """Replaying FOLLOW with DEMO's books beside it, the quotes centre on mid * exp(0.6 r), r DEMO's log move of the
    last 2 s: away from the mid most of the time, by a move's size, never outside the quotes; a session that does
    not follow DEMO says so and quotes around the mid."""
    led = _follower_log(lake, raw / "led", follower_hour, "--leaders", "DEMO")
    quotes = [f["data"] for f in led if f["channel"] == "quoterQuote" and f["data"]["pull_reason"] is None]
    shifts = np.array([np.log(q["fair_value"] / q["mid"]) / LEAD_LAG["beta"] for q in quotes])
    assert len(quotes) > 500 and np.mean(shifts != 0.0) > 0.5  # at most one decision a second
    assert 1e-5 < np.median(np.abs(shifts)) and np.percentile(np.abs(shifts), 99) < 5e-3  # moves of 2 s, bps
    two_sided = [(q["bid"]["px"], q["fair_value"], q["ask"]["px"]) for q in quotes if q["bid"]["px"] and q["ask"]["px"]]
    assert len(two_sided) > 0.5 * len(quotes) and all(bid < fair < ask for bid, fair, ask in two_sided)

    plain = _follower_log(lake, raw / "plain", follower_hour, "--leaders", "")
    [missing] = [f["data"] for f in plain if f["channel"] == "quoterParams" and f["data"]["event"] == "leader_missing"]
    assert "leans on DEMO, whose books this session does not follow" in missing["error"]
    plain_quotes = [f["data"] for f in plain if f["channel"] == "quoterQuote" and f["data"]["pull_reason"] is None]
    assert plain_quotes and all(q["fair_value"] == q["mid"] for q in plain_quotes)


@pytest.mark.slow  # a paper replay of a demo hour
def test_paper_daily_loss_limit_stops_quoting(lake: Path, raw: Path, demo_hour: Path) -> None:
    promoted(lake, daily_loss_limit_quote=0.01)
    assert quote_main(paper_args(lake, raw, f"replay:{demo_hour}")) == EXIT_OK
    log = frames(raw)
    [halt] = [
        i for i, f in enumerate(log) if f["channel"] == "quoterPull" and f["data"]["reason"] == "daily_loss_limit"
    ]
    after = [f["data"] for f in log[halt:] if f["channel"] == "quoterOrder"]
    assert not [d for d in after if d["event"] in ("place", "modify")]
    assert all(q["pull_reason"] == "daily_loss_limit" for q in data(raw, "quoterQuote")[-100:])
    first_halted = next(q for q in data(raw, "quoterQuote") if q["pull_reason"] == "daily_loss_limit")
    assert first_halted["day_pnl"] < -0.01


@pytest.mark.slow  # a replayed demo hour through the online state: about 17 s
def test_online_state_matches_the_batch_features(demo_raw: Path, demo_hour: Path) -> None:
    """The quoter's 1 s EWMA and 1 min regime features equal calibration.bars on the cleaned book."""
    from calibration.bars import features_1min, features_1s
    from data_lake.cleaning import clean_partition
    from quoting.core.book import Book
    from quoting.runtime.online_state import MidBars

    clean = clean_partition(demo_raw, COIN, DEMO_DAY)
    book, trades = clean.tables["book"], clean.tables["trades"]
    top, bars = Book(depth=False), MidBars(half_life_s=300.0)
    bars.seed(1e-8)
    minutes: list[tuple[float, float]] = []
    for line in read_lines(demo_hour):
        frame = json.loads(line)["raw"]
        if frame["channel"] in ("l2Book", "bbo"):
            fresh = top.update_l2(frame["data"]) if frame["channel"] == "l2Book" else top.update_bbo(frame["data"])
            if fresh and top.mid > 0.0:
                minutes += bars.update(top.mid, top.top_time_ms)
    hour_ms = int(dt.datetime(2026, 1, 1, DEMO_HOUR, tzinfo=dt.UTC).timestamp() * 1000)
    batch = features_1min(trades, book).filter(pl.col("time").is_between(hour_ms + 60_000, hour_ms + HOUR_MS - 1))
    assert len(minutes) >= 58  # the first, partial minute only sets the reference mid
    for (log_return, log_rv), row in zip(minutes, batch.sort("time").iter_rows(named=True), strict=False):
        assert log_return == pytest.approx(row["log_return"], abs=1e-12)
        assert log_rv == pytest.approx(np.log(row["rv"]), abs=1e-9)
    seconds = features_1s(trades, book, half_life_bars=300.0)
    last_closed = seconds.filter(pl.col("time") < top.top_time_ms // 1000 * 1000).sort("time")[-1]
    assert bars.variance == pytest.approx(last_closed["ewma_var"].item(), rel=1e-3)


# -- live mode on the fake exchange -------------------------------------------------------------------------------


def l2_book(time_ms: int, bid: float, ask: float, levels: int = 5, size: str = "150.0") -> dict[str, Any]:
    bids = [{"px": f"{bid - i * 0.001:.3f}", "sz": size, "n": 2} for i in range(levels)]
    asks = [{"px": f"{ask + i * 0.001:.3f}", "sz": size, "n": 2} for i in range(levels)]
    return {"channel": "l2Book", "data": {"coin": COIN, "time": time_ms, "levels": [bids, asks]}}


def trade(side: str, px: float, sz: str, time_ms: int) -> dict[str, Any]:
    users = ["0x" + "1" * 40, "0x" + "2" * 40]
    item = {
        "coin": COIN,
        "side": side,
        "px": f"{px:.3f}",
        "sz": sz,
        "time": time_ms,
        "hash": "0x" + "0" * 64,
        "tid": time_ms,
        "users": users,
    }
    return {"channel": "trades", "data": [item]}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def live_config(fake: FakeHyperliquid, lake: Path, raw: Path, **kw: Any) -> QuoterConfig:
    base: dict[str, Any] = {
        "coin": COIN,
        "mode": "live",
        "feed": "hyperliquid",
        "lake_root": lake,
        "raw_root": raw,
        "api_url": fake.base_url,
        "ws_url": fake.ws_url,
        "account_address": MASTER.address,
        "min_regime_minutes": 0,
        "stale_feed_ms": 60_000,
        "live": LiveConfig(dms_horizon_s=60.0, dms_refresh_s=30.0, dms_min_left_s=15.0),
    }
    return QuoterConfig(**(base | kw))


def exchange_actions(fake: FakeHyperliquid, after: int = 0) -> list[dict[str, Any]]:
    return [json.loads(r.body)["action"] for r in fake.requests[after:] if r.path == "/exchange"]


def open_orders(fake: FakeHyperliquid) -> list[dict[str, Any]]:
    """The account's open orders, asked over the fake's /info like any client."""
    return Info(fake.base_url, skip_ws=True, meta=fake.meta(), spot_meta=fake.spot_meta()).open_orders(MASTER.address)


def start_live(fake: FakeHyperliquid, config: QuoterConfig, monkeypatch: pytest.MonkeyPatch) -> Running:
    monkeypatch.setenv(KEY_ENV, AGENT_KEY)
    running = Running(config)
    fake.wait_for_subscription({"type": "l2Book", "coin": COIN})
    fake.wait_for_subscription({"type": "orderUpdates", "user": MASTER.address})
    return running


def both_sides_resting(fake: FakeHyperliquid) -> list[dict[str, Any]]:
    orders = open_orders(fake)
    return orders if sorted(o["side"] for o in orders) == ["A", "B"] else []


def files_under(*roots: Path) -> Iterator[tuple[Path, str]]:
    """(path, decoded text) of every file under ``roots``: LZ4 decompressed, parquet rendered as CSV."""
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            if path.suffix == ".parquet":
                yield path, pl.read_parquet(path).write_csv()
            else:
                yield path, read_bytes(path).decode("utf-8", "replace")


def assert_key_never_written(fake: FakeHyperliquid, roots: list[Path], *outputs: str) -> None:
    secrets = {AGENT_KEY.lower(), AGENT_KEY[2:].lower(), AGENT_KEY[2:].upper()}
    checked = 0
    for path, text in files_under(*roots):
        checked += 1
        assert not any(s in text for s in secrets), f"the API key appears in {path}"
    for request in fake.requests:
        assert not any(s in request.body or s in json.dumps(request.headers) for s in secrets)
    for output in outputs:
        assert not any(s in output for s in secrets)
    assert checked > 0


@pytest.mark.slow  # a live quoter against the fake exchange, in real time
def test_live_quoting_on_the_fake_exchange(
    fake: FakeHyperliquid, lake: Path, raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    promoted(lake, tag="first", requote_interval_ms=3_000)
    config = live_config(fake, lake, raw)
    running = start_live(fake, config, monkeypatch)
    quoter = running.quoter
    assert quoter is not None
    try:
        # the dead-man switch is armed before anything is quoted, at least 5 s ahead
        user = MASTER.address.lower()
        armed = wait_until(lambda: fake.exchange.scheduled.get(user), what="scheduleCancel")
        assert armed >= now_ms() + 5_000
        t0 = now_ms()
        fake.publish(l2_book(t0, 24.999, 25.001))
        orders = wait_until(lambda: both_sides_resting(fake), what="both sides resting")
        actions = exchange_actions(fake)
        kinds = [a["type"] for a in actions]
        assert kinds.index("scheduleCancel") < kinds.index("order")
        for action in (a for a in actions if a["type"] == "order"):
            for wire in action["orders"]:
                assert wire["t"] == {"limit": {"tif": "Alo"}} and not wire["r"]
                assert is_valid_price(float(wire["p"]), RULES)
        bid = next(o for o in orders if o["side"] == "B")
        ask = next(o for o in orders if o["side"] == "A")
        assert float(bid["limitPx"]) <= 24.999 and float(ask["limitPx"]) >= 25.001  # behind the touch

        # within the set's requote interval of the last quoting decision a moved book is not acted on (the
        # backtest decides at most once per interval); the first decision after it moves both sides at once
        n, decided = len(fake.requests), quoter.decisions
        fake.publish(l2_book(t0 + 500, 25.004, 25.006))
        time.sleep(0.3)
        assert quoter.decisions == decided and exchange_actions(fake, n) == []
        modify = wait_until(
            lambda: [a for a in exchange_actions(fake, n) if a["type"] == "batchModify"], what="a modify"
        )[0]
        assert len(modify["modifies"]) == 2
        moved = wait_until(
            lambda: (
                {o["oid"] for o in both_sides_resting(fake)}.isdisjoint({bid["oid"], ask["oid"]})
                and both_sides_resting(fake)
            ),
            what="both orders replaced",
        )
        assert all(is_valid_price(float(o["limitPx"]), RULES) for o in moved)
        assert {o["side"]: float(o["limitPx"]) for o in moved}["B"] > float(bid["limitPx"])

        # a sell printing through our bid fills it: inventory, the fill log with its predictions, a new bid
        bid_now = next(o for o in moved if o["side"] == "B")
        fake.publish(trade("A", float(bid_now["limitPx"]) - 0.002, "5.0", now_ms()))
        [fill] = wait_until(lambda: data(raw, "quoterFill"), what="the fill logged")
        assert (fill["oid"], fill["side"], fill["sz"], fill["inventory"]) == (bid_now["oid"], "B", 1.0, 1.0)
        assert 0.0 < fill["pred_fill_prob"] < 1.0 and fill["param_set_id"] == quoter.params.param_set_id
        [user_fills] = frames(raw, "userFills")
        assert user_fills["data"]["user"] == MASTER.address.lower()
        assert [f["oid"] for f in user_fills["data"]["fills"]] == [bid_now["oid"]]
        wait_until(lambda: both_sides_resting(fake), what="a new bid after the fill")
        assert quoter.account.position == 1.0

        # a late, older book moves the exchange's touch (the quoter ignores it as stale); a new promotion then
        # moves the ask onto that touch: a per-order error inside an "ok" response, handled
        fake.publish(l2_book(t0 + 200, 25.030, 25.032))
        second = promoted(lake, tag="second", floor_bps=12.0)
        wait_until(lambda: quoter.params.param_set_id == second.param_set_id, timeout=2.0, what="reload")
        failed = wait_until(lambda: [d for d in data(raw, "quoterOrder") if d.get("status") == "error"], what="error")
        assert failed[0]["side"] == "A" and "Post only order would have immediately matched" in failed[0]["error"]
        fake.publish(l2_book(t0 + 2_000, 25.004, 25.006))  # the touch agrees again: the ask is placed anew
        wait_until(lambda: both_sides_resting(fake), what="both sides resting after the error")
        assert running.thread.is_alive()
        position_limit = quoter.params.policy.position_limit
        assert all(float(o["sz"]) <= position_limit for o in open_orders(fake))
    finally:
        assert running.stop() == EXIT_OK
    assert open_orders(fake) == []
    assert user not in fake.exchange.scheduled  # cleared after everything was cancelled: no trigger used
    assert_key_never_written(fake, [tmp_path])


def test_paper_mode_on_the_live_feed_never_trades(fake: FakeHyperliquid, lake: Path, raw: Path) -> None:
    promoted(lake)
    config = paper_config(lake, raw, "hyperliquid", ws_url=fake.ws_url, min_regime_minutes=0, paper_order_latency_ms=0)
    running = Running(config)
    quoter = running.quoter
    assert quoter is not None
    try:
        fake.wait_for_subscription({"type": "trades", "coin": COIN})
        t0 = now_ms()
        fake.publish(l2_book(t0, 24.999, 25.001))
        bid = wait_until(lambda: quoter.working["B"], what="a paper bid")
        fake.publish(l2_book(t0 + 100, 24.999, 25.001))  # the order lands (paper latency) before the print
        fake.publish(trade("A", bid.px - 0.002, "5.0", t0 + 200))
        [fill] = wait_until(lambda: data(raw, "quoterFill"), what="a paper fill")
        assert (fill["oid"], fill["side"], fill["px"], fill["inventory"]) == (bid.oid, "B", bid.px, 1.0)
    finally:
        running.stop()
    assert [r for r in fake.requests if r.path == "/exchange"] == []
    [user_fills] = frames(raw, "userFills")
    assert user_fills["data"]["user"] == "paper"


@pytest.mark.slow  # a live quoter against the fake exchange, in real time
def test_live_stale_feed_pull_and_resume(
    fake: FakeHyperliquid, lake: Path, raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    promoted(lake)
    running = start_live(fake, live_config(fake, lake, raw, stale_feed_ms=1_000), monkeypatch)
    try:
        last_book = time.monotonic()
        fake.publish(l2_book(now_ms(), 24.999, 25.001))
        wait_until(lambda: both_sides_resting(fake), what="both sides resting")
        wait_until(lambda: open_orders(fake) == [], timeout=5.0, what="quotes pulled on a stale feed")
        assert 1.0 <= time.monotonic() - last_book < 2.0
        assert pulls(raw)[-1] == "stale_feed"
        fake.publish(l2_book(now_ms(), 24.999, 25.001))
        wait_until(lambda: both_sides_resting(fake), what="quotes back on a fresh feed")

        # a dropped connection: order updates may have been missed, so everything is cancelled on reconnect
        assert fake.disconnect_all(abrupt=True) == 1
        wait_until(lambda: fake.client_count() == 1, what="the quoter reconnected")
        fake.wait_for_subscription({"type": "orderUpdates", "user": MASTER.address})
        wait_until(
            lambda: [d for d in data(raw, "quoterOrder") if d.get("reason") == "feed reconnected"],
            what="cancel-all after the reconnect",
        )
        assert open_orders(fake) == []
        fake.publish(l2_book(now_ms(), 24.999, 25.001))
        wait_until(lambda: both_sides_resting(fake), what="quotes back after the reconnect")
    finally:
        running.stop()
    resumed = [d for d in data(raw, "quoterPull") if d["state"] == "resumed"]
    assert "stale_feed" in [d["reason"] for d in resumed]
    assert_key_never_written(fake, [tmp_path])


@pytest.mark.slow  # a live quoter against the fake exchange, in real time
def test_dead_man_switch_fires_when_the_quoter_hangs(
    fake: FakeHyperliquid, lake: Path, raw: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    promoted(lake)
    dms = LiveConfig(dms_horizon_s=6.0, dms_refresh_s=1.0, dms_min_left_s=5.0)
    running = start_live(fake, live_config(fake, lake, raw, live=dms), monkeypatch)
    try:
        fake.publish(l2_book(now_ms(), 24.999, 25.001))
        wait_until(lambda: both_sides_resting(fake), what="both sides resting")
        running.loop.call_soon_threadsafe(time.sleep, 7.5)  # the quoter hangs: nothing refreshes the switch
        wait_until(lambda: open_orders(fake) == [], timeout=10.0, what="the exchange's scheduled cancel")
        assert sum(fake.exchange.triggers.values()) == 1
        fired = wait_until(
            lambda: [d for d in data(raw, "quoterOrder") if d.get("status") == "fired"],
            timeout=10.0,
            what="the firing noticed",
        )
        assert len(fired) == 1
        armed_again = wait_until(lambda: fake.exchange.scheduled.get(MASTER.address.lower()), what="re-armed")
        assert armed_again >= now_ms() + 4_000
        fake.publish(l2_book(now_ms(), 24.999, 25.001))
        wait_until(lambda: both_sides_resting(fake), what="quoting again")
    finally:
        running.stop()
    assert sum(fake.exchange.triggers.values()) == 1  # the clean exit used none


def test_restart_cancels_stale_orders_before_quoting(
    fake: FakeHyperliquid, lake: Path, raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    promoted(lake)
    fake.publish(l2_book(now_ms(), 24.999, 25.001))
    leftover = Exchange(
        AGENT, fake.base_url, meta=fake.meta(), spot_meta=fake.spot_meta(), account_address=MASTER.address
    )
    status = leftover.order(COIN, True, 1.0, 24.9, {"limit": {"tif": "Alo"}})
    stale_oid = status["response"]["data"]["statuses"][0]["resting"]["oid"]
    n = len(fake.requests)
    running = start_live(fake, live_config(fake, lake, raw), monkeypatch)
    try:
        fake.publish(l2_book(now_ms(), 24.999, 25.001))
        orders = wait_until(lambda: both_sides_resting(fake), what="quoting")
        assert stale_oid not in {o["oid"] for o in orders}
    finally:
        running.stop()
    actions = exchange_actions(fake, n)
    first_cancel = next(i for i, a in enumerate(actions) if a["type"] == "cancel")
    assert stale_oid in [c["o"] for c in actions[first_cancel]["cancels"]]
    assert first_cancel < next(i for i, a in enumerate(actions) if a["type"] == "order")
    [cancel_all] = [
        d for d in data(raw, "quoterOrder") if d["event"] == "cancel_all" and d["reason"].startswith("start")
    ]
    assert cancel_all["oids"] == [stale_oid]
    assert_key_never_written(fake, [tmp_path])


@pytest.mark.slow  # a live quoter in a subprocess, stopped by SIGTERM
def test_sigterm_cancels_everything(fake: FakeHyperliquid, lake: Path, raw: Path, tmp_path: Path) -> None:
    promoted(lake)
    key_file = tmp_path / "secrets" / "api.key"
    key_file.parent.mkdir()
    key_file.write_text(AGENT_KEY + "\n")
    key_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k not in (KEY_ENV, KEY_FILE_ENV)} | {KEY_FILE_ENV: str(key_file)}
    args = [
        "--coin",
        COIN,
        "--mode",
        "live",
        "--lake",
        str(lake),
        "--raw",
        str(raw),
        "--api-url",
        fake.base_url,
        "--ws-url",
        fake.ws_url,
        "--account-address",
        MASTER.address,
        "--min-regime-minutes",
        "0",
        "--stale-feed-ms",
        "60000",
    ]
    code = "import sys; from quoting.cli.quote import quote_main; sys.exit(quote_main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        fake.wait_for_subscription({"type": "orderUpdates", "user": MASTER.address}, timeout=30.0)
        wait_until(lambda: fake.exchange.scheduled.get(MASTER.address.lower()), what="scheduleCancel")
        fake.publish(l2_book(now_ms(), 24.999, 25.001))
        wait_until(lambda: both_sides_resting(fake), what="both sides resting")
        n = len(fake.requests)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_OK, err
    assert open_orders(fake) == []
    assert [a["type"] for a in exchange_actions(fake, n)] == ["cancel", "scheduleCancel"]
    assert "time" not in exchange_actions(fake, n)[-1]  # cleared: a clean exit uses no trigger
    assert MASTER.address.lower() not in fake.exchange.scheduled
    assert pulls(raw)[-1] == "shutdown"
    assert_key_never_written(fake, [lake, raw], out, err)


# -- the API key --------------------------------------------------------------------------------------------------


def test_api_key_file_must_be_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    key_file = tmp_path / "api.key"
    key_file.write_text(AGENT_KEY)
    key_file.chmod(0o644)
    monkeypatch.setenv(KEY_FILE_ENV, str(key_file))
    with pytest.raises(ApiKeyError, match="mode 0644") as refused:
        load_api_wallet()
    assert AGENT_KEY[2:] not in str(refused.value)
    key_file.chmod(0o600)
    assert load_api_wallet().address == AGENT.address
    monkeypatch.delenv(KEY_FILE_ENV)
    monkeypatch.setenv(KEY_ENV, "not a key")
    with pytest.raises(ApiKeyError, match="not a valid private key"):
        load_api_wallet()
    assert KEY_ENV not in os.environ  # read once, then dropped from the environment
    monkeypatch.setenv(KEY_ENV, AGENT_KEY)
    assert load_api_wallet().address == AGENT.address
    assert KEY_ENV not in os.environ  # a good key is dropped too: child processes never inherit it
