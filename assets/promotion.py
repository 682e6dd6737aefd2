"""The nightly candidate parameter set, the promotion gate and the promotion itself (``param_sets``).

The candidate is the parameter set :func:`validation.experiments.candidate.candidate_parameters` built on the last
training window by the day's walk-forward (the ``candidate_set`` of its pooled ``candidate`` row), and its evidence is
that same variant's out-of-sample results on the walk-forward's folds: the gate judges exactly the policy it promotes.
The registry records every decision with its reasons and moves the promotion pointer atomically; the decision, the
``param_set_id`` and the runs it came from fill the decision section of the day's walk-forward report. Runs share the
``promotion`` pool (limit 1 in dagster.yaml), so two nightly runs never promote at once.
"""

import datetime as dt
import time

import dagster as dg

from assets.evidence import evidence_run, not_computed
from assets.metadata import skipped
from assets.partitions import COIN_DAY, coin_and_date, days_dep
from assets.resources import DataLakeResource
from calibration.fit_result import code_version
from data_lake import param_registry
from data_lake.lake import Lake
from data_lake.param_schema import InvalidParameterSet, ParamSet
from data_lake.table_preview import rounded_metadata
from validation.decisions.promotion_evidence import candidate_evidence, incumbent_evidence
from validation.decisions.promotion_gate import GateConfig, evaluate_gate
from validation.reporting.report import decision_section, report_file, with_decision
from validation.tables.candidate_set import stored_candidate

GROUP = "promotion"
_GATE = GateConfig()


class PromotionConfig(dg.Config):
    """The gate's thresholds (:class:`validation.decisions.promotion_gate.GateConfig`, whose defaults they are). The
    candidate's quoting policy is the walk-forward's (``WalkForwardConfig``): the policy that was validated is the one
    promoted."""

    min_oos_fills: int = _GATE.min_oos_fills
    alpha: float = _GATE.alpha
    min_paired_periods: int = _GATE.min_paired_periods
    require_positive_oos_pnl: bool = _GATE.require_positive_oos_pnl
    require_calibrated_fill_probability: bool = _GATE.require_calibrated_fill_probability
    require_calibrated_adverse_selection: bool = _GATE.require_calibrated_adverse_selection

    def gate(self) -> GateConfig:
        return GateConfig(**self.model_dump())


def _candidate(lake: Lake, coin: str, date: dt.date) -> ParamSet:
    """The day's candidate set: the parameters the walk-forward built on its last window with the candidate
    variant's out-of-sample evidence; ValueError or InvalidParameterSet saying why there is none."""
    walk_forward = lake.read_partition("walk_forward", coin, date)
    parameters, window = stored_candidate(walk_forward, date)
    evidence = candidate_evidence(
        walk_forward,
        lake.read_partition("walk_forward_pnl", coin, date),
        lake.read_partition("calibration_metrics", coin, date),
        lake.read("ingest_accounting", coins=coin, end=date),
        date,
    )
    return ParamSet.create(
        coin=coin,
        window_start_ms=window[0],
        window_end_ms=window[1],
        code_version=code_version(),
        parameters=parameters,
        evidence=evidence,
        created_at_ms=int(time.time() * 1000),
    )


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
    runs = {
        "walk-forward run": evidence_run(context.instance, context.partition_key) or "unknown",
        "gate run": context.run.run_id,
    }
    files.write(rel, with_decision(written.decode(), decision_section(outcome, {**facts, **runs}, reasons)).encode())
    return {"report": dg.MetadataValue.url(files.url(rel))}


@dg.asset(
    partitions_def=COIN_DAY,
    group_name=GROUP,
    deps=["walk_forward", "calibration_metrics", days_dep("param_sets", -1, -1)],
    pool="promotion",
    kinds={"delta"},
)
def param_sets(
    context: dg.AssetExecutionContext, config: PromotionConfig, data_lake: DataLakeResource
) -> dg.MaterializeResult:
    """Build the day's candidate set, run the promotion gate against the promoted set, promote or reject it."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    try:
        candidate = _candidate(lake, coin, date)
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
    paired = (
        None
        if incumbent is None
        else incumbent_evidence(
            lake.read_partition("walk_forward_pnl", coin, date), incumbent.param_set_id, incumbent.evidence
        )
    )
    decision = evaluate_gate(candidate.evidence, paired, config.gate())
    reason = "gate: " + "; ".join(decision.reasons)
    if decision.promote:
        pointer = param_registry.promote(lake.root, coin, candidate.param_set_id, reason)
        outcome = f"promoted (pointer version {pointer.version})"
    else:
        param_registry.reject(lake.root, coin, candidate.param_set_id, reason)
        outcome = "rejected"
    parameters = candidate.parameters.to_dict()
    report = _record_in_report(
        lake,
        context,
        outcome,
        {"param_set_id": candidate.param_set_id, "incumbent": incumbent.param_set_id if incumbent else "none"},
        decision.reasons,
    )
    return dg.MaterializeResult(
        metadata=rounded_metadata(
            {
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
            }
        )
    )
