"""Walk-forward folds and slicing: boundaries, coverage, hours-scale folds, and no future data reaching a fit."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_lake.units import DAY_MS, HOUR_MS, MINUTE_MS
from validation.experiments.walk_forward import (
    MAX_GAP_MS,
    Fold,
    concat_test_frames,
    covered_ms,
    rolling_folds,
    run_walk_forward,
    slice_fold,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def assert_fold_invariants(folds: list[Fold], start: int, end: int) -> None:
    for k, fold in enumerate(folds):
        assert fold.index == k
        assert start <= fold.train_start_ms < fold.train_end_ms <= fold.test_start_ms < fold.test_end_ms <= end
    assert [f.test_start_ms for f in folds] == sorted(f.test_start_ms for f in folds)


def test_default_folds_are_60_day_train_7_day_test_tiling_the_span():
    end = T0 + 90 * DAY_MS
    folds = rolling_folds(T0, end)
    assert len(folds) == 4  # tests start at days 60, 67, 74, 81; a fifth (88..95) would overrun the span
    assert_fold_invariants(folds, T0, end)
    for fold in folds:
        assert fold.train_end_ms == fold.test_start_ms
        assert fold.train_end_ms - fold.train_start_ms == 60 * DAY_MS
        assert fold.test_end_ms - fold.test_start_ms == 7 * DAY_MS
    assert folds[0] == Fold(0, T0, T0 + 60 * DAY_MS, T0 + 60 * DAY_MS, T0 + 67 * DAY_MS)
    assert all(a.test_end_ms == b.test_start_ms for a, b in zip(folds, folds[1:]))  # contiguous, no overlap
    assert folds[-1].test_end_ms == T0 + 88 * DAY_MS


def test_hours_scale_folds_for_a_short_capture():
    end = T0 + 12 * HOUR_MS
    folds = rolling_folds(T0, end, train_ms=2 * HOUR_MS, test_ms=30 * MINUTE_MS)
    assert len(folds) == 20  # 10 hours after the first 2 h of train, in 30 min tests
    assert_fold_invariants(folds, T0, end)
    assert folds[0].test_start_ms == T0 + 2 * HOUR_MS
    assert folds[-1].test_end_ms == end
    covered = np.concatenate([np.arange(f.test_start_ms, f.test_end_ms, MINUTE_MS) for f in folds])
    assert np.array_equal(covered, np.arange(T0 + 2 * HOUR_MS, end, MINUTE_MS))  # every test minute exactly once


def test_expanding_then_rolling_train_with_min_train():
    folds = rolling_folds(T0, T0 + 10 * HOUR_MS, train_ms=4 * HOUR_MS, test_ms=HOUR_MS, min_train_ms=HOUR_MS)
    assert [f.train_start_ms - T0 for f in folds[:5]] == [0, 0, 0, 0, HOUR_MS]
    assert [(f.train_end_ms - f.train_start_ms) // HOUR_MS for f in folds[:5]] == [1, 2, 3, 4, 4]
    assert len(folds) == 9


def test_step_and_embargo():
    folds = rolling_folds(
        T0, T0 + 6 * HOUR_MS, train_ms=HOUR_MS, test_ms=HOUR_MS, step_ms=30 * MINUTE_MS, gap_ms=5 * MINUTE_MS
    )
    assert_fold_invariants(folds, T0, T0 + 6 * HOUR_MS)
    for fold in folds:
        assert fold.gap_ms == 5 * MINUTE_MS
        assert fold.test_start_ms - fold.train_end_ms == 5 * MINUTE_MS
    assert folds[1].test_start_ms - folds[0].test_start_ms == 30 * MINUTE_MS


@given(
    span_min=st.integers(1, 5_000),
    train_min=st.integers(1, 600),
    test_min=st.integers(1, 300),
    step_min=st.integers(1, 300),
    gap_min=st.integers(0, 30),
)
def test_fold_invariants_hold_for_any_lengths(span_min, train_min, test_min, step_min, gap_min):
    end = T0 + span_min * MINUTE_MS
    args = dict(train_ms=train_min * MINUTE_MS, test_ms=test_min * MINUTE_MS, step_ms=step_min * MINUTE_MS)
    if train_min + gap_min + test_min > span_min:
        with pytest.raises(ValueError, match="holds no fold"):
            rolling_folds(T0, end, gap_ms=gap_min * MINUTE_MS, **args)
        return
    folds = rolling_folds(T0, end, gap_ms=gap_min * MINUTE_MS, **args)
    assert_fold_invariants(folds, T0, end)
    assert folds[-1].test_start_ms + step_min * MINUTE_MS + test_min * MINUTE_MS > end  # no whole test left out


def test_span_too_short_and_bad_lengths_raise():
    with pytest.raises(ValueError, match=r"holds no fold: one needs min_train_ms \+ gap_ms \+ test_ms"):
        rolling_folds(T0, T0 + 66 * DAY_MS)
    with pytest.raises(ValueError, match="positive"):
        rolling_folds(T0, T0 + DAY_MS, train_ms=HOUR_MS, test_ms=0)
    with pytest.raises(ValueError, match="exceeds train_ms"):
        rolling_folds(T0, T0 + DAY_MS, train_ms=HOUR_MS, test_ms=HOUR_MS, min_train_ms=2 * HOUR_MS)
    with pytest.raises(ValueError, match="gap_ms"):
        rolling_folds(T0, T0 + DAY_MS, train_ms=HOUR_MS, test_ms=HOUR_MS, gap_ms=-1)
    with pytest.raises(ValueError, match="train_start < train_end <= test_start < test_end"):
        Fold(0, T0, T0 + HOUR_MS, T0 + HOUR_MS - 1, T0 + 2 * HOUR_MS)


def test_slice_fold_is_half_open_and_train_ends_before_test():
    fold = Fold(0, T0 + 10, T0 + 20, T0 + 20, T0 + 30)
    frame = pl.DataFrame({"time": np.arange(T0, T0 + 40, dtype=np.int64)})
    train = slice_fold(frame, fold, "train")["time"].to_list()
    test = slice_fold(frame, fold, "test")["time"].to_list()
    assert train == list(range(T0 + 10, T0 + 20))
    assert test == list(range(T0 + 20, T0 + 30))
    assert max(train) < fold.test_start_ms
    with pytest.raises(ValueError, match="part"):
        slice_fold(frame, fold, "all")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no time column"):
        slice_fold(frame, fold, "train", time_col="ts")
    with pytest.raises(TypeError, match="integer epoch ms"):
        slice_fold(frame.with_columns(pl.col("time").cast(pl.Float64)), fold, "train")


def planted_market(folds: list[Fold]) -> dict[str, pl.DataFrame]:
    """Trades every second with the future planted in them: inside each test window, ``answer`` holds that
    window's mean price (what a fit would need to predict the test perfectly) and ``test_fold`` its fold (else -1);
    and 1 min bars offset by 30 s, stamped ``time`` at their start and ``known_ms`` at their end, so one bar
    straddles each window boundary."""
    rng = np.random.default_rng(7)
    start, end = folds[0].train_start_ms, folds[-1].test_end_ms
    time = np.arange(start, end, 1_000, dtype=np.int64)
    price = 100.0 + np.cumsum(rng.normal(0.0, 0.05, time.size))
    answer = np.zeros(time.size)
    test_fold = np.full(time.size, -1, dtype=np.int64)
    for fold in folds:
        inside = (time >= fold.test_start_ms) & (time < fold.test_end_ms)
        answer[inside] = price[inside].mean()
        test_fold[inside] = fold.index
    trades = pl.DataFrame({"time": time, "px": price, "answer": answer, "test_fold": test_fold})
    bar_start = (pl.col("time") - 30_000) // MINUTE_MS * MINUTE_MS + 30_000
    bars = (
        trades.group_by(time=bar_start)
        .agg(pl.col("px").last(), pl.col("answer").last(), pl.col("test_fold").max())
        .sort("time")
        .with_columns(known_ms=pl.col("time") + MINUTE_MS)
    )
    return {"trades": trades, "bars": bars}


def cheating_fit(received: list[dict[str, pl.DataFrame]]) -> Callable[[dict[str, pl.DataFrame]], float]:
    """A fit that records what it was given and predicts with the latest planted answer it can find."""

    def fit(train: dict[str, pl.DataFrame]) -> float:
        received.append(train)
        planted = (
            pl.concat(
                [
                    train["trades"].select(known="time", answer="answer"),
                    train["bars"].select(known="known_ms", answer="answer"),
                ]
            )
            .filter(pl.col("answer") != 0.0)
            .sort("known")
        )
        return float(planted["answer"][-1]) if planted.height else float(train["trades"]["px"].mean())

    return fit


def test_fit_never_receives_future_rows_and_evaluate_never_receives_train_rows():
    folds = rolling_folds(T0, T0 + 8 * HOUR_MS, train_ms=2 * HOUR_MS, test_ms=HOUR_MS, min_train_ms=HOUR_MS)
    data = planted_market(folds)
    last_answer = float(data["trades"]["answer"][-1])
    assert cheating_fit([])(data) == last_answer  # handed everything, the cheat finds the planted answer

    received_fit: list[dict[str, pl.DataFrame]] = []
    received_eval: list[tuple[Fold, dict[str, pl.DataFrame]]] = []

    def evaluate(estimate: float, test: dict[str, pl.DataFrame], fold: Fold) -> float:
        received_eval.append((fold, test))
        return abs(estimate - float(test["trades"]["px"].mean()))

    results = run_walk_forward(folds, data, cheating_fit(received_fit), evaluate, time_cols={"bars": "known_ms"})

    assert len(received_fit) == len(received_eval) == len(results) == len(folds)
    for fold, train, (eval_fold, test) in zip(folds, received_fit, received_eval):
        assert eval_fold == fold
        for name, time_col in (("trades", "time"), ("bars", "known_ms")):
            assert train[name].height > 0 and test[name].height > 0
            assert train[name][time_col].max() < fold.test_start_ms
            assert train[name][time_col].min() >= fold.train_start_ms
            assert test[name][time_col].min() >= fold.test_start_ms
            assert test[name][time_col].max() < fold.test_end_ms
        # the bar that starts before the test but closes inside it carries test data: it must not be trained on
        assert train["bars"]["time"].max() + MINUTE_MS <= fold.test_start_ms
        assert (train["trades"]["test_fold"] < fold.index).all()  # only earlier folds' tests: the past
        assert (train["bars"]["test_fold"] < fold.index).all()
        assert (test["trades"]["test_fold"] == fold.index).all()
        assert test["bars"]["time"].min() < fold.test_start_ms  # the straddling bar is scored in test, not trained on

    errors = np.array([r.result for r in results])
    assert np.all(errors > 1e-6)  # no fold scored the planted perfect answer
    for r, fold, train, (_, test) in zip(results, folds, received_fit, received_eval):
        assert r.fold == fold
        assert r.n_train == {name: frame.height for name, frame in train.items()}
        assert r.n_test == {name: frame.height for name, frame in test.items()}
        assert r.n_train["trades"] == (fold.train_end_ms - fold.train_start_ms) // 1_000
        assert r.n_test == {"trades": 3_600, "bars": 60}


def test_slicing_bars_on_their_start_would_leak_which_is_why_time_cols_exists():
    folds = rolling_folds(T0, T0 + 4 * HOUR_MS, train_ms=HOUR_MS, test_ms=HOUR_MS)
    data = planted_market(folds)

    def error(estimate: float, test: dict[str, pl.DataFrame], fold: Fold) -> float:
        return abs(estimate - float(test["trades"]["px"].mean()))

    received: list[dict[str, pl.DataFrame]] = []
    leaky = run_walk_forward(folds, data, cheating_fit(received), error)
    assert all((train["bars"]["test_fold"] == fold.index).any() for train, fold in zip(received, folds))
    assert all(r.result < 1e-9 for r in leaky)  # the straddling bar hands the cheat each test's exact answer
    received.clear()
    causal = run_walk_forward(folds, data, cheating_fit(received), error, time_cols={"bars": "known_ms"})
    assert all((train["bars"]["test_fold"] < fold.index).all() for train, fold in zip(received, folds))
    assert all(r.result > 1e-6 for r in causal)


def test_concat_test_frames_stacks_out_of_sample_results_in_fold_order():
    folds = rolling_folds(T0, T0 + 5 * HOUR_MS, train_ms=HOUR_MS, test_ms=HOUR_MS)
    data = planted_market(folds)
    results = run_walk_forward(
        folds,
        data,
        lambda train: float(train["trades"]["px"].tail(1).item()),
        lambda last, test, fold: test["trades"].select("time", error=pl.col("px") - last),
    )
    oos = concat_test_frames(results, lambda frame: frame)
    assert oos.columns == ["fold", "time", "error"]
    assert oos["fold"].unique().to_list() == [0, 1, 2, 3]
    assert oos["time"].to_list() == list(range(folds[0].test_start_ms, folds[-1].test_end_ms, 1_000))
    assert concat_test_frames([], lambda frame: frame).columns == ["fold"]


def test_covered_time_counts_44_minutes_of_snapshots_spread_over_35_hours_as_44_minutes():
    """The review's case: 44 one-minute bursts of 0.5 s book snapshots, one every 48 min over 35 h, cover 44 min."""
    bursts = [T0 + k * 48 * MINUTE_MS + np.arange(0, MINUTE_MS + 1, 500) for k in range(44)]
    times = pl.Series("time", np.concatenate(bursts))
    assert (times.max() - times.min()) / HOUR_MS > 34  # the calendar span the old message reported
    assert covered_ms(times) == 44 * MINUTE_MS


def test_covered_time_leaves_out_gaps_and_ignores_order_duplicates_and_nulls():
    times = pl.Series("time", [T0 + 90_000, T0, T0 + 30_000, T0 + 30_000, None, T0 + 10 * MINUTE_MS], dtype=pl.Int64)
    # 0 -> 30 s and 30 s -> 90 s count (the second at the limit); 90 s -> 10 min is a gap
    assert MAX_GAP_MS == 60_000
    assert covered_ms(times) == 30_000 + 60_000
    assert covered_ms(times, max_gap_ms=59_999) == 30_000
    assert covered_ms(pl.Series("time", [T0], dtype=pl.Int64)) == 0
    assert covered_ms(pl.Series("time", [], dtype=pl.Int64)) == 0
