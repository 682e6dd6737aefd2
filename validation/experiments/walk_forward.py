"""Walk-forward validation: rolling train/test folds and the only path by which data reaches a fit or a simulation.

A fold is two half-open windows of UTC epoch ms, train ``[train_start_ms, train_end_ms)`` and test
``[test_start_ms, test_end_ms)`` with ``train_end_ms <= test_start_ms``. :func:`run_walk_forward` gives the fit
the train slice of every frame and the evaluation the test slice, both cut by :func:`slice_fold` (through
:func:`fold_parts`, which callers that fit several models per fold iterate themselves), so whatever
is fitted (sigma, kappa, Hawkes, HMM, VPIN thresholds) is refitted on past data only and scored on unseen data.

Leakage the slicing cannot see: a row must be stamped with the time it becomes *known*. A 1 min bar stamped at
its start, or a trade carrying its 5 s markout, is known later than its ``time``; slice such frames on a
known-at column (``time_cols``) or leave an embargo ``gap_ms`` at least as long as the longest look-ahead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

import polars as pl

from calibration.coverage import MAX_GAP_MS, covered_intervals
from data_lake.scalars import as_int
from data_lake.units import DAY_MS, HOUR_MS
from validation.backtest.fold_data import FoldData

DEFAULT_TRAIN_MS = 60 * DAY_MS
DEFAULT_TEST_MS = 7 * DAY_MS
DEFAULT_FOLDS = 4

Part = Literal["train", "test"]
P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Fold:
    """One walk-forward split: train ``[train_start_ms, train_end_ms)`` then test ``[test_start_ms, test_end_ms)``."""

    index: int
    train_start_ms: int
    train_end_ms: int
    test_start_ms: int
    test_end_ms: int

    def __post_init__(self) -> None:
        if not self.train_start_ms < self.train_end_ms <= self.test_start_ms < self.test_end_ms:
            raise ValueError(
                f"fold {self.index}: need train_start < train_end <= test_start < test_end, got "
                f"[{self.train_start_ms}, {self.train_end_ms}) then [{self.test_start_ms}, {self.test_end_ms})"
            )

    def window(self, part: Part) -> tuple[int, int]:
        """``(start_ms, end_ms)`` of the train or test window."""
        if part == "train":
            return self.train_start_ms, self.train_end_ms
        if part == "test":
            return self.test_start_ms, self.test_end_ms
        raise ValueError(f"part must be 'train' or 'test', got {part!r}")

    @property
    def gap_ms(self) -> int:
        """Embargo between the end of train and the start of test."""
        return self.test_start_ms - self.train_end_ms


def rolling_folds(
    start_ms: int,
    end_ms: int,
    train_ms: int = DEFAULT_TRAIN_MS,
    test_ms: int = DEFAULT_TEST_MS,
    step_ms: int | None = None,
    min_train_ms: int | None = None,
    *,
    gap_ms: int = 0,
) -> list[Fold]:
    """Rolling folds over ``[start_ms, end_ms)``: tests every ``step_ms`` (default ``test_ms``), each after up to
    ``train_ms`` of history.

    The first test starts once ``min_train_ms`` (default ``train_ms``) of history and the embargo ``gap_ms`` have
    passed; until ``train_ms`` is available the train window grows from ``start_ms`` (expanding), then it rolls.
    Only whole test windows are kept. With ``step_ms == test_ms`` the tests tile the span without overlap.
    """
    step = test_ms if step_ms is None else step_ms
    min_train = train_ms if min_train_ms is None else min_train_ms
    _check_fold_lengths(train_ms, test_ms, step, min_train, gap_ms)
    first_test = start_ms + min_train + gap_ms
    if first_test + test_ms > end_ms:
        raise ValueError(
            f"span [{start_ms}, {end_ms}) of {end_ms - start_ms} ms holds no fold: one needs "
            f"min_train_ms + gap_ms + test_ms = {min_train + gap_ms + test_ms} ms"
        )
    count = (end_ms - first_test - test_ms) // step + 1
    return [_fold(k, start_ms, first_test + k * step, train_ms, test_ms, gap_ms) for k in range(count)]


@dataclass(frozen=True)
class FoldPlan:
    """The nightly walk-forward's folds: ``n_folds`` rolling folds of ``train_hours`` then ``test_hours`` that end
    with the validated day, cut short where the data start (60 d / 7 d / 4 folds by default)."""

    train_hours: float = DEFAULT_TRAIN_MS / HOUR_MS
    test_hours: float = DEFAULT_TEST_MS / HOUR_MS
    n_folds: int = DEFAULT_FOLDS
    """Folds wanted; fewer when the data start later than n_folds test windows after a full train."""

    def train_ms(self) -> int:
        return round(self.train_hours * HOUR_MS)

    def test_ms(self) -> int:
        return round(self.test_hours * HOUR_MS)

    def lookback_ms(self) -> int:
        """How far before its end the walk-forward reads: one train window and ``n_folds`` test windows."""
        return self.train_ms() + self.n_folds * self.test_ms()

    def one_fold_ms(self) -> int:
        """Covered time one fold needs: one train and one test window."""
        return self.train_ms() + self.test_ms()

    def no_fold_reason(self, covered: int, date: dt.date) -> str:
        """Why there is no fold when the book covers ``covered`` ms of the lookback ending with ``date``."""
        return (
            f"no fold: the book covers {covered / HOUR_MS:.2f} h of the {self.lookback_ms() / HOUR_MS:g} h up to the "
            f"end of {date} (gaps over {MAX_GAP_MS // 1000} s left out); one fold needs "
            f"{self.one_fold_ms() / HOUR_MS:g} h covered (train_hours {self.train_hours:g} + test_hours "
            f"{self.test_hours:g}), {self.n_folds} folds {self.lookback_ms() / HOUR_MS:g} h; fold lengths: "
            f"python -m pipelines.run --train-hours/--test-hours/--folds, or walk_forward_assets' run config"
        )

    def folds(self, first_ms: int, end_ms: int) -> list[Fold]:
        """``n_folds`` folds ending at ``end_ms``, none reaching before ``first_ms``; none when [first_ms, end_ms)
        is shorter than one train and one test window."""
        start = max(end_ms - self.lookback_ms(), first_ms)
        if end_ms - start < self.one_fold_ms():
            return []
        return rolling_folds(start, end_ms, train_ms=self.train_ms(), test_ms=self.test_ms())


def _check_fold_lengths(train_ms: int, test_ms: int, step_ms: int, min_train_ms: int, gap_ms: int) -> None:
    if min(train_ms, test_ms, step_ms, min_train_ms) <= 0:
        raise ValueError("train_ms, test_ms, step_ms and min_train_ms must be positive")
    if min_train_ms > train_ms:
        raise ValueError(f"min_train_ms {min_train_ms} exceeds train_ms {train_ms}")
    if gap_ms < 0:
        raise ValueError(f"gap_ms must be >= 0, got {gap_ms}")


def _fold(index: int, start_ms: int, test_start_ms: int, train_ms: int, test_ms: int, gap_ms: int) -> Fold:
    train_end = test_start_ms - gap_ms
    return Fold(index, max(start_ms, train_end - train_ms), train_end, test_start_ms, test_start_ms + test_ms)


def covered_ms(times: pl.Series, max_gap_ms: int = MAX_GAP_MS) -> int:
    """Time (ms) that observations at ``times`` (UTC epoch ms) cover: the sum of the intervals between consecutive
    distinct times, leaving out every interval longer than ``max_gap_ms`` (a capture gap). 44 minutes of 0.5 s
    book snapshots cover 44 minutes wherever they lie in a day, which neither their calendar span nor their count
    says. The rule is :func:`calibration.coverage.covered_intervals`' (the fits' exposure), over the times' own
    span."""
    present = times.drop_nulls()
    if present.len() < 2:
        return 0
    start_ms, end_ms = as_int(present.min(), "first time"), as_int(present.max(), "last time")
    intervals = covered_intervals(present, start_ms=start_ms, end_ms=end_ms, max_gap_ms=max_gap_ms)
    return int((intervals[:, 1] - intervals[:, 0]).sum())


def slice_fold(frame: pl.DataFrame, fold: Fold, part: Part, time_col: str = "time") -> pl.DataFrame:
    """Rows of ``frame`` whose ``time_col`` (integer UTC epoch ms) lies in the fold's half-open train or test window."""
    return _slice(frame, fold.window(part), time_col)


def slice_window(
    data: Mapping[str, pl.DataFrame], window: tuple[int, int], time_cols: Mapping[str, str] | None = None
) -> FoldData:
    """Every frame cut to the half-open ``window`` as :func:`slice_data` cuts a fold's part (``time_cols`` names a
    frame's known-at column), in a :class:`FoldData` that keeps what the variants derive from them."""
    cols = time_cols or {}
    return FoldData({name: _slice(frame, window, cols.get(name, "time")) for name, frame in data.items()})


def _slice(frame: pl.DataFrame, window: tuple[int, int], time_col: str) -> pl.DataFrame:
    lo, hi = window
    if time_col not in frame.columns:
        raise ValueError(f"frame has no time column {time_col!r}; columns: {frame.columns}")
    if not frame.schema[time_col].is_integer():
        raise TypeError(f"time column {time_col!r} must hold integer epoch ms, got {frame.schema[time_col]}")
    return frame.filter(pl.col(time_col).is_between(lo, hi, closed="left"))


@dataclass(frozen=True)
class FoldResult(Generic[P, R]):
    """What one fold fitted and scored, with its windows and the rows each frame contributed per part."""

    fold: Fold
    params: P
    result: R
    n_train: dict[str, int]
    n_test: dict[str, int]


def slice_data(
    data: Mapping[str, pl.DataFrame], fold: Fold, part: Part, time_cols: Mapping[str, str] | None = None
) -> FoldData:
    """:func:`slice_fold` of every frame; ``time_cols`` names a frame's known-at column when it is not ``time``."""
    return slice_window(data, fold.window(part), time_cols)


def fold_parts(
    folds: Sequence[Fold], data: Mapping[str, pl.DataFrame], time_cols: Mapping[str, str] | None = None
) -> Iterator[tuple[Fold, FoldData, FoldData]]:
    """Per fold, in order, the fold with its train and test slices (:func:`slice_data`); each pair is built when
    asked for, so a caller that drops it releases it before the next fold."""
    for fold in folds:
        yield fold, slice_data(data, fold, "train", time_cols), slice_data(data, fold, "test", time_cols)


def run_walk_forward(
    folds: Sequence[Fold],
    data: Mapping[str, pl.DataFrame],
    fit: Callable[[FoldData], P],
    evaluate: Callable[[P, FoldData, Fold], R],
    *,
    time_cols: Mapping[str, str] | None = None,
) -> list[FoldResult[P, R]]:
    """Per fold: ``params = fit(train slices)``, then ``evaluate(params, test slices, fold)``; each part's
    :class:`FoldData` (and what was derived from it) is released when the fold is done.

    The fit sees only rows of ``[train_start_ms, train_end_ms)`` and the evaluation only rows of
    ``[test_start_ms, test_end_ms)``; errors (e.g. ``InsufficientSamples``) propagate to the caller.
    """
    results: list[FoldResult[P, R]] = []
    for fold, train, test in fold_parts(folds, data, time_cols):
        params = fit(train)
        results.append(
            FoldResult(
                fold=fold,
                params=params,
                result=evaluate(params, test, fold),
                n_train={name: frame.height for name, frame in train.items()},
                n_test={name: frame.height for name, frame in test.items()},
            )
        )
    return results


def concat_test_frames(results: Sequence[FoldResult[P, R]], frame_of: Callable[[R], pl.DataFrame]) -> pl.DataFrame:
    """The out-of-sample frames of every fold stacked in fold order, with a leading ``fold`` column."""
    frames = [frame_of(r.result).with_columns(fold=pl.lit(r.fold.index, dtype=pl.Int64)) for r in results]
    if not frames:
        return pl.DataFrame(schema={"fold": pl.Int64})
    stacked = pl.concat(frames, how="vertical")
    return stacked.select("fold", pl.exclude("fold"))
