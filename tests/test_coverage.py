"""Covered time from hand-built tapes, and the fill-intensity fits on it: A per covered second, not per calendar
second, and a short capture in a long window flagged."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from calibration.coverage import (
    LOW_COVERAGE,
    MAX_GAP_MS,
    Coverage,
    InsufficientCoverage,
    coverage_report,
    covered_intervals,
)
from calibration.fill_intensity import (
    bar_exposure,
    dispersion_index,
    empirical_fill_probability,
    fill_intensity_table,
    fit_fill_intensity,
    hour_of_day_bars,
    taker_orders,
)
from calibration.window_fits import fit_kappa_window
from tests.test_fill_intensity import GRID, KAPPA, A, exact_model_orders, lattice_trades

DAY_MS = 86_400_000


def heartbeat(start_ms: int, end_ms: int, every_ms: int = 500) -> np.ndarray:
    return np.arange(start_ms, end_ms + 1, every_ms, dtype=np.int64)


# ---------------------------------------------------------------- covered intervals


def test_covered_intervals_from_book_and_trade_rows():
    book = pl.Series(np.concatenate([heartbeat(0, 10_000), heartbeat(130_000, 140_000), [300_000]]))
    book = pl.concat([book, pl.Series([None], dtype=pl.Int64)])  # nulls are ignored
    trades = np.array([60_000, 195_000])  # trades 50 s and 55 s after the book rows stop: the feed still ran
    got = covered_intervals(book, trades, start_ms=0, end_ms=400_000)
    np.testing.assert_array_equal(got, [[0, 60_000], [130_000, 195_000]])  # the lone row at 300 s covers nothing
    # without the trades the silences are gaps; a window cuts the intervals at its edges
    clipped = covered_intervals(book, start_ms=5_000, end_ms=135_000)
    np.testing.assert_array_equal(clipped, [[5_000, 10_000], [130_000, 135_000]])
    assert covered_intervals(book, start_ms=200_000, end_ms=250_000).shape == (0, 2)
    assert covered_intervals(np.array([1, 2]), start_ms=5, end_ms=5).shape == (0, 2)  # an empty window
    np.testing.assert_array_equal(  # the rule's threshold: exactly max_gap_ms apart is covered
        covered_intervals(np.array([0, MAX_GAP_MS, 2 * MAX_GAP_MS + 1]), start_ms=0, end_ms=10**6), [[0, MAX_GAP_MS]]
    )


def test_coverage_measures_contains_and_covered_time_per_bar():
    coverage = Coverage(np.array([[1_000, 61_000], [121_000, 151_000]]), 0, 180_000)
    assert coverage.seconds == 90.0 and coverage.window_seconds == 180.0 and coverage.fraction == 0.5
    np.testing.assert_array_equal(
        coverage.contains([0, 1_000, 60_999, 61_000, 130_000, 151_000]), [False, True, True, False, True, False]
    )
    bars = np.arange(0, 180_000, 60_000)
    np.testing.assert_allclose(coverage.covered_between(bars, bars + 60_000), [59.0, 1.0, 30.0])
    with pytest.raises(ValueError, match="sorted, disjoint"):
        Coverage(np.array([[0, 10], [5, 20]]), 0, 100)


def test_coverage_report_refuses_flags_or_passes():
    with pytest.raises(InsufficientCoverage, match="m: 599 s of covered time"):
        coverage_report("m", 599.0, 3600.0, 1)
    low = coverage_report("m", 2640.0, 2 * 86_400.0, 1)
    assert low.status == LOW_COVERAGE and low.goodness["covered_fraction"] == pytest.approx(2640 / 172_800)
    assert low.warnings == (
        "low coverage: the data cover 0.73 h of the 48.00 h window (1.5% < 50%); the fit "
        "describes the covered hours, not the window",
    )
    assert coverage_report("m", 1800.0, 3600.0, 2).status == "ok"  # half the window is enough


# ---------------------------------------------------------------- fill intensity on covered time


@pytest.fixture(scope="module")
def short_capture():
    """44 minutes of taker orders from the exact model, captured from 13:10 on day 2 of a 2-day window."""
    start = DAY_MS + 13 * 3_600_000 + 10 * 60_000
    orders = exact_model_orders(21, seconds=44 * 60.0).with_columns(pl.col("time") + start)
    book = heartbeat(start, start + 44 * 60_000)
    return orders, Coverage.of(book, start_ms=0, end_ms=2 * DAY_MS)


def test_a_44_minute_capture_in_a_two_day_window_gives_the_right_a_and_is_flagged(short_capture):
    orders, coverage = short_capture
    assert coverage.seconds == 44 * 60.0
    fit = fit_fill_intensity(orders, coverage, grid=GRID, tick_size=0.01)
    assert abs(fit.estimates["A"] - A) < 2 * fit.std_errors["A"]
    assert abs(fit.estimates["kappa_bps"] - KAPPA) < 2 * fit.std_errors["kappa_bps"]
    assert fit.status == LOW_COVERAGE and fit.warnings[0].startswith("low coverage: the data cover 0.73 h")
    assert fit.goodness_of_fit["covered_s"] == 2640.0 and fit.goodness_of_fit["window_s"] == 172_800.0
    calendar = fit_fill_intensity(orders, 2 * 86_400.0, grid=GRID, tick_size=0.01)  # the review's 65x
    assert fit.estimates["A"] / calendar.estimates["A"] == pytest.approx(172_800 / 2640)
    table = fill_intensity_table(orders, coverage, grid=GRID)
    assert table["intensity"][0] == pytest.approx(fit.estimates["lambda_d0"])


def test_too_little_covered_time_refuses_the_fill_intensity_fit():
    orders = exact_model_orders(22, seconds=300.0)
    with pytest.raises(InsufficientCoverage, match="fill_intensity: 300 s of covered time"):
        fit_fill_intensity(
            orders, Coverage.of(heartbeat(0, 300_000), start_ms=0, end_ms=3_600_000), grid=GRID, tick_size=0.01
        )


def test_orders_in_a_gap_are_left_out_and_counted(short_capture):
    orders, coverage = short_capture
    stray = pl.concat([orders, orders.head(3).with_columns(pl.col("time") - 3_600_000)])  # an hour before the book
    fit = fit_fill_intensity(stray, coverage, grid=GRID, tick_size=0.01)
    reference = fit_fill_intensity(orders, coverage, grid=GRID, tick_size=0.01)
    assert fit.goodness_of_fit["orders_outside_coverage"] == 3 and fit.n == reference.n
    assert "3 orders outside the covered intervals were left out" in fit.warnings
    buys = fit_fill_intensity(stray, coverage, grid=GRID, tick_size=0.01, side=1)
    assert buys.goodness_of_fit["orders_outside_coverage"] == stray.head(3).filter(pl.col("side") == 1).height


def test_dispersion_blocks_and_bar_exposure_count_covered_time_only():
    rng = np.random.default_rng(3)
    covered = np.array([[0, 3_600_000], [7_200_000, 10_800_000]])  # an hour, an hour's gap, an hour
    times = np.sort(np.concatenate([rng.uniform(a, b, rng.poisson(0.5 * (b - a) / 1e3)) for a, b in covered]))
    coverage = Coverage(covered, 0, 10_800_000)
    assert dispersion_index(times, start_ms=0, end_ms=10_800_000, coverage=coverage) == pytest.approx(1.0, abs=0.25)
    assert dispersion_index(times, start_ms=0, end_ms=10_800_000) > 10  # 60 empty minutes read as calm
    exposure = bar_exposure(hour_of_day_bars(0, 10_800_000), bar_ms=60_000, coverage=coverage)
    assert exposure == {0: 3600.0, 2: 3600.0}  # hour 1 was not seen at all
    orders = pl.DataFrame({"time": times.astype(np.int64), "side": np.ones(times.size, np.int8), "depth_bps": 1.0})
    p = empirical_fill_probability(
        orders, grid=np.array([0.5, 2.0]), tau_s=1.0, start_ms=0, end_ms=10_800_000, side=1, coverage=coverage
    )
    assert p["n_intervals"][0] == 7200 and p["p_fill"][0] == pytest.approx(1 - math.exp(-0.5), abs=0.02)


def test_kappa_window_on_a_gappy_capture_recovers_a_per_covered_second():
    """An hour of lattice trades with a 20-minute outage (no book, no trades): A per covered second is right,
    per calendar second it would be a third too low; the hour segments share the covered time."""
    a, kappa, tick = 1.5, 0.6, 0.5
    trades, mids, _ = lattice_trades(31, a=a, kappa_tick=kappa, seconds=3600.0, tick=tick)
    outage = (pl.col("time") >= 1_200_000) & (pl.col("time") < 2_400_000)
    trades, mids = trades.filter(~outage), mids.filter(~outage)
    coverage = Coverage.of(mids["time"], start_ms=0, end_ms=3_600_000)
    assert coverage.seconds == pytest.approx(2400.0, abs=1.0)
    orders = taker_orders(trades, mids, tick_size=tick)
    fitted = fit_kappa_window(orders, mids, tick_size=tick, coverage=coverage)
    fits = dict(fitted.fits)
    overall = fits["all"]
    assert overall.ok and abs(overall.estimates["A"] - a) < 2 * overall.std_errors["A"]
    assert abs(overall.estimates["kappa_ticks"] - kappa) < 2 * overall.std_errors["kappa_ticks"]
    assert a - overall.estimates["A"] * 2400 / 3600 > 3 * overall.std_errors["A"]  # the calendar answer
    assert abs(fitted.dispersion - 1.0) < 0.3  # Poisson flow, the outage's empty minutes not counted
    assert fits["hour=00"].ok and fits["hour=00"].goodness_of_fit["covered_fraction"] == pytest.approx(2 / 3, abs=1e-3)


def test_kappa_window_of_a_short_capture_flags_every_segment():
    a, kappa, tick = 1.5, 0.6, 0.5
    trades, mids, _ = lattice_trades(32, a=a, kappa_tick=kappa, seconds=44 * 60.0, tick=tick)
    shift = DAY_MS + 13 * 3_600_000
    trades, mids = trades.with_columns(pl.col("time") + shift), mids.with_columns(pl.col("time") + shift)
    coverage = Coverage.of(mids["time"], start_ms=0, end_ms=2 * DAY_MS)
    fitted = fit_kappa_window(taker_orders(trades, mids, tick_size=tick), mids, tick_size=tick, coverage=coverage)
    fits = dict(fitted.fits)
    assert {fit.status for fit in fits.values()} == {LOW_COVERAGE}
    assert set(fits) == {"all", "side=buy", "side=sell", "hour=13"}
    assert abs(fits["all"].estimates["A"] - a) < 2 * fits["all"].std_errors["A"]
    assert abs(fits["hour=13"].estimates["A"] - a) < 2 * fits["hour=13"].std_errors["A"]
    assert fits["hour=13"].warnings[0].startswith("low coverage")
