"""The promotion gate on constructed evidence: real calibration figures, paired out-of-sample P&L."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from data_lake.param_schema import json_safe
from validation.decisions.promotion_gate import GateConfig, build_evidence, evaluate_gate
from validation.statistics.calibration_metrics import adverse_selection_calibration, calibration_metrics
from validation.statistics.significance import MultipleComparison, component_verdict

HOUR_MS = 3_600_000
N_PERIODS = 96


def _calibration(seed: int, miscalibrated: bool = False) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    forecast = rng.uniform(0.05, 0.95, 3000)
    filled = rng.random(3000) < (forecast**3 if miscalibrated else forecast)
    predicted = rng.uniform(0.0, 6.0, 3000)
    realised = predicted + (2.5 if miscalibrated else 0.0) + rng.normal(0.0, 2.0, 3000)
    return calibration_metrics(filled, forecast), adverse_selection_calibration(predicted, realised)


def evidence(
    pnl: np.ndarray,
    *,
    oos_fills: int = 800,
    start_ms: int = 0,
    fill_miscalibrated: bool = False,
    adverse_miscalibrated: bool = False,
    data_quality: dict[str, tuple[bool, str]] | None = None,
    spa: MultipleComparison | None = None,
) -> dict[str, Any]:
    fill, _ = _calibration(1, fill_miscalibrated)
    _, adverse = _calibration(2, adverse_miscalibrated)
    starts = [start_ms + i * HOUR_MS for i in range(len(pnl))]
    return build_evidence(
        folds=4,
        oos_fills=oos_fills,
        period_ms=HOUR_MS,
        period_start_ms=starts,
        pnl=pnl,
        fill_calibration=fill,
        adverse_calibration=adverse,
        data_quality=data_quality
        if data_quality is not None
        else {"reconciliation": (True, "0 lost"), "book_crossed": (True, "0 rows")},
        verdicts={"regimes": component_verdict(pnl - 0.1, pnl, n_fills=oos_fills)},
        spa=spa,
        figures={"sharpe_per_period": float(pnl.mean() / pnl.std())},
    )


def pnl(mean: float, seed: int, n: int = N_PERIODS) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, 1.0, n)


def failures(decision: Any) -> list[str]:
    return [r for r in decision.reasons if r.startswith("fail:")]


def test_calibration_fixtures_are_what_the_tests_say() -> None:
    good_fill, good_adverse = _calibration(1)[0], _calibration(2)[1]
    assert good_fill.is_well_calibrated and good_adverse.is_well_calibrated
    assert not _calibration(1, True)[0].is_well_calibrated
    assert not _calibration(2, True)[1].is_well_calibrated


def test_good_first_candidate_is_promoted_against_not_quoting() -> None:
    decision = evaluate_gate(evidence(pnl(0.5, 0)), None)
    assert decision.promote, decision.reasons
    assert failures(decision) == []
    assert any("ok: 800 out-of-sample fills" in r for r in decision.reasons)
    assert any("not significantly worse than not quoting" in r for r in decision.reasons)
    assert "skip: SPA not required" in decision.reasons


def test_insufficient_fills_reject_with_reason() -> None:
    decision = evaluate_gate(evidence(pnl(0.5, 0), oos_fills=120), None)
    assert not decision.promote
    assert failures(decision) == ["fail: 120 out-of-sample fills (at least 200 required)"]


def test_significantly_worse_than_promoted_is_rejected() -> None:
    incumbent = pnl(1.0, 3)
    candidate = incumbent - 0.6 + pnl(0.0, 4) * 0.3
    decision = evaluate_gate(evidence(candidate), evidence(incumbent))
    assert not decision.promote
    [reason] = failures(decision)
    assert reason.startswith("fail: significantly worse than the promoted set at alpha=0.05")


def test_small_degradation_passes_when_not_significant_or_within_the_margin() -> None:
    incumbent = pnl(1.0, 3)
    noise = pnl(0.0, 5)
    noisy = incumbent - 0.05 + (noise - noise.mean())  # 0.05 worse per period, noise sd 1: not significant
    assert evaluate_gate(evidence(noisy), evidence(incumbent)).promote
    worse = incumbent - 0.6 + pnl(0.0, 4) * 0.3
    assert evaluate_gate(evidence(worse), evidence(incumbent), GateConfig(max_degradation_per_period=1.0)).promote
    assert not evaluate_gate(evidence(worse), evidence(incumbent), GateConfig(max_degradation_per_period=0.3)).promote


def test_comparison_needs_shared_periods() -> None:
    decision = evaluate_gate(evidence(pnl(1.0, 0)), evidence(pnl(1.0, 1), start_ms=N_PERIODS * HOUR_MS))
    assert not decision.promote
    assert failures(decision) == [
        "fail: only 0 test periods shared with the promoted set (at least 30); re-run the promoted set on the "
        "candidate's folds"
    ]


def test_losing_first_candidate_is_rejected() -> None:
    decision = evaluate_gate(evidence(pnl(-0.05, 6)), None)
    assert not decision.promote
    assert any(r.startswith("fail: out-of-sample P&L not significantly positive") for r in failures(decision))


@pytest.mark.slow  # Monte Carlo: 450 gate evaluations
def test_a_candidate_without_edge_is_promoted_at_most_at_the_stated_rate() -> None:
    """Zero-mean out-of-sample P&L over 400 seeds: promoted in at most alpha = 5% of them (binomial 99% margin);
    a small real edge (0.4 sd per period over 96 periods) is promoted in most."""
    promoted = sum(evaluate_gate(evidence(pnl(0.0, seed)), None).promote for seed in range(400))
    assert promoted / 400 <= 0.05 + 2.33 * (0.05 * 0.95 / 400) ** 0.5
    assert sum(evaluate_gate(evidence(pnl(0.4, seed)), None).promote for seed in range(50)) >= 40


def test_evidence_without_scored_predictions_fails_with_its_reason() -> None:
    ev = build_evidence(
        folds=4,
        oos_fills=0,
        period_ms=HOUR_MS,
        period_start_ms=[i * HOUR_MS for i in range(40)],
        pnl=[0.0] * 40,
        fill_calibration=None,
        adverse_calibration=None,
        data_quality={"reconciliation": (True, "")},
    )
    reasons = failures(evaluate_gate(ev, None))
    assert "fail: 0 out-of-sample fills (at least 200 required)" in reasons
    assert "fail: no fill-probability calibration (no out-of-sample quote was scored)" in reasons
    assert "fail: no adverse-selection calibration (fewer than 3 out-of-sample fills with a markout)" in reasons


@pytest.mark.parametrize(
    ("kwargs", "reason", "config"),
    [
        (
            {"fill_miscalibrated": True},
            "fail: fill probability not well calibrated",
            GateConfig(require_calibrated_fill_probability=False),
        ),
        (
            {"adverse_miscalibrated": True},
            "fail: adverse selection not well calibrated",
            GateConfig(require_calibrated_adverse_selection=False),
        ),
        (
            {"data_quality": {"reconciliation": (False, "12 records lost"), "book_crossed": (True, "")}},
            "fail: data-quality checks failed: reconciliation (12 records lost)",
            GateConfig(require_data_quality=False),
        ),
        ({"data_quality": {}}, "fail: no data-quality check results", GateConfig(require_data_quality=False)),
    ],
)
def test_required_checks_reject_and_can_be_switched_off(kwargs: dict, reason: str, config: GateConfig) -> None:
    ev = evidence(pnl(0.5, 0), **kwargs)
    decision = evaluate_gate(ev, None)
    assert not decision.promote
    [failure] = failures(decision)
    assert failure.startswith(reason)
    relaxed = evaluate_gate(ev, None, config)
    assert relaxed.promote and any(r.startswith("skip:") and "required" in r for r in relaxed.reasons)


def test_spa_when_required() -> None:
    spa = MultipleComparison(0.2, 0.1, 0.3, 0.3, 0, 5, 1000, N_PERIODS, 3)
    config = GateConfig(spa_alpha=0.05)
    assert failures(evaluate_gate(evidence(pnl(0.5, 0), spa=spa), None, config)) == [
        "fail: SPA (consistent) p=0.3 against the walk-forward baseline (must be < 0.05)"
    ]
    assert evaluate_gate(evidence(pnl(0.5, 0), spa=replace(spa, spa_consistent=0.01)), None, config).promote
    assert not evaluate_gate(evidence(pnl(0.5, 0)), None, config).promote


def test_malformed_evidence_fails_closed_without_raising() -> None:
    ev = evidence(pnl(0.5, 0))
    del ev["calibration"]["fill_probability"]
    ev["walk_forward"]["pnl"] = ev["walk_forward"]["pnl"][:-1]
    decision = evaluate_gate(ev, None)
    assert not decision.promote
    assert len(failures(decision)) == 3  # the fill calibration and both P&L checks
    assert (
        "fail: fill-probability calibration: evidence incomplete: no 'fill_probability' where the check expects it"
        in (decision.reasons)
    )
    assert not evaluate_gate({}, None).promote


def test_missing_walk_forward_evidence_is_a_readable_rejection() -> None:
    """The review saw ``KeyError: 'walk_forward'`` when the walk-forward was skipped; the reason must say why."""
    ev = evidence(pnl(0.5, 0))
    del ev["walk_forward"]
    ev["missing"] = {"walk_forward": "the walk-forward of 2026-01-02 has no complete fold"}
    decision = evaluate_gate(ev, None)
    assert not decision.promote
    assert (
        "fail: out-of-sample fills: no walk_forward evidence for the candidate: the walk-forward of 2026-01-02 "
        "has no complete fold" in decision.reasons
    )
    assert not any("KeyError" in r for r in decision.reasons)
    del ev["missing"]
    assert (
        "fail: out-of-sample fills: no walk_forward evidence for the candidate (the evidence has no such section)"
        in (evaluate_gate(ev, None).reasons)
    )
    incumbent = evidence(pnl(0.5, 0))
    del incumbent["walk_forward"]
    compared = evaluate_gate(evidence(pnl(0.5, 0)), incumbent).reasons
    assert (
        "fail: comparison with the baseline: the promoted set's evidence has no walk_forward section, so nothing to "
        "compare with" in compared
    )


def test_decision_is_the_same_after_storing_the_evidence_as_json() -> None:
    incumbent = pnl(1.0, 3)
    for candidate in (incumbent + 0.1, incumbent - 0.6 + pnl(0.0, 4) * 0.3):
        live, prom = evidence(candidate), evidence(incumbent)
        stored = json.loads(json.dumps(json_safe(live), allow_nan=False))
        assert evaluate_gate(stored, prom) == evaluate_gate(live, prom)
