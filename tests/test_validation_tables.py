"""The pure functions the validation and promotion assets call: table rows <-> result objects (round trips on
real, simulated results), the alert rules on hand-built rows, the candidate set's document, the fold plan, the
leaders' days and the promotion's evidence (issue 18: the assets only wire them)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import polars as pl
import pytest

from calibration.fit_window import contiguous_window
from data_lake.tables import CALIBRATION_METRICS, SIGNAL_QUALITY, WALK_FORWARD
from data_lake.units import DAY_MS, HOUR_MS, day_bounds_ms, utc_days
from validation.decisions.alerts import AlertKind
from validation.decisions.incumbent import incumbent_variant
from validation.decisions.promotion_evidence import incumbent_evidence
from validation.decisions.table_alerts import (
    alerts_frame,
    calibration_table_alerts,
    run_failure_alerts,
    signal_table_alerts,
    walk_forward_alerts,
)
from validation.experiments.candidate import CANDIDATE, CandidateFit
from validation.experiments.leader_mids import leader_days, thinned_mids
from validation.experiments.variant_types import BASELINE
from validation.experiments.walk_forward import Fold, FoldPlan
from validation.experiments.walk_forward_run import POOLED
from validation.statistics.calibration_metrics import adverse_selection_calibration, calibration_metrics
from validation.statistics.signal_quality import signal_quality
from validation.tables.calibration_table import calibration_metrics_of, calibration_row
from validation.tables.candidate_set import candidate_document, stored_candidate
from validation.tables.signal_table import SignalQualitySettings, signal_quality_of, signal_row, signal_rows

COIN, DAY = "DEMO", dt.date(2026, 1, 2)
RNG = np.random.default_rng(7)


def stored(rows: list[dict], table) -> pl.DataFrame:
    """Rows as the lake hands them back: conformed to the catalogue schema."""
    return table.conform(pl.DataFrame(rows, infer_schema_length=None))


def test_calibration_rows_read_back_as_the_metrics_they_were_written_from() -> None:
    p = RNG.uniform(0.05, 0.6, 4000)
    fill = calibration_metrics(RNG.uniform(size=p.size) < p, p)
    predicted = RNG.normal(2.0, 1.0, 500)
    adverse = adverse_selection_calibration(predicted, predicted + RNG.normal(0.5, 1.0, predicted.size))
    for model, metrics in (("fill_probability", fill), ("adverse_selection", adverse)):
        row = calibration_row(metrics, model, "live") | {"coin": COIN, "date": DAY, "time": 1}
        back = calibration_metrics_of(stored([row], CALIBRATION_METRICS).row(0, named=True))
        assert type(back) is type(metrics)
        again = calibration_row(back, model, "live") | {"coin": COIN, "date": DAY, "time": 1}
        assert again == row  # exact: no figure is rounded on the way


def test_signal_rows_read_back_as_the_quality_they_were_written_from() -> None:
    n = 3000
    times = np.arange(n, dtype=np.int64) * 3 * 60_000  # ~6 days
    signal = RNG.normal(size=n)
    quality = signal_quality(signal, signal + RNG.normal(size=n), times, window_ms=DAY_MS, n_permutations=49)
    row = {"signal": "s", "target": "t", "n": n, "window_ms": DAY_MS} | signal_row(quality)
    back = signal_quality_of(stored([row | {"coin": COIN, "date": DAY, "time": 1}], SIGNAL_QUALITY).row(0, named=True))
    for field in dataclasses.fields(quality):
        got, want = getattr(back, field.name), getattr(quality, field.name)
        assert np.array_equal(got, want, equal_nan=True), field.name
    assert back.is_decaying == quality.is_decaying


def test_signal_rows_measure_an_informative_imbalance_and_name_a_short_sample() -> None:
    n = 600
    imbalance = RNG.uniform(-1, 1, n)
    side = RNG.choice([-1, 1], n)
    markouts = pl.DataFrame(
        {
            "time": np.arange(n, dtype=np.int64) * 60_000,
            "is_market_trade": True,
            "side": side,
            "imbalance_1": imbalance,
            "imbalance_5": RNG.uniform(-1, 1, n),
            "markout_5000ms_bps": 3.0 * imbalance * side + RNG.normal(0, 0.5, n),
        }
    )
    bars = pl.DataFrame({"time": np.arange(50, dtype=np.int64) * 60_000, "rv": 1.0, "vpin": 0.5})
    rows = {r["signal"]: r for r in signal_rows(markouts, bars, SignalQualitySettings(n_permutations=49))}
    assert rows["imbalance_1 x maker side"]["p_value"] <= 0.02 and rows["imbalance_1 x maker side"]["n"] == n
    assert (
        rows["imbalance_5 x maker side"]["mutual_information"] < rows["imbalance_1 x maker side"]["mutual_information"]
    )
    assert "mutual_information" not in rows["vpin"] and rows["vpin"]["n"] == 49  # the last minute has no next one
    table = stored([r | {"coin": COIN, "date": DAY, "time": 5} for r in rows.values()], SIGNAL_QUALITY)
    found = signal_table_alerts(table, COIN)
    short = [a for s, a in found if s == "vpin -> next_minute_rv"]
    assert [(a.kind, a.severity, a.value) for a in short] == [(AlertKind.INSUFFICIENT_SAMPLES, "info", 49.0)]


def test_alert_rules_on_hand_built_rows() -> None:
    walk_forward = stored(
        [
            {
                "coin": COIN,
                "date": DAY,
                "fold": POOLED,
                "variant": BASELINE,
                "test_end_ms": 9,
                "information_ratio": 0.4,
            },
            {"coin": COIN, "date": DAY, "fold": 0, "variant": BASELINE, "test_end_ms": 9, "information_ratio": -3.0},
            {"coin": COIN, "date": DAY, "fold": POOLED, "variant": "+hmm", "test_end_ms": 9, "information_ratio": -3.0},
        ],
        WALK_FORWARD,
    )
    [(_, alert)] = walk_forward_alerts(walk_forward, COIN)
    assert (alert.kind, alert.severity, alert.value, alert.time) == (
        AlertKind.INFORMATION_RATIO_BELOW_ONE,
        "warning",
        0.4,
        9,
    )
    good = walk_forward.with_columns(information_ratio=pl.lit(1.5))
    assert walk_forward_alerts(good, COIN) == []
    failures = pl.DataFrame(
        {"run_id": ["b", "a"], "job_name": ["nightly", "ingest"], "message": ["x", "y"], "time": [20, 10]}
    )
    found = run_failure_alerts(failures, COIN)
    assert [s for s, _ in found] == ["run a (ingest)", "run b (nightly)"]
    assert {a.severity for _, a in found} == {"critical"}
    frame = alerts_frame(found, COIN, DAY)
    assert frame["kind"].to_list() == ["RunFailed", "RunFailed"] and frame["time"].to_list() == [10, 20]
    p = RNG.uniform(0.05, 0.6, 4000)
    biased = calibration_metrics(RNG.uniform(size=p.size) < p, np.clip(p * 1.8, 0, 1))
    row = calibration_row(biased, "fill_probability", "live") | {"coin": COIN, "date": DAY, "time": 3}
    kinds = {a.kind for _, a in calibration_table_alerts(stored([row], CALIBRATION_METRICS), COIN)}
    assert AlertKind.MODEL_MISCALIBRATED in kinds


def test_the_candidate_set_document_round_trips_and_its_absence_is_named() -> None:
    fit = CandidateFit(
        parameters={"kappa": {"value": 1.5, "se": float("nan")}, "order_size_base": 0.2},
        window=(100, 200),
        regimes=None,
        edges=[],
        figures={},
    )
    document = candidate_document(fit)
    rows = pl.DataFrame({"fold": [0, POOLED], "variant": CANDIDATE, "candidate_set": [None, document]})
    parameters, window = stored_candidate(rows, DAY)
    assert window == (100, 200) and parameters == {"kappa": {"value": 1.5, "se": None}, "order_size_base": 0.2}
    with pytest.raises(ValueError, match="could not fit the candidate"):
        stored_candidate(rows.with_columns(candidate_set=pl.lit(None, pl.String)), DAY)
    with pytest.raises(ValueError, match="no complete fold"):
        stored_candidate(rows.filter(pl.col("fold") != POOLED), DAY)


def test_incumbent_evidence_is_the_replay_when_it_has_two_periods() -> None:
    pnl = pl.DataFrame(
        {
            "variant": [incumbent_variant("abc")] * 3 + [CANDIDATE],
            "time": [120_000, 0, 60_000, 0],
            "pnl": [3.0, 1.0, 2.0, 9.0],
        }
    )
    evidence = incumbent_evidence(pnl, "abc", {"stored": True})
    assert evidence["walk_forward"] == {
        "period_ms": 60_000,
        "pnl_unit": "quote",
        "period_start_ms": [0, 60_000, 120_000],
        "pnl": [1.0, 2.0, 3.0],
    }
    assert incumbent_evidence(pnl, "other", {"stored": True}) == {"stored": True}


def test_the_fold_plan_cuts_folds_from_the_data_it_has() -> None:
    plan = FoldPlan(train_hours=6, test_hours=2, n_folds=3)
    assert (plan.train_ms(), plan.test_ms(), plan.lookback_ms(), plan.one_fold_ms()) == (
        6 * HOUR_MS,
        2 * HOUR_MS,
        12 * HOUR_MS,
        8 * HOUR_MS,
    )
    end = day_bounds_ms(DAY)[1]
    folds = plan.folds(0, end)
    assert [f.test_end_ms for f in folds] == [end - 4 * HOUR_MS, end - 2 * HOUR_MS, end]
    assert folds[0].train_start_ms == end - 12 * HOUR_MS
    assert len(plan.folds(end - 9 * HOUR_MS, end)) == 1  # the data start later: fewer folds
    assert plan.folds(end - 7 * HOUR_MS, end) == []
    assert "one fold needs 8 h covered" in plan.no_fold_reason(3 * HOUR_MS, DAY)
    assert FoldPlan().lookback_ms() == (60 + 4 * 7) * DAY_MS


def test_contiguous_window_and_utc_days() -> None:
    days = {DAY - dt.timedelta(days=k) for k in (0, 1, 3)}
    window = contiguous_window(days, DAY, 7)
    assert window.days == (DAY - dt.timedelta(days=1), DAY) and window.seconds == 2 * 86_400
    assert window.day_range(DAY) == (DAY - dt.timedelta(days=1), DAY)
    gap = DAY - dt.timedelta(days=2)
    empty = contiguous_window(days, gap, 7)
    assert empty.days == () and empty.bounds == (day_bounds_ms(gap)[1], day_bounds_ms(gap)[1])
    assert empty.day_range(gap) == (gap, gap)
    start, end = day_bounds_ms(DAY)
    assert (start, end - start) == (1_767_312_000_000, DAY_MS)
    assert utc_days(start, end) == (DAY, DAY) and utc_days(start - 1, end + 1) == (
        DAY - dt.timedelta(days=1),
        DAY + dt.timedelta(days=1),
    )


def test_leader_days_and_thinned_mids() -> None:
    start = day_bounds_ms(DAY)[0]
    fold = Fold(0, start - 2 * DAY_MS, start + 12 * HOUR_MS, start + 12 * HOUR_MS, start + 36 * HOUR_MS)
    assert leader_days([fold], fit_hours=6) == [DAY, DAY + dt.timedelta(days=1)]
    assert leader_days([fold], fit_hours=24) == [DAY - dt.timedelta(days=1), DAY, DAY + dt.timedelta(days=1)]
    mids = pl.DataFrame({"time": [0, 100, 200, 1_000, 1_500, 1_700], "mid": [1.0, 1.0, 2.0, 2.0, 2.0, 1.0]})
    assert thinned_mids(mids)["time"].to_list() == [0, 200, 1_000, 1_700]


def test_mean_markout_lines_per_population() -> None:
    from validation.statistics.baseline_table import mean_markout_lines

    fills = pl.DataFrame({"is_market_trade": [True, True, False, True], "markout_5000ms_bps": [1.0, 3.0, None, None]})
    assert mean_markout_lines(fills) == "- own: n/a (n=0)\n- market (maker side): 2.000 bps (n=2)"


def test_signals_markdown_shows_unmeasured_signals_as_nan() -> None:
    from validation.tables.signal_table import signals_markdown

    text = signals_markdown(
        [
            {"signal": "vpin", "target": "rv", "n": 12},
            {
                "signal": "imb",
                "target": "m",
                "n": 900,
                "mutual_information": 0.0123456,
                "p_value": 0.005,
                "slope_per_day": -0.00012,
            },
        ]
    )
    assert text.splitlines()[2:] == [
        "| vpin | rv | 12 | nan | nan | nan |",
        "| imb | m | 900 | 0.01235 | 0.005 | -0.00012 |",
    ]


def test_with_universe_takes_the_latest_known_universe() -> None:
    from validation.screening.market_screen import with_universe

    screened = pl.DataFrame({"coin": ["A", "B", "xyz:C"], "score": [4, 3, 2]})
    known = pl.DataFrame(
        {
            "coin": ["A", "B", "A", "xyz:C"],
            "date": [DAY - dt.timedelta(days=1)] * 2 + [DAY] * 2,
            "is_delisted": [False, False, True, False],
            "max_leverage": [10, 5, 20, 3],
        }
    )
    found = with_universe(screened, known).sort("coin")
    assert found["in_universe"].to_list() == [True, False, True]
    assert found["is_delisted"].to_list() == [True, None, False] and found["max_leverage"].to_list() == [20, None, 3]
    assert found["dex"].to_list()[2] == "xyz"
    assert with_universe(screened, known.head(0))["in_universe"].null_count() == 3
