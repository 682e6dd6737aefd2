"""Component verdicts: add / keep simple / no fix / untested from known failures and known improvements, the
multiple-testing control, the weakness ranking, a walk-forward of the demo market, and ``smallfish diagnose``."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.multitest import multipletests

from data_lake.lake import Lake
from quoting.cli.main import main
from tests.test_prediction_checks import minute_bars, two_windows
from tests.test_variants import CONFIG, DEMO, HOUR_MS
from validation.decisions.component_verdict import (
    DIAGNOSES,
    addition_evidence,
    component_verdicts,
    diagnose_run,
    diagnosis_section,
    holm_adjusted,
    verdict_frame,
)
from validation.experiments.prediction_checks import SimpleEvidence, not_evaluated, volatility_check
from validation.experiments.variant_types import BASELINE
from validation.experiments.walk_forward import rolling_folds
from validation.experiments.walk_forward_run import walk_forward
from validation.reporting.report import build_report
from validation.statistics.significance import Verdict, component_verdict

ALPHA = 0.05
TRIALS = (BASELINE, "+bipower", "+hmm_blending", "+vpin_widening")
UNTOUCHED = {d.component: not_evaluated("", "not part of this case") for d in DIAGNOSES}


def period_pnl(gain: float, seed: int, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Baseline per-period P&L and a variant's = baseline + gain + noise."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 1.0, n)
    return base, base + gain + rng.normal(0.0, 0.5, n)


def verdicts_with(bipower_gain: float, seed: int) -> dict[str, Verdict]:
    """Walk-forward verdicts of three variants on 600 periods (5 000 fills): +bipower gains ``bipower_gain`` per
    period, the other two nothing."""
    out = {}
    for k, (name, gain) in enumerate({"+bipower": bipower_gain, "+hmm_blending": 0.0, "+vpin_widening": 0.0}.items()):
        base, variant = period_pnl(gain, seed + k)
        out[name] = component_verdict(base, variant, alpha=ALPHA, n_fills=5_000)
    return out


def volatility_row(sigma_true: float, bipower_gain: float, seed: int) -> dict:
    """The volatility row's verdict when the forecast is 1e-4 and the truth ``sigma_true``."""
    simple = UNTOUCHED | {"bipower": volatility_check(minute_bars(sigma_true, 600, seed), two_windows(1e-4))}
    additions = addition_evidence(verdicts_with(bipower_gain, seed), TRIALS)
    rows = verdict_frame(component_verdicts(simple, additions, ALPHA), ALPHA)
    return rows.filter(pl.col("component") == "bipower").row(0, named=True)


def test_misforecast_volatility_fixed_by_bipower_is_add() -> None:
    row = volatility_row(sigma_true=1.5e-4, bipower_gain=0.3, seed=20)
    assert row["verdict"] == "add" and row["rank"] == 1
    assert row["simple_effect"] == pytest.approx(2.25, rel=0.03) and row["simple_p"] < 1e-6
    assert row["addition_effect"] == pytest.approx(0.3, abs=0.06)
    assert row["addition_p"] <= row["adjusted_p"] < ALPHA and row["adjustment"] == "Holm over 3 trials"
    assert row["reason"].startswith("simple fails: realised variance 2.2")


def test_calibrated_volatility_is_keep_simple_whatever_bipower_does() -> None:
    row = volatility_row(sigma_true=1e-4, bipower_gain=0.3, seed=21)
    assert row["verdict"] == "keep simple" and row["simple_p"] >= ALPHA
    assert row["simple_effect"] == pytest.approx(1.0, abs=0.03)
    assert row["adjusted_p"] < ALPHA  # the addition helps, but there is no weakness for it to fix
    assert row["reason"].startswith("simple not shown to fail")
    assert row["reason"].endswith("without a diagnosed weakness")


def test_failing_volatility_with_a_useless_addition_is_no_fix() -> None:
    row = volatility_row(sigma_true=1.5e-4, bipower_gain=0.0, seed=22)
    assert row["verdict"] == "no fix" and row["simple_p"] < ALPHA
    assert row["adjusted_p"] >= ALPHA and abs(row["addition_effect"]) < 0.1
    assert "does not significantly help" in row["reason"]


def hand_verdict(p_value: float, effect: float = 0.1, decision: str = "keep") -> Verdict:
    return Verdict(decision, p_value, 600, effect, (0.0, 0.2), 500.0)


def failing(p_value: float = 1e-9, statistic: float = 8.0) -> SimpleEvidence:
    return SimpleEvidence("t", statistic, p_value, 1_000, 900.0, 2.0, "x", "planted failure")


def test_a_raw_significant_addition_is_no_fix_once_the_other_trials_are_counted() -> None:
    """p = 0.03 alone would pass; Holm over three distinct trials makes it 0.09. A variant whose P&L equals the
    baseline's is no trial and takes adjusted p 1; too few fills is never a fix."""
    verdicts = {
        "+bipower": hand_verdict(0.03),
        "+hmm_blending": hand_verdict(0.5),
        "+vpin_widening": hand_verdict(0.6),
        "+uncertainty_widening": hand_verdict(1.0, effect=0.0, decision="remove"),
    }
    additions = addition_evidence(verdicts, TRIALS, same_as={"+uncertainty_widening": BASELINE})
    assert additions["+bipower"].adjusted_p == pytest.approx(0.09)
    assert additions["+uncertainty_widening"].adjusted_p == 1.0 and additions["+bipower"].n_trials == 3
    simple = UNTOUCHED | {"bipower": failing(), "vpin_widening": failing(1e-8)}
    additions["+vpin_widening"] = addition_evidence(
        {"+vpin_widening": hand_verdict(1e-6, decision="insufficient evidence")}, (BASELINE, "+vpin_widening")
    )["+vpin_widening"]
    rows = {v.diagnosis.component: v for v in component_verdicts(simple, additions, ALPHA)}
    assert rows["bipower"].verdict == "no fix" and "Holm over 3 trials 0.09" in rows["bipower"].reason
    assert rows["vpin_widening"].verdict == "no fix"
    assert "fewer than 200 independent fills" in rows["vpin_widening"].reason


def test_rows_rank_the_largest_weakness_first() -> None:
    simple = {
        "bipower": failing(0.2, 1.3),
        "hawkes": failing(0.0, 10.0),
        "hmm_blending": failing(1e-8, 6.0),
        "vpin_widening": failing(0.0, 30.0),
        "lead_lag": not_evaluated("", "no leader data (BTC mids absent over the test windows)"),
    }
    rows = component_verdicts(simple, {}, ALPHA)
    assert [v.diagnosis.component for v in rows] == ["vpin_widening", "hawkes", "hmm_blending", "bipower", "lead_lag"]
    assert [v.rank for v in rows] == [1, 2, 3, 4, 5]
    by = {v.diagnosis.component: v for v in rows}
    assert by["bipower"].verdict == "keep simple"
    assert by["hawkes"].verdict == "untested" and "no +hawkes variant ran" in by["hawkes"].reason
    assert by["lead_lag"].verdict == "untested" and by["lead_lag"].reason == (
        "not evaluated: no leader data (BTC mids absent over the test windows)"
    )


@pytest.mark.slow  # walk-forward of four variants over three folds
def test_walk_forward_of_the_demo_market_diagnoses_its_regimes(demo_frames: dict[str, pl.DataFrame]) -> None:
    """Three 2 h test windows of the demo day, baseline and three ablations. The demo's informed flow is 0.05 of
    taker orders in the calm regime and 0.4 in the volatile one, so the simple quoter's edge per fill must differ by
    the causal HMM state; +hawkes is not among these variants and the demo has no leader."""
    frames = demo_frames
    folds = rolling_folds(DEMO.start_ms, DEMO.start_ms + 9 * HOUR_MS, train_ms=3 * HOUR_MS, test_ms=2 * HOUR_MS)
    run = walk_forward(folds, frames, CONFIG, variants=TRIALS)
    assert run.complete_folds == (0, 1, 2) and run.baseline_fills["fold"].n_unique() == 3
    rows = verdict_frame(diagnose_run(run, frames, CONFIG, leader="BTC", leader_mids=None), run.alpha)
    assert rows["rank"].to_list() == [1, 2, 3, 4, 5] and set(rows["component"]) == {d.component for d in DIAGNOSES}
    by = {r["component"]: r for r in rows.iter_rows(named=True)}
    regime = by["hmm_blending"]
    assert regime["simple_p"] < 1e-4 and regime["simple_effect"] > 1.0  # bps per fill between the states
    assert "volatile -" in regime["reason"] and regime["verdict"] in {"add", "no fix"}
    assert by["hawkes"]["simple_n"] == run.baseline_quotes.height and by["hawkes"]["adjusted_p"] is None
    assert by["lead_lag"]["verdict"] == "untested" and "no leader data" in by["lead_lag"]["reason"]
    assert rows.row(4, named=True)["component"] in {"lead_lag", "bipower"}  # unevaluated rows come last
    for name in ("bipower", "hmm_blending", "vpin_widening"):
        row = by[name]
        assert row["adjustment"] == f"Holm over {len(run.trials) - 1} trials"
        assert row["addition_p"] == pytest.approx(run.verdicts[f"+{name}"].p_value)
        assert row["addition_p"] <= row["adjusted_p"] <= 1.0
    html = build_report("demo", [diagnosis_section(rows)])
    assert html.index(by[rows["component"][0]]["prediction"]) < html.index(by[rows["component"][1]]["prediction"])


DAY1, DAY2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)


def write_verdicts(lake: Lake, day: dt.date, bipower_gain: float, sigma_true: float) -> None:
    simple = UNTOUCHED | {
        "bipower": volatility_check(minute_bars(sigma_true, 600, 30), two_windows(1e-4)),
        "hmm_blending": failing(1e-3, 4.0),
    }
    additions = addition_evidence(verdicts_with(bipower_gain, 31), TRIALS)
    rows = verdict_frame(component_verdicts(simple, additions, ALPHA), ALPHA)
    stamp = {
        "coin": "DEMO",
        "date": day,
        "code_version": "test",
        "run_at_ms": 0,
        "test_start_ms": 0,
        "test_end_ms": 600 * 60_000,
    }
    table = rows.with_columns(**{k: pl.lit(v) for k, v in stamp.items()})
    lake.write_partition("diagnosis", table, "DEMO", day)


def test_diagnose_prints_the_latest_verdicts_largest_weakness_first(lake: Lake, capsys: pytest.CaptureFixture) -> None:
    write_verdicts(lake, DAY1, bipower_gain=0.3, sigma_true=1e-4)
    write_verdicts(lake, DAY2, bipower_gain=0.3, sigma_true=1.5e-4)
    assert main(["diagnose", "--coin", "DEMO", "--lake", lake.root]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith(f"DEMO {DAY2}: component verdicts, largest weakness first")
    assert lines[1] == "action: add bipower (fixes volatility, the largest weakness with a fix)"
    table = [line.split()[1] for line in lines[4:9]]
    assert table == ["volatility", "regime", "fill", "adverse", "cross-asset"]
    assert " 1. volatility: simple fails: realised variance 2.2" in text
    assert " 2. regime: simple fails: planted failure (p 0.001); the addition does not significantly help" in text
    assert f"changed since {DAY1}: volatility keep simple -> add" in text

    assert main(["diagnose", "--coin", "DEMO", "--date", str(DAY1), "--lake", lake.root]) == 0
    earlier = capsys.readouterr().out
    assert f"DEMO {DAY1}" in earlier and "action: add nothing; the largest weakness is regime" in earlier

    assert main(["diagnose", "--coin", "NICHE", "--lake", lake.root]) == 1
    assert "no component verdicts for NICHE" in capsys.readouterr().err
    assert main(["diagnose", "--coin", "DEMO", "--date", "2025-12-31", "--lake", lake.root]) == 1
    assert f"days with verdicts: {DAY1}, {DAY2}" in capsys.readouterr().err


def test_the_regime_row_reports_the_regime_component_that_helps() -> None:
    """Blending gamma by regime does not help; quoting only in the states with a train edge does: the regime row
    says add, naming +regime_pull, with both counted as trials."""
    trials = (BASELINE, "+hmm_blending", "+regime_pull")
    additions = addition_evidence({"+hmm_blending": hand_verdict(0.6), "+regime_pull": hand_verdict(1e-6)}, trials)
    assert additions["+regime_pull"].n_trials == 2
    rows = {
        v.diagnosis.component: v for v in component_verdicts(UNTOUCHED | {"hmm_blending": failing()}, additions, ALPHA)
    }
    assert (rows["hmm_blending"].verdict, rows["hmm_blending"].addition.variant) == ("add", "+regime_pull")
    useless = addition_evidence({"+hmm_blending": hand_verdict(0.6), "+regime_pull": hand_verdict(0.7)}, trials)
    rows = {
        v.diagnosis.component: v for v in component_verdicts(UNTOUCHED | {"hmm_blending": failing()}, useless, ALPHA)
    }
    assert (rows["hmm_blending"].verdict, rows["hmm_blending"].addition.variant) == ("no fix", "+hmm_blending")


@pytest.mark.parametrize("seed", range(5))
def test_holm_adjusted_equals_statsmodels_multipletests_exactly(seed: int) -> None:
    """The written-out Holm step-down gives statsmodels' adjusted p-values bit for bit, ties, zeros, ones and a
    value whose adjustment exceeds 1 included (statsmodels' own call runs a full gc.collect() each time)."""
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 0.2, 6), [0.0, 1.0, 0.03, 0.03, 0.6]])
    rng.shuffle(p)
    names = [f"v{k}" for k in range(p.size)]
    got = holm_adjusted(dict(zip(names, p.tolist(), strict=True)))
    want = multipletests(p, method="holm")[1]
    assert [got[n] for n in names] == want.tolist()
    assert holm_adjusted({}) == {}
