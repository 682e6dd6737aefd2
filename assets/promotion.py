"""The nightly candidate parameter set, the promotion gate and the promotion itself (``param_sets``).

The candidate takes its estimates from the fit tables of the partition's day (training window ending that day),
its per-regime adverse selection from the window's maker-side markouts at the causal regime of its own HMM, and
its evidence from the walk-forward of the same day. The gate decides; the registry records every decision
with its reasons and moves the promotion pointer atomically. Runs share the ``promotion`` pool (limit 1 in
dagster.yaml), so two nightly runs never promote at once.
"""

import datetime as dt
import math
import time
from typing import Any

import dagster as dg
import numpy as np
import polars as pl

from assets.partitions import COIN_DAY, coin_and_date
from assets.regime_state import minute_bars, regime_params
from assets.validation import calibration_metrics_of
from calibration.fit_result import code_version
from calibration.markouts import ADVERSE_HORIZON_MS
from calibration.regimes import RegimeParams, regime_beliefs
from data_lake import param_registry
from data_lake.lake import Lake
from data_lake.param_schema import InvalidParameterSet, ParamSet
from pipelines.resources import DataLakeResource
from validation.promotion_gate import GateConfig, build_evidence, evaluate_gate
from validation.significance import effective_sample_size, newey_west_lags
from validation.walk_forward_run import POOLED

GROUP = "promotion"
GATE_DATA_QUALITY = "reconciliation"


class PromotionConfig(dg.Config):
    """Quoting policy of the candidate (risk and limits are choices, not fits) and the gate's thresholds."""

    gamma_by_regime: dict[str, float] = {"calm": 0.3, "volatile": 0.6, "cascade": 1.5}
    """CARA risk aversion per HMM state, per unit of quote currency."""
    min_spread_bps_by_regime: dict[str, float] = {"calm": 0.0, "volatile": 1.0, "cascade": 5.0}
    order_notional: float = 50.0
    """Quote currency per order."""
    position_limit_orders: float = 5.0
    """Largest |inventory| in orders of ``order_notional``."""
    daily_loss_limit_quote: float = 100.0
    maker_fee_bps: float = 1.5
    sz_decimals: int = 2
    is_spot: bool = False
    cascade_threshold: float = 0.5
    kappa_se_mult: float = 1.0
    evidence_variant: str = "baseline"
    """Walk-forward variant whose out-of-sample results are the candidate's evidence."""
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


def _estimate(rows: pl.DataFrame, model: str, param: str) -> tuple[float, float] | None:
    found = rows.filter(
        (pl.col("model") == model) & (pl.col("segment") == "all") & (pl.col("param") == param) & (pl.col("status") == "ok")
    )
    return (found["value"][0], found["se"][0]) if found.height else None


def _utc_day(ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).date()


def maker_markouts_at_regime(lake: Lake, coin: str, window: tuple[int, int], hmm: RegimeParams) -> pl.DataFrame:
    """The window's market trades seen from the maker side that have a 5 s markout (``time``, ``markout_5000ms_bps``,
    ``adverse_selection_bps``), in time order, each with ``regime``: the argmax of ``hmm``'s causal belief (filtered
    over the window's 1 min bars) known at the fill."""
    first, last = _utc_day(window[0]), _utc_day(window[1] - 1)
    beliefs = regime_beliefs(minute_bars(lake, coin, first, last), hmm).select("time", "regime")
    columns = ["time", "is_market_trade", f"markout_{ADVERSE_HORIZON_MS}ms_bps", "adverse_selection_bps"]
    marked = lake.read("markouts", coins=coin, start=first, end=last, columns=columns).filter(
        pl.col("is_market_trade"), pl.col("time").is_between(window[0], window[1] - 1),
        pl.col("adverse_selection_bps").is_not_null(),
    ).drop("is_market_trade")
    return marked.sort("time").join_asof(beliefs, on="time", strategy="backward").drop_nulls("regime")


def _hac_mean(times: np.ndarray, x: np.ndarray, horizon_ms: int) -> tuple[float, float]:
    """Mean and Newey-West SE. Markouts of fills within one horizon overlap; Bartlett weights fall linearly, so the
    lag is twice the most fills one horizon holds (at least the Newey-West rule)."""
    in_horizon = np.searchsorted(times, times, side="right") - np.searchsorted(times, times - horizon_ms, side="right")
    lags = max(newey_west_lags(x.size), 2 * int(in_horizon.max()))
    return float(x.mean()), float(x.std() / math.sqrt(effective_sample_size(x, lags)))


def mean_by_regime(
    marked: pl.DataFrame, column: str, states: list[str], horizon_ms: int = ADVERSE_HORIZON_MS
) -> dict[str, dict[str, float | int]]:
    """Per state, ``{value, se, n}``: the mean of ``column`` over the fills (``time``-sorted) whose ``regime`` is that
    state with its HAC SE; a state with fewer than 2 fills takes the pooled mean and SE (n says how few it had)."""
    if marked.height < 2:
        raise ValueError(f"{marked.height} maker-side markouts with a causal regime in the window, need at least 2")
    pooled = _hac_mean(marked["time"].to_numpy(), marked[column].to_numpy(), horizon_ms)
    out = {}
    for state in states:
        rows = marked.filter(pl.col("regime") == state)
        own = rows.height >= 2
        value, se = _hac_mean(rows["time"].to_numpy(), rows[column].to_numpy(), horizon_ms) if own else pooled
        out[state] = {"value": value, "se": se, "n": rows.height}
    return out


def candidate_parameters(lake: Lake, coin: str, date: dt.date, config: PromotionConfig) -> tuple[dict[str, Any], tuple[int, int]]:
    """The candidate's parameters from the day's fits, and its training window; ValueError naming what is missing."""
    kappa_rows = lake.read_partition("kappa_fit", coin, date)
    kappa, a, mid = (_estimate(kappa_rows, "fill_intensity", p) for p in ("kappa_px", "A", "mid_ref"))
    sigma_bps = _estimate(lake.read_partition("vol_fit", coin, date), "volatility", "sigma_bv")
    regime_rows = lake.read_partition("regime_fit", coin, date)
    hmm = regime_params(regime_rows)
    missing = [n for n, v in (("kappa", kappa), ("A", a), ("mid_ref", mid), ("sigma_bv", sigma_bps), ("HMM", hmm)) if v is None]
    if missing:
        raise ValueError(f"no usable fit for {', '.join(missing)} on {date} (status not 'ok' or table empty)")
    states = list(hmm.state_names)
    unknown = [s for s in states if s not in config.gamma_by_regime or s not in config.min_spread_bps_by_regime]
    if unknown:
        raise ValueError(f"no gamma / spread floor configured for regime(s) {unknown}")
    window = (int(regime_rows["window_start_ms"].min()), int(regime_rows["window_end_ms"].max()))
    adverse = mean_by_regime(maker_markouts_at_regime(lake, coin, window, hmm), "adverse_selection_bps", states)
    mid_px = mid[0]
    order_size = round(config.order_notional / mid_px, config.sz_decimals)
    parameters = {
        "gamma_per_quote_by_regime": {s: config.gamma_by_regime[s] for s in states},
        "min_spread_bps_by_regime": {s: config.min_spread_bps_by_regime[s] for s in states},
        "kappa": {"value": kappa[0], "se": kappa[1], "unit": "1/px"},
        "arrival_rate": {"value": a[0], "se": a[1], "unit": "1/s per side"},
        "sigma": {"value": sigma_bps[0] * 1e-4 * mid_px, "se": sigma_bps[1] * 1e-4 * mid_px, "unit": "px/sqrt(s)"},
        "hmm": hmm.to_dict(),
        "maker_fee_bps": config.maker_fee_bps,
        "order_size_base": order_size,
        "position_limit_base": round(order_size * config.position_limit_orders, config.sz_decimals),
        "daily_loss_limit_quote": config.daily_loss_limit_quote,
        "sz_decimals": config.sz_decimals,
        "is_spot": config.is_spot,
        "cascade_threshold": config.cascade_threshold,
        "kappa_se_mult": config.kappa_se_mult,
        "adverse_selection_bps_by_regime": adverse,
    }
    return parameters, window


def candidate_evidence(lake: Lake, coin: str, date: dt.date, config: PromotionConfig) -> dict[str, Any]:
    """Out-of-sample evidence of the day's walk-forward for ``config.evidence_variant``; parts that do not exist are
    left out, so the gate fails them by name."""
    variant = config.evidence_variant
    pooled = lake.read_partition("walk_forward", coin, date).filter((pl.col("fold") == POOLED) & (pl.col("variant") == variant))
    pnl = lake.read_partition("walk_forward_pnl", coin, date).filter(pl.col("variant") == variant).sort("time")
    calibration = lake.read_partition("calibration_metrics", coin, date).filter(pl.col("source") == "walk_forward:baseline")
    accounting = lake.read("ingest_accounting", coins=coin, end=date)
    quality = {
        GATE_DATA_QUALITY: (
            bool(accounting.height) and all(
                r["records_in"] + r["spilled_in"] == r["clean_rows"] + r["quarantined"] + r["duplicates"] + r["spilled_out"]
                for r in accounting.iter_rows(named=True)
            ),
            f"{accounting.height} ingested day(s) reconcile exactly",
        )
    }
    metrics = {r["model"]: calibration_metrics_of(r) for r in calibration.iter_rows(named=True)}
    if not pooled.height or pnl.height < 2 or set(metrics) != {"fill_probability", "adverse_selection"}:
        return {"data_quality": {k: {"passed": ok, "detail": d} for k, (ok, d) in quality.items()}}
    row = pooled.row(0, named=True)
    period_ms = int(pnl["time"].diff().drop_nulls().min())
    return build_evidence(
        folds=int(lake.read_partition("walk_forward", coin, date).filter(pl.col("fold") != POOLED)["fold"].n_unique()),
        oos_fills=int(row["n_fills"]),
        period_ms=period_ms,
        period_start_ms=pnl["time"].to_list(),
        pnl=pnl["pnl"].to_list(),
        fill_calibration=metrics["fill_probability"],
        adverse_calibration=metrics["adverse_selection"],
        data_quality=quality,
        figures={k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)},
    )


@dg.asset(
    partitions_def=COIN_DAY,
    group_name=GROUP,
    deps=["kappa_fit", "vol_fit", "regime_fit", "hawkes_fit", "markouts", "walk_forward", "calibration_metrics"],
    pool="promotion",
    kinds={"delta"},
)
def param_sets(context: dg.AssetExecutionContext, config: PromotionConfig, data_lake: DataLakeResource) -> dg.MaterializeResult:
    """Build the day's candidate set, run the promotion gate against the promoted set, promote or reject it."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    try:
        parameters, window = candidate_parameters(lake, coin, date, config)
        evidence = candidate_evidence(lake, coin, date, config)
        candidate = ParamSet.create(
            coin=coin, window_start_ms=window[0], window_end_ms=window[1], code_version=code_version(),
            parameters=parameters, evidence=evidence, created_at_ms=int(time.time() * 1000),
        )
    except (ValueError, InvalidParameterSet) as exc:
        context.log.warning(f"no candidate for {coin} {date}: {exc}")
        return dg.MaterializeResult(metadata={"decision": "no candidate", "reason": str(exc)})
    param_registry.register_candidate(lake.root, candidate)
    try:
        incumbent = param_registry.load_promoted(lake.root, coin).param_set
    except param_registry.NoPromotedSet:
        incumbent = None
    decision = evaluate_gate(candidate.evidence, incumbent.evidence if incumbent else None, config.gate())
    reason = "gate: " + "; ".join(decision.reasons)
    if decision.promote:
        pointer = param_registry.promote(lake.root, coin, candidate.param_set_id, reason)
        outcome = f"promoted (pointer version {pointer.version})"
    else:
        param_registry.reject(lake.root, coin, candidate.param_set_id, reason)
        outcome = "rejected"
    return dg.MaterializeResult(
        metadata={
            "decision": outcome,
            "param_set_id": candidate.param_set_id,
            "incumbent": incumbent.param_set_id if incumbent else "none",
            "gate": dg.MetadataValue.md("\n".join(f"- {r}" for r in decision.reasons)),
            "kappa_per_px": parameters["kappa"]["value"],
            "A_per_s": parameters["arrival_rate"]["value"],
            "sigma_px_per_sqrt_s": parameters["sigma"]["value"],
            "order_size_base": parameters["order_size_base"],
            **{f"adverse_bps_{s}": a["value"] for s, a in parameters["adverse_selection_bps_by_regime"].items()},
        }
    )
