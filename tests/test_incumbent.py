"""The promoted set replayed unchanged on the walk-forward's test windows: what the gate pairs a candidate with."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from data_lake.demo_market import demo_coin_configs, simulate
from data_lake.param_schema import Parameters, json_safe
from tests.test_variants import CONFIG, HOUR_MS, demo_lake_frames
from validation.decisions.incumbent import incumbent_period_pnl
from validation.experiments.candidate import CANDIDATE
from validation.experiments.variant_registry import VARIANTS
from validation.experiments.walk_forward import rolling_folds, slice_window
from validation.experiments.walk_forward_run import TIME_COLS, walk_forward, with_known_at

NICHE = next(c for c in demo_coin_configs(1, 3, dt.date(2026, 1, 1)) if c.coin == "NICHE")
FOLDS = rolling_folds(NICHE.start_ms, NICHE.start_ms + 15 * HOUR_MS, train_ms=6 * HOUR_MS, test_ms=3 * HOUR_MS)


@pytest.fixture(scope="module")
def frames() -> dict[str, pl.DataFrame]:
    return demo_lake_frames(simulate(NICHE))


@pytest.mark.slow  # walk-forward of the candidate on the NICHE day, then its replay
def test_replaying_a_folds_candidate_reproduces_its_out_of_sample_pnl(frames: dict[str, pl.DataFrame]) -> None:
    """Promote the candidate fitted on fold 1's train window, replay it on fold 1: the same quotes, the same P&L
    period by period as the walk-forward's own test of it (the gate's pairing is like for like)."""
    run = walk_forward(FOLDS[1:2], frames, CONFIG, variants=("baseline", CANDIDATE))
    train = slice_window(with_known_at(frames), FOLDS[1].window("train"), TIME_COLS)
    fitted = VARIANTS[CANDIDATE].fit(train, CONFIG).parameter_set
    stored = Parameters.from_dict(json.loads(json.dumps(json_safe(fitted))))  # as the registry hands it back
    replay = incumbent_period_pnl(FOLDS[1:2], frames, stored.to_dict(), CONFIG)
    walked = run.pnl.select("fold", "time", pl.col(CANDIDATE).alias("pnl"))
    assert replay.height == walked.height > 30 and replay["pnl"].abs().sum() > 0
    assert replay.equals(walked)


@pytest.mark.slow  # walk-forward of the candidate on the NICHE day, then its replay
def test_a_set_replayed_on_other_windows_is_not_refitted(frames: dict[str, pl.DataFrame]) -> None:
    """Fold 0's set on folds 1 and 2: its P&L differs from each fold's own candidate (no refit happened), and it
    covers exactly those folds' test periods."""
    train = slice_window(with_known_at(frames), FOLDS[0].window("train"), TIME_COLS)
    promoted = VARIANTS[CANDIDATE].fit(train, CONFIG).parameter_set
    run = walk_forward(FOLDS[1:3], frames, CONFIG, variants=("baseline", CANDIDATE))
    replay = incumbent_period_pnl(FOLDS[1:3], frames, promoted, CONFIG)
    assert replay["time"].to_list() == run.pnl["time"].to_list()
    assert not replay["pnl"].equals(run.pnl[CANDIDATE])
