"""Every variant over every walk-forward fold, then the evidence: component verdicts, SPA / Reality Check, the DSR
of the best variant, PBO, and the calibration of the evidence variant's predictions (the ``candidate``, which the
promotion gate judges, when it ran; else the baseline).

Each variant is fitted on each fold's train slice and simulated on its test slice, both cut by
:func:`validation.experiments.walk_forward.fold_parts`, the only path by which data reaches a fit. Frames are sliced on
the time their rows become known: ``features`` on the bar's end, ``markouts`` on the fill time plus the longest
markout horizon. A variant that cannot be fitted on a fold (too few samples) leaves a row with that status; the
significance tests use the folds where every variant ran ("complete" folds), concatenating their per-period
out-of-sample P&L (quote currency, ``VariantConfig.period_ms`` buckets) into one T x V matrix, paired by period.
An optional variant (one needing data the coin may lack, e.g. ``+lead_lag`` a leader's mids) does not decide which
folds are complete: it joins the comparison only when it ran on every complete fold, else its pooled row says why
not (status ``insufficient_samples``, the first refusal as the warning) and the others' evidence stands.
Trials are counted honestly: a variant whose P&L column equals an earlier one's (the same trades) is not a trial
of its own in SPA, the DSR or PBO.
A (fold, variant) already evaluated on the same windows, inputs, config and code is read back from the fold cache
(:mod:`validation.experiments.fold_cache`) rather than recomputed, so a nightly run evaluates only its new folds.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from calibration.fit_result import InsufficientSamples
from data_lake.tables import MARKOUT_HORIZONS_MS
from validation.experiments.candidate import CANDIDATE, CandidateFit, candidate_parameters
from validation.experiments.fold_cache import FoldCache, RowHashes
from validation.experiments.out_of_sample import VariantOutcome, simulate_fitted
from validation.experiments.variant_registry import VARIANTS
from validation.experiments.variant_types import BASELINE, FittedSummary, FittedVariant, Market, Variant, VariantConfig
from validation.experiments.walk_forward import Fold, FoldResult, fold_parts, slice_window
from validation.reporting.report import (
    KeyFigure,
    ReportSection,
    build_report,
    cards_html,
    figure_html,
    paragraph,
    plot_equity_curves,
    plot_regime_timeline,
    plot_variant_differences,
    reliability_figure,
    table_html,
    verdict_table_html,
)
from validation.statistics.calibration_metrics import (
    AdverseSelectionCalibration,
    CalibrationMetrics,
    adverse_selection_calibration,
    calibration_metrics,
    reliability_diagram,
)
from validation.statistics.significance import (
    BacktestOverfitting,
    DeflatedSharpe,
    MultipleComparison,
    Verdict,
    component_verdict,
    deflated_sharpe_ratio,
    probability_of_backtest_overfitting,
    superior_predictive_ability,
)

POOLED = -1
"""``fold`` of the rows pooling every complete fold."""
YEAR_MS = 365.25 * 86_400_000
KNOWN_AT = "known_ms"
TIME_COLS = {"features": KNOWN_AT, "markouts": KNOWN_AT}
MAX_PBO_SPLITS = 16


@dataclass(frozen=True, eq=False)
class WalkForwardRun:
    """All variants over all folds and the evidence drawn from the complete ones.

    ``rows``: the ``walk_forward`` table's rows (without coin, date, code version and run time), per fold and
    variant, plus one pooled row (fold -1) per variant. ``pnl``: ``fold``, ``time`` (period start) and one column
    of per-period P&L per variant over the complete folds. ``beliefs``: the causal beliefs of each variant with
    more than one regime over the complete folds. ``verdicts``: per non-baseline variant, None when there
    were fewer than two paired periods. ``trials``: the variants counted as trials (the first of each group of
    identical P&L columns). ``evidence_variant``: whose predictions ``evidence_quotes``/``evidence_fills`` and the
    calibrations hold; ``baseline_quotes``/``baseline_fills`` are the baseline's (the simple version each component
    is diagnosed against, :mod:`validation.decisions.component_verdict`), each with a leading ``fold``.
    ``information_ratio``: annualised mean / std of the per-period P&L, the baseline's against flat, every other
    variant's against the baseline. The statistics are None when the complete folds hold too few periods for them.
    """

    folds: tuple[Fold, ...]
    complete_folds: tuple[int, ...]
    rows: pl.DataFrame
    pnl: pl.DataFrame
    verdicts: dict[str, Verdict | None]
    information_ratio: dict[str, float]
    spa: MultipleComparison | None
    dsr: DeflatedSharpe | None
    pbo: BacktestOverfitting | None
    fill_calibration: CalibrationMetrics | None
    adverse_calibration: AdverseSelectionCalibration | None
    evidence_variant: str
    evidence_quotes: pl.DataFrame
    evidence_fills: pl.DataFrame
    baseline_quotes: pl.DataFrame
    baseline_fills: pl.DataFrame
    beliefs: dict[str, pl.DataFrame]
    alpha: float
    trials: tuple[str, ...]

    @property
    def variant_names(self) -> list[str]:
        return [c for c in self.pnl.columns if c not in ("fold", "time")]

    @property
    def best_variant(self) -> str | None:
        """The variant the DSR selected (highest per-period Sharpe over the complete folds, among the trials)."""
        return self.trials[self.dsr.selected] if self.dsr else None


def with_known_at(data: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Adds ``known_ms`` to ``features`` (bar end) and ``markouts`` (fill + longest horizon): their slicing time."""
    out = dict(data)
    if "features" in out:
        out["features"] = out["features"].with_columns((pl.col("time") + pl.col("bar_ms")).alias(KNOWN_AT))
    if "markouts" in out:
        out["markouts"] = out["markouts"].with_columns((pl.col("time") + max(MARKOUT_HORIZONS_MS)).alias(KNOWN_AT))
    return out


def _fit_or_error(variant: Variant, train: Market, config: VariantConfig) -> FittedVariant | InsufficientSamples:
    try:
        return variant.fit(train, config)
    except InsufficientSamples as error:
        return error


def _evaluate(
    fitted: FittedVariant | InsufficientSamples, test: Market, fold: Fold, config: VariantConfig
) -> VariantOutcome | InsufficientSamples:
    """The fitted variant scored on the fold's test slice, keeping only its :class:`FittedSummary` (what the rows and
    the evidence read, and what the fold cache stores), or the refusal that stopped its fit."""
    if isinstance(fitted, InsufficientSamples):
        return fitted
    outcome = simulate_fitted(fitted, test, config, fold.window("test"))
    return replace(outcome, fitted=FittedSummary.of(fitted))


def run_variants(
    folds: Sequence[Fold],
    data: Mapping[str, pl.DataFrame],
    config: VariantConfig = VariantConfig(),
    variants: Sequence[str] = tuple(VARIANTS),
    cache: FoldCache | None = None,
) -> dict[str, list[FoldResult]]:
    """Per variant, its walk-forward over ``folds`` (fitted on each train slice, scored on the test slice, the slices
    cut by :func:`validation.experiments.walk_forward.fold_parts`): a :class:`VariantOutcome` per fold, or the
    :class:`InsufficientSamples` error that stopped its fit. Every variant of a fold sees the same slices.

    With a ``cache``, a (fold, variant) already evaluated on the same windows, inputs, config and code is read back
    rather than recomputed, and what is computed is stored; the outcomes are the same either way.
    """
    if variants[0] != BASELINE:
        raise ValueError(f"the first variant must be {BASELINE!r}, got {variants[0]!r}")
    results: dict[str, list[FoldResult]] = {name: [] for name in variants}
    known = with_known_at(data)
    hashes: RowHashes | None = None
    for fold, train, test in fold_parts(folds, known, TIME_COLS):
        if cache and hashes is None:  # once the first slices have checked every frame's time column
            span = (min(f.train_start_ms for f in folds), max(f.test_end_ms for f in folds))
            hashes = RowHashes.of(known, TIME_COLS, span)
        key = cache.key(fold, train, test, config, hashes) if cache else {}
        for name in variants:
            evaluated = cache.load(key, name) if cache else None
            if evaluated is None:
                evaluated = _evaluate(_fit_or_error(VARIANTS[name], train, config), test, fold, config)
                if cache:
                    cache.store(key, name, evaluated)
            fitted = evaluated if isinstance(evaluated, InsufficientSamples) else evaluated.fitted
            results[name].append(
                FoldResult(
                    fold=fold,
                    params=fitted,
                    result=evaluated,
                    n_train={frame: part.height for frame, part in train.items()},
                    n_test={frame: part.height for frame, part in test.items()},
                )
            )
    return results


def _json(params: Mapping[str, float]) -> str:
    return json.dumps({k: (v if math.isfinite(v) else None) for k, v in params.items()}, sort_keys=True)


def _fold_row(name: str, result: FoldResult) -> dict:
    fold = result.fold
    row = {
        "fold": fold.index,
        "variant": name,
        "component": VARIANTS[name].component,
        "train_start_ms": fold.train_start_ms,
        "train_end_ms": fold.train_end_ms,
        "test_start_ms": fold.test_start_ms,
        "test_end_ms": fold.test_end_ms,
    }
    outcome = result.result
    if isinstance(outcome, InsufficientSamples):
        return row | {"status": "insufficient_samples", "warnings": str(outcome)}
    return row | {"status": "ok", **outcome.summary(), "params": _json(outcome.fitted.params), "warnings": ""}


def _annualised_ratio(x: np.ndarray, period_ms: int) -> float:
    sd = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return float(x.mean()) / sd * math.sqrt(YEAR_MS / period_ms) if sd > 0 else math.nan


def _verdict(base: np.ndarray, variant: np.ndarray, n_fills: int, alpha: float) -> Verdict | None:
    try:
        return component_verdict(base, variant, alpha=alpha, n_fills=n_fills)
    except InsufficientSamples:
        return None


def _statistics(
    matrix: np.ndarray,
) -> tuple[MultipleComparison | None, DeflatedSharpe | None, BacktestOverfitting | None]:
    """SPA / Reality Check of the variants against column 0, DSR of the best column, PBO by CSCV."""
    t = matrix.shape[0]
    spa = superior_predictive_ability(matrix[:, 0], matrix[:, 1:]) if t >= 10 and matrix.shape[1] > 1 else None
    spread = matrix.std(axis=0, ddof=1) if t > 1 else np.zeros(matrix.shape[1])
    dsr = deflated_sharpe_ratio(matrix) if t >= 3 and np.all(spread > 0) and matrix.shape[1] > 1 else None
    splits = min(MAX_PBO_SPLITS, t // 2 - (t // 2) % 2)
    pbo = probability_of_backtest_overfitting(matrix, n_splits=splits) if splits >= 2 and matrix.shape[1] > 1 else None
    return spa, dsr, pbo


def distinct_trials(matrix: np.ndarray) -> list[int]:
    """Columns of the T x V P&L matrix that are trials: each column unless it equals an earlier one exactly (a
    variant that made the very same trades adds no trial to the multiple-testing count)."""
    kept: list[int] = []
    for k in range(matrix.shape[1]):
        if not any(np.array_equal(matrix[:, k], matrix[:, j]) for j in kept):
            kept.append(k)
    return kept


def identical_variants(pnl: pl.DataFrame, names: Sequence[str]) -> dict[str, str]:
    """Each variant whose per-period P&L column equals an earlier one's exactly, mapped to the first such variant
    (the columns :func:`distinct_trials` does not count)."""
    found: dict[str, str] = {}
    for k, name in enumerate(names):
        for earlier in names[:k]:
            if earlier not in found and np.array_equal(pnl[name].to_numpy(), pnl[earlier].to_numpy()):
                found[name] = earlier
                break
    return found


def stack_folds(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Folds' frames one under the other; a fold whose HMM chose fewer states lacks some ``belief_*`` columns
    (null there)."""
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def _pnl_matrix(
    outcomes: Mapping[str, list[VariantOutcome]], folds: Sequence[Fold], variants: Sequence[str]
) -> pl.DataFrame:
    """``fold``, ``time`` and one per-period P&L column per variant, stacked over ``folds`` (paired by period)."""
    frames = [
        outcomes[BASELINE][j]
        .period_pnl.select(pl.lit(fold.index, dtype=pl.Int32).alias("fold"), "time")
        .with_columns(outcomes[name][j].period_pnl["pnl"].alias(name) for name in variants)
        for j, fold in enumerate(folds)
    ]
    empty = {"fold": pl.Int32, "time": pl.Int64, **dict.fromkeys(variants, pl.Float64)}
    return pl.concat(frames) if frames else pl.DataFrame(schema=empty)


def _with_fold(outcomes: list[VariantOutcome], folds: list[Fold], frame: str) -> list[pl.DataFrame]:
    """Each outcome's ``quotes`` or ``fills`` with a leading ``fold`` column (its walk-forward window)."""
    return [
        getattr(o, frame).select(pl.lit(fold.index, dtype=pl.Int32).alias("fold"), pl.all())
        for o, fold in zip(outcomes, folds, strict=True)
    ]


def _calibration(
    quotes: pl.DataFrame, fills: pl.DataFrame
) -> tuple[CalibrationMetrics | None, AdverseSelectionCalibration | None]:
    """Calibration of the evidence variant's predictions over its stacked test windows; slopes within folds (each
    fold's predictions come from its own training window: :mod:`validation.statistics.calibration_metrics`)."""
    if quotes.height == 0:
        return None, None
    marked = fills.filter(pl.col("realised_adverse_bps").is_not_null() & pl.col("pred_adverse_bps").is_not_null())
    fill = calibration_metrics(
        quotes["filled"].cast(pl.Float64).to_numpy(),
        quotes["pred_fill_prob"].to_numpy(),
        windows=quotes["fold"].to_numpy(),
    )
    adverse = (
        adverse_selection_calibration(
            marked["pred_adverse_bps"].to_numpy(),
            marked["realised_adverse_bps"].to_numpy(),
            windows=marked["fold"].to_numpy(),
        )
        if marked.height >= 3
        else None
    )
    return fill, adverse


def _pooled_row(name: str, outcomes: list[VariantOutcome], folds: list[Fold]) -> dict:
    """The fold -1 row: every figure recomputed over the stacked test windows (final inventory of the last)."""
    pooled = VariantOutcome(
        fitted=outcomes[-1].fitted,
        fills=stack_folds([o.fills for o in outcomes]),
        quotes=stack_folds([o.quotes for o in outcomes]),
        period_pnl=stack_folds([o.period_pnl for o in outcomes]),
        beliefs=stack_folds([o.beliefs for o in outcomes]),
        final_inventory=outcomes[-1].final_inventory,
        orders_sent=sum(o.orders_sent for o in outcomes),
    )
    return {
        "fold": POOLED,
        "variant": name,
        "component": VARIANTS[name].component,
        "status": "ok",
        "train_start_ms": min(f.train_start_ms for f in folds),
        "train_end_ms": max(f.train_end_ms for f in folds),
        "test_start_ms": min(f.test_start_ms for f in folds),
        "test_end_ms": max(f.test_end_ms for f in folds),
        **pooled.summary(),
        "params": "",
        "warnings": "",
    }


def _left_out_row(name: str, results: list[FoldResult], folds: Sequence[Fold]) -> dict:
    """The pooled row of an optional variant left out of the comparison, with the reason of its first refusal."""
    reasons = [str(r.result) for r in results if isinstance(r.result, InsufficientSamples)]
    return {
        "fold": POOLED,
        "variant": name,
        "component": VARIANTS[name].component,
        "status": "insufficient_samples",
        "train_start_ms": min(f.train_start_ms for f in folds),
        "train_end_ms": max(f.train_end_ms for f in folds),
        "test_start_ms": min(f.test_start_ms for f in folds),
        "test_end_ms": max(f.test_end_ms for f in folds),
        "verdict": "insufficient evidence",
        "warnings": reasons[0] if reasons else "not run on every complete fold",
        "params": "",
    }


def _verdict_columns(name: str, verdict: Verdict | None) -> dict:
    """The verdict columns of a pooled row; the baseline has none, a variant without paired periods is undecided."""
    if verdict is None:
        return {"verdict": None if name == BASELINE else "insufficient evidence"}
    return {
        "verdict": verdict.decision,
        "p_value": verdict.p_value,
        "effect_per_period": verdict.effect,
        "effect_ci_low": verdict.ci[0],
        "effect_ci_high": verdict.ci[1],
        "n_effective": verdict.n_effective,
    }


DEFAULT_ALPHA = 0.05
"""Level of the walk-forward's one-sided verdicts of each variant against the baseline."""


def walk_forward(
    folds: Sequence[Fold],
    data: Mapping[str, pl.DataFrame],
    config: VariantConfig = VariantConfig(),
    variants: Sequence[str] = tuple(VARIANTS),
    alpha: float = DEFAULT_ALPHA,
    cache: FoldCache | None = None,
) -> WalkForwardRun:
    """Run ``variants`` (the baseline first) over ``folds`` of ``data`` and collect the rows and the evidence.

    Verdicts: :func:`component_verdict` of each variant's per-period P&L against the baseline's (``alpha``,
    one-sided HAC; "insufficient evidence" below 200 independent fills, counting the smaller of the two fill
    totals). SPA / Reality Check of the variants against the baseline, DSR of the highest-Sharpe variant among the
    trials and PBO by CSCV on the T x V matrix, all over the distinct trials (:func:`distinct_trials`), and
    calibration of the evidence variant's fill
    probabilities (quote level) and adverse-selection predictions (its fills), all on the complete folds. A ``cache``
    (:class:`validation.experiments.fold_cache.FoldCache`) serves the (fold, variant) outcomes already evaluated: the
    run is the same with or without it, only faster.
    """
    results = run_variants(folds, data, config, variants, cache)
    rows = [_fold_row(name, r) for name in variants for r in results[name]]

    def refused(name: str, i: int) -> bool:
        return isinstance(results[name][i].result, InsufficientSamples)

    complete = [i for i in range(len(folds)) if not any(refused(n, i) for n in variants if not VARIANTS[n].optional)]
    left_out = [n for n in variants if VARIANTS[n].optional and any(refused(n, i) for i in complete)]
    rows += [_left_out_row(name, results[name], folds) for name in left_out]
    variants = [name for name in variants if name not in left_out]
    outcomes = {name: [results[name][i].result for i in complete] for name in variants}
    used_folds = [folds[i] for i in complete]
    pnl = _pnl_matrix(outcomes, used_folds, variants)
    matrix = pnl.select(variants).to_numpy()
    fills = {name: sum(o.n_fills for o in outcomes[name]) for name in variants}
    verdicts = {
        name: _verdict(matrix[:, 0], matrix[:, k], min(fills[BASELINE], fills[name]), alpha)
        for k, name in enumerate(variants)
        if k > 0
    }
    information_ratio = {
        name: _annualised_ratio(matrix[:, k] - (matrix[:, 0] if k else 0.0), config.period_ms)
        for k, name in enumerate(variants)
    }
    trials = distinct_trials(matrix)
    run_trials = {variants[k] for k in trials}
    spa, dsr, pbo = _statistics(matrix[:, trials])
    evidence = CANDIDATE if CANDIDATE in variants else BASELINE
    evidence_quotes = stack_folds(_with_fold(outcomes[evidence], used_folds, "quotes"))
    evidence_fills = stack_folds(_with_fold(outcomes[evidence], used_folds, "fills"))
    baseline_quotes = stack_folds(_with_fold(outcomes[BASELINE], used_folds, "quotes"))
    baseline_fills = stack_folds(_with_fold(outcomes[BASELINE], used_folds, "fills"))
    fill_calibration, adverse_calibration = _calibration(evidence_quotes, evidence_fills)
    if complete:  # pooled rows
        run_level = {
            "spa_p_value": spa.spa_consistent if spa else None,
            "reality_check_p_value": spa.reality_check if spa else None,
            "dsr": dsr.dsr if dsr else None,
            "pbo": pbo.pbo if pbo else None,
        }
        rows += [
            _pooled_row(name, outcomes[name], used_folds)
            | run_level
            | {"information_ratio": information_ratio[name], "is_trial": name in run_trials}
            | _verdict_columns(name, verdicts.get(name))
            for name in variants
        ]
    return WalkForwardRun(
        folds=tuple(folds),
        complete_folds=tuple(folds[i].index for i in complete),
        rows=pl.DataFrame(rows, infer_schema_length=None),
        pnl=pnl,
        verdicts=verdicts,
        information_ratio=information_ratio,
        spa=spa,
        dsr=dsr,
        pbo=pbo,
        fill_calibration=fill_calibration,
        adverse_calibration=adverse_calibration,
        evidence_variant=evidence,
        evidence_quotes=evidence_quotes,
        evidence_fills=evidence_fills,
        baseline_quotes=baseline_quotes,
        baseline_fills=baseline_fills,
        beliefs={
            name: stack_folds([o.beliefs for o in outcomes[name]])
            for name in variants
            if complete and len(outcomes[name][0].fitted.regime_names) > 1
        },
        alpha=alpha,
        trials=tuple(variants[k] for k in trials),
    )


def final_candidate(
    data: Mapping[str, pl.DataFrame], end_ms: int, train_ms: int, config: VariantConfig = VariantConfig()
) -> CandidateFit:
    """What promotion writes: :func:`validation.experiments.candidate.candidate_parameters` on the last training window
    ``[end_ms - train_ms, end_ms)``, sliced exactly as the walk-forward slices a fold's train."""
    train = slice_window(with_known_at(data), (end_ms - train_ms, end_ms), TIME_COLS)
    return candidate_parameters(train, config)


# ---------------------------------------------------------------------------------------------------------------
# the report


FOLD_COLUMNS = [
    "fold",
    "variant",
    "status",
    "pnl",
    "sharpe_per_period",
    "n_fills",
    "predicted_fill_rate",
    "actual_fill_rate",
    "brier",
    "predicted_adverse_bps",
    "realised_adverse_bps",
]


def _utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _summary_section(run: WalkForwardRun) -> ReportSection:
    pooled = run.rows.filter(pl.col("fold") == POOLED)
    figures = [
        KeyFigure("folds", f"{len(run.complete_folds)} / {len(run.folds)}", "complete / run"),
        KeyFigure("best variant (DSR)", run.best_variant or "n/a", f"DSR {_fmt(run.dsr.dsr if run.dsr else None)}"),
        KeyFigure(
            "SPA p-value",
            _fmt(run.spa.spa_consistent if run.spa else None),
            f"Reality Check {_fmt(run.spa.reality_check if run.spa else None)}",
        ),
        KeyFigure(
            "PBO", _fmt(run.pbo.pbo if run.pbo else None), f"{run.pbo.n_combinations:,} CSCV splits" if run.pbo else ""
        ),
    ]
    if pooled.height:
        base = pooled.filter(pl.col("variant") == BASELINE).row(0, named=True)
        figures += [
            KeyFigure(
                "baseline P&L",
                f"{base['pnl']:.4g} quote",
                f"Sharpe/period {_fmt(base['sharpe_per_period'])}, "
                f"n = {base['n_periods']} periods, {base['n_fills']} fills",
            ),
            KeyFigure(
                "baseline fill rate within tau",
                f"{base['actual_fill_rate']:.2%}",
                f"predicted {base['predicted_fill_rate']:.2%}, Brier {_fmt(base['brier'])}, n = {base['n_quotes']:,}",
            ),
        ]
    windows = "; ".join(
        f"fold {f.index}: train {_utc(f.train_start_ms)} - {_utc(f.train_end_ms)}, "
        f"test {_utc(f.test_start_ms)} - {_utc(f.test_end_ms)} UTC"
        for f in run.folds
    )
    return ReportSection("Summary", [cards_html(figures), paragraph(windows)])


def _verdict_section(run: WalkForwardRun) -> ReportSection:
    decided = {name: v for name, v in run.verdicts.items() if v is not None}
    identical = identical_variants(run.pnl, run.variant_names)
    blocks = [verdict_table_html(decided, run.alpha, identical=identical)] if decided else []
    if decided and run.pnl.height:
        png = plot_variant_differences(
            run.pnl["time"],
            {name: (run.pnl[name] - run.pnl[BASELINE]).to_numpy() for name in decided},
            {name: v.ci for name, v in decided.items()},
            {name: f"identical to {other}" for name, other in identical.items()},
        )
        caption = (
            "Each variant minus the baseline: cumulative per-period P&L difference (quote currency) over the stacked "
            "test windows; shaded, the mean effect's HAC interval times the periods elapsed (clear of zero exactly "
            "when the verdict's interval is)"
        )
        blocks.append(figure_html(png, caption, run.pnl.height, 1 - 2 * run.alpha, "paired periods"))
    undecided = [name for name, v in run.verdicts.items() if v is None]
    if undecided:
        blocks.append(paragraph(f"No paired periods to judge {', '.join(undecided)}: insufficient evidence."))
    blocks.append(
        paragraph(
            "A component is kept only when the pipeline with it beats the baseline out of sample; fewer than "
            "200 independent fills is never enough evidence."
        )
    )
    return ReportSection("Component verdicts", blocks)


def _multiple_comparison_section(run: WalkForwardRun) -> ReportSection:
    spa, dsr, pbo = run.spa, run.dsr, run.pbo
    stats = pl.DataFrame(
        {
            "statistic": ["Hansen SPA (consistent) p", "White Reality Check p", "DSR of the best", "PBO (CSCV)"],
            "value": [
                spa.spa_consistent if spa else None,
                spa.reality_check if spa else None,
                dsr.dsr if dsr else None,
                pbo.pbo if pbo else None,
            ],
            "n_periods": [run.pnl.height] * 4,
            "detail": [
                f"{len(run.variant_names) - 1} variants vs the baseline, stationary bootstrap"
                + (f" (mean block {spa.block_size}, {spa.reps} reps)" if spa else ""),
                "H0: no variant beats the baseline",
                f"{run.best_variant}: Sharpe/period {_fmt(dsr.sharpe)} vs expected max of {dsr.n_trials:g} trials "
                f"{_fmt(dsr.sharpe_benchmark)}"
                if dsr
                else "too few periods",
                f"{pbo.n_splits} blocks" if pbo else "too few periods",
            ],
        },
        schema={"statistic": pl.String, "value": pl.Float64, "n_periods": pl.Int64, "detail": pl.String},
    )
    return ReportSection("Multiple comparisons and overfitting", [table_html(stats, "All variants, complete folds")])


def _equity_section(run: WalkForwardRun) -> ReportSection:
    if run.pnl.height == 0:
        return ReportSection("Out-of-sample equity", [paragraph("No complete fold.")])
    curves = {name: run.pnl.select("time", equity=pl.col(name).cum_sum()) for name in run.variant_names}
    png = plot_equity_curves(curves, boundaries_ms=[f.test_start_ms for f in run.folds])
    caption = "Cumulative mark-to-mid P&L (quote currency) over the stacked test windows; dotted: test starts"
    return ReportSection("Out-of-sample equity", [figure_html(png, caption, run.pnl.height, None, "periods")])


def _calibration_section(run: WalkForwardRun) -> ReportSection:
    fill, adverse = run.fill_calibration, run.adverse_calibration
    blocks = []
    if fill is not None:
        blocks.append(
            cards_html(
                [
                    KeyFigure("Brier", _fmt(fill.brier), f"n = {fill.n:,} quotes, base rate {fill.base_rate:.2%}"),
                    KeyFigure("reliability / uncertainty", _fmt(fill.relative_reliability), "CORP; lower is better"),
                    KeyFigure(
                        "calibration slope",
                        _fmt(fill.slope),
                        f"95% CI [{_fmt(fill.slope_ci[0])}, {_fmt(fill.slope_ci[1])}]",
                    ),
                    KeyFigure("well calibrated", str(fill.is_well_calibrated)),
                ]
            )
        )
        quotes = run.evidence_quotes
        diagram = reliability_diagram(quotes["filled"].cast(pl.Float64).to_numpy(), quotes["pred_fill_prob"].to_numpy())
        blocks.append(reliability_figure(diagram, f"{run.evidence_variant}: P(a print reaches the quote within tau)"))
    if adverse is not None:
        table = pl.DataFrame(
            {
                "figure": [
                    "bias (realised - predicted), bps",
                    "Mincer-Zarnowitz slope",
                    "intercept, bps",
                    "MSE, bps^2",
                ],
                "value": [adverse.bias, adverse.slope, adverse.intercept, adverse.mse],
                "ci_low": [adverse.bias_ci[0], adverse.slope_ci[0], adverse.intercept_ci[0], None],
                "ci_high": [adverse.bias_ci[1], adverse.slope_ci[1], adverse.intercept_ci[1], None],
                "n_fills": [adverse.n] * 4,
            }
        )
        blocks.append(
            table_html(table, f"{run.evidence_variant}: adverse selection at the markout horizon, 95% HAC intervals")
        )
    return ReportSection(f"Calibration of the {run.evidence_variant}", blocks or [paragraph("No complete fold.")])


def _beliefs_section(name: str, beliefs: pl.DataFrame) -> ReportSection:
    png = plot_regime_timeline(beliefs, f"{name}: causal beliefs on the test windows")
    caption = f"Beliefs {name} quoted under, each from when it became known"
    return ReportSection(f"Regime beliefs: {name}", [figure_html(png, caption, beliefs.height, None, "belief updates")])


def report_html(run: WalkForwardRun, title: str, generated_ms: int, diagnosis: Sequence[ReportSection] = ()) -> str:
    """The self-contained HTML report of a walk-forward run (:mod:`validation.reporting.report`); ``diagnosis`` sections
    (the per-component verdicts of :mod:`validation.decisions.component_verdict`) follow the summary."""
    per_fold = run.rows.filter(pl.col("fold") != POOLED).select(FOLD_COLUMNS)
    sections = [
        _summary_section(run),
        *diagnosis,
        _verdict_section(run),
        _multiple_comparison_section(run),
        _equity_section(run),
        ReportSection("Per-fold results", [table_html(per_fold, "P&L in quote currency, adverse selection in bps")]),
        _calibration_section(run),
        *(_beliefs_section(name, beliefs) for name, beliefs in run.beliefs.items()),
    ]
    return build_report(title, sections, generated_ms)
