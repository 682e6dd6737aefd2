"""The fold cache: a second walk-forward on the same demo market reads every fold back and its run equals the first;
a changed input row, config or code version recomputes exactly the folds it touches; a damaged entry is recomputed
with a warning, never trusted; pruning deletes exactly the entries that can no longer be served (local and S3)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from calibration.fit_result import InsufficientSamples
from data_lake.lake import Lake, LakeFiles
from data_lake.units import DAY_MS
from tests import services
from tests.test_variants import CONFIG, DEMO, HOUR_MS
from validation.experiments.fold_cache import ROOT, FoldCache, RowHashes, fold_key, prune
from validation.experiments.lead_lag_variant import LEAD_LAG
from validation.experiments.out_of_sample import VariantOutcome
from validation.experiments.variant_types import BASELINE, FittedSummary
from validation.experiments.walk_forward import fold_parts, rolling_folds
from validation.experiments.walk_forward_run import TIME_COLS, WalkForwardRun, walk_forward, with_known_at

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
def test_row_hashes_taken_once_give_every_fold_part_the_fingerprint_of_its_own_slice(
    frames: dict[str, pl.DataFrame],
) -> None:
    """The run hashes its rows once (RowHashes) and picks a part's by its window: the keys are those of hashing each
    slice, so a cache written either way serves the other; one changed row changes exactly the parts holding it."""
    known = with_known_at(frames)
    span = (FOLDS[0].train_start_ms, FOLDS[-1].test_end_ms)
    parts = list(fold_parts(FOLDS, known, TIME_COLS))
    hashes = RowHashes.of(known, TIME_COLS, span)
    keys = [fold_key(fold, train, test, CONFIG, "code", hashes) for fold, train, test in parts]
    assert keys == [fold_key(fold, train, test, CONFIG, "code") for fold, train, test in parts]
    moved_at = FOLDS[-1].test_start_ms + 1_000  # a trade of the last fold's test window only
    trades = known["trades"]
    row = trades["time"].search_sorted(moved_at)
    doubled = pl.int_range(pl.len()) == row
    changed = known | {"trades": trades.with_columns(sz=pl.when(doubled).then(pl.col("sz") * 2).otherwise("sz"))}
    changed_hashes = RowHashes.of(changed, TIME_COLS, span)
    changed_keys = [
        fold_key(fold, train, test, CONFIG, "code", changed_hashes)
        for fold, train, test in fold_parts(FOLDS, changed, TIME_COLS)
    ]
    assert [k["test_inputs"]["trades"] != c["test_inputs"]["trades"] for k, c in zip(keys, changed_keys)] == [
        fold.test_start_ms <= trades["time"][row] < fold.test_end_ms for fold in FOLDS
    ]
    assert [k["train_inputs"] == c["train_inputs"] for k, c in zip(keys, changed_keys)] == [
        not fold.train_start_ms <= trades["time"][row] < fold.train_end_ms for fold in FOLDS
    ]


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
    with caplog.at_level(logging.WARNING, logger="validation.experiments.fold_cache"):
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


# -- pruning: hand-built entries of known fate -------------------------------------------------------------------

NOW_CODE = "code-now"
OUTCOME = VariantOutcome(
    fitted=FittedSummary(BASELINE, {"gamma": 0.1}, ("calm",)),
    fills=pl.DataFrame({"pnl": [0.25]}),
    quotes=pl.DataFrame({"filled": [True]}),
    period_pnl=pl.DataFrame({"pnl": [0.25]}),
    beliefs=pl.DataFrame({"calm": [1.0]}),
    final_inventory=0.0,
    orders_sent=2,
)


def entry_key(fold: int, code: str = NOW_CODE) -> dict:
    inputs = {"trades": pl.DataFrame({"sz": [float(fold)]})}
    return fold_key(FOLDS[fold], inputs, inputs, CONFIG, code)


def fill_cache(files: LakeFiles) -> dict[str, dict]:
    """Two current entries (an outcome and a refusal), two stored by other code or libraries and a torn JSON;
    returns the key of the current entries and one for an entry a test ages."""
    now = FoldCache(files, "DEMO", code=NOW_CODE)
    now.store(entry_key(0), BASELINE, OUTCOME)  # current: kept
    now.store(entry_key(0), "+bipower", InsufficientSamples("hawkes", 3, 200))  # current refusal: kept
    FoldCache(files, "DEMO", code="code-before").store(entry_key(1, "code-before"), BASELINE, OUTCOME)
    other_libraries = entry_key(1) | {"libraries": {"polars": "0.0.1"}}
    FoldCache(files, "BTC", code=NOW_CODE).store(other_libraries, BASELINE, OUTCOME)
    files.write(f"{ROOT}/DEMO/torn/{BASELINE}.json", b'{"key": ')
    return {"kept": entry_key(0), "aged": entry_key(2)}


def test_pruning_a_local_cache_deletes_exactly_what_can_no_longer_be_served(tmp_path: Path) -> None:
    files = Lake(str(tmp_path)).files()
    keys = fill_cache(files)
    now = FoldCache(files, "DEMO", code=NOW_CODE)
    now.store(keys["aged"], BASELINE, OUTCOME)
    aged = tmp_path / now._base(keys["aged"], BASELINE)
    day_ago = time.time() - 15 * 86_400
    os.utime(f"{aged}.json", (day_ago, day_ago))  # written 15 days ago, past the 14-day retention
    files.write(f"{ROOT}/DEMO/orphan/{BASELINE}/fills.parquet", b"old")  # a writer that died before its JSON
    os.utime(tmp_path / ROOT / "DEMO" / "orphan" / BASELINE / "fills.parquet", (day_ago, day_ago))
    files.write(f"{ROOT}/DEMO/writing/{BASELINE}/fills.parquet", b"new")  # a writer still at work
    now_ms = int(time.time() * 1000)

    report = prune(files, now_ms, code=NOW_CODE)

    assert dict(report.deleted) == {
        "other code or library versions": 2,
        "past the retention window": 1,
        "unreadable entries": 1,
        "Parquet files without an entry": 1,
    }
    assert report.kept == 3 and report.files_deleted == 3 * 5 + 1 + 1
    kept_base = now._base(keys["kept"], BASELINE)
    assert [f.rel for f in files.list_files(ROOT)] == sorted(
        [
            f"{kept_base}.json",
            *(f"{kept_base}/{frame}.parquet" for frame in ("beliefs", "fills", "period_pnl", "quotes")),
            f"{now._base(keys['kept'], '+bipower')}.json",
            f"{ROOT}/DEMO/writing/{BASELINE}/fills.parquet",
        ]
    )
    assert not (tmp_path / ROOT / "BTC").exists() and not (tmp_path / ROOT / "DEMO" / "orphan").exists()
    served = FoldCache(files, "DEMO", code=NOW_CODE)
    outcome = served.load(keys["kept"], BASELINE)
    assert isinstance(outcome, VariantOutcome) and (served.hits, served.rejected) == (1, [])
    assert_frame_equal(outcome.fills, OUTCOME.fills) and outcome.orders_sent == 2
    assert isinstance(served.load(keys["kept"], "+bipower"), InsufficientSamples)

    assert prune(files, now_ms, code=NOW_CODE).deleted == {}  # nothing more to delete
    later = prune(files, now_ms + 15 * DAY_MS, code=NOW_CODE)  # two weeks on, everything has aged out
    assert (later.kept, dict(later.deleted)) == (
        0,
        {"past the retention window": 2, "Parquet files without an entry": 1},
    )
    assert files.list_files(ROOT) == [] and not (tmp_path / ROOT).exists()


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    with services.moto_s3_or_skip("smallfish-folds") as aws:
        yield aws


def test_pruning_an_s3_cache_deletes_the_stale_entries_and_keeps_the_current_ones(s3: dict[str, str]) -> None:
    files = Lake("s3://smallfish-folds/lake", storage_options=s3).files()
    keys = fill_cache(files)
    now_ms = int(time.time() * 1000)
    report = prune(files, now_ms, code=NOW_CODE)
    assert (report.kept, dict(report.deleted)) == (2, {"other code or library versions": 2, "unreadable entries": 1})
    served = FoldCache(files, "DEMO", code=NOW_CODE)
    assert isinstance(served.load(keys["kept"], BASELINE), VariantOutcome) and served.hits == 1
    assert {f.rel.split("/")[1] for f in files.list_files(ROOT)} == {"DEMO"}
    assert prune(files, now_ms + 15 * DAY_MS, code=NOW_CODE).deleted == {"past the retention window": 2}
    assert files.list_files(ROOT) == []
