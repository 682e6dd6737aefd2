"""Validation per (coin, day): walk-forward of the variants with its report, calibration metrics, signal quality,
alerts, and the alerts again as asset checks.

The walk-forward's window ends with the partition's day: ``n_folds`` rolling folds of ``train_hours`` then
``test_hours`` (60 d / 7 d by default; hours for the demo), cut short where the lake's book starts. It runs once the
book covers one train and one test window (covered time: capture gaps over a minute do not count); until then it
says, in covered hours, what it has and what it needs. No false green: a run that cannot compute keeps the evidence an
earlier run left in the partition (never erases it) and says so in ``skipped`` / ``kept_earlier_result``; the checks
fail on any partition without fresh evidence, with the reason. The report is one self-contained HTML file in the lake,
``{lake_root}/reports/{coin}/{date}.html`` (local or ``s3://``), linked from the metadata as a URL; ``param_sets``
fills its promotion-decision section.
Times are UTC epoch ms; ``time`` of the calibration, signal and alert rows is the end of the evaluated window.
"""

import datetime as dt
import json
import math
import time
from collections.abc import Iterator
from typing import Any

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from assets.lead_lag import leader_mids_for_folds
from assets.metadata import SKIPPED, rounded, skipped
from assets.partitions import COIN_DAY, coin_and_date, days_dep
from assets.quality import day_bounds_ms
from assets.resources import DataLakeResource
from assets.verdicts import (
    COMPONENT_VERDICTS_SPEC,
    component_verdict_rows,
    materialise_component_verdicts,
)
from calibration.fit_result import InsufficientSamples, code_version
from data_lake.lake import Lake
from data_lake.tables import BOOK_LEVELS, CALIBRATION_METRICS, COMPONENT_VERDICT, WALK_FORWARD, WALK_FORWARD_PNL
from validation.alerts import (
    Alert,
    AlertKind,
    adverse_selection_alerts,
    calibration_alerts,
    information_ratio_alert,
    signal_alerts,
)
from validation.backtest import BacktestConfig
from validation.calibration_metrics import (
    AdverseSelectionCalibration,
    CalibrationMetrics,
    adverse_selection_calibration,
)
from validation.component_verdict import diagnosis_section
from validation.quoter_scoring import live_fill_calibration
from validation.report import pending_decision, with_decision
from validation.signal_quality import MIN_WINDOW_SAMPLES, SignalQuality
from validation.signal_quality import signal_quality as measure_signal
from data_lake import param_registry
from data_lake.param_schema import InvalidParameterSet, json_safe
from data_lake.raw_zone import coin_file_name
from validation.candidate import CANDIDATE
from validation.fold_cache import FoldCache
from data_lake.leaders import leaders_of
from validation.incumbent import incumbent_period_pnl, incumbent_variant
from validation.variants import BASELINE, LEADER_MIDS, VariantConfig
from validation.walk_forward import MAX_GAP_MS, Fold, covered_ms, rolling_folds
from validation.walk_forward_run import POOLED, WalkForwardRun, final_candidate, report_html, walk_forward
from data_lake.units import DAY_MS, HOUR_MS, MINUTE_MS

GROUP = "validation"
WALK_FORWARD_TABLES = ("walk_forward", "walk_forward_pnl", "calibration_metrics", "diagnosis")
"""The tables (and assets) one walk-forward run writes together."""
EVIDENCE_RUN = "evidence_run_id"
"""Metadata key: the run whose walk-forward evidence the partition holds (this run's, or the one a skip kept)."""
KEPT = "kept_earlier_result"
"""Metadata key of a skipped run that kept the partition's earlier evidence: whose it is."""
WALK_FORWARD_SOURCE = "walk_forward:{variant}"
"""``source`` of the walk-forward's calibration rows, by evidence variant (the candidate when it ran)."""
LIVE_SOURCE = "live"
BOOK_COLUMNS = [
    "coin", "time", "source", "mid",
    *(f"{side}_{field}_{i}" for i in range(1, BOOK_LEVELS + 1) for side in ("bid", "ask") for field in ("px", "sz")),
]
TRADE_COLUMNS = ["coin", "time", "tid", "px", "sz", "side", "buyer", "seller", "hash"]


class WalkForwardConfig(dg.Config):
    """Fold lengths (hours), the quoting policy of the variants and the significance level. Set the fold lengths in
    the run config (``ops.walk_forward_assets.config``) or with ``python -m pipelines.run --train-hours
    --test-hours --folds``."""

    train_hours: float = Field(default=60 * 24, gt=0)
    test_hours: float = Field(default=7 * 24, gt=0)
    n_folds: int = Field(default=4, ge=1)
    """Folds wanted; fewer when the lake's book starts later than n_folds test windows after a full train."""
    sz_decimals: int = 2
    order_notional: float = 50.0
    """Quote currency per quote."""
    gamma: float = 0.3
    min_spread_bps: float = 0.0
    candidate_gamma_by_regime: list[float] = [0.3, 0.6, 1.5]
    """The candidate's gamma of the calm, volatile and cascade HMM states."""
    candidate_min_spread_bps_by_regime: list[float] = [0.0, 1.0, 5.0]
    edge_z: float = 1.0
    """The candidate quotes in a state only where its train net edge per fill is this many HAC SEs above 0."""
    daily_loss_limit_quote: float = 100.0
    vpin_buckets_per_day: int = 50
    vpin_window: int = 50
    fill_model: str = "queue"
    period_seconds: int = 60
    """P&L bucket of the paired significance tests."""
    alpha: float = 0.05
    leader: str = ""
    """Coin whose large mid moves the component verdicts' lead-lag row tests fills against; empty: the coin's first
    configured leader (:mod:`data_lake.leaders`, ``$SMALLFISH_LEADERS``, by default BTC; none for a coin without
    one)."""

    def variant_config(self) -> VariantConfig:
        return VariantConfig(
            sz_decimals=self.sz_decimals,
            order_notional=self.order_notional,
            gamma=self.gamma,
            min_spread_bps=self.min_spread_bps,
            candidate_gamma_by_regime=tuple(self.candidate_gamma_by_regime),
            candidate_min_spread_bps_by_regime=tuple(self.candidate_min_spread_bps_by_regime),
            edge_z=self.edge_z,
            daily_loss_limit_quote=self.daily_loss_limit_quote,
            vpin_buckets_per_day=self.vpin_buckets_per_day,
            vpin_window=self.vpin_window,
            period_ms=self.period_seconds * 1000,
            backtest=BacktestConfig(fill_model=self.fill_model),
        )

    def train_ms(self) -> int:
        return round(self.train_hours * HOUR_MS)

    def test_ms(self) -> int:
        return round(self.test_hours * HOUR_MS)

    def lookback_ms(self) -> int:
        """How far before its end the walk-forward reads: one train window and ``n_folds`` test windows."""
        return self.train_ms() + self.n_folds * self.test_ms()

    def one_fold_ms(self) -> int:
        """Covered book time one fold needs: one train and one test window."""
        return self.train_ms() + self.test_ms()

    def no_fold_reason(self, covered: int, date: dt.date) -> str:
        """Why there is no fold when the book covers ``covered`` ms of the lookback ending with ``date``."""
        return (
            f"no fold: the book covers {covered / HOUR_MS:.2f} h of the {self.lookback_ms() / HOUR_MS:g} h up to the "
            f"end of {date} (gaps over {MAX_GAP_MS // 1000} s left out); one fold needs "
            f"{self.one_fold_ms() / HOUR_MS:g} h covered (train_hours {self.train_hours:g} + test_hours "
            f"{self.test_hours:g}), {self.n_folds} folds {self.lookback_ms() / HOUR_MS:g} h; fold lengths: "
            f"python -m pipelines.run --train-hours/--test-hours/--folds, or walk_forward_assets' run config"
        )

    def folds(self, first_ms: int, end_ms: int) -> list[Fold]:
        """``n_folds`` folds ending at ``end_ms``, none reaching before ``first_ms``; none when [first_ms, end_ms)
        is shorter than one train and one test window."""
        start = max(end_ms - self.lookback_ms(), first_ms)
        if end_ms - start < self.one_fold_ms():
            return []
        return rolling_folds(start, end_ms, train_ms=self.train_ms(), test_ms=self.test_ms())


def _days(start_ms: int, end_ms: int) -> tuple[dt.date, dt.date]:
    """The first and last UTC day touching [start_ms, end_ms)."""
    return (dt.datetime.fromtimestamp(start_ms / 1000, tz=dt.UTC).date(),
            dt.datetime.fromtimestamp((end_ms - 1) / 1000, tz=dt.UTC).date())


def _market(lake: Lake, coin: str, first: dt.date, last: dt.date) -> dict[str, pl.DataFrame]:
    """The walk-forward's lake frames of ``coin`` over the days [first, last]."""
    return {
        "trades": lake.read("trades", coins=coin, start=first, end=last, columns=TRADE_COLUMNS),
        "book": lake.read("book", coins=coin, start=first, end=last, columns=BOOK_COLUMNS).filter(
            pl.col("mid").is_not_null()
        ),
        "features": lake.read("features", coins=coin, start=first, end=last),
        "markouts": lake.read("markouts", coins=coin, start=first, end=last).filter(pl.col("is_market_trade")),
    }


def _book_times(lake: Lake, coin: str, start_ms: int, end_ms: int) -> pl.Series:
    """Times of ``coin``'s book rows in [start_ms, end_ms)."""
    first, last = _days(start_ms, end_ms)
    book = lake.read("book", coins=coin, start=first, end=last, columns=["time"])
    return book.filter(pl.col("time").is_between(start_ms, end_ms, closed="left"))["time"]


def report_file(coin: str, date: dt.date) -> str:
    """The (coin, day)'s HTML report, relative to the lake root (a local directory or an ``s3://`` prefix)."""
    return f"reports/{coin_file_name(coin).replace(':', '_')}/{date.isoformat()}.html"


def _calibration_row(metrics: CalibrationMetrics | AdverseSelectionCalibration, model: str, source: str) -> dict:
    row: dict[str, Any] = {
        "source": source,
        "model": model,
        "n": metrics.n,
        "slope": metrics.slope,
        "slope_ci_low": metrics.slope_ci[0],
        "slope_ci_high": metrics.slope_ci[1],
        "intercept": metrics.intercept,
        "intercept_ci_low": metrics.intercept_ci[0],
        "intercept_ci_high": metrics.intercept_ci[1],
        "confidence": metrics.confidence,
        "well_calibrated": metrics.is_well_calibrated,
    }
    if isinstance(metrics, CalibrationMetrics):
        return row | {
            name: getattr(metrics, name)
            for name in ("base_rate", "brier", "reliability", "resolution", "uncertainty", "ece", "skill_score")
        }
    return row | {
        "bias": metrics.bias,
        "bias_ci_low": metrics.bias_ci[0],
        "bias_ci_high": metrics.bias_ci[1],
        **{name: getattr(metrics, name) for name in ("mse", "mse_bias", "mse_regression", "mse_disturbance")},
    }


def calibration_rows(
    run: WalkForwardRun, live: pl.DataFrame, quote_log: pl.DataFrame, trades: pl.DataFrame
) -> list[dict]:
    """Calibration of the walk-forward evidence's out-of-sample predictions and of the live quoter's: its logged fill
    probabilities scored on the prints they predict (``quote_log``: the ``quoter_log`` table, ``trades`` the
    market's prints, :mod:`validation.quoter_scoring`) and its own fills' ``pred_adverse_bps`` (``live``)."""
    complete = [f for f in run.folds if f.index in run.complete_folds]
    window = {
        "window_start_ms": min((f.test_start_ms for f in complete), default=None),
        "window_end_ms": max((f.test_end_ms for f in complete), default=None),
    }
    predictions = (("fill_probability", run.fill_calibration), ("adverse_selection", run.adverse_calibration))
    rows = [
        _calibration_row(metrics, model, WALK_FORWARD_SOURCE.format(variant=run.evidence_variant)) | window
        for model, metrics in predictions
        if metrics is not None
    ]
    fill = live_fill_calibration(quote_log, trades, live)
    if fill is not None:
        metrics, (start, end) = fill
        rows.append(_calibration_row(metrics, "fill_probability", LIVE_SOURCE)
                    | {"window_start_ms": start, "window_end_ms": end})
    scored = live.filter(pl.col("pred_adverse_bps").is_not_null() & pl.col("adverse_selection_bps").is_not_null())
    if scored.height >= 3:
        metrics = adverse_selection_calibration(
            scored["pred_adverse_bps"].to_numpy(), scored["adverse_selection_bps"].to_numpy()
        )
        live_window = {"window_start_ms": int(scored["time"].min()), "window_end_ms": int(scored["time"].max()) + 1}
        rows.append(_calibration_row(metrics, "adverse_selection", LIVE_SOURCE) | live_window)
    return rows


def candidate_set_json(data: dict[str, pl.DataFrame], end_ms: int, config: WalkForwardConfig) -> tuple[str | None, str]:
    """The ``candidate_set`` column: what :func:`validation.walk_forward_run.final_candidate` builds on the last
    training window, as JSON, and a line saying what it is (or why there is none)."""
    try:
        fit = final_candidate(data, end_ms, config.train_ms(), config.variant_config())
    except (InsufficientSamples, ValueError) as exc:
        return None, f"no candidate on the last training window: {exc}"
    document = {"training_window": {"start_ms": fit.window[0], "end_ms": fit.window[1]}, "parameters": fit.parameters}
    quoted = [e.regime for e in fit.edges if e.quote]
    return json.dumps(json_safe(document), sort_keys=True), f"candidate quotes in {quoted or 'no state'}"


def _verdicts_md(rows: pl.DataFrame) -> str:
    pooled = rows.filter((pl.col("fold") == POOLED) & (pl.col("variant") != BASELINE))
    lines = [
        "| variant | verdict | p-value | effect / period (90% CI) | n periods | n_eff | fills |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in pooled.iter_rows(named=True):
        effect = "n/a" if r.get("effect_per_period") is None else (
            f"{r['effect_per_period']:.4g} [{r['effect_ci_low']:.4g}, {r['effect_ci_high']:.4g}]"
        )
        p = "n/a" if r.get("p_value") is None else f"{r['p_value']:.3g}"
        n_eff = "n/a" if r.get("n_effective") is None else f"{r['n_effective']:.0f}"
        lines.append(
            f"| {r['variant']} | {r['verdict']} | {p} | {effect} | {r['n_periods']} | {n_eff} | {r['n_fills']} |"
        )
    return "\n".join(lines)


def _finite(value: float | None) -> float:
    """A metadata figure: NaN for a missing or non-finite value, else rounded to 4 significant figures."""
    return rounded(float(value)) if value is not None and math.isfinite(value) else float("nan")


WALK_FORWARD_DAYS = math.ceil(WalkForwardConfig().lookback_ms() / DAY_MS)
WALK_FORWARD_READS = [days_dep(name, 1 - WALK_FORWARD_DAYS) for name in ("trades", "book", "features", "markouts")]
"""The walk-forward reads every day its default folds span (60 d train + 4 x 7 d test: 88 days ending with the
partition's); shorter folds (the demo's) read a subset, longer ones days Dagster does not order it after."""


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "walk_forward",
            deps=WALK_FORWARD_READS,
            partitions_def=COIN_DAY,
            group_name=GROUP,
            kinds={"delta", "polars"},
            description="Every variant over rolling train/test folds: verdicts, SPA, DSR, PBO and the HTML report.",
        ),
        dg.AssetSpec(
            "walk_forward_pnl",
            deps=["trades", "book", "features", "markouts"],
            partitions_def=COIN_DAY,
            group_name=GROUP,
            kinds={"delta", "polars"},
            description="Out-of-sample P&L per period of every variant on the walk-forward's test windows: the "
                        "promotion gate's paired comparison reads it.",
        ),
        dg.AssetSpec(
            "calibration_metrics",
            deps=[*WALK_FORWARD_READS, days_dep("quoter_log", 1 - WALK_FORWARD_DAYS)],
            partitions_def=COIN_DAY,
            group_name=GROUP,
            kinds={"delta", "polars"},
            description="Calibration of fill probabilities and adverse selection: the walk-forward's evidence and the "
                        "live quoter's logged predictions.",
        ),
        COMPONENT_VERDICTS_SPEC,
    ],
)
def walk_forward_assets(
    context: dg.AssetExecutionContext, config: WalkForwardConfig, data_lake: DataLakeResource
) -> Iterator[dg.MaterializeResult]:
    """Walk-forward validation of the variants ending with the partition's day, and the calibration of the baseline's
    out-of-sample predictions (and of the live quoter's, when own fills carry predictions)."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    _, end_ms = day_bounds_ms(date)
    book_times = _book_times(lake, coin, end_ms - config.lookback_ms(), end_ms)
    covered = covered_ms(book_times)
    folds = config.folds(int(book_times.min()), end_ms) if covered >= config.one_fold_ms() else []
    covered_hours = covered / HOUR_MS
    if not folds:  # not an error (too little history yet), but no evidence either: see _skip_walk_forward
        reason = config.no_fold_reason(covered, date)
        context.log.info(reason)
        yield from _skip_walk_forward(context, lake, WALK_FORWARD.empty(), reason, book_covered_hours=covered_hours)
        return
    first, last = _days(folds[0].train_start_ms, end_ms)
    market = _market(lake, coin, first, last)
    fit_hours = config.variant_config().lead_lag_fit_hours
    market[LEADER_MIDS] = leader_mids_for_folds(lake, leaders_of(coin), folds, fit_hours)
    cache = FoldCache(lake.files(), coin)
    run = walk_forward(folds, market, config.variant_config(), alpha=config.alpha, cache=cache)
    for reason in cache.rejected:
        context.log.warning(f"walk-forward fold cache: {reason}")
    now_ms = int(time.time() * 1000)
    stamp = {"coin": coin, "date": date, "code_version": code_version(), "run_at_ms": now_ms}
    if not run.complete_folds:  # e.g. no trades in the folds: each fold's row says why; no evidence, no report
        reasons = "; ".join(dict.fromkeys(run.rows["warnings"].to_list()))
        rows = run.rows.with_columns(**{k: pl.lit(v) for k, v in stamp.items()})
        yield from _skip_walk_forward(context, lake, rows, f"no complete fold of {len(folds)}: {reasons}")
        return
    candidate_set, candidate_note = candidate_set_json(market, end_ms, config)
    leader = config.leader or next(iter(leaders_of(coin)), "")
    verdicts = component_verdict_rows(lake, run, market, config.variant_config(), coin, leader, (first, last))
    rows = run.rows.with_columns(**{k: pl.lit(v) for k, v in stamp.items()}).with_columns(
        candidate_set=pl.when((pl.col("fold") == POOLED) & (pl.col("variant") == CANDIDATE))
        .then(pl.lit(candidate_set, dtype=pl.String))
    )
    wf_version = lake.write_partition("walk_forward", rows, coin, date)
    period_pnl = run.pnl.unpivot(index=["fold", "time"], variable_name="variant", value_name="pnl")
    incumbent_pnl, incumbent_note = _incumbent_replay(lake, coin, run, market, config.variant_config())
    period_pnl = pl.concat([period_pnl, incumbent_pnl], how="vertical_relaxed")
    pnl_version = lake.write_partition(
        "walk_forward_pnl", period_pnl.with_columns(coin=pl.lit(coin), date=pl.lit(date)), coin, date
    )
    files = lake.files()
    html = report_html(run, f"{coin} walk-forward validation, {date.isoformat()}", now_ms, [diagnosis_section(verdicts)])
    files.write(report_file(coin, date), with_decision(html, pending_decision(context.run.run_id)).encode())

    live = lake.read("markouts", coins=coin, start=first, end=last).filter(~pl.col("is_market_trade"))
    quote_log = lake.read("quoter_log", coins=coin, start=first, end=last)
    found = calibration_rows(run, live, quote_log, market["trades"])
    calibration = (
        pl.DataFrame(found, infer_schema_length=None).with_columns(
            coin=pl.lit(coin), date=pl.lit(date), time=pl.col("window_end_ms")
        )
        if found
        else CALIBRATION_METRICS.empty()
    )
    cal_version = lake.write_partition("calibration_metrics", calibration, coin, date)

    pooled = run.rows.filter(pl.col("fold") == POOLED)
    base = pooled.filter(pl.col("variant") == BASELINE).row(0, named=True) if pooled.height else {}
    fill = run.fill_calibration
    yield dg.MaterializeResult(
        asset_key="walk_forward",
        metadata={
            "dagster/row_count": rows.height,
            "delta_version": wf_version,
            "report": dg.MetadataValue.url(files.url(report_file(coin, date))),
            EVIDENCE_RUN: context.run.run_id,
            "folds": len(folds),
            "complete_folds": len(run.complete_folds),
            "fold_cache": cache.summary(),
            "book_covered_hours": covered_hours,
            "verdicts": dg.MetadataValue.md(_verdicts_md(run.rows)),
            "spa_p_value": _finite(run.spa.spa_consistent if run.spa else None),
            "reality_check_p_value": _finite(run.spa.reality_check if run.spa else None),
            "best_variant": run.best_variant or "n/a",
            "trials": ", ".join(run.trials),
            "candidate": candidate_note,
            "dsr_of_best": _finite(run.dsr.dsr if run.dsr else None),
            "pbo": _finite(run.pbo.pbo if run.pbo else None),
            "n_periods": run.pnl.height,
            "baseline_pnl_quote": _finite(base.get("pnl")),
            "baseline_sharpe_per_period": _finite(base.get("sharpe_per_period")),
            "baseline_information_ratio": _finite(run.information_ratio.get(BASELINE)),
            "baseline_fills": int(base.get("n_fills", 0)),
        },
    )
    yield dg.MaterializeResult(
        asset_key="walk_forward_pnl",
        metadata={"dagster/row_count": period_pnl.height, "delta_version": pnl_version,
                  EVIDENCE_RUN: context.run.run_id,
                  "variants": period_pnl["variant"].n_unique(), "periods": run.pnl.height,
                  "incumbent": incumbent_note},
    )
    predicted, actual = _finite(base.get("predicted_fill_rate")), _finite(base.get("actual_fill_rate"))
    yield dg.MaterializeResult(
        asset_key="calibration_metrics",
        metadata={
            "dagster/row_count": calibration.height,
            "delta_version": cal_version,
            EVIDENCE_RUN: context.run.run_id,
            "fill_brier": _finite(fill.brier if fill else None),
            "fill_predicted_vs_actual": f"{predicted:.4f} vs {actual:.4f} (n = {fill.n} quotes)" if fill else "n/a",
            "fill_slope_95ci": f"{fill.slope:.3f} [{fill.slope_ci[0]:.3f}, {fill.slope_ci[1]:.3f}]" if fill else "n/a",
            "fill_well_calibrated": bool(fill.is_well_calibrated) if fill else False,
        },
    )
    yield materialise_component_verdicts(lake, verdicts, coin, date, stamp)


def _incumbent_replay(
    lake: Lake, coin: str, run: WalkForwardRun, market: dict[str, pl.DataFrame], config: VariantConfig
) -> tuple[pl.DataFrame, str]:
    """The promoted set replayed unchanged on the run's complete folds (``walk_forward_pnl`` rows of variant
    ``incumbent:<id>``, what the gate pairs the candidate with) and a line saying what was replayed, or why not."""
    empty = pl.DataFrame(schema={"fold": pl.Int32, "time": pl.Int64, "variant": pl.String, "pnl": pl.Float64})
    try:
        promoted = param_registry.load_promoted(lake.root, coin).param_set
    except param_registry.NoPromotedSet:
        return empty, "none promoted: the gate compares with not quoting"
    except InvalidParameterSet as exc:
        return empty, f"the promoted set cannot be read ({exc}): not replayed"
    complete = [f for f in run.folds if f.index in run.complete_folds]
    try:
        pnl = incumbent_period_pnl(complete, market, promoted.parameters.to_dict(), config)
    except ValueError as exc:
        return empty, f"{promoted.param_set_id} not replayed: {exc}"
    name = incumbent_variant(promoted.param_set_id)
    note = f"{promoted.param_set_id} replayed on {pnl['fold'].n_unique()} of {len(complete)} folds"
    return pnl.select("fold", "time", pl.lit(name).alias("variant"), "pnl"), note


def _skip_walk_forward(
    context: dg.AssetExecutionContext, lake: Lake, rows: pl.DataFrame, reason: str, **figures: float
) -> Iterator[dg.MaterializeResult]:
    """This run has no walk-forward evidence. When the partition holds an earlier run's evidence, keep it (its tables
    and report) rather than erase it: a relaunch with fold lengths the lake cannot fill must not destroy the day's
    validation. Otherwise write ``rows`` (the folds' statuses, or none) and no P&L, calibration or component verdict rows. Either way every
    asset says why in ``skipped`` (and what it kept), and the checks of the partition fail on it."""
    coin, date = coin_and_date(context)
    kept = _earlier_evidence(context.instance, context.partition_key, lake, coin, date)
    if kept is not None:
        context.log.warning(f"{coin} {date}: {reason}; kept {kept}")
        files = lake.files()
        report = ({"report": dg.MetadataValue.url(files.url(report_file(coin, date)))}
                  if files.stamp(report_file(coin, date)) else {})
        for name in WALK_FORWARD_TABLES:
            yield dg.MaterializeResult(
                asset_key=name,
                metadata={"dagster/row_count": lake.read_partition(name, coin, date, columns=["coin"]).height,
                          "delta_version": _version(lake, name), **figures, **report, **skipped(reason),
                          KEPT: dg.MetadataValue.text(kept)},
            )
        return
    context.log.warning(f"{coin} {date}: {reason}")
    empty = {"walk_forward": rows, "walk_forward_pnl": WALK_FORWARD_PNL.empty(),
             "calibration_metrics": CALIBRATION_METRICS.empty(), "diagnosis": COMPONENT_VERDICT.empty()}
    for name in WALK_FORWARD_TABLES:
        version = lake.write_partition(name, empty[name], coin, date)
        yield dg.MaterializeResult(
            asset_key=name,
            metadata={"dagster/row_count": empty[name].height, "delta_version": version, **figures, **skipped(reason)},
        )


def _version(lake: Lake, name: str) -> int:
    """The table's current Delta version (-1 when it does not exist yet)."""
    version = lake.version(name)
    return -1 if version is None else version


def _earlier_evidence(instance: dg.DagsterInstance, partition: str, lake: Lake, coin: str, date: dt.date) -> str | None:
    """What the partition's ``walk_forward`` holds from an earlier run with evidence (a pooled row), or None."""
    pooled = lake.read_partition("walk_forward", coin, date, columns=["fold", "run_at_ms", "code_version"]).filter(
        pl.col("fold") == POOLED
    )
    if not pooled.height:
        return None
    run_id = evidence_run(instance, partition) or "unknown"
    written = dt.datetime.fromtimestamp(pooled["run_at_ms"][0] / 1000, dt.UTC).isoformat(timespec="seconds")
    return f"the evidence of run {run_id}, written {written} by code {pooled['code_version'][0]}"


def _materialisations(instance: dg.DagsterInstance, asset: str, partition: str, limit: int = 50) -> list[dict]:
    """Metadata values of the partition's latest materialisations of ``asset``, newest first."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=limit
    ).records
    return [{k: v.value for k, v in r.asset_materialization.metadata.items()}
            for r in records if r.asset_materialization is not None]


def not_computed(instance: dg.DagsterInstance, asset: str, partition: str) -> str | None:
    """Why the latest materialisation of ``asset``'s partition computed nothing (and what it kept), or None."""
    latest = _materialisations(instance, asset, partition, limit=1)
    if not latest or SKIPPED not in latest[0]:
        return None
    kept = latest[0].get(KEPT)
    kept_note = f"; the partition keeps {kept}" if kept else ""
    return f"the latest run could not compute it: {latest[0][SKIPPED]}{kept_note}"


def evidence_run(instance: dg.DagsterInstance, partition: str) -> str | None:
    """The run whose evidence the partition's ``walk_forward`` holds (recorded as ``evidence_run_id``)."""
    return next((m[EVIDENCE_RUN] for m in _materialisations(instance, "walk_forward", partition) if EVIDENCE_RUN in m),
                None)


# ---------------------------------------------------------------------------------------------------------------
# signal quality


class SignalQualityConfig(dg.Config):
    """Lookback (days, ending with the partition's day), MI trend windows (hours) and permutations."""

    lookback_days: int = 7
    window_hours: float = 24.0
    n_permutations: int = 199


def signal_samples(markouts: pl.DataFrame, minute_bars: pl.DataFrame) -> dict[tuple[str, str], pl.DataFrame]:
    """(signal, target) -> ``time, signal, target``: book imbalance on the maker's side against the maker's 5 s
    markout per market trade, and VPIN at a minute's end against the next minute's realized variance."""
    maker = markouts.filter(pl.col("is_market_trade") & pl.col("markout_5000ms_bps").is_not_null())
    bars = minute_bars.sort("time").with_columns(target=pl.col("rv").shift(-1))
    return {
        (f"{name} x maker side", "markout_5000ms_bps"): maker.select(
            "time", signal=pl.col(name) * pl.col("side"), target=pl.col("markout_5000ms_bps")
        ).drop_nulls()
        for name in ("imbalance_1", "imbalance_5")
    } | {("vpin", "next_minute_rv"): bars.select("time", signal=pl.col("vpin"), target="target").drop_nulls()}


def _signal_row(signal: str, target: str, sample: pl.DataFrame, config: SignalQualityConfig) -> dict:
    window_ms = round(config.window_hours * HOUR_MS)
    row: dict[str, Any] = {"signal": signal, "target": target, "n": sample.height, "window_ms": window_ms}
    try:
        q = measure_signal(
            sample["signal"].to_numpy(), sample["target"].to_numpy(), sample["time"].to_numpy(),
            window_ms=window_ms, n_permutations=config.n_permutations,
        )
    except InsufficientSamples:
        return row
    return row | {
        "mutual_information": q.mutual_information,
        "p_value": q.p_value,
        "n_bins": q.n_bins,
        "window_start_ms": q.window_start_ms.tolist(),
        "window_mi": q.window_mi.tolist(),
        "window_n": q.window_n.tolist(),
        "slope_per_day": q.slope_per_day,
        "slope_ci_low": q.slope_ci[0],
        "slope_ci_high": q.slope_ci[1],
        "half_life_days": q.half_life_days,
        "half_life_ci_low": q.half_life_ci[0],
        "half_life_ci_high": q.half_life_ci[1],
        "confidence": q.confidence,
        "is_decaying": q.is_decaying,
    }


@dg.asset(
    partitions_def=COIN_DAY,
    group_name=GROUP,
    deps=[days_dep(name, 1 - SignalQualityConfig().lookback_days) for name in ("features", "markouts")],
    kinds={"delta", "polars"},
)
def signal_quality(
    context: dg.AssetExecutionContext, config: SignalQualityConfig, data_lake: DataLakeResource
) -> dg.MaterializeResult:
    """Mutual information of book imbalance and VPIN with what they should predict, its trend and half-life."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    first = date - dt.timedelta(days=config.lookback_days - 1)
    markouts = lake.read("markouts", coins=coin, start=first, end=date)
    minute = lake.read("features", coins=coin, start=first, end=date).filter(pl.col("bar_ms") == MINUTE_MS)
    rows = [_signal_row(s, t, sample, config) for (s, t), sample in signal_samples(markouts, minute).items()]
    if not any(r.get("mutual_information") is not None for r in rows):
        reason = "no signal measured: " + "; ".join(f"{r['signal']}: {r['n']} samples" for r in rows)
        earlier = lake.read_partition("signal_quality", coin, date).filter(pl.col("mutual_information").is_not_null())
        if earlier.height:  # keep the measured rows an earlier run wrote rather than erase them
            context.log.warning(f"{coin} {date}: {reason}; kept the {earlier.height} measured signal(s) of an "
                                "earlier run")
            return dg.MaterializeResult(metadata={
                "delta_version": _version(lake, "signal_quality"), **skipped(reason),
                KEPT: dg.MetadataValue.text(f"{earlier.height} measured signal(s) of an earlier run")})
    table = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        coin=pl.lit(coin), date=pl.lit(date), time=pl.lit(day_bounds_ms(date)[1])
    )
    version = lake.write_partition("signal_quality", table, coin, date)
    lines = ["| signal | target | n | MI (nats) | p | slope/day |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {r['signal']} | {r['target']} | {r['n']} | {_finite(r.get('mutual_information')):.4g} | "
        f"{_finite(r.get('p_value')):.3g} | {_finite(r.get('slope_per_day')):.3g} |"
        for r in rows
    ]
    return dg.MaterializeResult(metadata={"dagster/row_count": table.height, "delta_version": version,
                                          "signals": dg.MetadataValue.md("\n".join(lines))})


# ---------------------------------------------------------------------------------------------------------------
# alerts


def _ci(row: dict, name: str) -> tuple[float, float]:
    return _finite(row[f"{name}_ci_low"]), _finite(row[f"{name}_ci_high"])


def calibration_metrics_of(row: dict) -> CalibrationMetrics | AdverseSelectionCalibration:
    """The metrics object a ``calibration_metrics`` row was written from."""
    common = {
        "n": row["n"],
        "slope": _finite(row["slope"]),
        "slope_ci": _ci(row, "slope"),
        "intercept": _finite(row["intercept"]),
        "intercept_ci": _ci(row, "intercept"),
        "confidence": row["confidence"],
    }
    if row["model"] == "fill_probability":
        brier = ("base_rate", "brier", "reliability", "resolution", "uncertainty", "ece")
        return CalibrationMetrics(**common, **{k: _finite(row[k]) for k in brier})
    return AdverseSelectionCalibration(
        **common, bias=_finite(row["bias"]), bias_ci=_ci(row, "bias"),
        **{k: _finite(row[k]) for k in ("mse", "mse_bias", "mse_regression", "mse_disturbance")},
    )


def _signal_quality_of(row: dict) -> SignalQuality:
    """The :class:`SignalQuality` a ``signal_quality`` row was written from (one with a measured MI)."""
    return SignalQuality(
        n=row["n"], mutual_information=row["mutual_information"], p_value=row["p_value"], n_bins=row["n_bins"],
        window_ms=row["window_ms"], window_start_ms=np.asarray(row["window_start_ms"], dtype=np.int64),
        window_mi=np.asarray(row["window_mi"], dtype=np.float64), window_n=np.asarray(row["window_n"], dtype=np.int64),
        slope_per_day=_finite(row["slope_per_day"]), slope_ci=_ci(row, "slope"),
        half_life_days=_finite(row["half_life_days"]), half_life_ci=_ci(row, "half_life"), confidence=row["confidence"],
    )


def calibration_table_alerts(rows: pl.DataFrame, coin: str) -> list[tuple[str, Alert]]:
    """(subject, alert) for every ``calibration_metrics`` row: ModelMiscalibrated or InsufficientSamples."""
    out = []
    for row in rows.iter_rows(named=True):
        subject = f"{row['source']} {row['model']}"
        metrics = calibration_metrics_of(row)
        alerts = (calibration_alerts(metrics, coin, row["time"], subject) if isinstance(metrics, CalibrationMetrics)
                  else adverse_selection_alerts(metrics, coin, row["time"], subject))
        out += [(subject, a) for a in alerts]
    return out


def signal_table_alerts(rows: pl.DataFrame, coin: str) -> list[tuple[str, Alert]]:
    """(subject, alert) for every ``signal_quality`` row: SignalDecaying, or InsufficientSamples without an MI."""
    out = []
    for row in rows.iter_rows(named=True):
        subject = f"{row['signal']} -> {row['target']}"
        if row["mutual_information"] is None:
            out.append((subject, Alert(coin, row["time"], AlertKind.INSUFFICIENT_SAMPLES, "info",
                                       f"{subject}: {row['n']} samples, too few to measure information",
                                       float(row["n"]), float(MIN_WINDOW_SAMPLES))))
        else:
            out += [(subject, a) for a in signal_alerts(_signal_quality_of(row), coin, row["time"], subject)]
    return out


def walk_forward_alerts(rows: pl.DataFrame, coin: str) -> list[tuple[str, Alert]]:
    """InformationRatioBelowOne for the baseline strategy's annualised out-of-sample Sharpe (pooled row)."""
    pooled = rows.filter((pl.col("fold") == POOLED) & (pl.col("variant") == BASELINE))
    out = []
    for row in pooled.iter_rows(named=True):
        subject = "walk_forward baseline (annualised Sharpe per period)"
        alert = information_ratio_alert(coin, row["test_end_ms"], _finite(row["information_ratio"]), subject)
        out += [(subject, alert)] if alert else []
    return out


def run_failure_alerts(rows: pl.DataFrame, coin: str) -> list[tuple[str, Alert]]:
    """A critical RunFailed alert per ``run_failures`` row (one per failed run of the partition)."""
    return [
        (f"run {r['run_id']} ({r['job_name']})",
         Alert(coin, r["time"], AlertKind.RUN_FAILED, "critical", f"run {r['run_id']} of job {r['job_name']} failed: "
               f"{r['message']}", float("nan"), float("nan")))
        for r in rows.sort("time").iter_rows(named=True)
    ]


def _alerts_frame(alerts: list[tuple[str, Alert]], coin: str, date: dt.date) -> pl.DataFrame:
    return pl.DataFrame(
        [{"coin": coin, "date": date, "time": a.time, "kind": str(a.kind), "severity": a.severity, "subject": s,
          "message": a.message, "value": a.value, "threshold": a.threshold} for s, a in alerts],
        schema={"coin": pl.String, "date": pl.Date, "time": pl.Int64, "kind": pl.String, "severity": pl.String,
                "subject": pl.String, "message": pl.String, "value": pl.Float64, "threshold": pl.Float64},
    )


run_failures = dg.AssetSpec(
    "run_failures",
    partitions_def=COIN_DAY,
    group_name=GROUP,
    kinds={"delta"},
    description="Failed runs of each (coin, day), written only by the run_failure_alert sensor (it reports each write "
                "here); a run without a (coin, day) partition is kept under coin '' and the day it failed.",
)


@dg.asset(partitions_def=COIN_DAY, group_name=GROUP,
          deps=["walk_forward", "calibration_metrics", signal_quality, run_failures], kinds={"delta", "polars"})
def alerts(context: dg.AssetExecutionContext, data_lake: DataLakeResource) -> dg.MaterializeResult:
    """ModelMiscalibrated, SignalDecaying, InsufficientSamples and InformationRatioBelowOne alerts of the day, and a
    RunFailed alert per failed run of the partition (merged from ``run_failures``, which only the sensor writes)."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    found = (calibration_table_alerts(lake.read_partition("calibration_metrics", coin, date), coin)
             + signal_table_alerts(lake.read_partition("signal_quality", coin, date), coin)
             + walk_forward_alerts(lake.read_partition("walk_forward", coin, date), coin)
             + run_failure_alerts(lake.read_partition("run_failures", coin, date), coin))
    table = _alerts_frame(found, coin, date)
    version = lake.write_partition("alerts", table, coin, date)
    counts = table.group_by("kind", "severity").len().sort("kind", "severity")
    by_kind = [f"- {r['kind']} ({r['severity']}): {r['len']}" for r in counts.iter_rows(named=True)]
    listed = [f"- [{r['severity']}] {r['message']}" for r in table.iter_rows(named=True)]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "delta_version": version,
            "by_kind": dg.MetadataValue.md("\n".join(by_kind) or "none"),
            "alerts": dg.MetadataValue.md("\n".join(listed) or "none"),
        }
    )


def _check_result(
    found: list[tuple[str, Alert]], kinds: set[AlertKind], missing: str | None = None
) -> dg.AssetCheckResult:
    """Fails on any alert of ``kinds`` (severity ERROR when one is critical, else WARN; info alerts pass) and, with
    severity WARN at least, when evidence is ``missing`` (the reason): a validation that could not run is not green."""
    failing = [a for _, a in found if a.kind in kinds]
    critical = any(a.severity == "critical" for a in failing)
    return dg.AssetCheckResult(
        passed=not failing and missing is None,
        severity=dg.AssetCheckSeverity.ERROR if critical else dg.AssetCheckSeverity.WARN,
        description=f"No evidence: {missing}" if missing else None,
        metadata={
            "failing": len(failing),
            "alerts": dg.MetadataValue.md("\n".join(f"- [{a.severity}] {a.message}" for _, a in found) or "none"),
            **({"no_evidence": dg.MetadataValue.text(missing)} if missing else {}),
        },
    )


def _missing(context: dg.AssetCheckExecutionContext, asset: str, rows: pl.DataFrame, empty: str) -> str | None:
    """Why the checked partition of ``asset`` has no fresh evidence: its latest run computed nothing, or ``empty``
    when it holds no ``rows``; None when it has evidence."""
    return not_computed(context.instance, asset, context.partition_key) or (empty if not rows.height else None)


@dg.asset_check(asset="calibration_metrics", partitions_def=COIN_DAY)
def predictions_calibrated(context: dg.AssetCheckExecutionContext, data_lake: DataLakeResource) -> dg.AssetCheckResult:
    """ModelMiscalibrated: fill probabilities and adverse-selection predictions pass every calibration criterion; fails
    (WARN) when the partition holds no calibration computed by its latest run."""
    coin, date = coin_and_date(context)
    rows = data_lake.lake().read_partition("calibration_metrics", coin, date)
    missing = _missing(context, "calibration_metrics", rows, "no calibration rows: no prediction was scored")
    return _check_result(calibration_table_alerts(rows, coin), {AlertKind.MODEL_MISCALIBRATED}, missing)


@dg.asset_check(asset="walk_forward", partitions_def=COIN_DAY)
def information_ratio_at_least_one(
    context: dg.AssetCheckExecutionContext, data_lake: DataLakeResource
) -> dg.AssetCheckResult:
    """InformationRatioBelowOne: the baseline's annualised out-of-sample Sharpe is at least 1; fails (WARN) when the
    partition holds no pooled walk-forward result computed by its latest run."""
    coin, date = coin_and_date(context)
    rows = data_lake.lake().read_partition("walk_forward", coin, date)
    pooled = rows.filter(pl.col("fold") == POOLED)
    missing = _missing(context, "walk_forward", pooled, "no pooled walk-forward result: no complete fold")
    return _check_result(walk_forward_alerts(rows, coin), {AlertKind.INFORMATION_RATIO_BELOW_ONE}, missing)


@dg.asset_check(asset=signal_quality, partitions_def=COIN_DAY)
def signals_informative(context: dg.AssetCheckExecutionContext, data_lake: DataLakeResource) -> dg.AssetCheckResult:
    """SignalDecaying: every signal carries detectable information and none is decaying fast; fails (WARN) when no
    signal could be measured."""
    coin, date = coin_and_date(context)
    rows = data_lake.lake().read_partition("signal_quality", coin, date)
    found = signal_table_alerts(rows, coin)
    unmeasured = "; ".join(a.message for _, a in found if a.kind == AlertKind.INSUFFICIENT_SAMPLES)
    measured = rows.filter(pl.col("mutual_information").is_not_null())
    missing = _missing(context, "signal_quality", measured, f"no signal measured: {unmeasured or 'no rows'}")
    return _check_result(found, {AlertKind.SIGNAL_DECAYING}, missing)


VALIDATION_ASSETS = [walk_forward_assets, signal_quality, run_failures, alerts]
VALIDATION_CHECKS = [predictions_calibrated, information_ratio_at_least_one, signals_informative]
