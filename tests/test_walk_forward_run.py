"""All variants over hour-scale walk-forward folds of the demo market: rows, evidence, and no look-ahead."""

from __future__ import annotations

import json
from dataclasses import replace

import polars as pl
import pytest

from tests.test_variants import CONFIG, DEMO, HOUR_MS
from validation.decisions.component_verdict import refused_additions
from validation.experiments.lead_lag_variant import LEAD_LAG
from validation.experiments.variant_types import BASELINE
from validation.experiments.variants import ABLATIONS
from validation.experiments.walk_forward import rolling_folds
from validation.experiments.walk_forward_run import POOLED, WalkForwardRun, walk_forward

SPAN_HOURS = 8
FOLDS = rolling_folds(DEMO.start_ms, DEMO.start_ms + SPAN_HOURS * HOUR_MS, train_ms=3 * HOUR_MS, test_ms=HOUR_MS)
CUT = FOLDS[2].test_start_ms
"""Planted future information starts here: folds 0-2 train before it, folds 3-4 after."""


@pytest.fixture(scope="module")
def frames(demo_frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return demo_frames


VARIANTS = {name: variant for name, variant in ABLATIONS.items() if not variant.optional}
"""The baseline and its one-component additions that need no extra data (the candidate has its own tests,
tests/test_candidate.py; ``+lead_lag``, which needs a leader's mids, tests/test_lead_lag_variant.py)."""


@pytest.fixture(scope="module")
def run(frames: dict[str, pl.DataFrame]) -> WalkForwardRun:
    return walk_forward(FOLDS, frames, CONFIG, variants=tuple(VARIANTS))


def planted(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The market rewritten from CUT on: trades 50x larger, returns 30x; bars and markouts that become known only
    after CUT (a bar ending after it, a trade whose 30 s markout ends after it) turned absurd."""
    after = pl.col("time") >= CUT
    out = dict(frames)
    out["trades"] = frames["trades"].with_columns(pl.when(after).then(pl.col("sz") * 50).otherwise(pl.col("sz")))
    out["features"] = frames["features"].with_columns(
        pl.when(pl.col("time") + pl.col("bar_ms") > CUT).then(pl.lit(1.0)).otherwise(pl.col(c)).alias(c)
        for c in ("log_return", "rv", "bv", "ewma_var")
    )
    out["markouts"] = frames["markouts"].with_columns(
        pl.when(pl.col("time") + 30_000 > CUT).then(pl.lit(-500.0)).otherwise(pl.col(c)).alias(c)
        for c in ("markout_5000ms_bps", "adverse_selection_bps")
    )
    return out


def test_every_fold_and_variant_has_a_row_and_the_pooled_evidence(run: WalkForwardRun) -> None:
    rows = run.rows
    per_fold = rows.filter(pl.col("fold") != POOLED)
    assert len(FOLDS) == 5 and per_fold.height == len(FOLDS) * len(VARIANTS)
    assert set(per_fold["status"]) == {"ok"} and run.complete_folds == tuple(range(5))
    assert (per_fold["train_end_ms"] <= per_fold["test_start_ms"]).all()
    assert (per_fold["n_fills"] > 50).all() and (per_fold["n_periods"] == 60).all()
    assert all(json.loads(p)["kappa_px"] > 0 for p in per_fold["params"])
    pooled = rows.filter(pl.col("fold") == POOLED)
    assert pooled["variant"].to_list() == list(VARIANTS)
    for name in VARIANTS:
        folds = per_fold.filter(pl.col("variant") == name)
        row = pooled.filter(pl.col("variant") == name).row(0, named=True)
        assert row["pnl"] == pytest.approx(folds["pnl"].sum())
        assert row["n_fills"] == folds["n_fills"].sum() and row["n_periods"] == 300
    # P&L matrix: 300 paired one-minute periods per variant
    assert run.pnl.height == 300 and run.variant_names == list(VARIANTS)
    assert set(run.verdicts) == set(VARIANTS) - {BASELINE}
    for name, verdict in run.verdicts.items():
        row = pooled.filter(pl.col("variant") == name).row(0, named=True)
        assert verdict is not None and row["verdict"] == verdict.decision
        assert verdict.decision in {"keep", "remove", "insufficient evidence"}
        assert 0.0 <= row["p_value"] <= 1.0 and verdict.n == 300
    assert run.trials == tuple(VARIANTS) and pooled["is_trial"].all()  # every ablation made different trades
    assert run.spa is not None and 0.0 <= run.spa.spa_consistent <= 1.0 and run.spa.n_variants == len(VARIANTS) - 1
    assert run.dsr is not None and run.best_variant in VARIANTS and run.dsr.n_trials == len(VARIANTS)
    assert run.pbo is not None and run.pbo.n_splits == 16 and 0.0 <= run.pbo.pbo <= 1.0
    assert pooled["pbo"].n_unique() == 1 and pooled["spa_p_value"].null_count() == 0
    # calibration of the baseline's predictions over all test quotes and fills (no candidate in this run)
    assert run.evidence_variant == BASELINE
    baseline = pooled.filter(pl.col("variant") == BASELINE).row(0, named=True)
    assert run.fill_calibration is not None and run.fill_calibration.n == baseline["n_quotes"]
    assert run.fill_calibration.brier == pytest.approx(baseline["brier"])
    assert run.adverse_calibration is not None and run.adverse_calibration.n > 200


def test_folds_never_see_data_from_after_their_train_window(
    run: WalkForwardRun, frames: dict[str, pl.DataFrame]
) -> None:
    """Plant absurd data from CUT on: every fit whose train window ends by CUT is unchanged (features and markouts
    are sliced on when they become known), the folds that train after it change."""
    rerun = walk_forward(FOLDS, planted(frames), CONFIG, variants=tuple(VARIANTS))
    key = ["fold", "variant"]
    before = run.rows.filter(pl.col("fold") != POOLED).sort(key)
    after = rerun.rows.filter(pl.col("fold") != POOLED).sort(key)
    trained_before_cut = pl.col("train_end_ms") <= CUT
    assert before.filter(trained_before_cut)["params"].equals(after.filter(trained_before_cut)["params"])
    assert (before.filter(~trained_before_cut)["params"] != after.filter(~trained_before_cut)["params"]).all()
    tested_before_cut = pl.col("test_end_ms") <= CUT
    assert before.filter(tested_before_cut)["pnl"].equals(after.filter(tested_before_cut)["pnl"])


def test_too_few_fills_is_insufficient_evidence(frames: dict[str, pl.DataFrame]) -> None:
    """Quotes 40 bps wide barely fill: whatever the p-values, no component is kept or removed on that evidence."""
    wide = replace(CONFIG, min_spread_bps=80.0)
    short = walk_forward(FOLDS[:2], frames, wide, variants=(BASELINE, "+bipower", "+uncertainty_widening"))
    pooled = short.rows.filter(pl.col("fold") == POOLED)
    assert pooled["n_fills"].max() < 200
    assert {v.decision for v in short.verdicts.values() if v} | set(pooled["verdict"].drop_nulls()) == {
        "insufficient evidence"
    }


def test_the_report_shows_each_variant_minus_the_baseline_and_flags_identical_ones(run: WalkForwardRun) -> None:
    from validation.experiments.walk_forward_run import identical_variants, report_html

    identical = identical_variants(run.pnl, run.variant_names)
    assert [n for n in run.variant_names if n not in identical] == list(run.trials)
    html = report_html(run, "walk-forward", 0)
    assert "Each variant minus the baseline: cumulative per-period P&amp;L difference" in html
    assert "identical_to</th>" in html
    for name, earlier in identical.items():
        assert f"<td>{name}</td><td>{earlier}</td>" in html  # the verdict row names the variant it repeats


def test_an_optional_variant_without_its_data_is_left_out_and_the_others_evidence_stands(
    frames: dict[str, pl.DataFrame],
) -> None:
    """DEMO has no leader: ``+lead_lag`` is refused on every fold, yet both folds stay complete for the others and
    its pooled row says why it was not compared."""
    short = walk_forward(FOLDS[:2], frames, CONFIG, variants=(BASELINE, "+bipower", LEAD_LAG))
    assert short.complete_folds == (0, 1) and short.variant_names == [BASELINE, "+bipower"]
    assert set(short.verdicts) == {"+bipower"} and short.trials == (BASELINE, "+bipower")
    refused = short.rows.filter(pl.col("variant") == LEAD_LAG)
    assert refused.height == 3 and set(refused["status"]) == {"insufficient_samples"}
    pooled = refused.filter(pl.col("fold") == POOLED).row(0, named=True)
    assert pooled["component"] == "lead_lag" and pooled["verdict"] == "insufficient evidence"
    assert "no leader mids" in pooled["warnings"]
    assert short.rows.filter((pl.col("fold") == POOLED) & (pl.col("variant") == "+bipower"))["status"][0] == "ok"
    [(name, evidence)] = refused_additions(short).items()  # what the component verdict says of it
    assert name == LEAD_LAG and evidence.untested.startswith("+lead_lag was not compared: lead_lag: no leader mids")
