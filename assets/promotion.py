"""The nightly candidate parameter set, the promotion gate and the promotion itself (``param_sets``).

The candidate is the parameter set :func:`validation.candidate.candidate_parameters` built on the last training
window by the day's walk-forward (the ``candidate_set`` of its pooled ``candidate`` row), and its evidence is that
same variant's out-of-sample results on the walk-forward's folds: the gate judges exactly the policy it promotes.
The registry records every decision with its reasons and moves the promotion pointer atomically; the decision, the
``param_set_id`` and the runs it came from fill the decision section of the day's walk-forward report. Runs share the
``promotion`` pool (limit 1 in dagster.yaml), so two nightly runs never promote at once.
"""

import datetime as dt
import json
import math
import time
from typing import Any

import dagster as dg
import polars as pl

from assets.metadata import rounded_metadata, skipped
from assets.partitions import COIN_DAY, coin_and_date, days_dep
from assets.validation import WALK_FORWARD_SOURCE, calibration_metrics_of, evidence_run, not_computed, report_file
from calibration.fit_result import code_version
from data_lake import param_registry
from data_lake.contract import unaccounted_records
from data_lake.lake import Lake
from data_lake.param_schema import InvalidParameterSet, ParamSet
from assets.resources import DataLakeResource
from validation.candidate import CANDIDATE
from validation.report import decision_section, with_decision
from validation.incumbent import incumbent_variant
from validation.promotion_gate import MISSING, GateConfig, build_evidence, evaluate_gate
from validation.walk_forward_run import POOLED

GROUP = "promotion"
GATE_DATA_QUALITY = "reconciliation"
RUN_STAMPS = frozenset({"run_at_ms"})
"""Walk-forward columns that say when it ran, not what it found: kept out of the evidence, whose hash is the
``param_set_id``, so an identical rerun finds the same set instead of registering a new one."""


class PromotionConfig(dg.Config):
    """The gate's thresholds. The candidate's quoting policy is the walk-forward's (``WalkForwardConfig``): the
    policy that was validated is the one promoted."""

    min_oos_fills: int = 200
    alpha: float = 0.05
    min_paired_periods: int = 30
    require_positive_oos_pnl: bool = True
    require_calibrated_fill_probability: bool = True
    require_calibrated_adverse_selection: bool = True

    def gate(self) -> GateConfig:
        return GateConfig(
            min_oos_fills=self.min_oos_fills,
            alpha=self.alpha,
            min_paired_periods=self.min_paired_periods,
            require_positive_oos_pnl=self.require_positive_oos_pnl,
            require_calibrated_fill_probability=self.require_calibrated_fill_probability,
            require_calibrated_adverse_selection=self.require_calibrated_adverse_selection,
        )


def candidate_set(lake: Lake, coin: str, date: dt.date) -> tuple[dict[str, Any], tuple[int, int]]:
    """The parameters and training window the day's walk-forward built on its last window; ValueError saying why
    there are none."""
    pooled = lake.read_partition("walk_forward", coin, date).filter(
        (pl.col("fold") == POOLED) & (pl.col("variant") == CANDIDATE)
    )
    if not pooled.height:
        raise ValueError(f"the walk-forward of {date} has no complete fold with the {CANDIDATE!r} variant")
    document = pooled["candidate_set"][0]
    if document is None:
        raise ValueError(f"the walk-forward of {date} could not fit the candidate on its last training window")
    found = json.loads(document)
    window = found["training_window"]
    return found["parameters"], (int(window["start_ms"]), int(window["end_ms"]))


def candidate_evidence(lake: Lake, coin: str, date: dt.date, config: PromotionConfig) -> dict[str, Any]:
    """Out-of-sample evidence of the day's walk-forward for the candidate variant; parts that do not exist are left
    out, so the gate fails them by name."""
    variant = CANDIDATE
    pooled = lake.read_partition("walk_forward", coin, date).filter((pl.col("fold") == POOLED) & (pl.col("variant") == variant))
    pnl = lake.read_partition("walk_forward_pnl", coin, date).filter(pl.col("variant") == variant).sort("time")
    calibration = lake.read_partition("calibration_metrics", coin, date).filter(pl.col("source") == WALK_FORWARD_SOURCE.format(variant=variant))
    accounting = lake.read("ingest_accounting", coins=coin, end=date)
    quality = {
        GATE_DATA_QUALITY: (
            bool(accounting.height) and all(unaccounted_records(r) == 0 for r in accounting.iter_rows(named=True)),
            f"{accounting.height} ingested day(s) reconcile exactly",
        )
    }
    metrics = {r["model"]: calibration_metrics_of(r) for r in calibration.iter_rows(named=True)}
    if not pooled.height or pnl.height < 2:
        why = (f"the walk-forward of {date} has no pooled {variant!r} row" if not pooled.height
               else f"the walk-forward of {date} has {pnl.height} P&L period(s) of {variant!r}, the gate pairs at "
                    "least 2")
        return {"data_quality": {k: {"passed": ok, "detail": d} for k, (ok, d) in quality.items()},
                MISSING: {"walk_forward": why}}
    row = pooled.row(0, named=True)
    period_ms = int(pnl["time"].diff().drop_nulls().min())
    return build_evidence(
        folds=int(lake.read_partition("walk_forward", coin, date).filter(pl.col("fold") != POOLED)["fold"].n_unique()),
        oos_fills=int(row["n_fills"]),
        period_ms=period_ms,
        period_start_ms=pnl["time"].to_list(),
        pnl=pnl["pnl"].to_list(),
        fill_calibration=metrics.get("fill_probability"),
        adverse_calibration=metrics.get("adverse_selection"),
        data_quality=quality,
        figures={
            k: float(v)
            for k, v in row.items()
            if k not in RUN_STAMPS and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        },
    )


def incumbent_evidence(lake: Lake, coin: str, date: dt.date, incumbent: ParamSet | None) -> dict[str, Any] | None:
    """What the gate pairs the candidate with: the promoted set's P&L replayed on the day's own test windows
    (:mod:`validation.incumbent`; the walk-forward writes it), else the set's stored evidence, whose periods a later
    candidate does not share (the gate then says so). None without a promoted set (the comparison is "not quoting")."""
    if incumbent is None:
        return None
    replay = (lake.read_partition("walk_forward_pnl", coin, date)
              .filter(pl.col("variant") == incumbent_variant(incumbent.param_set_id)).sort("time"))
    if replay.height < 2:
        return incumbent.evidence
    period_ms = int(replay["time"].diff().drop_nulls().min())
    return {"walk_forward": {"period_ms": period_ms, "pnl_unit": "quote", "period_start_ms": replay["time"].to_list(),
                             "pnl": replay["pnl"].to_list()}}


def _record_in_report(
    lake: Lake, context: dg.AssetExecutionContext, outcome: str, facts: dict[str, str], reasons: list[str]
) -> dict[str, dg.MetadataValue]:
    """Fill the decision section of the (coin, day)'s walk-forward report with the gate's outcome, the set, the runs
    and the reasons; the report's URL as metadata, or a note when the walk-forward wrote no report."""
    coin, date = coin_and_date(context)
    files, rel = lake.files(), report_file(coin, date)
    written = files.read(rel)
    if written is None:
        return {"report": dg.MetadataValue.text(f"none: the walk-forward of {date} wrote no report")}
    runs = {"walk-forward run": evidence_run(context.instance, context.partition_key) or "unknown",
            "gate run": context.run.run_id}
    files.write(rel, with_decision(written.decode(), decision_section(outcome, {**facts, **runs}, reasons)).encode())
    return {"report": dg.MetadataValue.url(files.url(rel))}


@dg.asset(
    partitions_def=COIN_DAY,
    group_name=GROUP,
    deps=["walk_forward", "calibration_metrics", days_dep("param_sets", -1, -1)],
    pool="promotion",
    kinds={"delta"},
)
def param_sets(context: dg.AssetExecutionContext, config: PromotionConfig, data_lake: DataLakeResource) -> dg.MaterializeResult:
    """Build the day's candidate set, run the promotion gate against the promoted set, promote or reject it."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    try:
        parameters, window = candidate_set(lake, coin, date)
        evidence = candidate_evidence(lake, coin, date, config)
        candidate = ParamSet.create(
            coin=coin, window_start_ms=window[0], window_end_ms=window[1], code_version=code_version(),
            parameters=parameters, evidence=evidence, created_at_ms=int(time.time() * 1000),
        )
    except (ValueError, InvalidParameterSet) as exc:
        why = not_computed(context.instance, "walk_forward", context.partition_key)
        reason = f"{exc} ({why})" if why else str(exc)
        context.log.warning(f"no candidate for {coin} {date}: {reason}")
        report = _record_in_report(lake, context, "no candidate", {}, [reason])
        return dg.MaterializeResult(
            metadata={"decision": "no candidate", "reason": reason, **report, **skipped(f"no candidate: {reason}")}
        )
    param_registry.register_candidate(lake.root, candidate)
    try:
        incumbent = param_registry.load_promoted(lake.root, coin).param_set
    except param_registry.NoPromotedSet:
        incumbent = None
    decision = evaluate_gate(candidate.evidence, incumbent_evidence(lake, coin, date, incumbent), config.gate())
    reason = "gate: " + "; ".join(decision.reasons)
    if decision.promote:
        pointer = param_registry.promote(lake.root, coin, candidate.param_set_id, reason)
        outcome = f"promoted (pointer version {pointer.version})"
    else:
        param_registry.reject(lake.root, coin, candidate.param_set_id, reason)
        outcome = "rejected"
    report = _record_in_report(
        lake, context, outcome,
        {"param_set_id": candidate.param_set_id, "incumbent": incumbent.param_set_id if incumbent else "none"},
        decision.reasons,
    )
    return dg.MaterializeResult(
        metadata=rounded_metadata({
            "decision": outcome,
            **report,
            "param_set_id": candidate.param_set_id,
            "incumbent": incumbent.param_set_id if incumbent else "none",
            "gate": dg.MetadataValue.md("\n".join(f"- {r}" for r in decision.reasons)),
            "kappa_per_px": parameters["kappa"]["value"],
            "A_per_s": parameters["arrival_rate"]["value"],
            "sigma_px_per_sqrt_s": parameters["sigma"]["value"],
            "order_size_base": parameters["order_size_base"],
            "quote_by_regime": ", ".join(f"{s}: {q}" for s, q in parameters["quote_by_regime"].items()),
            **{f"adverse_bps_{s}": a["value"] for s, a in parameters["adverse_selection_bps_by_regime"].items()},
        })
    )
