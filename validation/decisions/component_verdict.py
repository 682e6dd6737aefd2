"""The nightly verdict per component: does the simple quoter fail where a component would help, and does it help?

The method: compare predictions to actuals, find the largest weakness, add ONE component that targets it, keep it
only if the improvement is significant. Its diagnosis table, one row each here:

| if this prediction is wrong | consider adding | walk-forward variant |
|---|---|---|
| volatility | bipower variation | ``+bipower`` |
| fill rate | Hawkes intensity | ``+hawkes`` |
| regime clearly mattered | HMM regime blending | ``+hmm_blending``, ``+regime_pull`` |
| adverse selection blindsided you | VPIN / toxicity | ``+vpin_widening`` |
| cross-asset correlation hurt you | a lead-lag estimator | ``+lead_lag`` |

The regime row has two regime components, blending gamma by regime and quoting only in the states whose training
edge says so; it reports the one that helps most (both are trials of the multiple-testing adjustment).

Per row, from one walk-forward run (the same run object the ``walk_forward`` table is written from):
(a) "simple fails": :mod:`validation.experiments.prediction_checks` on the BASELINE's out-of-sample predictions over the
complete folds; (b) "addition fixes": the variant's walk-forward :class:`~validation.statistics.significance.Verdict`
(one-sided HAC test of its per-period P&L over the baseline's), its p-value adjusted by Holm (1979, Scand. J.
Statistics 6:65-70) over every distinct trial of the run but the baseline (the variants SPA, DSR and PBO count); a
variant whose P&L equals an earlier one's takes that one's adjusted p-value; (c) the verdict:

- ``add``: the simple version fails at ``alpha`` and the addition significantly improves P&L after the adjustment
  (with at least MIN_INDEPENDENT_FILLS independent fills behind it);
- ``keep simple``: the simple version is not shown to fail;
- ``no fix``: it fails, but the addition does not significantly help;
- ``untested``: no test of (a) (data missing, too little evidence), or it fails and no variant tests the fix.

Largest weakness first: rows are ranked by the p-value of (a), smallest first: the predictions are in different
units (variance ratio, probability, bps), so the strength of the evidence is the only common scale; p-values
that underflow to 0 are ordered by the absolute test statistic, and unevaluated rows come last. The (a) p-values
are per row, not adjusted: a failure alone changes nothing, an ``add`` also needs the adjusted (b).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from data_lake.tables import COMPONENT_VERDICT
from validation.decisions.verdict_text import ADD, KEEP_SIMPLE, NO_FIX, UNTESTED, action
from validation.experiments.prediction_checks import (
    LeaderMoves,
    SimpleEvidence,
    VolatilityForecast,
    adverse_selection_check,
    fill_probability_check,
    leader_move_check,
    not_evaluated,
    regime_edge_check,
    volatility_check,
)
from validation.experiments.variant_types import BASELINE, Market, VariantConfig
from validation.experiments.walk_forward_run import POOLED, WalkForwardRun
from validation.reporting.report import ReportSection, diagnosis_table_html, paragraph
from validation.statistics.significance import MIN_INDEPENDENT_FILLS, Verdict

REGIME_BELIEFS_OF = "+hmm_blending"
"""The variant whose causal HMM beliefs assign each baseline fill its regime."""


@dataclass(frozen=True)
class Diagnosis:
    """One row of the method's table: the component that targets a prediction, and what its check tests."""

    component: str
    prediction: str
    alternatives: tuple[str, ...] = ()
    """Other variants that target the same weakness; the row reports the one that helps most (all are trials)."""

    @property
    def variant(self) -> str:
        return f"+{self.component}"


DIAGNOSES = (
    Diagnosis("bipower", "volatility"),
    Diagnosis("hawkes", "fill rate"),
    Diagnosis("hmm_blending", "regime", alternatives=("+regime_pull",)),
    Diagnosis("vpin_widening", "adverse selection"),
    Diagnosis("lead_lag", "cross-asset (leader moves)"),
)


@dataclass(frozen=True)
class AdditionEvidence:
    """(b) of a diagnosis row: the walk-forward verdict of the variant that adds the component.

    ``effect``: mean per-period P&L of the variant minus the baseline's (quote currency per period);
    ``p_value`` the one-sided HAC p-value, ``adjusted_p`` after Holm over ``n_trials`` distinct trials;
    ``decision`` the walk-forward's (``keep`` / ``remove`` / ``insufficient evidence``). ``untested`` says why
    there is no evidence (no such variant, no paired periods).
    """

    variant: str
    effect: float = math.nan
    p_value: float = math.nan
    adjusted_p: float = math.nan
    n_trials: int = 0
    decision: str = ""
    untested: str = ""

    def helps(self, alpha: float) -> bool:
        """Significantly better than the baseline after the multiple-testing adjustment, on enough fills."""
        return (
            not self.untested
            and self.decision != "insufficient evidence"
            and self.adjusted_p < alpha
            and self.effect > 0
        )

    @property
    def adjustment(self) -> str:
        return f"Holm over {self.n_trials} trials" if self.n_trials else ""


def holm_adjusted(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm's (1979) step-down adjusted p-values, by name: the i-th smallest of m p-values times (m - i), made
    monotone by a running maximum and capped at 1. These are the very operations of
    :func:`statsmodels.stats.multitest.multipletests` with ``method="holm"`` (the tests pin the equality), written
    out because that function runs a full ``gc.collect()`` on every Holm call: ~0.3 s in a walk-forward's process,
    for a handful of p-values."""
    if not p_values:
        return {}
    p = np.asarray(list(p_values.values()), dtype=np.float64)
    order = np.argsort(p)
    stepped = np.maximum.accumulate(p[order] * np.arange(p.size, 0, -1))
    stepped[stepped > 1] = 1
    adjusted = np.empty_like(stepped)
    adjusted[order] = stepped
    return dict(zip(p_values, map(float, adjusted), strict=True))


def addition_evidence(
    verdicts: Mapping[str, Verdict | None], trials: Sequence[str], same_as: Mapping[str, str] | None = None
) -> dict[str, AdditionEvidence]:
    """Per variant with a verdict: its (b). The family is ``trials`` but the baseline (variants with identical P&L
    count once); ``same_as`` maps a variant that is no trial to the earlier column its P&L equals (the baseline:
    adjusted p 1)."""
    family = {
        name: verdict.p_value for name in trials if name != BASELINE and (verdict := verdicts.get(name)) is not None
    }
    adjusted = holm_adjusted(family)
    same_as = same_as or {}
    out = {}
    for name, verdict in verdicts.items():
        if verdict is None:
            out[name] = AdditionEvidence(name, untested=f"{name} had no paired out-of-sample periods")
            continue
        adjusted_p = adjusted.get(name, adjusted.get(same_as.get(name, BASELINE), 1.0))
        out[name] = AdditionEvidence(name, verdict.effect, verdict.p_value, adjusted_p, len(family), verdict.decision)
    return out


def _fmt_p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else f"{p:.2g}"


def decide(simple: SimpleEvidence, addition: AdditionEvidence, alpha: float) -> tuple[str, str]:
    """The verdict of one row and its one-line reason."""
    if not simple.evaluated:
        return UNTESTED, f"not evaluated: {simple.not_evaluated}"
    evidence = f"{simple.summary} (p {_fmt_p(simple.p_value)})"
    gain = (
        f"{addition.variant} {addition.effect:+.4g} quote/period, p {_fmt_p(addition.p_value)}, "
        f"{addition.adjustment} {_fmt_p(addition.adjusted_p)}"
    )
    if not simple.fails(alpha):
        unasked = f"; {gain} without a diagnosed weakness" if addition.helps(alpha) else ""
        return KEEP_SIMPLE, f"simple not shown to fail: {evidence}{unasked}"
    if addition.untested:
        return UNTESTED, f"simple fails: {evidence}; {addition.untested}"
    if addition.helps(alpha):
        return ADD, f"simple fails: {evidence}; fixed by {gain}"
    why = (
        f"fewer than {MIN_INDEPENDENT_FILLS} independent fills behind {addition.variant}"
        if addition.decision == "insufficient evidence"
        else gain
    )
    return NO_FIX, f"simple fails: {evidence}; the addition does not significantly help: {why}"


@dataclass(frozen=True)
class ComponentVerdict:
    """One diagnosis row with its evidence, verdict, reason and weakness rank (1 = largest weakness)."""

    rank: int
    diagnosis: Diagnosis
    simple: SimpleEvidence
    addition: AdditionEvidence
    verdict: str
    reason: str


def _weakness_key(simple: SimpleEvidence) -> tuple[bool, float, float]:
    statistic = abs(simple.statistic) if math.isfinite(simple.statistic) else 0.0
    return (not simple.evaluated, simple.p_value if simple.evaluated else 1.0, -statistic)


def component_verdicts(
    simple: Mapping[str, SimpleEvidence],
    additions: Mapping[str, AdditionEvidence],
    alpha: float = 0.05,
    diagnoses: Sequence[Diagnosis] = DIAGNOSES,
) -> list[ComponentVerdict]:
    """Every diagnosis row's verdict, largest weakness first. ``simple`` is keyed by component, ``additions`` by
    variant name; a component without its variant is untested with the reason."""
    rows = []
    for d in diagnoses:
        addition = _best_addition(d, additions, alpha)
        verdict, reason = decide(simple[d.component], addition, alpha)
        rows.append((d, simple[d.component], addition, verdict, reason))
    ordered = sorted(rows, key=lambda row: _weakness_key(row[1]))
    return [ComponentVerdict(k, *row) for k, row in enumerate(ordered, 1)]


def _best_addition(d: Diagnosis, additions: Mapping[str, AdditionEvidence], alpha: float) -> AdditionEvidence:
    """The row's addition: among its variant and alternatives that ran, the helping one with the smallest adjusted
    p, else the first tested one (the primary variant first); untested with the reason when none ran."""
    found = [additions[v] for v in (d.variant, *d.alternatives) if v in additions]
    if not found:
        return AdditionEvidence(d.variant, untested=f"no {d.variant} variant ran in the walk-forward")
    helping = [a for a in found if a.helps(alpha)]
    if helping:
        return min(helping, key=lambda a: a.adjusted_p)
    return next((a for a in found if not a.untested), found[0])


# ---------------------------------------------------------------------------------------------------------------
# from a walk-forward run


def baseline_forecasts(run: WalkForwardRun) -> list[VolatilityForecast]:
    """The baseline's sigma for each complete fold's test window (from its ``walk_forward`` row's parameters; a
    non-finite sigma is stored as null and comes back NaN, which :func:`volatility_check` leaves out)."""
    rows = run.rows.filter(
        (pl.col("variant") == BASELINE) & (pl.col("fold") != POOLED) & pl.col("fold").is_in(list(run.complete_folds))
    )
    sigmas = [json.loads(r["params"]).get("sigma_log_per_sqrt_s") for r in rows.iter_rows(named=True)]
    return [
        VolatilityForecast(r["test_start_ms"], r["test_end_ms"], math.nan if sigma is None else sigma)
        for r, sigma in zip(rows.iter_rows(named=True), sigmas, strict=True)
    ]


def refused_additions(run: WalkForwardRun) -> dict[str, AdditionEvidence]:
    """The variants the run left out of its comparison (an optional one refused on a complete fold, e.g.
    ``+lead_lag`` without leader data), untested with the reason of their pooled row."""
    refused = run.rows.filter((pl.col("fold") == POOLED) & (pl.col("status") != "ok"))
    return {
        r["variant"]: AdditionEvidence(r["variant"], untested=f"{r['variant']} was not compared: {r['warnings']}")
        for r in refused.iter_rows(named=True)
    }


def _same_as(run: WalkForwardRun) -> dict[str, str]:
    """Each variant that is no trial -> the first earlier column with the same per-period P&L."""
    names = run.variant_names
    matrix = run.pnl.select(names).to_numpy()
    return {
        name: next(names[j] for j in range(k) if np.array_equal(matrix[:, j], matrix[:, k]))
        for k, name in enumerate(names)
        if name not in run.trials
    }


def _variants_by_component(run: WalkForwardRun) -> dict[str, str]:
    """Variant names by the component they add: ``+<component>``, or a pooled row's ``component`` column."""
    pooled = run.rows.filter(pl.col("fold") == POOLED).select("variant", "component")
    named = {r["component"]: r["variant"] for r in pooled.iter_rows(named=True)}
    return {d.variant: named.get(d.component, d.variant) for d in DIAGNOSES}


def diagnose_run(
    run: WalkForwardRun,
    market: Market,
    config: VariantConfig,
    leader: str | None = None,
    leader_mids: pl.DataFrame | None = None,
    moves: LeaderMoves = LeaderMoves(),
) -> list[ComponentVerdict]:
    """:func:`component_verdicts` of a walk-forward run: the baseline's quotes, fills and fold sigmas on the
    complete folds, ``market['features']`` for realised variance, the ``+hmm_blending`` beliefs for regimes and
    ``leader_mids`` (``time``, ``mid`` of ``leader``; None: none) for the leader row."""
    if not run.complete_folds:
        reason = f"no complete walk-forward fold of {len(run.folds)}"
        simple = {d.component: not_evaluated("", reason) for d in DIAGNOSES}
        return component_verdicts(simple, {}, run.alpha)
    horizon = config.markout_horizon_ms
    net = f"net_{horizon}ms_bps"
    fills = run.baseline_fills
    if leader is None:
        lead_lag = not_evaluated("", "no leader for this coin (none configured, or the coin leads itself)")
    else:
        lead_lag = leader_move_check(fills, leader_mids, net, horizon, leader, moves)
    simple = {
        "bipower": volatility_check(market["features"], baseline_forecasts(run)),
        "hawkes": fill_probability_check(run.baseline_quotes),
        "hmm_blending": regime_edge_check(fills, run.beliefs.get(REGIME_BELIEFS_OF), net, horizon),
        "vpin_widening": adverse_selection_check(fills, horizon),
        "lead_lag": lead_lag,
    }
    by_variant = refused_additions(run) | addition_evidence(run.verdicts, run.trials, _same_as(run))
    named = _variants_by_component(run)
    additions = {wanted: by_variant[actual] for wanted, actual in named.items() if actual in by_variant}
    additions |= {v: by_variant[v] for d in DIAGNOSES for v in d.alternatives if v in by_variant}
    return component_verdicts(simple, additions, run.alpha)


# ---------------------------------------------------------------------------------------------------------------
# the table and the report section


COMPONENT_VERDICT_COLUMNS = COMPONENT_VERDICT.columns_without(
    "coin", "date", "test_start_ms", "test_end_ms", "code_version", "run_at_ms"
)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def verdict_frame(verdicts: Sequence[ComponentVerdict], alpha: float) -> pl.DataFrame:
    """The ``component_verdict`` table's rows (without coin, date, window and run stamps), by rank."""
    rows = [
        {
            "rank": v.rank,
            "component": v.diagnosis.component,
            "prediction": v.diagnosis.prediction,
            "verdict": v.verdict,
            "reason": v.reason,
            "simple_test": v.simple.test,
            "simple_stat": _finite_or_none(v.simple.statistic),
            "simple_p": _finite_or_none(v.simple.p_value),
            "simple_n": v.simple.n,
            "simple_n_effective": _finite_or_none(v.simple.n_effective),
            "simple_effect": _finite_or_none(v.simple.effect),
            "simple_effect_unit": v.simple.effect_unit,
            "addition_variant": v.addition.variant,
            "addition_effect": _finite_or_none(v.addition.effect),
            "addition_p": _finite_or_none(v.addition.p_value),
            "adjusted_p": _finite_or_none(v.addition.adjusted_p),
            "adjustment": v.addition.adjustment,
            "alpha": alpha,
        }
        for v in verdicts
    ]
    return pl.DataFrame(rows, schema=COMPONENT_VERDICT_COLUMNS).sort("rank")


def run_verdict_rows(
    run: WalkForwardRun, market: Market, config: VariantConfig, leader: str | None, leader_mids: pl.DataFrame | None
) -> pl.DataFrame:
    """The verdict rows of ``run`` (:func:`diagnose_run`, :func:`verdict_frame`) with the complete folds' test span
    ``[test_start_ms, test_end_ms)`` (null without a complete fold); no coin, date or run stamps yet."""
    verdicts = diagnose_run(run, market, config, leader, leader_mids)
    complete = [f for f in run.folds if f.index in run.complete_folds]
    return verdict_frame(verdicts, run.alpha).with_columns(
        test_start_ms=pl.lit(min((f.test_start_ms for f in complete), default=None), dtype=pl.Int64),
        test_end_ms=pl.lit(max((f.test_end_ms for f in complete), default=None), dtype=pl.Int64),
    )


def diagnosis_section(frame: pl.DataFrame) -> ReportSection:
    """The report's verdict table, largest weakness first, with the action and the method."""
    ranked = frame.sort("rank")
    shown = ranked.select(
        "rank",
        "prediction",
        "component",
        "verdict",
        "simple_test",
        "simple_effect",
        "simple_effect_unit",
        "simple_p",
        "addition_variant",
        "addition_effect",
        "addition_p",
        "adjusted_p",
        "reason",
    )
    if ranked.height == 0:
        return ReportSection("Diagnosis: the largest weakness first", [paragraph("No component verdicts.")])
    alpha = ranked["alpha"][0]
    adjustment = next((a for a in ranked["adjustment"] if a), "Holm over the distinct trials")
    return ReportSection(
        "Diagnosis: the largest weakness first",
        [
            paragraph(f"Action: {action(ranked)}."),
            diagnosis_table_html(
                shown,
                (
                    "(a) simple fails: the baseline's prediction tested out of sample (p per row); (b) addition "
                    "fixes: variant - baseline P&L per period (quote currency), one-sided HAC p, adjusted by "
                    f"{adjustment}; alpha = {alpha:g}; ranked by the p-value of (a)"
                ),
            ),
            paragraph(
                "add: the simple version fails and the addition significantly helps after the adjustment; keep simple: "
                "not shown to fail; no fix: fails, the addition does not help; untested: no test or no variant. "
                "Add one component at a time and re-run."
            ),
        ],
    )
