"""The evidence the promotion gate (:mod:`validation.decisions.promotion_gate`) judges, gathered from a day's tables.

The candidate's evidence is the walk-forward's out-of-sample results of the ``candidate`` variant: its pooled row's
figures and fills, its per-period P&L (``walk_forward_pnl``), the calibration of its predictions
(``calibration_metrics``) and whether every ingested day reconciles exactly (``ingest_accounting``). Parts that do
not exist are left out (under :data:`validation.decisions.promotion_gate.MISSING`), so the gate fails them by name. The
incumbent's is the promoted set replayed on the same test windows (:mod:`validation.decisions.incumbent`), else its
stored evidence. P&L in quote currency per period; times UTC epoch ms.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, TypeVar

import polars as pl

from data_lake.contract import unaccounted_records
from validation.decisions.incumbent import incumbent_variant
from validation.decisions.promotion_gate import MISSING, build_evidence
from validation.experiments.candidate import CANDIDATE
from validation.experiments.walk_forward_run import POOLED
from validation.statistics.calibration_metrics import AdverseSelectionCalibration, CalibrationMetrics
from validation.tables.calibration_table import WALK_FORWARD_SOURCE, calibration_metrics_of

GATE_DATA_QUALITY = "reconciliation"
RUN_STAMPS = frozenset({"run_at_ms"})
"""Walk-forward columns that say when it ran, not what it found: kept out of the evidence, whose hash is the
``param_set_id``, so an identical rerun finds the same set instead of registering a new one."""

_M = TypeVar("_M")


def _of_type(metrics: object, kind: type[_M]) -> _M | None:
    """``metrics`` when it is a ``kind`` (the row's model said so), else None."""
    return metrics if isinstance(metrics, kind) else None


def _data_quality(accounting: pl.DataFrame) -> dict[str, tuple[bool, str]]:
    reconciled = bool(accounting.height) and all(unaccounted_records(r) == 0 for r in accounting.iter_rows(named=True))
    return {GATE_DATA_QUALITY: (reconciled, f"{accounting.height} ingested day(s) reconcile exactly")}


def candidate_evidence(
    walk_forward: pl.DataFrame,
    period_pnl: pl.DataFrame,
    calibration: pl.DataFrame,
    accounting: pl.DataFrame,
    date: dt.date,
) -> dict[str, Any]:
    """Out-of-sample evidence of the day's walk-forward for the candidate variant, from the day's ``walk_forward``,
    ``walk_forward_pnl`` and ``calibration_metrics`` partitions and the coin's ``ingest_accounting`` up to ``date``."""
    variant = CANDIDATE
    pooled = walk_forward.filter((pl.col("fold") == POOLED) & (pl.col("variant") == variant))
    pnl = period_pnl.filter(pl.col("variant") == variant).sort("time")
    source = WALK_FORWARD_SOURCE.format(variant=variant)
    metrics = {
        r["model"]: calibration_metrics_of(r)
        for r in calibration.filter(pl.col("source") == source).iter_rows(named=True)
    }
    quality = _data_quality(accounting)
    if not pooled.height or pnl.height < 2:
        why = (
            f"the walk-forward of {date} has no pooled {variant!r} row"
            if not pooled.height
            else f"the walk-forward of {date} has {pnl.height} P&L period(s) of {variant!r}, the gate pairs at least 2"
        )
        return {
            "data_quality": {k: {"passed": ok, "detail": d} for k, (ok, d) in quality.items()},
            MISSING: {"walk_forward": why},
        }
    row = pooled.row(0, named=True)
    return build_evidence(
        folds=int(walk_forward.filter(pl.col("fold") != POOLED)["fold"].n_unique()),
        oos_fills=int(row["n_fills"]),
        period_ms=int(pnl["time"].diff().drop_nulls().to_numpy().min()),
        period_start_ms=pnl["time"].to_list(),
        pnl=pnl["pnl"].to_list(),
        fill_calibration=_of_type(metrics.get("fill_probability"), CalibrationMetrics),
        adverse_calibration=_of_type(metrics.get("adverse_selection"), AdverseSelectionCalibration),
        data_quality=quality,
        figures={
            k: float(v)
            for k, v in row.items()
            if k not in RUN_STAMPS and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        },
    )


def incumbent_evidence(
    period_pnl: pl.DataFrame, param_set_id: str, stored_evidence: Mapping[str, Any]
) -> Mapping[str, Any]:
    """What the gate pairs the candidate with: the promoted set ``param_set_id``'s P&L replayed on the day's own test
    windows (its ``incumbent:<id>`` rows of ``walk_forward_pnl``), else its ``stored_evidence``, whose periods a
    later candidate does not share (the gate then says so)."""
    replay = period_pnl.filter(pl.col("variant") == incumbent_variant(param_set_id)).sort("time")
    if replay.height < 2:
        return stored_evidence
    period_ms = int(replay["time"].diff().drop_nulls().to_numpy().min())
    return {
        "walk_forward": {
            "period_ms": period_ms,
            "pnl_unit": "quote",
            "period_start_ms": replay["time"].to_list(),
            "pnl": replay["pnl"].to_list(),
        }
    }
