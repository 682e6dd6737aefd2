"""Features, markouts and the baseline report materialised on the demo market, checked against its truth."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from data_lake.lake import Lake
from tests.support import DEMO_COIN, DEMO_DAY, run_job


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory, demo_day: tuple[Path, Path]) -> tuple[Lake, dict]:
    lake_root = tmp_path_factory.mktemp("lake")
    result = run_job("nightly_recalibration", lake_root, demo_day[0])
    assert result.success
    return Lake(lake_root, storage_options={}), json.loads(demo_day[1].read_text())


def _with_true_regime(marked: pl.DataFrame, truth: dict) -> pl.DataFrame:
    path = pl.DataFrame({"minute": range(len(truth["regimes"]["path"])), "regime": truth["regimes"]["path"]})
    return marked.with_columns(minute=(pl.col("time") - truth["start_ms"]) // 60_000).join(path, on="minute")


@pytest.mark.slow
def test_informed_flow_makes_maker_markouts_negative_only_in_the_volatile_regime(measured: tuple[Lake, dict]) -> None:
    lake, truth = measured
    marked = _with_true_regime(lake.read_partition("markouts", DEMO_COIN, DEMO_DAY), truth)
    by_regime = (
        marked.filter(pl.col("is_market_trade"))
        .group_by("regime")
        .agg(
            mean=pl.col("markout_5000ms_bps").mean(),
            se=pl.col("markout_5000ms_bps").std() / pl.len().sqrt(),
            n=pl.len(),
        )
    )
    calm = by_regime.filter(pl.col("regime") == 0).row(0, named=True)
    volatile = by_regime.filter(pl.col("regime") == 1).row(0, named=True)
    expected = truth["adverse_selection"]
    assert volatile["mean"] < -0.5
    assert abs(calm["mean"]) < 0.5
    assert volatile["mean"] < calm["mean"] - 5 * (calm["se"] + volatile["se"])
    assert expected["informed_prob"][1] > expected["informed_prob"][0]


@pytest.mark.slow
def test_fill_log_state_columns_are_filled_and_causal(measured: tuple[Lake, dict]) -> None:
    lake, _ = measured
    marked = lake.read_partition("markouts", DEMO_COIN, DEMO_DAY)
    assert marked["imbalance_1"].null_count() == 0
    assert marked["sigma_bps_per_sqrt_s"].null_count() < 0.01 * marked.height
    assert marked["belief_calm"].null_count() == marked.height
    maker_side = marked.filter(pl.col("is_market_trade"))
    assert (maker_side["spread_capture_bps"] > 0).mean() > 0.99


@pytest.mark.slow
def test_baseline_report_has_cis_and_counts(measured: tuple[Lake, dict]) -> None:
    lake, _ = measured
    table = lake.read_partition("baseline_metrics", DEMO_COIN, DEMO_DAY)
    metrics = set(table["metric"])
    assert {"adverse_selection_5s_bps", "spread_capture_bps", "sharpe_per_fill", "win_rate"} <= metrics
    assert (table["ci_low"] <= table["value"]).all() and (table["value"] <= table["ci_high"]).all()
    assert (table["n"] > 10_000).all()
    features = lake.read_partition("features", DEMO_COIN, DEMO_DAY)
    assert features.filter(pl.col("bar_ms") == 60_000).height == 1440
    assert features.filter(pl.col("bar_ms") == 1000).height == 86_400
