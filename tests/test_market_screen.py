"""The market screen on the demo universe (coins of known volume, spread and maker count), end to end."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from assets.niche import market_screen, universe
from data_lake.demo_market import DEMO_UNIVERSE, simulate_universe_to_raw
from data_lake.lake import Lake
from data_lake.raw_zone import discover
from data_lake.tables import ASSET_CTX
from quoting.cli.screen import screen_main
from tests.niche_support import ingest_day, materialize_daily
from validation.screening.market_screen import ScreenThresholds, coin_figures, screen, trade_figures

DAY = dt.date(2026, 1, 1)
KNOWN_ORDER = ["NICHE", "xyz:WIDE", "TOXIC", "THIN", "MAJOR"]
DESIGNED = {  # (volume, spread, makers, edge) under the default criteria
    "NICHE": (True, True, True, True),
    "xyz:WIDE": (True, True, False, True),
    "TOXIC": (True, True, False, False),
    "THIN": (False, False, True, False),
    "MAJOR": (False, False, False, False),
}


INPUT_SCHEMAS = {
    "trades": {
        "coin": pl.String,
        "time": pl.Int64,
        "px": pl.Float64,
        "sz": pl.Float64,
        "side": pl.Int8,
        "buyer": pl.String,
        "seller": pl.String,
    },
    "book": {
        "coin": pl.String,
        "time": pl.Int64,
        "recv_time_ns": pl.Int64,
        "bid_px_1": pl.Float64,
        "ask_px_1": pl.Float64,
        "bid_depth_10bps": pl.Float64,
        "ask_depth_10bps": pl.Float64,
    },
    "markouts": {
        "coin": pl.String,
        "time": pl.Int64,
        "is_market_trade": pl.Boolean,
        "spread_capture_bps": pl.Float64,
        "markout_5000ms_bps": pl.Float64,
    },
}


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict, object]:
    """The demo universe simulated, cleaned, marked out and screened: (lake_root, raw_root, truth, result)."""
    root = tmp_path_factory.mktemp("niche")
    raw, lake_root = root / "raw", root / "lake"
    truth = json.loads(simulate_universe_to_raw(DEMO_UNIVERSE, raw, DAY).read_text())
    lake = Lake(lake_root, storage_options={})
    for spec in DEMO_UNIVERSE:
        ingest_day(raw, lake, spec.coin, DAY)
    result = materialize_daily([universe, market_screen], DAY, lake_root, raw)
    return lake_root, raw, {c["coin"]: c for c in truth["coins"]}, result


def _screen(lake_root: Path) -> pl.DataFrame:
    return Lake(lake_root, storage_options={}).read("market_screen", start=DAY, end=DAY).sort("rank")


@pytest.mark.slow
def test_screener_ranks_the_demo_universe_in_its_known_order(screened: tuple) -> None:
    table = _screen(screened[0])
    assert table["coin"].to_list() == KNOWN_ORDER
    assert table["rank"].to_list() == [1, 2, 3, 4, 5]
    assert table["score"].to_list() == [4, 3, 2, 1, 0]
    assert (table["criteria_known"] == 4).all()
    for row in table.iter_rows(named=True):
        assert (row["pass_volume"], row["pass_spread"], row["pass_makers"], row["pass_edge"]) == DESIGNED[
            row["coin"]
        ], row["coin"]
    assert json.loads(table["thresholds"][0]) == json.loads(ScreenThresholds().to_json())


@pytest.mark.slow
def test_screen_figures_match_the_known_volume_spread_and_makers(screened: tuple) -> None:
    lake_root, _, truth, _ = screened
    for row in _screen(lake_root).iter_rows(named=True):
        known = truth[row["coin"]]["realised"]
        assert row["trade_volume_quote"] == pytest.approx(known["volume_quote_per_day"], rel=1e-9)
        assert row["coverage_hours"] == pytest.approx(24.0, abs=2 / 60)
        assert row["trade_volume_per_day_quote"] == pytest.approx(known["volume_quote_per_day"], rel=0.002)
        assert row["volume_source"] == "exchange" and row["unknown_maker_share"] == 0
        assert row["volume_quote"] == pytest.approx(known["volume_quote_per_day"], rel=0.01)
        assert row["trade_count"] == known["n_trades"]
        assert row["spread_median_bps"] == pytest.approx(known["spread_bps"], rel=0.05)
        assert row["spread_twa_bps"] == pytest.approx(known["spread_bps"], rel=0.05)
        assert row["n_passive_counterparties"] == known["n_makers"]
        assert 0.95 * known["n_makers"] <= row["effective_makers"] <= known["n_makers"]
        assert row["top3_maker_share"] == pytest.approx(min(3 / known["n_makers"], 1.0), abs=0.03)
        assert row["depth_10bps_quote"] > 0 and row["open_interest_quote"] > 0
        assert row["funding_mean_bps_per_hour"] == pytest.approx(0.125, abs=0.03)
        assert row["funding_sd_bps_per_hour"] == pytest.approx(0.05, abs=0.03)
        assert row["edge_ci_low"] < row["edge_bps"] < row["edge_ci_high"]
        assert row["n_markouts"] > 0.99 * known["n_trades"]
    toxic = _screen(lake_root).filter(pl.col("coin") == "TOXIC").row(0, named=True)
    assert toxic["edge_ci_high"] < 0 < toxic["spread_capture_bps"]
    assert toxic["maker_markout_5s_bps"] < -0.5 * truth["TOXIC"]["informed_jump_bps"]


@pytest.mark.slow
def test_hip3_names_round_trip_through_raw_zone_lake_universe_and_screen(screened: tuple) -> None:
    lake_root, raw, _, _ = screened
    lake = Lake(lake_root, storage_options={})
    assert {f.coin for f in discover(raw)} == set(KNOWN_ORDER)
    assert any(f.path.name == "xyz:WIDE.jsonl.lz4" for f in discover(raw, coin="xyz:WIDE"))
    for name in ("trades", "book", "asset_ctx", "markouts"):
        rows = lake.read(name, coins="xyz:WIDE", start=DAY, end=DAY)
        assert rows.height > 0 and rows["coin"].unique().to_list() == ["xyz:WIDE"], name
    listed = lake.read("universe", start=DAY, end=DAY).sort("coin")
    assert set(listed["coin"]) == set(KNOWN_ORDER)
    hip3 = listed.filter(pl.col("coin") == "xyz:WIDE").row(0, named=True)
    assert (hip3["dex"], hip3["dex_index"], hip3["asset_index"], hip3["asset_id"]) == ("xyz", 1, 0, 110_000)
    assert listed.filter(pl.col("dex") == "")["asset_id"].sort().to_list() == [0, 1, 2, 3]
    row = _screen(lake_root).filter(pl.col("coin") == "xyz:WIDE").row(0, named=True)
    assert (row["dex"], row["in_universe"]) == ("xyz", True)


@pytest.mark.slow
def test_screen_command_prints_the_ranked_table(screened: tuple) -> None:
    text = screen_main(screened[0])
    rows = [line.split()[1] for line in text.splitlines()[4:]]
    assert rows == KNOWN_ORDER
    assert "median spread > 5 bps" in text and "1.5 bps maker fee" in text
    assert "NICHE" in text.splitlines()[4] and "4/4" in text.splitlines()[4]
    assert len(screen_main(screened[0], DAY, top=2).splitlines()) == 4 + 2
    assert screen_main(screened[0], DAY + dt.timedelta(days=1)).startswith("no market screen for 2026-01-02")


@pytest.mark.slow
def test_thresholds_are_asset_config_and_ties_break_on_edge(screened: tuple) -> None:
    lake_root, raw, _, _ = screened
    config = {"ops": {"market_screen": {"config": {"min_spread_bps": 20.0}}}}
    materialize_daily([universe, market_screen], DAY, lake_root, raw, config)
    table = _screen(lake_root)
    assert not table["pass_spread"].any()
    assert json.loads(table["thresholds"][0])["min_spread_bps"] == 20.0
    assert table["score"].to_list() == [3, 2, 1, 1, 0]
    assert table["coin"].to_list() == ["NICHE", "xyz:WIDE", "THIN", "TOXIC", "MAJOR"]
    materialize_daily([universe, market_screen], DAY, lake_root, raw)
    assert _screen(lake_root)["coin"].to_list() == KNOWN_ORDER


def test_a_coin_known_only_from_asset_contexts_is_screened_on_what_is_known() -> None:
    end_ms = int(dt.datetime(2026, 1, 2, tzinfo=dt.UTC).timestamp() * 1000)
    ctx = ASSET_CTX.conform(
        pl.DataFrame(
            {
                "coin": ["km:US500"] * 3,
                "time": [end_ms - 7_200_000, end_ms - 120_000, end_ms - 60_000],
                "funding": [0.00001, 0.00002, 0.00003],
                "open_interest": [100.0, 110.0, 120.0],
                "mark_px": [6000.0, 6005.0, 6010.0],
                "impact_bid_px": [5999.0, 6004.0, 6009.0],
                "impact_ask_px": [6001.0, 6006.0, 6011.0],
                "day_ntl_vlm": [2e6, 2.5e6, 3e6],
            }
        )
    )
    empty = {name: pl.DataFrame(schema=schema) for name, schema in INPUT_SCHEMAS.items()}
    row = screen(coin_figures(empty["trades"], empty["book"], ctx, empty["markouts"], end_ms)).row(0, named=True)
    assert (row["volume_quote"], row["volume_source"]) == (3e6, "exchange")
    assert row["open_interest_quote"] == pytest.approx(120 * 6010)
    assert row["impact_spread_bps"] == pytest.approx(2 / 6010 * 1e4, rel=0.01)
    assert row["funding_mean_bps_per_hour"] == pytest.approx(0.2)
    assert row["funding_sd_bps_per_hour"] == pytest.approx(((0.1 - 0.175) ** 2 * 2) ** 0.5)
    assert (row["pass_volume"], row["pass_spread"], row["pass_makers"], row["pass_edge"]) == (True, None, None, None)
    assert (row["score"], row["criteria_known"], row["volatility_source"]) == (1, 1, "mark")


def _ms(hour: int, minute: int = 0, second: int = 0) -> int:
    return int(dt.datetime(DAY.year, DAY.month, DAY.day, hour, minute, second, tzinfo=dt.UTC).timestamp() * 1000)


def _book_every_second(coin: str, spans: list[tuple[int, int]]) -> pl.DataFrame:
    """One two-sided book state a second (100.00 / 100.10) over each [start hour, end hour) span of DAY."""
    times = [t for start, end in spans for t in range(_ms(start), _ms(end), 1000)]
    n = len(times)
    return pl.DataFrame(
        {
            "coin": [coin] * n,
            "time": times,
            "recv_time_ns": [t * 1_000_000 for t in times],
            "bid_px_1": [100.0] * n,
            "ask_px_1": [100.1] * n,
            "bid_depth_10bps": [5e3] * n,
            "ask_depth_10bps": [5e3] * n,
        },
        schema=INPUT_SCHEMAS["book"],
    )


def _trades(rows: list[tuple[str, int, float, float, int, str, str]]) -> pl.DataFrame:
    columns = list(INPUT_SCHEMAS["trades"])
    return pl.DataFrame([dict(zip(columns, row, strict=True)) for row in rows], schema=INPUT_SCHEMAS["trades"])


def _partial_capture() -> pl.DataFrame:
    """PART: book captured 02:00-04:00 and 10:00-14:00 UTC, trades worth 3,000 in those hours plus one of 1,000 at
    08:00:30, inside the book's gap. NOBOOK: trades worth 500 and no book. No asset contexts (no exchange volume)."""
    trades = _trades(
        [
            ("PART", _ms(2, 10), 100.0, 10.0, 1, "0xb1", "0xa1"),
            ("PART", _ms(3, 0), 100.0, 10.0, -1, "0xa2", "0xb2"),
            ("PART", _ms(11, 45), 100.0, 10.0, 1, "0xb1", "0xa1"),
            ("PART", _ms(8, 0, 30), 100.0, 10.0, 1, "0xb3", "0xa3"),
            ("NOBOOK", _ms(5), 50.0, 10.0, 1, "0xb1", "0xa1"),
        ]
    )
    book = _book_every_second("PART", [(2, 4), (10, 14)])
    markouts = pl.DataFrame(schema=INPUT_SCHEMAS["markouts"])
    return coin_figures(trades, book, ASSET_CTX.empty(), markouts, _ms(0) + 86_400_000)


# 6 hours of one-second states, plus the minute after each span (its last state counts for up to 60 s), plus the
# minute of the trade in the gap.
PART_COVERAGE_HOURS = (6 * 60 + 2 + 1) / 60


def test_captured_volume_is_scaled_to_the_hours_the_capture_covered() -> None:
    figures = {row["coin"]: row for row in _partial_capture().iter_rows(named=True)}
    part = figures["PART"]
    assert part["coverage_hours"] == pytest.approx(PART_COVERAGE_HOURS)
    assert part["trade_volume_quote"] == pytest.approx(4_000.0)
    assert part["trade_volume_per_day_quote"] == pytest.approx(4_000.0 * 24 / PART_COVERAGE_HOURS)
    assert (part["volume_quote"], part["volume_source"]) == (part["trade_volume_per_day_quote"], "trades")
    nobook = figures["NOBOOK"]
    assert nobook["coverage_hours"] is None and nobook["trade_volume_per_day_quote"] is None
    assert (nobook["volume_quote"], nobook["volume_source"]) == (500.0, "trades_unscaled")


def test_the_screen_shows_volume_per_covered_day_and_the_hours_covered(lake: Lake) -> None:
    table = screen(_partial_capture()).with_columns(date=pl.lit(DAY))
    lake.replace("market_screen", table, {"date": DAY})
    text = screen_main(lake.root, DAY)
    header, *rows = text.splitlines()[3:]
    assert header.split()[3:5] == ["volume/day", "hours"]
    cells = {row.split()[1]: row.split() for row in rows}
    scaled = 4_000.0 * 24 / PART_COVERAGE_HOURS
    assert cells["PART"][3:6] == [f"~${scaled / 1e3:.3g}K", "-", f"{PART_COVERAGE_HOURS:.1f}"]
    assert cells["NOBOOK"][3:6] == [">$500", "-", "-"]


def test_placeholder_addresses_are_unknown_makers_not_makers() -> None:
    zero = "0x" + "0" * 40
    trades = _trades(
        [
            ("X", 1, 10.0, 10.0, 1, "0xt1", "0xa"),  # maker 0xa, 100
            ("X", 2, 10.0, 10.0, -1, "0xa", "0xt2"),  # maker 0xa, 100
            ("X", 3, 10.0, 10.0, 1, "0xt3", "0xb"),  # maker 0xb, 100
            ("X", 4, 10.0, 20.0, 1, "0xt4", zero),  # placeholder maker, 200
            ("X", 5, 10.0, 10.0, -1, "0x0", "0xt5"),  # short placeholder maker, 100
            ("X", 6, 10.0, 10.0, 1, "0xt6", ""),  # empty maker, 100
            ("X", 7, 10.0, 10.0, 1, "0xt7", None),  # no maker, 100
        ]
    )
    row = trade_figures(trades).row(0, named=True)
    assert (row["trade_volume_quote"], row["trade_count"]) == (800.0, 7)
    assert row["n_passive_counterparties"] == 2
    assert row["unknown_maker_share"] == pytest.approx(500 / 800)
    assert row["effective_makers"] == pytest.approx(1 / ((2 / 3) ** 2 + (1 / 3) ** 2))
    assert row["top3_maker_share"] == pytest.approx(1.0)
