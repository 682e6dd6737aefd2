"""The fit assets materialised in process on two simulated demo days (raw -> clean -> features -> fits), checked
against the demo's ground truth, for idempotency and window clipping; and the pure helpers they rely on."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from assets import fits, ingest, measurement
from assets.fits import fit_window
from assets.partitions import COINS, partition_key
from assets.regime_state import day_regime_beliefs
from assets.resources import DataLakeResource
from calibration.coverage import Coverage
from calibration.fill_intensity import taker_orders
from calibration.fit_result import FitResult
from calibration.mids import mid_series
from calibration.regime_storage import fitted_hmm
from calibration.regimes import regime_beliefs
from calibration.window_fits import (
    fit_kappa_window,
    infer_tick_size,
    lattice_grid,
    quote_episodes,
)
from data_lake.demo_market import (
    DemoMarketConfig,
    load_truth,
    simulate,
    simulate_to_raw,
)
from data_lake.lake import Lake
from data_lake.partition_cache import ROOT
from data_lake.tables import table
from data_lake.units import day_bounds_ms

COIN = "DEMO"
DAY1, DAY2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
FIT_ASSETS = [fits.regime_fit, fits.vol_fit, fits.kappa_fit, fits.hawkes_fit]
FIT_TABLES = ("regime_fit", "vol_fit", "kappa_fit", "hawkes_fit")
STATUS_ROW_FIELDS = ("model", "segment", "param", "status")


class Demo:
    """Two demo days ingested into a tmp lake, with the truth and a Dagster instance that knows the coin."""

    def __init__(self, root: Path):
        self.raw = root / "raw"
        self.lake_root = root / "lake"
        self.truth = load_truth(simulate_to_raw(DemoMarketConfig(coin=COIN, days=2, seed=21, start=DAY1), self.raw))
        self.instance = dg.DagsterInstance.ephemeral()
        self.instance.add_dynamic_partitions(COINS.name, [COIN])
        self.lake = Lake(self.lake_root, storage_options={})
        for day in (DAY1, DAY2):
            assert self.materialise([ingest.raw_captures, ingest.clean_tables, measurement.features], day).success

    def materialise(self, assets: list, day: dt.date, window_days: int | None = None) -> dg.ExecuteInProcessResult:
        resources = {"data_lake": DataLakeResource(lake_root=str(self.lake_root), raw_root=str(self.raw))}
        window = {"config": {"window_days": window_days}}
        config = {} if window_days is None else {a.node_def.name: window for a in assets}
        return dg.materialize(
            assets,
            partition_key=partition_key(COIN, day),
            resources=resources,
            instance=self.instance,
            run_config={"ops": config},
        )

    def rows(self, name: str, day: dt.date = DAY2) -> pl.DataFrame:
        return self.lake.read_partition(name, COIN, day)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    demo = Demo(tmp_path_factory.mktemp("fits"))
    result = demo.materialise(FIT_ASSETS, DAY2)
    assert result.success
    demo.metadata = {
        e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    return demo


def estimate(rows: pl.DataFrame, model: str, segment: str, param: str) -> tuple[float, float, int]:
    row = rows.filter(pl.col("model") == model, pl.col("segment") == segment, pl.col("param") == param)
    assert row.height == 1, (model, segment, param)
    assert row["status"][0] == "ok"
    return row["value"][0], row["se"][0], row["n"][0]


def assert_covers(rows: pl.DataFrame, model: str, segment: str, param: str, truth: float, k: float = 3.0) -> None:
    value, se, _ = estimate(rows, model, segment, param)
    assert 0 < se < abs(truth) and abs(value - truth) < k * se, (model, segment, param, value, se, truth)


@pytest.mark.slow
def test_every_fit_table_holds_the_two_day_window(demo: Demo) -> None:
    start_ms = demo.truth["start_ms"]
    for name in FIT_TABLES:
        rows = demo.rows(name)
        assert rows.height > 0, name
        assert rows["window_start_ms"].unique().to_list() == [start_ms], name  # 7 days asked, 2 exist
        assert rows["window_end_ms"].unique().to_list() == [start_ms + 2 * 86_400_000], name
        assert set(rows["status"]) == {"ok"}, name
        assert rows.select(table(name).key).is_duplicated().sum() == 0, name
        meta = demo.metadata[name]
        assert meta["window_days"].value == 2 and meta["dagster/row_count"].value == rows.height
        assert "| segment | model | param | value | SE |" in meta["estimates"].value
    plots = {"regime_fit": "regime_timeline", "kappa_fit": "fill_intensity", "hawkes_fit": "qq_plot"}
    for name, key in plots.items():
        link = demo.metadata[name][key].value  # a PNG file in the lake, not base64 in the event log
        assert link.startswith("file://") and Path(link.removeprefix("file://")).read_bytes().startswith(b"\x89PNG")


def assert_two_states_with_the_true_transitions(rows: pl.DataFrame, truth: dict) -> None:
    """The fit chose two states and every off-diagonal transition probability covers the simulated one."""
    transitions = np.asarray(truth["transition_matrix_per_minute"])
    assert estimate(rows, "regime_hmm", "all", "n_states")[0] == 2
    for i, a in enumerate(truth["names"]):
        for j, b in enumerate(truth["names"]):
            if i != j:
                assert_covers(rows, "regime_hmm", "all", f"p_{a}_{b}", transitions[i, j])


@pytest.mark.slow
def test_regime_fit_recovers_the_transition_matrix_and_stores_the_filter(demo: Demo) -> None:
    rows = demo.rows("regime_fit")
    assert_two_states_with_the_true_transitions(rows, demo.truth["regimes"])
    names = demo.truth["regimes"]["names"]
    path = np.asarray(demo.truth["regimes"]["path"])
    for k, name in enumerate(names):
        sigma, se, n = estimate(rows, "regime_hmm", f"regime={name}", "sigma_bps_per_sqrt_s")
        assert abs(n - np.sum(path == k)) < 0.02 * path.size  # bars classified by the causal filter
        assert abs(sigma - demo.truth["regimes"]["total_sigma_bps_per_sqrt_s"][k]) < 4 * se
    params = fitted_hmm(demo.rows("regime_hmm"))
    assert params is not None and params.state_names == ("calm", "volatile")
    stored = demo.rows("regime_hmm").filter(pl.col("role") == "fitted")
    assert stored["n_states"].to_list() == [2, 2] and stored["state_name"].to_list() == ["calm", "volatile"]
    assert not rows["param"].str.contains("json").any()  # regime_fit holds estimates only


@pytest.mark.slow
def test_regime_fit_starts_from_the_previous_days_fits(demo: Demo) -> None:
    assert demo.materialise([fits.regime_fit], DAY1).success
    stored = demo.rows("regime_hmm", DAY1).filter(pl.col("role") == "warm_start")
    assert sorted(stored["n_states"].unique().to_list()) == [2, 3]
    result = demo.materialise([fits.regime_fit], DAY2)
    assert result.success
    events = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    meta = events["regime_fit"].event_specific_data.materialization.metadata
    assert meta["warm_starts"].value == "2 states, 3 states"
    assert_two_states_with_the_true_transitions(demo.rows("regime_fit"), demo.truth["regimes"])


@pytest.mark.slow
def test_kappa_fit_recovers_a_and_kappa_overall_per_side_regime_and_hour(demo: Demo) -> None:
    rows = demo.rows("kappa_fit")
    fill = demo.truth["fill_intensity"]
    segments = ["all", "side=buy", "side=sell", "regime=calm", "regime=volatile"]
    for segment in segments:
        assert_covers(rows, "fill_intensity", segment, "A", fill["a_per_s"])
        assert_covers(rows, "fill_intensity", segment, "kappa_px", fill["kappa_per_price"])
        assert_covers(rows, "fill_intensity", segment, "kappa_ticks", fill["kappa_per_tick"])
    hours = sorted(s for s in rows["segment"].unique() if s.startswith("hour="))
    assert hours == [f"hour={h:02d}" for h in range(24)]
    z = [
        (estimate(rows, "fill_intensity", h, "A")[0] - fill["a_per_s"]) / estimate(rows, "fill_intensity", h, "A")[1]
        for h in hours
    ]
    assert np.mean(np.abs(z) < 2) >= 0.75 and np.max(np.abs(z)) < 4, np.round(z, 2)
    # the regime segments split the window's orders (those after the first minute) between the states
    n_all = estimate(rows, "fill_intensity", "all", "A")[2]
    n_regimes = sum(estimate(rows, "fill_intensity", f"regime={s}", "A")[2] for s in ("calm", "volatile"))
    assert 0.99 * n_all < n_regimes <= n_all
    # SE(A) carries the Hawkes count dispersion 1 / (1 - n)^2 = 6.25, not the Poisson 1
    dispersion = json.loads(rows.filter(pl.col("segment") == "all")["goodness_of_fit"][0])["dispersion"]
    assert dispersion == pytest.approx(1 / (1 - demo.truth["taker_orders"]["branching_ratio"]) ** 2, rel=0.15)
    assert rows.filter(pl.col("model") == "fill_rate_check").height == 0  # no own quotes in the demo


@pytest.mark.slow
def test_hawkes_and_vol_fits_recover_the_truth(demo: Demo) -> None:
    hawkes = demo.rows("hawkes_fit")
    flow = demo.truth["taker_orders"]
    for param, truth in (("mu", flow["mu_per_s"]), ("alpha", flow["alpha_per_s"]), ("beta", flow["beta_per_s"])):
        assert_covers(hawkes, "hawkes_exp", "all", param, truth)
    assert_covers(hawkes, "hawkes_exp_bivariate", "all", "spectral_radius", flow["branching_ratio"])
    assert_covers(hawkes, "hawkes_exp_bivariate", "all", "mu_buy", flow["mu_per_s"] / 2)
    vol = demo.rows("vol_fit")
    for k, name in enumerate(demo.truth["regimes"]["names"]):
        truth = demo.truth["regimes"]["total_sigma_bps_per_sqrt_s"][k]
        assert_covers(vol, "volatility", f"regime={name}", "sigma_1min", truth)
        assert estimate(vol, "volatility", f"regime={name}", "sigma_rv")[0] == pytest.approx(truth, rel=0.05)


@pytest.mark.slow
def test_rematerialising_is_idempotent(demo: Demo) -> None:
    before = {name: demo.rows(name) for name in FIT_TABLES}
    assert demo.materialise(FIT_ASSETS, DAY2).success
    for name in FIT_TABLES:
        after = demo.rows(name)
        key = list(table(name).key)
        assert after.height == before[name].height, name
        stable = [c for c in after.columns if c != "fitted_at_ms"]
        assert after.select(stable).sort(key).equals(before[name].select(stable).sort(key), null_equal=True), name


def test_window_inputs_read_back_from_the_partition_cache_equal_those_derived(demo: Demo, tmp_path: Path) -> None:
    """The fixture's fits stored each day's taker orders, mids, quoted prices and arrival times; read back they equal
    what a lake without the cache derives from the partitions."""
    days = (DAY1, DAY2)
    assert {f.rel.split("/")[3] for f in demo.lake.files().list_files(ROOT)} == {
        "mids",
        "quoted_prices",
        "taker_orders",
        "taker_arrivals",
    }
    cold = Lake(tmp_path / "lake", storage_options={})
    shutil.copytree(demo.lake_root, cold.root, ignore=shutil.ignore_patterns(ROOT))
    served, derived = fits._taker_orders(demo.lake, COIN, days), fits._taker_orders(cold, COIN, days)
    assert served[0].height > 1000 and served[0].equals(derived[0], null_equal=True)
    assert served[1].equals(derived[1]) and served[2] == derived[2]
    served_arrivals, derived_arrivals = fits._arrivals(demo.lake, COIN, days), fits._arrivals(cold, COIN, days)
    for side in (1, -1):
        assert served_arrivals[side].size > 1000
        np.testing.assert_array_equal(served_arrivals[side], derived_arrivals[side])


@pytest.mark.slow
def test_window_is_clipped_and_empty_days_store_insufficient_status(demo: Demo) -> None:
    result = demo.materialise(FIT_ASSETS, DAY2, window_days=1)
    assert result.success
    for name in FIT_TABLES:
        rows = demo.rows(name)
        assert rows["window_start_ms"].unique().to_list() == [demo.truth["start_ms"] + 86_400_000], name
    # back to the default window for the other tests (module fixture)
    assert demo.materialise(FIT_ASSETS, DAY2).success

    empty_day = dt.date(2026, 1, 5)
    result = demo.materialise(FIT_ASSETS, empty_day)
    assert result.success
    for event in result.get_asset_materialization_events():
        meta = event.event_specific_data.materialization.metadata
        assert meta["window_days"].value == 0
        assert "insufficient_samples" in meta["segments_by_status"].value
        assert "required" in meta["warnings"].value
    for name in FIT_TABLES:
        rows = demo.rows(name, empty_day)
        assert set(rows["status"]) == {"insufficient_samples"} and rows["value"].is_nan().all(), name
    assert fitted_hmm(demo.rows("regime_hmm", empty_day)) is None


@pytest.mark.slow
def test_day_regime_beliefs_are_causal_and_stamped_at_the_bar_end(demo: Demo) -> None:
    beliefs = day_regime_beliefs(demo.lake, COIN, DAY2)
    assert beliefs is not None and beliefs.height == 1440
    assert (beliefs["time"] - beliefs["bar_time"]).unique().to_list() == [60_000]
    assert beliefs["belief_cascade"].null_count() == 1440
    np.testing.assert_allclose((beliefs["belief_calm"] + beliefs["belief_volatile"]).to_numpy(), 1.0)
    # row t depends on bars up to t only: the same filter run on a truncated history gives the same beliefs
    params = fitted_hmm(demo.rows("regime_hmm"))
    bars = demo.lake.read("features", coins=COIN, start=DAY1, end=DAY2).filter(pl.col("bar_ms") == 60_000).sort("time")
    cut = bars.height - 700
    head = regime_beliefs(bars.head(cut), params)
    full = regime_beliefs(bars, params).head(cut)
    assert head.equals(full)
    truth = np.asarray(demo.truth["regimes"]["path"])[1440:]
    assert np.mean(beliefs["regime"].to_numpy() == np.asarray(["calm", "volatile"])[truth]) > 0.95


@pytest.mark.slow
def test_a_capture_outage_is_excluded_from_the_fits_exposure(demo: Demo) -> None:
    """Six hours of DAY2 lost (no book, no trades): kappa and Hawkes fits integrate over the 42 covered hours, so A
    and mu still cover the truth; over the 48 calendar hours they would be an eighth too low."""
    start = day_bounds_ms(DAY2)[0] + 6 * 3_600_000
    outage = pl.col("time").is_between(start, start + 6 * 3_600_000, closed="left")
    kept = {name: demo.rows(name) for name in ("book", "trades")}
    try:
        for name, rows in kept.items():
            demo.lake.write_partition(name, rows.filter(~outage), COIN, DAY2)
        result = demo.materialise([fits.kappa_fit, fits.hawkes_fit], DAY2)
        assert result.success
        meta = {
            e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
            for e in result.get_asset_materialization_events()
        }
        for name in ("kappa_fit", "hawkes_fit"):
            assert meta[name]["covered_hours"].value == pytest.approx(42.0, abs=0.01), name
            assert meta[name]["covered_intervals"].value == 2, name
        kappa, hawkes = demo.rows("kappa_fit"), demo.rows("hawkes_fit")
        fill, flow = demo.truth["fill_intensity"], demo.truth["taker_orders"]
        assert_covers(kappa, "fill_intensity", "all", "A", fill["a_per_s"])
        a, se, _ = estimate(kappa, "fill_intensity", "all", "A")
        assert fill["a_per_s"] - a * 42 / 48 > 3 * se  # the calendar window's answer
        assert_covers(hawkes, "hawkes_exp", "all", "mu", flow["mu_per_s"])
        gof = json.loads(hawkes.filter(pl.col("model") == "hawkes_exp")["goodness_of_fit"][0])
        assert gof["covered_s"] == pytest.approx(42 * 3600, abs=5)
        assert gof["covered_fraction"] == pytest.approx(0.875, abs=1e-4)
        a_07, se_07, n_07 = estimate(kappa, "fill_intensity", "hour=07", "A")  # seen on DAY1 only: half the exposure
        assert abs(a_07 - fill["a_per_s"]) < 3 * se_07
        assert n_07 < 0.7 * estimate(kappa, "fill_intensity", "hour=05", "A")[2]
    finally:
        for name, rows in kept.items():
            demo.lake.write_partition(name, rows, COIN, DAY2)
        assert demo.materialise([fits.kappa_fit, fits.hawkes_fit], DAY2).success


# ---------------------------------------------------------------------------------------------------------------
# pure helpers


def test_fit_window_is_the_contiguous_run_of_days_with_data(lake: Lake) -> None:
    start = dt.date(2026, 3, 1)
    for offset in (0, 1, 3, 4, 5):
        day = start + dt.timedelta(days=offset)
        bars = pl.DataFrame({"coin": COIN, "date": day, "bar_ms": 60_000, "time": 0})
        lake.write_partition("features", bars, COIN, day)
    day5 = start + dt.timedelta(days=5)
    window = fit_window(lake, "features", COIN, day5, 7)
    assert window.days == (start + dt.timedelta(days=3), start + dt.timedelta(days=4), day5)  # day 2 is missing
    assert window.end_ms - window.start_ms == 3 * 86_400_000 and window.seconds == 3 * 86_400
    assert fit_window(lake, "features", COIN, day5, 2).days == (start + dt.timedelta(days=4), day5)
    day1 = start + dt.timedelta(days=1)
    assert fit_window(lake, "features", COIN, day1, 7).days == (start, day1)
    empty = fit_window(lake, "features", COIN, start + dt.timedelta(days=2), 7)
    assert empty.days == () and empty.seconds == 0
    assert fit_window(lake, "trades", COIN, day5, 7).days == ()  # no such table yet


def test_tick_size_and_lattice_grid() -> None:
    assert infer_tick_size(pl.Series([25.001, 25.003, 25.0, 24.998])) == 0.001
    assert infer_tick_size(pl.Series([101_234.0, 101_236.0, 101_240.0])) == 1.0
    with pytest.raises(ValueError):
        infer_tick_size(pl.Series([1.0, 1.0]))
    grid = lattice_grid(np.array([0.5, 1.5, 0.5, 7.5, np.nan, -0.5]))
    np.testing.assert_array_equal(grid, 0.5 + np.arange(8.0))
    np.testing.assert_array_equal(lattice_grid(np.array([])), [0.5, 1.5])
    assert lattice_grid(np.array([1e6]), max_bins=50).size == 50


def test_quote_episodes_measure_depth_duration_and_fills() -> None:
    updates = pl.DataFrame(
        {
            "time": [1000, 1000, 4000, 5000, 9000, 2000],
            "oid": [1, 2, 1, 3, 2, 4],
            "side": [1, -1, 1, 1, -1, 1],
            "limit_px": [99.8, 100.3, 99.8, 100.5, 100.3, 99.9],
            "status": ["open", "open", "canceled", "open", "filled", "open"],
            "order_time": [900, 950, 900, 5000, 950, 2000],
        },
        schema_overrides={"side": pl.Int8},
    )
    fills = pl.DataFrame({"time": [8000, 3500], "oid": [2, 1]})
    mids = pl.DataFrame({"time": [0, 960, 4000], "mid": [100.0, 100.1, 100.2]})
    episodes = quote_episodes(updates, fills, mids, tick_size=0.1, end_ms=12_000).sort("oid")
    # oid 3 (a buy above the mid) crossed: dropped; oid 4 never ended: rests to the window end
    assert episodes["oid"].to_list() == [1, 2, 4]
    np.testing.assert_allclose(episodes["depth_ticks"].to_numpy(), [2.0, 3.0, 2.0])
    np.testing.assert_allclose(episodes["duration_s"].to_numpy(), [3.1, 8.05, 10.0])
    assert episodes["filled"].to_list() == [True, True, False]


@pytest.mark.slow
def test_own_quotes_are_checked_against_the_fitted_fill_probability() -> None:
    """One demo day with own quotes resting 5 s at 0.5-2.5 ticks; a quote fills when a taker order of the other side
    reaches its price while it rests (the trade-through rule). Hawkes clustering (branching 0.6) makes fills rarer
    than the Poisson probability 1 - exp(-A exp(-kappa d) tau) of the same rate, so actual/predicted is below 1."""
    config = DemoMarketConfig(seed=4)
    market = simulate(config)
    start, end = config.start_ms, config.end_ms
    grid_times = np.arange(start, end, 500)
    mid = market.mid_at(grid_times)  # book rows every 500 ms, one-tick spread
    book = pl.DataFrame(
        {
            "coin": COIN,
            "time": grid_times,
            "mid": mid,
            "bid_px_1": mid - config.tick / 2,
            "ask_px_1": mid + config.tick / 2,
        }
    )
    trades = market.trades.select("time", "tid", "px", "sz", "side", "buyer", "seller", "hash")
    trades = trades.with_columns(coin=pl.lit(COIN))
    rng = np.random.default_rng(0)
    placed = np.arange(start + 10_000, end - 10_000, 10_000)
    side = rng.choice([-1, 1], placed.size)
    depth = rng.choice([0.5, 1.5, 2.5], placed.size)
    px = np.round(market.mid_at(placed) - side * depth * config.tick, 6)  # the book row at placement
    quotes = pl.DataFrame(
        {"oid": np.arange(placed.size), "side": side, "px": px, "placed": placed, "end": placed + 5000}
    )
    by_side = {k: trades.filter(pl.col("side") == k).sort("time") for k in (-1, 1)}
    fill_times = []
    for _, q_side, q_px, q_placed, q_end in quotes.iter_rows():  # the first opposite-side print at or through it
        t, p = by_side[-q_side]["time"].to_numpy(), by_side[-q_side]["px"].to_numpy()
        lo, hi = np.searchsorted(t, [q_placed, q_end], side="right")
        through = np.flatnonzero(p[lo:hi] <= q_px if q_side > 0 else p[lo:hi] >= q_px)
        fill_times.append(int(t[lo + through[0]]) if through.size else None)
    reached = quotes.select("oid", time=pl.Series(fill_times, dtype=pl.Int64)).drop_nulls()
    updates = pl.concat(
        [
            quotes.select("oid", "side", limit_px="px", time="placed", order_time="placed", status=pl.lit("open")),
            quotes.select("oid", "side", limit_px="px", time="end", order_time="placed", status=pl.lit("canceled")),
        ]
    ).with_columns(pl.col("side").cast(pl.Int8))
    tick = infer_tick_size(pl.concat([book["bid_px_1"], book["ask_px_1"]]))
    mids = mid_series(book)
    fitted = fit_kappa_window(
        taker_orders(trades, mids, tick_size=tick),
        mids,
        tick_size=tick,
        coverage=Coverage.full(start, end),
        order_updates=updates,
        fills=reached,
    )
    check: FitResult = dict(fitted.fits)["own_quotes"]
    assert check.model == "fill_rate_check" and check.n == placed.size
    assert check.estimates["actual_fills"] == reached.height
    # the Poisson fill probability of the fitted curve over-predicts clustered flow, and the check says so
    assert 0.6 < check.estimates["actual_over_predicted"] < 0.95, check.estimates
    assert check.estimates["z"] < -3 and check.estimates["p_value"] < 1e-3
