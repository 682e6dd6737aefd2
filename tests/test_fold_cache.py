"""The fold cache: a second walk-forward on the same demo market reads every fold back and its run equals the first;
a changed input row, config or code version recomputes exactly the folds it touches; a damaged entry is recomputed
with a warning, never trusted."""

from __future__ import annotations

import logging
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from data_lake.lake import Lake
from tests.test_variants import CONFIG, DEMO, HOUR_MS
from validation.fold_cache import ROOT, FoldCache
from validation.variants import BASELINE, LEAD_LAG
from validation.walk_forward import rolling_folds
from validation.walk_forward_run import WalkForwardRun, walk_forward

FOLDS = rolling_folds(DEMO.start_ms, DEMO.start_ms + 5 * HOUR_MS, train_ms=2 * HOUR_MS, test_ms=HOUR_MS)
VARIANTS = (BASELINE, "+bipower", LEAD_LAG)
"""Two fitted variants and an optional one that refuses (no leader mids here): outcomes and a refusal are stored."""
ENTRIES = len(FOLDS) * len(VARIANTS)


@pytest.fixture(scope="module")
def frames(demo_frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return demo_frames


@pytest.fixture(scope="module")
def uncached(frames: dict[str, pl.DataFrame]) -> WalkForwardRun:
    return walk_forward(FOLDS, frames, CONFIG, variants=VARIANTS)


def cache_in(root: Path, code: str = "test-code") -> FoldCache:
    return FoldCache(Lake(str(root)).files(), "DEMO", code=code)


def same_record(got: object, want: object) -> bool:
    """Two statistics records (dataclasses holding numbers, tuples and arrays) hold equal values, NaN equal to NaN."""
    if got is None or want is None:
        return got is want
    return all(
        np.array_equal(np.asarray(getattr(got, f.name)), np.asarray(getattr(want, f.name)), equal_nan=True)
        if isinstance(getattr(want, f.name), np.ndarray | float)
        else getattr(got, f.name) == getattr(want, f.name)
        for f in fields(want)
    )


def assert_same_run(got: WalkForwardRun, want: WalkForwardRun) -> None:
    """Every output the assets read: rows, P&L, verdicts, statistics, calibration, evidence frames and beliefs."""
    assert_frame_equal(got.rows, want.rows)
    assert_frame_equal(got.pnl, want.pnl)
    assert got.verdicts == want.verdicts and got.information_ratio == want.information_ratio
    for statistic in ("spa", "dsr", "pbo", "fill_calibration", "adverse_calibration"):
        assert same_record(getattr(got, statistic), getattr(want, statistic)), statistic
    assert (got.complete_folds, got.trials, got.evidence_variant) == (
        want.complete_folds,
        want.trials,
        want.evidence_variant,
    )
    for frame in ("evidence_quotes", "evidence_fills", "baseline_quotes", "baseline_fills"):
        assert_frame_equal(getattr(got, frame), getattr(want, frame))
    assert got.beliefs.keys() == want.beliefs.keys()
    for name in want.beliefs:
        assert_frame_equal(got.beliefs[name], want.beliefs[name])


def test_a_second_run_reads_every_fold_back_and_equals_the_first(
    frames: dict[str, pl.DataFrame], uncached: WalkForwardRun, tmp_path: Path
) -> None:
    first = cache_in(tmp_path)
    cold = walk_forward(FOLDS, frames, CONFIG, variants=VARIANTS, cache=first)
    assert (first.hits, first.misses) == (0, ENTRIES)
    second = cache_in(tmp_path)
    warm = walk_forward(FOLDS, frames, CONFIG, variants=VARIANTS, cache=second)
    assert (second.hits, second.misses, second.rejected) == (ENTRIES, 0, [])
    assert len(uncached.complete_folds) == len(FOLDS) and uncached.pnl.height == len(FOLDS) * 60
    assert_same_run(cold, uncached)
    assert_same_run(warm, uncached)
    refusals = warm.rows.filter(pl.col("variant") == LEAD_LAG)["warnings"]
    assert refusals.str.contains("leader").all()  # the refusal's own words, read back from the cache


def test_a_changed_input_row_recomputes_only_the_folds_that_read_it(
    frames: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    walk_forward(FOLDS, frames, CONFIG, variants=VARIANTS, cache=cache_in(tmp_path))
    last_test = FOLDS[-1].window("test")
    trades = frames["trades"]
    changed = trades["time"].is_between(*last_test, closed="left").arg_true()[10]  # in the last test only
    edited = dict(
        frames,
        trades=trades.with_columns(
            pl.when(pl.int_range(pl.len()) == changed).then(pl.col("sz") * 7).otherwise(pl.col("sz")).alias("sz")
        ),
    )
    cache = cache_in(tmp_path)
    run = walk_forward(FOLDS, edited, CONFIG, variants=VARIANTS, cache=cache)
    assert (cache.hits, cache.misses) == (ENTRIES - len(VARIANTS), len(VARIANTS))
    assert_same_run(run, walk_forward(FOLDS, edited, CONFIG, variants=VARIANTS))


@pytest.mark.slow  # walk-forward runs over the demo day
def test_a_changed_config_or_code_version_recomputes_every_fold(
    frames: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    walk_forward(FOLDS, frames, CONFIG, variants=VARIANTS, cache=cache_in(tmp_path))
    wider = replace(CONFIG, min_spread_bps=CONFIG.min_spread_bps + 2.0)
    by_config = cache_in(tmp_path)
    walk_forward(FOLDS, frames, wider, variants=VARIANTS, cache=by_config)
    by_code = cache_in(tmp_path, code="test-code-2")
    walk_forward(FOLDS, frames, CONFIG, variants=VARIANTS, cache=by_code)
    assert (by_config.hits, by_config.misses) == (0, ENTRIES)
    assert (by_code.hits, by_code.misses) == (0, ENTRIES)


def test_a_corrupt_or_partial_entry_is_recomputed_with_a_warning(
    frames: dict[str, pl.DataFrame], uncached: WalkForwardRun, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    walk_forward(FOLDS, frames, CONFIG, variants=VARIANTS, cache=cache_in(tmp_path))
    entries = sorted((tmp_path / ROOT / "DEMO").iterdir())
    assert len(entries) == len(FOLDS)
    (entries[0] / "baseline" / "fills.parquet").write_bytes(b"not parquet")  # damaged frame
    (entries[1] / "+bipower" / "quotes.parquet").unlink()  # partial: a frame missing
    (entries[2] / "baseline.json").write_text('{"key": ')  # torn JSON
    cache = cache_in(tmp_path)
    with caplog.at_level(logging.WARNING, logger="validation.fold_cache"):
        run = walk_forward(FOLDS, frames, CONFIG, variants=VARIANTS, cache=cache)
    assert (cache.hits, cache.misses) == (ENTRIES - 3, 3)
    reasons = " | ".join(cache.rejected)
    assert "fills.parquet does not match its checksum" in reasons
    assert "quotes.parquet is missing" in reasons and "unreadable JSON" in reasons
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 3
    assert_same_run(run, uncached)
    healed = cache_in(tmp_path)  # the recomputed entries were written again
    walk_forward(FOLDS, frames, CONFIG, variants=VARIANTS, cache=healed)
    assert (healed.hits, healed.rejected) == (ENTRIES, [])
