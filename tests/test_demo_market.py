"""The demo market: raw captures in Hyperliquid's exact format, and statistics that match its ground truth."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from data_lake.demo_market import DemoMarket, DemoMarketConfig, load_truth, simulate, simulate_to_raw, truth_path
from data_lake.raw_zone import discover, envelope, read_lines

DAY = dt.date(2026, 1, 1)
CONFIG = DemoMarketConfig(coin="DEMO", days=1, seed=11, start=DAY)
SZ_DECIMALS = CONFIG.sz_decimals


SAMPLE_EVERY = 10
"""Shapes, level sizes and envelope bytes are checked on every SAMPLE_EVERY-th frame; everything else on all."""


@dataclass
class ParsedCapture:
    """One pass over every raw line, kept compact: arrays per channel plus the sets the format tests need."""

    files: list[Path]
    truth: Path
    seconds: float
    lines_per_channel: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    shapes: dict[str, set] = field(default_factory=lambda: defaultdict(set))
    prices: set[str] = field(default_factory=set)
    sizes: set[str] = field(default_factory=set)
    volumes: set[str] = field(default_factory=set)
    mids: set[str] = field(default_factory=set)
    envelope_errors: list[str] = field(default_factory=list)
    book_time: list[int] = field(default_factory=list)
    book_px: list[list[float]] = field(default_factory=list)
    bbo_time: list[int] = field(default_factory=list)
    bbo_px: list[tuple[float, float]] = field(default_factory=list)
    prints: list[tuple] = field(default_factory=list)
    ctx_funding: list[tuple[str, str]] = field(default_factory=list)


def _shape(frame: dict) -> tuple:
    """Keys of a frame, recursively into data, levels and trades (the wire shape, values ignored)."""
    data = frame["data"]
    if frame["channel"] == "trades":
        return ("trades", tuple(data[0]))
    if frame["channel"] == "l2Book":
        return (tuple(data), tuple(tuple(level) for side in data["levels"] for level in side))
    if frame["channel"] == "bbo":
        return (tuple(data), tuple(tuple(level) for level in data["bbo"]))
    return (tuple(data), tuple(data["ctx"]))


def _recv_ns(iso: str) -> int:
    seconds = dt.datetime.fromisoformat(iso[:19]).replace(tzinfo=dt.UTC).timestamp()
    return int(seconds) * 1_000_000_000 + int(iso[20:])


def _check_envelope(parsed: ParsedCapture, where: str, line: str, wrapped: dict, file_hour: int, sampled: bool) -> None:
    iso = wrapped["time"]
    if list(wrapped) != ["time", "ver_num", "raw"] or wrapped["ver_num"] != 1 or int(iso[11:13]) != file_hour:
        parsed.envelope_errors.append(where)
    if sampled and envelope(_recv_ns(iso), wrapped["raw"]) != line:
        parsed.envelope_errors.append(f"{where}: not byte-identical to raw_zone.envelope")


def _parse(files: list[Path], truth: Path, seconds: float) -> ParsedCapture:
    parsed = ParsedCapture(files, truth, seconds)
    for path in files:
        file_hour = int(path.parent.name)
        previous_iso = ""
        for number, line in enumerate(read_lines(path)):
            wrapped = json.loads(line)
            sampled = number % SAMPLE_EVERY == 0
            _check_envelope(parsed, f"{path}:{number}", line, wrapped, file_hour, sampled)
            if wrapped["time"] < previous_iso:
                parsed.envelope_errors.append(f"{path}:{number} out of receive order")
            previous_iso = wrapped["time"]
            frame = wrapped["raw"]
            channel, data = frame["channel"], frame["data"]
            parsed.lines_per_channel[channel] += 1
            if sampled or channel != "l2Book":
                parsed.shapes[channel].add(_shape(frame))
            if channel == "l2Book":
                levels = data["levels"][0] + data["levels"][1]
                parsed.book_time.append(data["time"])
                parsed.book_px.append([float(level["px"]) for level in levels])
                if sampled:
                    parsed.prices.update(level["px"] for level in levels)
                    parsed.sizes.update(level["sz"] for level in levels)
                    if min(level["n"] for level in levels) < 1:
                        parsed.envelope_errors.append(f"{path}:{number} n < 1")
            elif channel == "bbo":
                bid, ask = data["bbo"]
                parsed.bbo_time.append(data["time"])
                parsed.bbo_px.append((float(bid["px"]), float(ask["px"])))
                parsed.prices.update((bid["px"], ask["px"]))
                parsed.sizes.update((bid["sz"], ask["sz"]))
            elif channel == "trades":
                for t in data:
                    parsed.prints.append((t["time"], t["side"], float(t["px"]), t["hash"], t["tid"], *t["users"]))
                    parsed.prices.add(t["px"])
                    parsed.sizes.add(t["sz"])
            else:
                ctx = data["ctx"]
                parsed.prices.update((ctx["oraclePx"], ctx["markPx"], ctx["prevDayPx"], *ctx["impactPxs"]))
                parsed.sizes.add(ctx["openInterest"])
                parsed.volumes.update((ctx["dayBaseVlm"], ctx["dayNtlVlm"]))
                parsed.mids.add(ctx["midPx"])
                parsed.ctx_funding.append((wrapped["time"], ctx["funding"]))
    return parsed


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> ParsedCapture:
    raw = tmp_path_factory.mktemp("demo") / "raw"
    started = time.perf_counter()
    truth = simulate_to_raw(CONFIG, raw)
    seconds = time.perf_counter() - started
    return _parse([f.path for f in discover(raw)], truth, seconds)


@pytest.fixture(scope="module")
def market() -> DemoMarket:
    return simulate(CONFIG)


@pytest.mark.slow
def test_one_day_generates_in_seconds(capture: ParsedCapture, capsys: pytest.CaptureFixture[str]) -> None:
    megabytes = sum(p.stat().st_size for p in capture.files) / 1e6
    with capsys.disabled():
        print(
            f"\ndemo market, 1 day: simulate_to_raw {capture.seconds:.2f} s, {len(capture.files)} files, "
            f"{megabytes:.1f} MB lz4, lines {dict(capture.lines_per_channel)}"
        )
    assert capture.lines_per_channel["l2Book"] > 150_000


@pytest.mark.slow
def test_files_land_in_the_raw_layout_with_valid_envelopes(capture: ParsedCapture) -> None:
    root = capture.files[0].parents[3]
    expected = {root / "ws" / "20260101" / str(hour) / "DEMO.jsonl.lz4" for hour in range(24)}
    assert set(capture.files) == expected
    assert capture.truth == truth_path(root, "DEMO") == root / "truth" / "DEMO.json"
    assert capture.envelope_errors == []
    assert set(capture.lines_per_channel) == {"l2Book", "bbo", "trades", "activeAssetCtx"}


@pytest.mark.slow
@pytest.mark.needs_samples
def test_frames_have_the_real_hyperliquid_shapes(capture: ParsedCapture, samples_dir: Path) -> None:
    real = {}
    for line in (samples_dir / "ws" / "ws_messages_examples.jsonl").read_text().splitlines():
        frame = json.loads(line)
        real[frame["channel"]] = frame
    for channel in ("l2Book", "trades"):
        assert capture.shapes[channel] == {_shape(real[channel])}, channel
    level = ("px", "sz", "n")
    assert capture.shapes["bbo"] == {(("coin", "time", "bbo"), (level, level))}
    ctx_keys = (
        "funding",
        "openInterest",
        "prevDayPx",
        "dayNtlVlm",
        "premium",
        "oraclePx",
        "markPx",
        "midPx",
        "impactPxs",
        "dayBaseVlm",
    )
    assert capture.shapes["activeAssetCtx"] == {(("coin", "ctx"), ctx_keys)}
    assert len(next(iter(capture.shapes["l2Book"]))[1]) == 2 * CONFIG.book_levels


def _decimal_ok(text: str, max_decimals: int) -> bool:
    """Hyperliquid's text: at least one decimal, no trailing zeros beyond it, at most ``max_decimals`` decimals."""
    whole, _, fraction = text.partition(".")
    stripped = fraction == "0" or not fraction.endswith("0")
    return bool(whole) and bool(fraction) and stripped and len(fraction) <= max_decimals


@pytest.mark.slow
def test_prices_and_sizes_obey_hyperliquid_rules(capture: ParsedCapture) -> None:
    for px in capture.prices:
        value = Decimal(px)
        significant = len(value.normalize().as_tuple().digits)
        assert _decimal_ok(px, 6 - SZ_DECIMALS) and (significant <= 5 or value == value.to_integral_value()), px
        assert value % Decimal("0.001") == 0, px
    for sz in capture.sizes:
        assert _decimal_ok(sz, SZ_DECIMALS) and Decimal(sz) > 0, sz
    assert all(_decimal_ok(volume, 6) for volume in capture.volumes)
    assert all(_decimal_ok(mid, 6 - SZ_DECIMALS) for mid in capture.mids)


@pytest.mark.slow
def test_books_are_never_crossed_and_keep_a_one_tick_spread(capture: ParsedCapture) -> None:
    px = np.asarray(capture.book_px)
    bids, asks = px[:, :20], px[:, 20:]
    tick = CONFIG.tick
    assert (np.diff(bids, axis=1) < 0).all() and (np.diff(asks, axis=1) > 0).all()
    assert np.allclose(asks[:, 0] - bids[:, 0], tick)
    bbo = np.asarray(capture.bbo_px)
    assert np.allclose(bbo[:, 1] - bbo[:, 0], tick)
    bbo_time = np.asarray(capture.bbo_time)
    assert (np.diff(bbo_time) >= CONFIG.block_ms).all()
    latest_bbo = np.searchsorted(bbo_time, np.asarray(capture.book_time), side="right") - 1
    assert np.array_equal(bbo[latest_bbo, 0], bids[:, 0]), "l2Book best bid differs from the freshest bbo"


@pytest.mark.slow
def test_sweeps_share_time_side_hash_and_taker(capture: ParsedCapture) -> None:
    by_hash: dict[str, list[tuple]] = defaultdict(list)
    for row in capture.prints:
        by_hash[row[3]].append(row)
    tids = [row[4] for row in capture.prints]
    assert len(set(tids)) == len(tids)
    multi = [rows for rows in by_hash.values() if len(rows) > 1]
    assert len(multi) > 10_000
    for rows in multi:
        time_ms, side = rows[0][0], rows[0][1]
        takers = {r[5] if side == "B" else r[6] for r in rows}
        assert {(r[0], r[1]) for r in rows} == {(time_ms, side)} and len(takers) == 1


@pytest.mark.slow
def test_funding_changes_only_on_the_hour(capture: ParsedCapture) -> None:
    """One rate per hour; frames received in an hour's first second may still carry the previous hour's rate."""
    per_hour: dict[str, set[str]] = defaultdict(set)
    for received, funding in capture.ctx_funding:
        if received[14:19] != "00:00":
            per_hour[received[:13]].add(funding)
    assert len(per_hour) == 24 and all(len(rates) == 1 for rates in per_hour.values())
    assert len({rate for rates in per_hour.values() for rate in rates}) > 12


@pytest.mark.slow
def test_raw_trades_recover_the_reach_law_from_the_freshest_mid(capture: ParsedCapture, market: DemoMarket) -> None:
    """Merge prints into orders and measure the deepest level from the last bbo strictly before the trade: it is
    exactly the simulated sweep, and its survival is exp(-kappa * j * tick)."""
    columns = ["time", "side", "px", "hash", "tid", "buyer", "seller"]
    prints = pl.DataFrame(capture.prints, schema=columns, orient="row")
    orders = prints.group_by("time", "side", "hash").agg(
        pl.col("px").min().alias("low"), pl.col("px").max().alias("high")
    )
    bbo_time = np.asarray(capture.bbo_time)
    bid = np.asarray(capture.bbo_px)[np.searchsorted(bbo_time, orders["time"].to_numpy(), side="left") - 1, 0]
    tick = CONFIG.tick
    buy = orders["side"].to_numpy() == "B"
    deepest = np.rint(np.where(buy, orders["high"].to_numpy() - (bid + tick), bid - orders["low"].to_numpy()) / tick)
    measured = orders.with_columns(pl.Series("deepest", deepest.astype(np.int64)))
    simulated = market.orders.select("hash", (pl.col("levels") - 1).alias("simulated"))
    joined = measured.join(simulated, on="hash", how="inner")
    assert joined.height == measured.height and market.orders.height - joined.height <= 3
    assert (joined["deepest"] == joined["simulated"]).all()
    kappa_tick = CONFIG.kappa_per_price * tick
    for j in range(1, 8):
        expected = math.exp(-kappa_tick * j)
        observed = (deepest >= j).mean()
        assert abs(observed - expected) < 4 * math.sqrt(expected * (1 - expected) / len(deepest)), j


@pytest.mark.slow
def test_raw_capture_is_deterministic_for_a_seed(capture: ParsedCapture, tmp_path: Path) -> None:
    simulate_to_raw(CONFIG, tmp_path / "raw")
    again = sorted(f.path for f in discover(tmp_path / "raw"))
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in sorted(capture.files)]
    assert (tmp_path / "raw" / "truth" / "DEMO.json").read_text() == capture.truth.read_text()


def test_a_different_seed_gives_a_different_market(market: DemoMarket) -> None:
    other = simulate(DemoMarketConfig(coin="DEMO", days=1, seed=12, start=DAY))
    assert other.orders.height != market.orders.height
    assert not np.array_equal(other.mids["bid_ticks"].to_numpy()[:1000], market.mids["bid_ticks"].to_numpy()[:1000])


def test_taker_order_rate_matches_the_hawkes_stationary_rate(market: DemoMarket) -> None:
    horizon_s = CONFIG.days * 86_400
    rate = CONFIG.order_rate_per_s
    branching = CONFIG.hawkes_alpha_per_s / CONFIG.hawkes_beta_per_s
    standard_error = math.sqrt(rate * horizon_s) / (1 - branching) / horizon_s
    observed = market.orders.height / horizon_s
    assert abs(observed - rate) < 4 * standard_error
    buys = (market.orders["side"] == 1).mean()
    assert abs(buys - 0.5) < 4 * math.sqrt(0.25 / market.orders.height)


def test_hawkes_counts_are_overdispersed_as_the_kernel_implies(market: DemoMarket) -> None:
    """Var[N_tau]/E[N_tau] for tau = 60 s matches Da Fonseca-Zaatour's formula (Poisson would give 1)."""
    mu, alpha, beta = CONFIG.hawkes_mu_per_s, CONFIG.hawkes_alpha_per_s, CONFIG.hawkes_beta_per_s
    tau, kappa = 60.0, beta - alpha
    rate = mu * beta / kappa
    variance = rate * (tau * (beta / kappa) ** 2 + (1 - (beta / kappa) ** 2) * (1 - math.exp(-kappa * tau)) / kappa)
    counts = np.bincount((market.orders["time_s"].to_numpy() // tau).astype(int), minlength=1440)
    dispersion = counts.var() / counts.mean()
    assert abs(dispersion / (variance / (rate * tau)) - 1) < 0.15


def test_reach_beyond_the_best_is_exponential_with_kappa(market: DemoMarket) -> None:
    reach = market.orders["reach"].to_numpy()
    kappa = CONFIG.kappa_per_price
    for depth in (0.0005, 0.001, 0.002, 0.004, 0.008):
        expected = math.exp(-kappa * depth)
        assert abs((reach >= depth).mean() - expected) < 4 * math.sqrt(expected * (1 - expected) / len(reach))
    trades = market.trades
    deepest = trades.group_by("order").agg(pl.col("level").max(), pl.col("depth").max())
    assert np.allclose(deepest["depth"].to_numpy(), CONFIG.half_spread + deepest["level"].to_numpy() * CONFIG.tick)


def test_regime_path_transitions_match_the_truth_matrix(market: DemoMarket) -> None:
    path = market.regimes["state"].to_numpy()
    truth = np.asarray(CONFIG.transition_per_minute)
    for state in range(CONFIG.n_states):
        after = path[1:][path[:-1] == state]
        for target in range(CONFIG.n_states):
            p = truth[state, target]
            assert abs((after == target).mean() - p) < 4 * math.sqrt(p * (1 - p) / len(after)) + 1e-9


def test_realized_volatility_per_regime_matches_the_truth(market: DemoMarket) -> None:
    """1-minute log returns of the displayed mid, grouped by regime: sd / sqrt(60 s) = total sigma (jumps included)."""
    minutes = market.regimes["time"].to_numpy()
    mid = market.mid_at(np.append(minutes, CONFIG.end_ms))
    returns_bps = np.diff(np.log(mid)) * 1e4
    states = market.regimes["state"].to_numpy()
    for state, sigma in enumerate(CONFIG.total_sigma_bps_per_sqrt_s):
        sample = returns_bps[states == state]
        realized = math.sqrt(np.mean(sample**2) / 60)
        assert abs(realized / sigma - 1) < 4 * math.sqrt(0.5 / len(sample)), (state, realized, sigma)


def test_informed_flow_moves_the_mid_against_makers_by_regime(market: DemoMarket) -> None:
    orders = market.orders
    later = market.mid_at(orders["time"].to_numpy() + 5_000)
    move_bps = orders["side"].to_numpy() * np.log(later / orders["mid"].to_numpy()) * 1e4
    inside = orders["time"].to_numpy() + 5_000 < CONFIG.end_ms
    regime = orders["regime"].to_numpy()
    for state, p in enumerate(CONFIG.informed_prob):
        sample = move_bps[inside & (regime == state)]
        expected = p * CONFIG.informed_jump_bps
        assert abs(sample.mean() - expected) < 4 * sample.std() / math.sqrt(len(sample)), (state, sample.mean())
    jumps = orders.filter(pl.col("jump_time").is_not_null())
    assert ((jumps["jump_time"] - jumps["time"]) <= 200).all()


@pytest.mark.slow
def test_truth_json_states_the_parameters_with_units(capture: ParsedCapture) -> None:
    truth = load_truth(capture.truth)
    fill = truth["fill_intensity"]
    assert fill["kappa_per_price"] == CONFIG.kappa_per_price
    assert math.isclose(fill["kappa_per_tick"], CONFIG.kappa_per_price * 0.001)
    assert math.isclose(fill["kappa_per_bps_at_start"], CONFIG.kappa_per_price * 25.0 * 1e-4)
    lambda_side = 0.4 / (1 - 1.2 / 2.0) / 2
    assert math.isclose(fill["a_per_s"], lambda_side * math.exp(CONFIG.kappa_per_price * 0.0005))
    assert truth["taker_orders"]["rate_per_side_per_s"] == pytest.approx(lambda_side)
    regimes = truth["regimes"]
    assert regimes["transition_matrix_per_minute"] == [[0.98, 0.02], [0.05, 0.95]]
    assert len(regimes["path"]) == 1440
    assert regimes["sigma_price_per_sqrt_s_at_start"] == pytest.approx([0.00125, 0.005])
    assert truth["adverse_selection"]["expected_maker_markout_bps_at_best"] == pytest.approx([0.05, -1.0])
    assert truth["config"]["seed"] == CONFIG.seed


def test_three_regimes_are_supported() -> None:
    config = DemoMarketConfig(
        days=1,
        seed=3,
        transition_per_minute=((0.97, 0.02, 0.01), (0.05, 0.93, 0.02), (0.1, 0.1, 0.8)),
        sigma_bps_per_sqrt_s=(0.5, 2.0, 5.0),
        informed_prob=(0.05, 0.4, 0.6),
    )
    market = simulate(config)
    assert set(market.regimes["state"].unique().to_list()) == {0, 1, 2}
    assert config.regime_names == ("calm", "volatile", "cascade")


@pytest.mark.slow
def test_two_days_continue_across_midnight_in_receive_order(tmp_path: Path) -> None:
    config = DemoMarketConfig(coin="xyz:DEMO", days=2, seed=5, start=DAY)
    truth = load_truth(simulate_to_raw(config, tmp_path / "raw"))
    files = discover(tmp_path / "raw")
    days = [DAY, DAY + dt.timedelta(days=1)]
    assert [(f.date, f.hour, f.coin) for f in files] == [(d, h, "xyz:DEMO") for d in days for h in range(24)]
    last_of_first_day = json.loads(read_lines(files[23].path)[-1])
    first_of_second_day = json.loads(read_lines(files[24].path)[0])
    assert last_of_first_day["time"] <= first_of_second_day["time"]
    assert len(truth["regimes"]["path"]) == 2 * 1440 and truth["end_ms"] - truth["start_ms"] == 2 * 86_400_000


def test_invalid_configs_are_rejected() -> None:
    with pytest.raises(ValueError):
        DemoMarketConfig(hawkes_alpha_per_s=2.5)
    with pytest.raises(ValueError):
        DemoMarketConfig(start_price=150.0)
    with pytest.raises(ValueError):
        DemoMarketConfig(sigma_bps_per_sqrt_s=(0.5,))
