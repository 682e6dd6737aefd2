"""Time structure: the hour-of-day test finds a planted effect, holds its level on dependent noise, and the
``time_of_day`` asset on a demo Friday-to-Sunday."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
from scipy import signal, stats

from assets.niche import time_of_day
from data_lake.demo_market.market import simulate
from data_lake.demo_market.multi_coin import UniverseCoin, coin_config
from data_lake.demo_market.raw_writer import write_raw
from data_lake.lake import Lake
from data_lake.tables import BOOK
from tests.niche_support import ingest_day, materialize_daily
from validation.screening.time_structure import (
    analysis_cells,
    cell_sums,
    group_effect_test,
    lowest_buckets,
    time_structure,
)

MONDAY_MS = int(dt.datetime(2026, 1, 5, tzinfo=dt.UTC).timestamp() * 1000)
DAYS = 14
PLANTED_HOURS = ("02", "03", "04", "05")
LEVEL = 0.05


def simulated_markouts(seed: int, effect_bps: float = 0.0, days: int = DAYS) -> pl.DataFrame:
    """Maker-side 5 s markouts of market trades with the dependence of real ones: a persistent state (AR(1) over
    10 min windows, crossing hours), day shifts, bursts of trades sharing a move, 3x diurnal intensity. Adverse
    selection (-markout) has mean 1 bps, ``effect_bps`` lower in the planted hours."""
    rng = np.random.default_rng(seed)
    windows = days * 144
    phi = 0.8
    state = signal.lfilter([1.0], [1.0, -phi], 1.5 * np.sqrt(1 - phi**2) * rng.standard_normal(windows))
    day_shift = np.repeat(0.5 * rng.standard_normal(days), 144)
    hour = np.arange(windows) // 6 % 24
    bursts = rng.poisson(8 * (1 + 0.5 * np.sin(2 * np.pi * hour / 24)))
    window = np.repeat(np.arange(windows), bursts)
    size = rng.geometric(1 / 3, window.size)
    start = MONDAY_MS + window * 600_000 + rng.integers(0, 600_000, window.size)
    shared = 3.0 * rng.standard_normal(window.size)
    trade_window = np.repeat(window, size)
    adverse = (
        1.0
        + state[trade_window]
        + day_shift[trade_window]
        + np.repeat(shared, size)
        + 4.0 * rng.standard_normal(trade_window.size)
    )
    planted = np.isin(hour[trade_window], [int(h) for h in PLANTED_HOURS])
    return pl.DataFrame(
        {
            "coin": "SIM",
            "time": np.repeat(start, size),
            "is_market_trade": True,
            "markout_5000ms_bps": -(adverse - effect_bps * planted),
        }
    )


def _cells(markouts: pl.DataFrame) -> pl.DataFrame:
    return cell_sums(markouts.select("coin", "time"), BOOK.empty(), markouts, MONDAY_MS + DAYS * 86_400_000)


def _hour_test(markouts: pl.DataFrame, n_permutations: int, seed: int) -> float:
    hours = analysis_cells(_cells(markouts), "hour_of_day")
    values = (hours["adverse_sum_bps"] / hours["markouts"]).to_numpy()
    return group_effect_test(
        values,
        hours["markouts"].to_numpy(),
        hours["bucket_index"].to_numpy(),
        hours["block"].to_numpy(),
        n_permutations,
        seed,
    ).p_value


def test_hour_of_day_test_finds_the_planted_low_adverse_selection_hours() -> None:
    table = time_structure(_cells(simulated_markouts(7, effect_bps=2.0)), n_permutations=999)
    answer = lowest_buckets(table, "adverse_selection_5s_bps", "hour_of_day", LEVEL).row(0, named=True)
    assert answer["significant"] and answer["p_value"] < 0.01
    assert answer["lowest_bucket"] in PLANTED_HOURS
    assert answer["significantly_lower"] and set(answer["significantly_lower"]) <= set(PLANTED_HOURS)
    hours = table.filter((pl.col("dimension") == "hour_of_day") & (pl.col("metric") == "adverse_selection_5s_bps"))
    assert hours.height == 24 and (hours["n_cells"] == DAYS).all()
    planted = hours.filter(pl.col("bucket").is_in(PLANTED_HOURS))
    assert (planted["ci_high"] < 1.0).sum() >= 3 and (planted["effect"] < 0).all()
    detected = [_hour_test(simulated_markouts(500 + s, effect_bps=1.5), 199, s) < LEVEL for s in range(20)]
    assert np.mean(detected) >= 0.9


@pytest.mark.slow
def test_hour_of_day_test_holds_its_level_on_dependent_noise_where_a_naive_test_does_not() -> None:
    runs, naive_runs = 300, 40
    ours, naive = 0, 0
    for s in range(runs):
        markouts = simulated_markouts(10_000 + s)
        ours += _hour_test(markouts, 199, s) < LEVEL
        if s < naive_runs:
            hour = ((markouts["time"] - MONDAY_MS) // 3_600_000 % 24).to_numpy()
            adverse = -markouts["markout_5000ms_bps"].to_numpy()
            naive += stats.f_oneway(*(adverse[hour == h] for h in range(24))).pvalue < LEVEL
    assert stats.binomtest(ours, runs, LEVEL).pvalue > 0.001, ours / runs
    assert naive / naive_runs > 0.5


@pytest.mark.slow  # Monte Carlo coverage: 60 simulated tables, 99 permutations each
def test_bucket_confidence_intervals_cover_the_true_mean() -> None:
    covered = []
    for s in range(60):
        table = time_structure(_cells(simulated_markouts(20_000 + s)), n_permutations=99)
        row = table.filter(
            (pl.col("dimension") == "hour_of_day")
            & (pl.col("metric") == "adverse_selection_5s_bps")
            & (pl.col("bucket") == "12")
        ).row(0, named=True)
        covered.append(row["ci_low"] < 1.0 < row["ci_high"])
    assert 0.85 <= np.mean(covered) <= 1.0


def test_permutation_test_is_exact_and_powerless_with_one_cell_per_bucket() -> None:
    groups, blocks = np.tile(np.arange(24), 10), np.repeat(np.arange(10), 24)
    rng = np.random.default_rng(3)
    noise = [
        group_effect_test(rng.standard_normal(240), np.ones(240), groups, blocks, 99, s).p_value < LEVEL
        for s in range(400)
    ]
    assert stats.binomtest(int(np.sum(noise)), 400, LEVEL).pvalue > 0.001
    strong = group_effect_test((groups == 3) * 5.0 + rng.standard_normal(240), np.ones(240), groups, blocks, 999, 0)
    assert strong.p_value == pytest.approx(1 / 1000) and np.argmin(strong.p_vs_rest) == 3
    one_day = group_effect_test(np.arange(24.0), np.ones(24), np.arange(24), np.zeros(24), 199, 0)
    assert one_day.p_value == 1.0


@pytest.fixture(scope="module")
def weekend_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """A light demo coin from Friday 2026-01-02 to Sunday 2026-01-04, cleaned and marked out."""
    root = tmp_path_factory.mktemp("weekend")
    raw, lake_root = root / "raw", root / "lake"
    config = coin_config(
        UniverseCoin("xyz:TOD", 1_000_000.0, spread_ticks=2, n_makers=5), seed=3, start=dt.date(2026, 1, 2), days=3
    )
    market = simulate(config)
    write_raw(market, raw)
    lake = Lake(lake_root, storage_options={})
    for offset in range(3):
        ingest_day(raw, lake, config.coin, config.start + dt.timedelta(days=offset))
    known = {
        "trades_per_minute": market.trades.height / (3 * 1440),
        "spread_bps": float(
            (config.spread_ticks * config.tick / market.mid_at(market.trades["time"].to_numpy()) * 1e4).mean()
        ),
    }
    return lake_root, raw, known


@pytest.mark.slow
def test_time_of_day_asset_tables_every_dimension_with_cis_and_heatmaps(weekend_lake: tuple) -> None:
    lake_root, raw, known = weekend_lake
    sunday = dt.date(2026, 1, 4)
    config = {"ops": {"time_of_day": {"config": {"lookback_days": 3, "n_permutations": 199}}}}
    result = materialize_daily([time_of_day], sunday, lake_root, raw, config)
    table = Lake(lake_root, storage_options={}).read("time_of_day", start=sunday, end=sunday)
    assert table["coin"].unique().to_list() == ["xyz:TOD"]
    assert table["window_end_ms"][0] - table["window_start_ms"][0] == 3 * 86_400_000
    counts = dict(table.group_by("dimension").len().iter_rows())
    assert counts == {"hour_of_day": 24 * 4, "day_type": 2 * 4, "minutes_to_funding": 6 * 4}
    day_type = table.filter((pl.col("dimension") == "day_type") & (pl.col("metric") == "trades_per_minute"))
    assert day_type.sort("bucket_index")["bucket"].to_list() == ["weekday", "weekend"]
    assert day_type.sort("bucket_index")["n_cells"].to_list() == [1, 2]
    hours = table.filter(pl.col("dimension") == "hour_of_day")
    assert (
        (hours["n_cells"] == 3).all()
        and (hours["ci_low"] <= hours["value"]).all()
        and (hours["value"] <= hours["ci_high"]).all()
    )
    assert hours["p_value"].is_between(0, 1).all() and hours["p_value_vs_rest"].is_between(0, 1).all()
    for metric, value in known.items():
        overall = table.filter((pl.col("dimension") == "day_type") & (pl.col("metric") == metric))
        pooled = float((overall["value"] * overall["n_cells"]).sum() / overall["n_cells"].sum())
        assert pooled == pytest.approx(value, rel=0.05), metric
    metadata = result.asset_materializations_for_node("time_of_day")[0].metadata
    heatmap = metadata["heatmap_hour_of_day"]
    assert isinstance(heatmap, dg.UrlMetadataValue) and heatmap.value.startswith("file://")
    assert Path(heatmap.value.removeprefix("file://")).read_bytes().startswith(b"\x89PNG")  # a file, not the event log
    assert "lowest_adverse_selection_minutes_to_funding" in metadata and metadata["days_in_window"].value == 3


def test_time_of_day_table_schema_is_the_analysis_rows_plus_date_and_window() -> None:
    """validation/ may not import data_lake, so the schema stands twice: this keeps the two in step."""
    from data_lake.tables import table
    from validation.screening.time_structure import ROW_SCHEMA

    added_by_the_asset = ("date", "window_start_ms", "window_end_ms")
    assert {k: v for k, v in table("time_of_day").schema.items() if k not in added_by_the_asset} == ROW_SCHEMA
