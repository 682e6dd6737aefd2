"""``lead_lag_fit`` on a real temporary lake: FOLLOW's configured leaders are DEMO (in the lake: its lag and beta are
found) and BTC (not captured: a row says so); the leader configuration and the walk-forward's leader mids."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from assets.lead_lag import lead_lag_fit, leader_mids_for_folds
from assets.partitions import COINS, partition_key
from assets.resources import DataLakeResource
from calibration.lead_lag_rows import NO_LEADER_DATA
from data_lake.demo_market import DemoMarket
from data_lake.lake import Lake
from data_lake.leaders import ENV_VAR, leader_mapping, leaders_of, parse_leaders, with_leaders
from validation.experiments.walk_forward import Fold

DAY = dt.date(2026, 1, 1)
HOURS = 3
HOUR_MS = 3_600_000


def _book(market: DemoMarket) -> pl.DataFrame:
    """The first hours of a demo coin as lake ``book`` rows (touch only: all a mid needs)."""
    c = market.config
    mids = market.mids.filter(pl.col("time") < c.start_ms + HOURS * HOUR_MS)
    return mids.select(
        pl.lit(c.coin).alias("coin"),
        pl.lit(DAY).alias("date"),
        "time",
        pl.lit("bbo").alias("source"),
        bid_px_1="bid_px",
        ask_px_1="ask_px",
        mid="mid",
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, demo_coin_markets: dict[str, DemoMarket]) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("lake"), storage_options={})
    for market in (demo_coin_markets["DEMO"], demo_coin_markets["FOLLOW"]):
        lake.write_partition("book", _book(market), market.config.coin, DAY)
    return lake


@pytest.mark.slow  # Dagster run of the lead-lag fit
def test_fits_each_configured_leader_and_says_which_are_missing(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "FOLLOW=DEMO,BTC")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(COINS.name, ["FOLLOW"])
    result = dg.materialize(
        [lead_lag_fit],
        partition_key=partition_key("FOLLOW", DAY),
        instance=instance,
        resources={"data_lake": DataLakeResource(lake_root=lake.root)},
        run_config={"ops": {"lead_lag_fit": {"config": {"n_shifts": 39, "alpha": 0.05}}}},
    )
    assert result.success
    rows = {r["leader"]: r for r in lake.read_partition("lead_lag_fit", "FOLLOW", DAY).iter_rows(named=True)}
    assert set(rows) == {"DEMO", "BTC"}
    demo = rows["DEMO"]
    assert demo["status"] == "ok" and demo["lag_ms"] == 2_000 and demo["p_value"] <= 0.05
    assert abs(demo["beta"] - 0.6) <= 3 * demo["beta_se"]
    assert demo["window_end_ms"] - demo["window_start_ms"] <= HOURS * HOUR_MS  # trimmed to the data
    assert len(demo["lags_ms"]) == len(demo["hy_corr_by_lag"]) and demo["n_windows"] > 500
    missing = (NO_LEADER_DATA, f"no clean book of BTC on {DAY} in the lake")
    assert (rows["BTC"]["status"], rows["BTC"]["reason"]) == missing
    metadata = result.asset_materializations_for_node("lead_lag_fit")[0].metadata
    assert metadata["leaders"].value == "DEMO, BTC" and metadata["dagster/row_count"].value == 2


def test_the_leader_configuration_defaults_to_btc_and_eth_and_never_leads_a_coin_by_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert leaders_of("SOL") == ("BTC", "ETH") and leaders_of("ETH") == ("BTC",)
    monkeypatch.setenv(ENV_VAR, "FOLLOW = DEMO ; NICHE= ; *=BTC")
    assert (leaders_of("FOLLOW"), leaders_of("NICHE"), leaders_of("SOL"), leaders_of("BTC")) == (
        ("DEMO",),
        (),
        ("BTC",),
        (),
    )
    assert with_leaders(["FOLLOW", "SOL", "DEMO"]) == ("FOLLOW", "SOL", "DEMO", "BTC")
    assert leader_mapping("SOL=ETH")["SOL"] == ("ETH",)
    for bad in ("FOLLOW", "=BTC", "A=B;A=C"):
        with pytest.raises(ValueError):
            parse_leaders(bad)


def test_the_walk_forward_reads_the_leaders_mids_on_the_days_its_folds_use(lake: Lake) -> None:
    start = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
    folds = [Fold(0, start + HOUR_MS, start + 2 * HOUR_MS, start + 2 * HOUR_MS, start + 3 * HOUR_MS)]
    mids = leader_mids_for_folds(lake, ["DEMO", "BTC"], folds, fit_hours=24.0)
    assert mids.columns == ["leader", "time", "mid"] and set(mids["leader"]) == {"DEMO"}
    full = lake.read_partition("book", "DEMO", DAY)
    assert 0 < mids.height <= full.height
    # every change of the mid is kept, and no second with a book row goes without one
    changes = full.sort("time").filter(pl.col("mid") != pl.col("mid").shift(1).fill_null(-1.0))
    assert changes["time"].is_in(mids["time"].implode()).all()
    assert set(full["time"] // 1_000) == set(mids["time"] // 1_000)
    later = [Fold(0, start + 30 * HOUR_MS, start + 31 * HOUR_MS, start + 31 * HOUR_MS, start + 32 * HOUR_MS)]
    assert leader_mids_for_folds(lake, ["DEMO"], later, fit_hours=1.0).height == 0
