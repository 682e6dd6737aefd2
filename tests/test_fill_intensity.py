"""Fill intensity: grouping prints into taker orders, the likelihood fit against known truth, and its checks."""

from __future__ import annotations

import io
import math

import numpy as np
import polars as pl
import pytest
from matplotlib import image
from statsmodels.base.model import GenericLikelihoodModel

from calibration.fill_intensity import (
    bar_exposure,
    dispersion_index,
    empirical_fill_probability,
    ewma_kappa,
    exceedance_counts,
    fill_intensity_table,
    fill_probability,
    fit_fill_intensity,
    fit_fill_intensity_by_segment,
    hour_of_day_bars,
    predicted_vs_actual_fill_rate,
    segment_by_bar,
    taker_orders,
)
from calibration.fit_result import InsufficientSamples
from data_lake.demo_market import DemoMarketConfig, simulate
from validation.reporting.fit_figures import fill_intensity_figure

A, KAPPA, D0 = 2.0, 0.4, 1.0  # 1/s per side at the mid, 1/bps, threshold in bps
GRID = np.arange(D0, 15.0, 0.5)


def exact_model_orders(
    seed: int, *, a: float = A, kappa: float = KAPPA, d0: float = D0, seconds: float = 3600.0, mid: float = 100.0
) -> pl.DataFrame:
    """Taker orders from the exact model: Poisson arrivals of rate A exp(-kappa d0) per side, reach d0 + Exp(kappa)."""
    rng = np.random.default_rng(seed)
    n = rng.poisson(2 * a * math.exp(-kappa * d0) * seconds)
    depth = d0 + rng.exponential(1 / kappa, n)
    return pl.DataFrame(
        {
            "time": np.sort(rng.integers(0, int(seconds * 1e3), n)),
            "side": rng.choice(np.array([1, -1], dtype=np.int8), n),
            "mid": np.full(n, mid),
            "depth_bps": depth,
            "depth_px": depth * mid * 1e-4,
        }
    )


# ---------------------------------------------------------------------------------------------------------------
# taker orders


def test_taker_orders_groups_by_time_side_and_taker_and_measures_from_the_mid_before():
    trades = pl.DataFrame(
        {
            "time": [1000] * 5,
            "tid": [11, 12, 13, 14, 15],
            "px": [100.5, 101.0, 101.5, 100.5, 100.0],
            "sz": [1.0, 2.0, 1.0, 0.5, 1.0],
            "side": [1, 1, 1, 1, -1],
            "buyer": ["a", "a", "a", "b", "m"],
            "seller": ["m", "n", "m", "m", "a"],
            "hash": ["h1", "h1", "h1", "h2", "h3"],
        },
        schema_overrides={"side": pl.Int8},
    )
    mids = pl.DataFrame(
        {
            "time": [500, 999, 1000],
            "mid": [100.0, 100.25, 150.0],
            "bid_px_1": [99.5, 100.0, 149.5],
            "ask_px_1": [100.5, 100.5, 150.5],
        }
    )
    orders = taker_orders(trades, mids, tick_size=0.5)
    rows = {(r["side"], r["taker"]): r for r in orders.iter_rows(named=True)}
    assert orders.height == 3 and set(rows) == {(1, "a"), (1, "b"), (-1, "a")}  # same taker, other side: apart
    sweep = rows[(1, "a")]
    assert sweep["n_prints"] == 3 and sweep["size"] == 4.0 and sweep["reach_px"] == 101.5
    assert sweep["vwap"] == pytest.approx((100.5 + 202.0 + 101.5) / 4)
    # the snapshot stamped in the order's own millisecond may already show it: the mid is the one at 999 ms
    assert sweep["mid"] == 100.25 and sweep["mid_time"] == 999
    assert sweep["depth_px"] == pytest.approx(1.25)
    assert sweep["depth_ticks"] == pytest.approx(2.5)
    assert sweep["depth_bps"] == pytest.approx(1.25 / 100.25 * 1e4)
    assert sweep["touch_px"] == 100.5 and sweep["beyond_best_ticks"] == pytest.approx(2.0)
    sell = rows[(-1, "a")]
    assert sell["depth_ticks"] == pytest.approx(0.5) and sell["beyond_best_px"] == pytest.approx(0.0)


def test_taker_orders_links_components_and_drops_stale_mids():
    z = "0x" + "0" * 64
    trades = pl.DataFrame(
        {
            "time": [2000, 2000, 2000, 2000, 3000, 3000, 3000, 3000],
            "tid": list(range(8)),
            "px": [99.5, 99.0, 98.5, 98.0, 100.5, 101.0, 101.5, 100.5],
            "sz": [1.0] * 8,
            "side": [-1, -1, -1, -1, 1, 1, 1, 1],
            "buyer": ["m", "m", "m", "m", "x", "x", None, None],
            "seller": ["c", None, None, "c", "m", "m", "m", "m"],
            "hash": [z, "h4", "h4", z, "h5", "h6", "h6", None],
        },
        schema_overrides={"side": pl.Int8},
    )
    mids = pl.DataFrame({"time": [1500, 2900], "mid": [99.75, 100.25]})
    orders = taker_orders(trades, mids, tick_size=0.5, max_mid_age_ms=400)
    got = sorted(orders.select("time", "side", "taker", "n_prints").iter_rows(), key=str)
    assert got == sorted(
        [
            (2000, -1, "c", 2),  # taker c's two prints (zero hash links nothing)
            (2000, -1, None, 2),  # null taker, linked by hash h4
            (3000, 1, "x", 3),  # x on h5 and h6, and the null-taker print on h6: one component
            (3000, 1, None, 1),  # null taker and null hash: alone
        ],
        key=str,
    )
    by_time = orders.group_by("time").agg(pl.col("mid").first(), pl.col("depth_px").max()).sort("time")
    assert by_time["mid"].to_list() == [None, 100.25]  # at 2000 ms the last mid is 500 ms old: stale
    assert "touch_px" not in orders.columns


def lattice_trades(seed: int, *, a: float, kappa_tick: float, seconds: float, tick: float = 0.5):
    """Prints of taker orders sweeping a one-tick-spread book whose mid random-walks on a 250 ms snapshot grid.

    Order reach is 0.5 + K ticks from the mid with P(K >= k) = exp(-kappa k): Lambda(d) = A exp(-kappa d) on the
    lattice. Each order prints once per level from the touch to its reach, with its own taker and hash; several
    orders share a millisecond.
    """
    rng = np.random.default_rng(seed)
    book_t = np.arange(0, int(seconds * 1e3), 250)
    bid = 1000.0 + tick * np.cumsum(rng.choice([-1, 0, 1], book_t.size, p=[0.02, 0.96, 0.02]))
    n = rng.poisson(2 * a * math.exp(-kappa_tick * 0.5) * seconds)
    t = np.sort(rng.integers(7, int(seconds * 1e3), n) // 7 * 7)  # coarse ms so that orders collide
    side = rng.choice([1, -1], n)
    levels = rng.geometric(1 - math.exp(-kappa_tick), n) - 1
    state = np.searchsorted(book_t, t, side="left") - 1  # the snapshot strictly before the order
    rows = []
    for i in range(n):
        touch = bid[state[i]] + tick if side[i] > 0 else bid[state[i]]
        for k in range(levels[i] + 1):
            taker, maker = f"t{i}", f"m{rng.integers(50)}"
            buyer, seller = (taker, maker) if side[i] > 0 else (maker, taker)
            rows.append((t[i], touch + side[i] * k * tick, 1.0, side[i], buyer, seller, f"h{i}"))
    trades = pl.DataFrame(rows, schema=["time", "px", "sz", "side", "buyer", "seller", "hash"], orient="row")
    mids = pl.DataFrame({"time": book_t, "mid": bid + tick / 2, "bid_px_1": bid, "ask_px_1": bid + tick})
    return trades.with_columns(pl.col("side").cast(pl.Int8)), mids, n


def test_lattice_end_to_end_recovers_a_and_kappa_in_ticks():
    a, kappa, seconds, tick = 1.5, 0.6, 3600.0, 0.5
    trades, mids, n = lattice_trades(7, a=a, kappa_tick=kappa, seconds=seconds, tick=tick)
    orders = taker_orders(trades, mids, tick_size=tick)
    assert orders.height == n  # every order found again, none merged across takers
    assert np.allclose(orders["beyond_best_ticks"].to_numpy() + 0.5, orders["depth_ticks"].to_numpy())
    grid = 0.5 + np.arange(25.0)  # the lattice levels
    fit = fit_fill_intensity(orders, seconds, grid=grid, tick_size=tick, unit="ticks", method="grouped")
    assert abs(fit.estimates["kappa_ticks"] - kappa) < 2 * fit.std_errors["kappa_ticks"]
    assert abs(fit.estimates["A"] - a) < 2 * fit.std_errors["A"]
    assert fit.estimates["kappa_px"] == pytest.approx(fit.estimates["kappa_ticks"] / tick)
    assert fit.goodness_of_fit["pearson_p"] > 0.01 and not fit.warnings
    # the continuous formula on lattice depths fits a geometric law with the wrong rate: e^kappa - 1, not kappa
    naive = fit_fill_intensity(orders, seconds, grid=grid, tick_size=tick, unit="ticks", method="exact")
    assert naive.estimates["kappa_ticks"] == pytest.approx(math.exp(kappa) - 1, rel=0.05)
    assert abs(naive.estimates["kappa_ticks"] - kappa) > 10 * naive.std_errors["kappa_ticks"]


# ---------------------------------------------------------------------------------------------------------------
# the likelihood fit against known truth


@pytest.mark.parametrize("method", ["exact", "grouped"])
def test_mle_recovers_a_and_kappa_within_two_standard_errors(method):
    covered = {"A": 0, "kappa_bps": 0}
    rejected = 0
    for seed in range(20):
        fit = fit_fill_intensity(exact_model_orders(seed), 3600.0, grid=GRID, tick_size=0.01, method=method)
        assert fit.ok and fit.n > 4000
        for name, truth in (("A", A), ("kappa_bps", KAPPA)):
            covered[name] += abs(fit.estimates[name] - truth) < 2 * fit.std_errors[name]
        assert fit.estimates["kappa_px"] == pytest.approx(fit.estimates["kappa_bps"] * 1e4 / 100.0)
        rejected += fit.goodness_of_fit["pearson_p"] < 0.05
    assert covered["A"] >= 17 and covered["kappa_bps"] >= 17, covered
    assert rejected <= 4  # the goodness of fit holds its size under the true model


class GroupedPoisson(GenericLikelihoodModel):
    """Reference: the grouped Poisson likelihood in (log A, log kappa), maximised and differentiated by statsmodels."""

    def __init__(self, counts: np.ndarray, grid: np.ndarray, exposure: float):
        super().__init__(counts.astype(float), np.ones_like(counts, dtype=float))
        self.grid, self.exposure = grid, exposure

    def loglike(self, params: np.ndarray) -> float:
        a, kappa = np.exp(params)
        upper = np.append(np.exp(-kappa * self.grid[1:]), 0.0)
        mu = a * self.exposure * (np.exp(-kappa * self.grid) - upper)
        return float(np.sum(self.endog * np.log(mu) - mu))


class MarkedPoisson(GenericLikelihoodModel):
    """Reference: the marked Poisson likelihood of reach beyond d0 in (log A, log kappa)."""

    def __init__(self, depths: np.ndarray, d0: float, exposure: float):
        super().__init__(depths, np.ones_like(depths))
        self.d0, self.exposure = d0, exposure

    def loglike(self, params: np.ndarray) -> float:
        a, kappa = np.exp(params)
        d = self.endog
        return float(d.size * math.log(a * kappa) - kappa * d.sum() - a * math.exp(-kappa * self.d0) * self.exposure)


@pytest.mark.filterwarnings("ignore:df_:UserWarning")
def test_estimates_and_standard_errors_match_a_statsmodels_reference_likelihood():
    orders = exact_model_orders(11)
    depths = orders["depth_bps"].to_numpy()
    counts = -np.diff(np.append(exceedance_counts(depths, GRID), 0))
    for method, model in (
        ("grouped", GroupedPoisson(counts, GRID, 7200.0)),
        ("exact", MarkedPoisson(depths[depths >= D0], D0, 7200.0)),
    ):
        start = model.fit(start_params=[0.0, 0.0], method="nm", maxiter=2000, disp=0).params
        ref = model.fit(start_params=start, method="bfgs", gtol=1e-8, disp=0)
        assert ref.mle_retvals["converged"]
        fit = fit_fill_intensity(orders, 3600.0, grid=GRID, tick_size=0.01, method=method)
        assert [fit.estimates["A"], fit.estimates["kappa_bps"]] == pytest.approx(np.exp(ref.params), rel=1e-6)
        # delta method: SE(x) = x SE(log x). Ours is the expected information, statsmodels' the observed
        # (numerical Hessian); they agree at the MLE up to sampling noise of order 1/sqrt(n).
        ref_se = np.exp(ref.params) * ref.bse
        assert [fit.std_errors["A"], fit.std_errors["kappa_bps"]] == pytest.approx(ref_se, rel=0.01)


def test_standard_errors_match_the_spread_over_seeds():
    fits = [
        fit_fill_intensity(exact_model_orders(s, seconds=900.0), 900.0, grid=GRID, tick_size=0.01) for s in range(100)
    ]
    for name in ("A", "kappa_bps"):
        spread = np.std([f.estimates[name] for f in fits], ddof=1)
        mean_se = np.mean([f.std_errors[name] for f in fits])
        assert mean_se == pytest.approx(spread, rel=0.2), name


def clustered_orders(seed: int, *, seconds: float = 3600.0, mean_children: float = 2.0) -> pl.DataFrame:
    """Exact-model reach with clustered arrivals: Poisson parents, each followed within seconds by Poisson(m)
    children (a Neyman-Scott process; count dispersion F = 1 + m + m / (1 + m) over long blocks)."""
    rng = np.random.default_rng(seed)
    n_parents = rng.poisson(2 * A * math.exp(-KAPPA * D0) * seconds / (1 + mean_children))
    sizes = 1 + rng.poisson(mean_children, n_parents)
    parent = np.repeat(rng.uniform(0, seconds, n_parents), sizes)
    first = np.repeat(np.cumsum(sizes) - sizes, sizes)
    offsets = rng.exponential(0.5, sizes.sum())
    offsets[first == np.arange(sizes.sum())] = 0.0
    cumulative = np.cumsum(offsets)
    t = parent + cumulative - cumulative[first]  # each cluster starts at its parent
    keep = t < seconds
    n = int(keep.sum())
    return pl.DataFrame(
        {
            "time": np.sort((t[keep] * 1e3).astype(np.int64)),
            "side": rng.choice(np.array([1, -1], dtype=np.int8), n),
            "mid": np.full(n, 100.0),
            "depth_bps": D0 + rng.exponential(1 / KAPPA, n),
        }
    )


def test_clustered_arrivals_need_the_dispersion_index_for_the_standard_error_of_a():
    m = 2.0
    fits, naive, dispersions = [], [], []
    for seed in range(40):
        orders = clustered_orders(seed, mean_children=m)
        f = dispersion_index(orders["time"].to_numpy(), start_ms=0, end_ms=3_600_000, block_s=60.0)
        dispersions.append(f)
        fits.append(fit_fill_intensity(orders, 3600.0, grid=GRID, tick_size=0.01, dispersion=f))
        naive.append(fit_fill_intensity(orders, 3600.0, grid=GRID, tick_size=0.01))
    assert np.mean(dispersions) == pytest.approx(1 + m + m / (1 + m), rel=0.08)
    spread = np.std([fit.estimates["A"] for fit in fits], ddof=1)
    assert np.mean([fit.std_errors["A"] for fit in fits]) == pytest.approx(spread, rel=0.25)
    assert np.mean([fit.std_errors["A"] for fit in naive]) < 0.7 * spread  # the Poisson SE is far too small
    assert sum(abs(fit.estimates["A"] - A) < 2 * fit.std_errors["A"] for fit in fits) >= 36
    # kappa's SE needs no correction: reach is independent of arrival timing
    assert sum(abs(fit.estimates["kappa_bps"] - KAPPA) < 2 * fit.std_errors["kappa_bps"] for fit in naive) >= 36


def log_linear_ols_kappa(depths: np.ndarray, grid: np.ndarray, exposure: float) -> float:
    """The anchors' estimator (hftbacktest tutorial): OLS of log(count / time) on depth over non-empty levels."""
    counts = exceedance_counts(depths, grid)
    keep = counts > 0
    slope, _ = np.polyfit(grid[keep], np.log(counts[keep] / exposure), 1)
    return -slope


def test_mle_is_unbiased_where_log_linear_ols_is_biased():
    """A 10-minute window and a grid deep into the tail: the MLE averages to the truth, OLS does not."""
    grid = np.arange(D0, 30.0, 0.5)
    mle, ols = [], []
    for seed in range(300):
        orders = exact_model_orders(seed, seconds=600.0)
        mle.append(fit_fill_intensity(orders, 600.0, grid=grid, tick_size=0.01, method="exact").estimates["kappa_bps"])
        ols.append(log_linear_ols_kappa(orders["depth_bps"].to_numpy(), grid, 1200.0))
    mle, ols = np.array(mle), np.array(ols)
    mc_se = lambda v: v.std(ddof=1) / math.sqrt(v.size)  # noqa: E731
    assert abs(mle.mean() - KAPPA) < 3 * mc_se(mle)
    assert (ols.mean() - KAPPA) / mc_se(ols) < -4  # empty deep levels dropped, log of small counts: kappa too low
    assert ols.std() > 3 * mle.std()  # and far noisier


def test_insufficient_samples_for_tiny_input():
    orders = exact_model_orders(0, seconds=5.0)
    assert orders.height < 50
    with pytest.raises(InsufficientSamples) as err:
        fit_fill_intensity(orders, 5.0, grid=GRID, tick_size=0.01)
    assert err.value.model == "fill_intensity" and err.value.n == orders.height
    at_touch = exact_model_orders(1).with_columns(depth_bps=pl.lit(D0))  # nobody beyond the touch: no kappa
    with pytest.raises(InsufficientSamples):
        fit_fill_intensity(at_touch, 3600.0, grid=GRID, tick_size=0.01)


def test_goodness_of_fit_rejects_a_non_exponential_depth_law():
    base = exact_model_orders(3)
    rng = np.random.default_rng(3)
    lognormal = base.with_columns(depth_bps=pl.Series(D0 + rng.lognormal(0.5, 0.9, base.height)))
    for method in ("exact", "grouped"):
        fit = fit_fill_intensity(lognormal, 3600.0, grid=GRID, tick_size=0.01, method=method)
        assert fit.goodness_of_fit["pearson_p"] < 1e-6
        assert any("rejected" in w for w in fit.warnings)
    good = fit_fill_intensity(base, 3600.0, grid=GRID, tick_size=0.01, method="exact")
    assert good.goodness_of_fit["lilliefors_p"] > 0.01 and good.goodness_of_fit["pearson_p"] > 0.01


def test_one_side_fit_and_missing_mids_warning():
    orders = exact_model_orders(4)
    buys = fit_fill_intensity(orders, 3600.0, grid=GRID, tick_size=0.01, side=1)
    assert abs(buys.estimates["A"] - A) < 3 * buys.std_errors["A"]
    assert buys.n == orders.filter(pl.col("side") == 1).height
    gappy = orders.with_columns(depth_bps=pl.when(pl.col("time") < 60_000).then(None).otherwise(pl.col("depth_bps")))
    fit = fit_fill_intensity(gappy, 3600.0, grid=GRID, tick_size=0.01)
    assert any("without a fresh mid" in w for w in fit.warnings)


# ---------------------------------------------------------------------------------------------------------------
# empirical intensity, fill probability within tau, own fills


def test_empirical_tables_agree_with_the_model():
    seconds = 3600.0
    orders = exact_model_orders(5, seconds=seconds)
    table = fill_intensity_table(orders, seconds, grid=GRID)
    truth = A * np.exp(-KAPPA * GRID)
    covered = (table["intensity_lo"].to_numpy() <= truth) & (truth <= table["intensity_hi"].to_numpy())
    assert covered.mean() >= 0.9
    tau = 2.0
    emp = empirical_fill_probability(orders, grid=GRID, tau_s=tau, start_ms=0, end_ms=int(seconds * 1e3))
    assert emp["n_intervals"][0] == 2 * 1800
    model = fill_probability(GRID, A, KAPPA, tau)
    z = (emp["p_fill"].to_numpy() - model) / np.sqrt(model * (1 - model) / emp["n_intervals"][0])
    assert np.all(np.abs(z) < 4) and np.mean(np.abs(z) < 2) >= 0.85


def test_fill_probability_formula():
    assert fill_probability(0.0, 1.0, 0.5, 1.0) == pytest.approx(1 - math.exp(-1))
    assert fill_probability(2.0, 3.0, 0.5, 0.5) == pytest.approx(1 - math.exp(-3 * math.exp(-1) * 0.5))
    assert fill_probability(1e6, 3.0, 0.5, 10.0) == 0.0


def own_quote_episodes(seed: int, orders: pl.DataFrame, seconds: float) -> pl.DataFrame:
    """Back-to-back resting episodes per side at random depths; filled when an opposite taker order reached them."""
    rng = np.random.default_rng(seed)
    rows = []
    for quote_side in (1, -1):
        hitting = orders.filter(pl.col("side") == -quote_side)
        t_hit, d_hit = hitting["time"].to_numpy() / 1e3, hitting["depth_bps"].to_numpy()
        start = 0.0
        while True:
            duration, depth = rng.uniform(0.5, 20.0), rng.uniform(D0, D0 + 8.0)
            if start + duration > seconds:
                break
            inside = (t_hit >= start) & (t_hit < start + duration)
            rows.append((depth, duration, bool(np.any(d_hit[inside] >= depth))))
            start += duration
    return pl.DataFrame(rows, schema=["depth_bps", "duration_s", "filled"], orient="row")


def test_predicted_vs_actual_fill_rate_passes_the_truth_and_flags_a_wrong_kappa():
    seconds = 7200.0
    orders = exact_model_orders(6, seconds=seconds)
    quotes = own_quote_episodes(6, orders, seconds)
    right = predicted_vs_actual_fill_rate(quotes, A, KAPPA)
    assert right.n_quotes == quotes.height and abs(right.z) < 3 and right.ratio == pytest.approx(1.0, abs=0.1)
    assert right.by_depth["n"].sum() == quotes.height
    assert right.by_depth["actual"].sum() == right.actual_fills
    wrong = predicted_vs_actual_fill_rate(quotes, A, 0.7 * KAPPA)  # too flat: predicts too many deep fills
    assert wrong.z < -5 and wrong.p_value < 1e-6 and wrong.brier > right.brier


# ---------------------------------------------------------------------------------------------------------------
# segments, the seed's EWMA estimator, the figure


def test_per_segment_fits_recover_each_segment():
    """Hourly bars alternate two regimes with different kappa; the fits per segment find each one."""
    seconds, bar_ms = 4 * 3600.0, 3_600_000
    bars = pl.DataFrame({"time": np.arange(4) * bar_ms, "segment": ["calm", "volatile", "calm", "volatile"]})
    parts = []
    for i, (kappa, a) in enumerate([(0.5, 2.0), (0.25, 3.0), (0.5, 2.0), (0.25, 3.0)]):
        o = exact_model_orders(10 + i, a=a, kappa=kappa, seconds=3600.0)
        parts.append(o.with_columns(pl.col("time") + i * bar_ms))
    orders = segment_by_bar(pl.concat(parts), bars, bar_ms=bar_ms)
    exposure = bar_exposure(bars, bar_ms=bar_ms)
    assert exposure == {"calm": 7200.0, "volatile": 7200.0} and sum(exposure.values()) == seconds
    fits = fit_fill_intensity_by_segment(orders, exposure | {"empty": 60.0}, grid=GRID, tick_size=0.01)
    for segment, kappa, a in (("calm", 0.5, 2.0), ("volatile", 0.25, 3.0)):
        assert abs(fits[segment].estimates["kappa_bps"] - kappa) < 3 * fits[segment].std_errors["kappa_bps"]
        assert abs(fits[segment].estimates["A"] - a) < 3 * fits[segment].std_errors["A"]
    assert fits["empty"].status == "insufficient_samples"


def test_hour_of_day_bars_cover_the_window():
    start = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000
    end = start + 2 * 86_400_000 + 30 * 60_000
    bars = hour_of_day_bars(start + 5, end)
    exposure = bar_exposure(bars, bar_ms=60_000)
    assert exposure[0] == 2 * 3600.0 + 29 * 60.0  # the first minute is partial, so it is left out
    assert exposure[23] == 2 * 3600.0 and sum(exposure.values()) == (end - start) / 1e3 - 60.0


def test_ewma_kappa_is_the_seed_recursion_and_carries_its_documented_bias():
    rng = np.random.default_rng(0)
    x = rng.exponential(1 / KAPPA, 200_000)
    halflife = 20.0
    alpha = 1 - 0.5 ** (1 / halflife)
    got = ewma_kappa(x, halflife_orders=halflife)
    reference = 1 / pl.Series(x).ewm_mean(alpha=alpha, adjust=False).to_numpy()
    assert np.allclose(got, reference, rtol=1e-12)
    bias = got[1000:].mean() / KAPPA - 1
    assert 0.5 * alpha / (2 - alpha) < bias < 2 * alpha / (2 - alpha)
    assert np.isinf(ewma_kappa(np.array([0.0, -1.0]), halflife_orders=5)).all()  # all at the touch
    carried = ewma_kappa(np.array([2.0, np.nan, 4.0]), halflife_orders=1.0, initial_mean=1.0)
    assert carried == pytest.approx([1 / 1.5, 1 / 1.5, 1 / 2.75])


def test_figure_is_a_png_of_the_expected_size():
    orders = exact_model_orders(8)
    fit = fit_fill_intensity(orders, 3600.0, grid=GRID, tick_size=0.01)
    png = fill_intensity_figure(fill_intensity_table(orders, 3600.0, grid=GRID), fit)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.imread(io.BytesIO(png)).shape[:2] == (420, 640)


# ---------------------------------------------------------------------------------------------------------------
# known truth: the demo market (Hawkes taker flow sweeping a one-tick book on a moving mid)


@pytest.mark.slow
def test_demo_market_kappa_and_a_within_two_standard_errors():
    """20 simulated days: orders regrouped exactly, and A, kappa covered by 2 SE at the nominal rate.

    The flow is Hawkes-clustered (branching 0.6, count dispersion 1 / 0.4^2 = 6.25), so A's SE needs the measured
    dispersion. The demo's ``mids`` frame lists book changes only, hence the unbounded mid age.
    """
    covered = {"A": 0, "kappa_px": 0}
    z, dispersions = {"A": [], "kappa_px": []}, []
    for seed in range(20):
        config = DemoMarketConfig(seed=seed)
        market = simulate(config)
        mids = market.mids.select("time", "mid", bid_px_1="bid_px", ask_px_1="ask_px")
        orders = taker_orders(market.trades, mids, tick_size=config.tick, max_mid_age_ms=config.end_ms)
        truth = orders.join(market.orders.select("hash", "levels"), on="hash", how="inner")
        assert truth.height == orders.height == market.orders.height  # one order per true order, none merged
        np.testing.assert_allclose(truth["depth_ticks"].to_numpy(), truth["levels"].to_numpy() - 0.5, atol=1e-6)
        dispersion = dispersion_index(orders["time"].to_numpy(), start_ms=config.start_ms, end_ms=config.end_ms)
        dispersions.append(dispersion)
        fit = fit_fill_intensity(
            orders,
            (config.end_ms - config.start_ms) / 1e3,
            grid=0.5 + np.arange(30.0),  # the lattice: half a tick, then one level per tick
            tick_size=config.tick,
            unit="ticks",
            dispersion=dispersion,
        )
        for name, value in (("A", config.fill_intensity_a_per_s), ("kappa_px", config.kappa_per_price)):
            z[name].append((fit.estimates[name] - value) / fit.std_errors[name])
            covered[name] += abs(z[name][-1]) < 2
    branching = config.hawkes_alpha_per_s / config.hawkes_beta_per_s
    assert np.mean(dispersions) == pytest.approx(1 / (1 - branching) ** 2, rel=0.1)
    # 2 SE cover 95.4%: 17 of 20 or more has probability 0.98; the z-scores must also look standard normal
    assert covered["A"] >= 17 and covered["kappa_px"] >= 17, covered
    for name in z:
        assert abs(np.mean(z[name])) < 3 / math.sqrt(20) and 0.6 < np.std(z[name]) < 1.5, name
