"""A walk-forward run (:class:`validation.experiments.walk_forward_run.WalkForwardRun`) as the rows of the tables it
fills: ``walk_forward`` (one row per fold and variant, the candidate's pooled row carrying the candidate set),
``walk_forward_pnl`` (per-period P&L of every variant and of the replayed incumbent) and ``calibration_metrics``;
and the pooled verdicts as a Markdown table for the asset's metadata. P&L in quote currency; times UTC epoch ms.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import polars as pl

from data_lake.tables import CALIBRATION_METRICS
from validation.experiments.candidate import CANDIDATE
from validation.experiments.variant_types import BASELINE
from validation.experiments.walk_forward import Fold
from validation.experiments.walk_forward_run import POOLED, WalkForwardRun


def complete_folds(run: WalkForwardRun) -> list[Fold]:
    """The run's folds every variant completed, in order."""
    return [f for f in run.folds if f.index in run.complete_folds]


def walk_forward_rows(run: WalkForwardRun, stamp: Mapping[str, Any], candidate_set: str | None) -> pl.DataFrame:
    """The run's rows with the ``stamp`` columns (coin, date, code_version, run_at_ms) and, on the candidate's
    pooled row only, its ``candidate_set`` JSON (:mod:`validation.tables.candidate_set`)."""
    return run.rows.with_columns(**{k: pl.lit(v) for k, v in stamp.items()}).with_columns(
        candidate_set=pl.when((pl.col("fold") == POOLED) & (pl.col("variant") == CANDIDATE)).then(
            pl.lit(candidate_set, dtype=pl.String)
        )
    )


def stamped_rows(run: WalkForwardRun, stamp: Mapping[str, Any]) -> pl.DataFrame:
    """The run's rows (the folds' statuses) with the ``stamp`` columns and no candidate set."""
    return run.rows.with_columns(**{k: pl.lit(v) for k, v in stamp.items()})


def period_pnl_rows(run: WalkForwardRun, incumbent_pnl: pl.DataFrame, coin: str, date: dt.date) -> pl.DataFrame:
    """``walk_forward_pnl`` rows: every variant's P&L per period (long format) and the incumbent's replay."""
    long = run.pnl.unpivot(index=["fold", "time"], variable_name="variant", value_name="pnl")
    return pl.concat([long, incumbent_pnl], how="vertical_relaxed").with_columns(coin=pl.lit(coin), date=pl.lit(date))


def calibration_frame(rows: list[dict], coin: str, date: dt.date) -> pl.DataFrame:
    """``calibration_metrics`` rows (:func:`validation.tables.calibration_table.calibration_rows`) of (coin, date),
    stamped at the end of each evaluated window; the table's empty frame when nothing was scored."""
    if not rows:
        return CALIBRATION_METRICS.empty()
    return pl.DataFrame(rows, infer_schema_length=None).with_columns(
        coin=pl.lit(coin), date=pl.lit(date), time=pl.col("window_end_ms")
    )


def verdicts_markdown(rows: pl.DataFrame) -> str:
    """The pooled verdict of every variant against the baseline: p-value, effect per period with its 90% CI, periods,
    effective sample size and fills."""
    pooled = rows.filter((pl.col("fold") == POOLED) & (pl.col("variant") != BASELINE))
    lines = [
        "| variant | verdict | p-value | effect / period (90% CI) | n periods | n_eff | fills |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in pooled.iter_rows(named=True):
        effect = (
            "n/a"
            if r.get("effect_per_period") is None
            else (f"{r['effect_per_period']:.4g} [{r['effect_ci_low']:.4g}, {r['effect_ci_high']:.4g}]")
        )
        p = "n/a" if r.get("p_value") is None else f"{r['p_value']:.3g}"
        n_eff = "n/a" if r.get("n_effective") is None else f"{r['n_effective']:.0f}"
        lines.append(
            f"| {r['variant']} | {r['verdict']} | {p} | {effect} | {r['n_periods']} | {n_eff} | {r['n_fills']} |"
        )
    return "\n".join(lines)
