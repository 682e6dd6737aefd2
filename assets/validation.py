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
import math
import time
from collections.abc import Iterator

import dagster as dg
import polars as pl
from pydantic import Field

from assets.evidence import EVIDENCE_RUN, KEPT, earlier_evidence, not_computed
from assets.lead_lag import leader_mids_for_folds
from assets.metadata import skipped
from assets.partitions import COIN_DAY, coin_and_date, days_dep
from assets.resources import DataLakeResource
from assets.verdicts import (
    COMPONENT_VERDICTS_SPEC,
    component_verdict_rows,
    materialise_component_verdicts,
)
from calibration.fit_result import code_version
from data_lake import param_registry
from data_lake.lake import Lake, UnreadableLakeFile
from data_lake.leaders import leaders_of
from data_lake.param_schema import InvalidParameterSet
from data_lake.scalars import as_int
from data_lake.table_preview import rounded
from data_lake.tables import BOOK_LEVELS, CALIBRATION_METRICS, COMPONENT_VERDICT, WALK_FORWARD, WALK_FORWARD_PNL
from data_lake.units import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, day_bounds_ms, utc_days
from validation.backtest.runner import BacktestConfig
from validation.decisions.alerts import Alert, AlertKind
from validation.decisions.component_verdict import diagnosis_section
from validation.decisions.incumbent import INCUMBENT_PNL_SCHEMA, incumbent_pnl_rows
from validation.decisions.table_alerts import (
    alerts_frame,
    calibration_table_alerts,
    run_failure_alerts,
    signal_table_alerts,
    walk_forward_alerts,
)
from validation.experiments.fold_cache import FoldCache
from validation.experiments.fold_cache import prune as prune_fold_cache
from validation.experiments.variant_types import BASELINE, LEADER_MIDS, VariantConfig
from validation.experiments.walk_forward import FoldPlan, covered_ms
from validation.experiments.walk_forward_run import DEFAULT_ALPHA, POOLED, WalkForwardRun, report_html, walk_forward
from validation.reporting.report import pending_decision, report_file, with_decision
from validation.tables.calibration_table import calibration_rows
from validation.tables.candidate_set import candidate_set_json
from validation.tables.signal_table import (
    BAR_COLUMNS,
    MARKOUT_COLUMNS,
    SignalQualitySettings,
    signal_rows,
    signals_markdown,
)
from validation.tables.walk_forward_tables import (
    calibration_frame,
    complete_folds,
    period_pnl_rows,
    stamped_rows,
    verdicts_markdown,
    walk_forward_rows,
)

GROUP = "validation"
WALK_FORWARD_TABLES = ("walk_forward", "walk_forward_pnl", "calibration_metrics", "diagnosis")
"""The tables (and assets) one walk-forward run writes together."""
BOOK_COLUMNS = [
    "coin",
    "time",
    "source",
    "mid",
    *(f"{side}_{field}_{i}" for i in range(1, BOOK_LEVELS + 1) for side in ("bid", "ask") for field in ("px", "sz")),
]
TRADE_COLUMNS = ["coin", "time", "tid", "px", "sz", "side", "buyer", "seller", "hash"]


_PLAN = FoldPlan()
_POLICY = VariantConfig()


def _per_regime(values: list[float], name: str) -> tuple[float, float, float]:
    """A run config's list as the (calm, volatile, cascade) triple :class:`VariantConfig` takes; another length is
    refused here rather than silently dropping or missing a state's value."""
    if len(values) != 3:
        raise ValueError(f"{name} needs 3 values (calm, volatile, cascade HMM states), got {len(values)}: {values}")
    calm, volatile, cascade = values
    return calm, volatile, cascade


class WalkForwardConfig(dg.Config):
    """Fold lengths (hours, :class:`validation.experiments.walk_forward.FoldPlan`), the quoting policy of the variants
    (:class:`validation.experiments.variant_types.VariantConfig`) and the significance level; every default is the
    domain's. Set the fold lengths in the run config (``ops.walk_forward_assets.config``) or with ``python -m
    pipelines.run
    --train-hours --test-hours --folds``."""

    train_hours: float = Field(default=_PLAN.train_hours, gt=0)
    test_hours: float = Field(default=_PLAN.test_hours, gt=0)
    n_folds: int = Field(default=_PLAN.n_folds, ge=1)
    """Folds wanted; fewer when the lake's book starts later than n_folds test windows after a full train."""
    sz_decimals: int = _POLICY.sz_decimals
    order_notional: float = _POLICY.order_notional
    """Quote currency per quote."""
    gamma: float = _POLICY.gamma
    min_spread_bps: float = _POLICY.min_spread_bps
    candidate_gamma_by_regime: list[float] = list(_POLICY.candidate_gamma_by_regime)
    """The candidate's gamma of the calm, volatile and cascade HMM states."""
    candidate_min_spread_bps_by_regime: list[float] = list(_POLICY.candidate_min_spread_bps_by_regime)
    edge_z: float = _POLICY.edge_z
    """The candidate quotes in a state only where its train net edge per fill is this many HAC SEs above 0."""
    daily_loss_limit_quote: float = _POLICY.daily_loss_limit_quote
    vpin_buckets_per_day: int = _POLICY.vpin_buckets_per_day
    vpin_window: int = _POLICY.vpin_window
    fill_model: str = _POLICY.backtest.fill_model
    period_seconds: int = _POLICY.period_ms // SECOND_MS
    """P&L bucket of the paired significance tests."""
    alpha: float = DEFAULT_ALPHA
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
            candidate_gamma_by_regime=_per_regime(self.candidate_gamma_by_regime, "candidate_gamma_by_regime"),
            candidate_min_spread_bps_by_regime=_per_regime(
                self.candidate_min_spread_bps_by_regime, "candidate_min_spread_bps_by_regime"
            ),
            edge_z=self.edge_z,
            daily_loss_limit_quote=self.daily_loss_limit_quote,
            vpin_buckets_per_day=self.vpin_buckets_per_day,
            vpin_window=self.vpin_window,
            period_ms=self.period_seconds * SECOND_MS,
            backtest=BacktestConfig(fill_model=self.fill_model),
        )

    def plan(self) -> FoldPlan:
        return FoldPlan(train_hours=self.train_hours, test_hours=self.test_hours, n_folds=self.n_folds)


def _markouts_by_population(lake: Lake, coin: str, first: dt.date, last: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``coin``'s markouts over the days [first, last], read once: those of market trades, then of own fills."""
    markouts = lake.read("markouts", coins=coin, start=first, end=last)
    return markouts.filter(pl.col("is_market_trade")), markouts.filter(~pl.col("is_market_trade"))


def _market(
    lake: Lake, coin: str, first: dt.date, last: dt.date, market_markouts: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """The walk-forward's lake frames of ``coin`` over the days [first, last]; ``market_markouts`` those of market
    trades (:func:`_markouts_by_population`)."""
    return {
        "trades": lake.read("trades", coins=coin, start=first, end=last, columns=TRADE_COLUMNS),
        "book": lake.read("book", coins=coin, start=first, end=last, columns=BOOK_COLUMNS).filter(
            pl.col("mid").is_not_null()
        ),
        "features": lake.read("features", coins=coin, start=first, end=last),
        "markouts": market_markouts,
    }


def _book_times(lake: Lake, coin: str, start_ms: int, end_ms: int) -> pl.Series:
    """Times of ``coin``'s book rows in [start_ms, end_ms)."""
    first, last = utc_days(start_ms, end_ms)
    book = lake.read("book", coins=coin, start=first, end=last, columns=["time"])
    return book.filter(pl.col("time").is_between(start_ms, end_ms, closed="left"))["time"]


def _finite(value: float | None) -> float:
    """A metadata figure: NaN for a missing or non-finite value, else rounded to 4 significant figures."""
    return rounded(float(value)) if value is not None and math.isfinite(value) else float("nan")


WALK_FORWARD_DAYS = math.ceil(_PLAN.lookback_ms() / DAY_MS)
WALK_FORWARD_READS = [days_dep(name, 1 - WALK_FORWARD_DAYS) for name in ("trades", "book", "features", "markouts")]
"""The walk-forward reads every day its default folds span (60 d train + 4 x 7 d test: 88 days ending with the
partition's); shorter folds (the demo's) read a subset, longer ones days Dagster does not order it after."""


def _prune_fold_cache(context: dg.AssetExecutionContext, lake: Lake) -> str:
    """Delete the fold cache's entries that can no longer be served (:func:`validation.experiments.fold_cache.prune`),
    once per run; a failure to list or delete is a warning, not a failed walk-forward (the cache only saves time)."""
    try:
        summary = prune_fold_cache(lake.files(), int(time.time() * 1000)).summary()
    except (OSError, UnreadableLakeFile) as exc:
        summary = f"not pruned: {exc}"
        context.log.warning(f"walk-forward fold cache {summary}")
        return summary
    context.log.info(f"walk-forward fold cache pruned: {summary}")
    return summary


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
    pruned = _prune_fold_cache(context, lake)
    _, end_ms = day_bounds_ms(date)
    plan, policy = config.plan(), config.variant_config()
    book_times = _book_times(lake, coin, end_ms - plan.lookback_ms(), end_ms)
    covered = covered_ms(book_times)
    folds = plan.folds(as_int(book_times.min(), "first book time"), end_ms) if covered >= plan.one_fold_ms() else []
    covered_hours = covered / HOUR_MS
    if not folds:  # not an error (too little history yet), but no evidence either: see _skip_walk_forward
        reason = plan.no_fold_reason(covered, date)
        context.log.info(reason)
        yield from _skip_walk_forward(context, lake, WALK_FORWARD.empty(), reason, book_covered_hours=covered_hours)
        return
    first, last = utc_days(folds[0].train_start_ms, end_ms)
    market_markouts, live = _markouts_by_population(lake, coin, first, last)
    market = _market(lake, coin, first, last, market_markouts)
    market[LEADER_MIDS] = leader_mids_for_folds(lake, leaders_of(coin), folds, policy.lead_lag_fit_hours)
    cache = FoldCache(lake.files(), coin)
    run = walk_forward(folds, market, policy, alpha=config.alpha, cache=cache)
    for reason in cache.rejected:
        context.log.warning(f"walk-forward fold cache: {reason}")
    now_ms = int(time.time() * 1000)
    stamp = {"coin": coin, "date": date, "code_version": code_version(), "run_at_ms": now_ms}
    if not run.complete_folds:  # e.g. no trades in the folds: each fold's row says why; no evidence, no report
        reasons = "; ".join(dict.fromkeys(run.rows["warnings"].to_list()))
        rows = stamped_rows(run, stamp)
        yield from _skip_walk_forward(context, lake, rows, f"no complete fold of {len(folds)}: {reasons}")
        return
    candidate_set, candidate_note = candidate_set_json(market, end_ms, plan.train_ms(), policy)
    leader = config.leader or next(iter(leaders_of(coin)), "")
    verdicts = component_verdict_rows(lake, run, market, policy, coin, leader, (first, last))
    rows = walk_forward_rows(run, stamp, candidate_set)
    wf_version = lake.write_partition("walk_forward", rows, coin, date)
    incumbent_pnl, incumbent_note = _incumbent_replay(lake, coin, run, market, policy)
    period_pnl = period_pnl_rows(run, incumbent_pnl, coin, date)
    pnl_version = lake.write_partition("walk_forward_pnl", period_pnl, coin, date)
    files = lake.files()
    html = report_html(
        run, f"{coin} walk-forward validation, {date.isoformat()}", now_ms, [diagnosis_section(verdicts)]
    )
    files.write(report_file(coin, date), with_decision(html, pending_decision(context.run.run_id)).encode())

    quote_log = lake.read("quoter_log", coins=coin, start=first, end=last)
    calibration = calibration_frame(calibration_rows(run, live, quote_log, market["trades"]), coin, date)
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
            "fold_cache_pruned": pruned,
            "book_covered_hours": covered_hours,
            "verdicts": dg.MetadataValue.md(verdicts_markdown(run.rows)),
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
        metadata={
            "dagster/row_count": period_pnl.height,
            "delta_version": pnl_version,
            EVIDENCE_RUN: context.run.run_id,
            "variants": period_pnl["variant"].n_unique(),
            "periods": run.pnl.height,
            "incumbent": incumbent_note,
        },
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
    """The promoted set replayed on the run's complete folds
    (:func:`validation.decisions.incumbent.incumbent_pnl_rows`), or no rows and why: none promoted, or its set
    unreadable."""
    empty = pl.DataFrame(schema=INCUMBENT_PNL_SCHEMA)
    try:
        promoted = param_registry.load_promoted(lake.root, coin).param_set
    except param_registry.NoPromotedSet:
        return empty, "none promoted: the gate compares with not quoting"
    except InvalidParameterSet as exc:
        return empty, f"the promoted set cannot be read ({exc}): not replayed"
    parameters = promoted.parameters.to_dict()
    return incumbent_pnl_rows(promoted.param_set_id, parameters, complete_folds(run), market, config)


def _skip_walk_forward(
    context: dg.AssetExecutionContext, lake: Lake, rows: pl.DataFrame, reason: str, **figures: float
) -> Iterator[dg.MaterializeResult]:
    """This run has no walk-forward evidence. When the partition holds an earlier run's evidence, keep it (its tables
    and report) rather than erase it: a relaunch with fold lengths the lake cannot fill must not destroy the day's
    validation. Otherwise write ``rows`` (the folds' statuses, or none) and no P&L, calibration or component verdict
    rows. Either way every asset says why in ``skipped`` (and what it kept), and the checks of the partition fail on
    it."""
    coin, date = coin_and_date(context)
    kept = earlier_evidence(context.instance, context.partition_key, lake, coin, date)
    if kept is not None:
        context.log.warning(f"{coin} {date}: {reason}; kept {kept}")
        files = lake.files()
        report = (
            {"report": dg.MetadataValue.url(files.url(report_file(coin, date)))}
            if files.stamp(report_file(coin, date))
            else {}
        )
        for name in WALK_FORWARD_TABLES:
            yield dg.MaterializeResult(
                asset_key=name,
                metadata={
                    "dagster/row_count": lake.read_partition(name, coin, date, columns=["coin"]).height,
                    "delta_version": _version(lake, name),
                    **figures,
                    **report,
                    **skipped(reason),
                    KEPT: dg.MetadataValue.text(kept),
                },
            )
        return
    context.log.warning(f"{coin} {date}: {reason}")
    empty = {
        "walk_forward": rows,
        "walk_forward_pnl": WALK_FORWARD_PNL.empty(),
        "calibration_metrics": CALIBRATION_METRICS.empty(),
        "diagnosis": COMPONENT_VERDICT.empty(),
    }
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


# ---------------------------------------------------------------------------------------------------------------
# signal quality


_SIGNALS = SignalQualitySettings()


class SignalQualityConfig(dg.Config):
    """Lookback (days, ending with the partition's day), MI trend windows (hours) and permutations
    (:class:`validation.tables.signal_table.SignalQualitySettings`)."""

    lookback_days: int = _SIGNALS.lookback_days
    window_hours: float = _SIGNALS.window_hours
    n_permutations: int = _SIGNALS.n_permutations

    def settings(self) -> SignalQualitySettings:
        return SignalQualitySettings(**self.model_dump())


@dg.asset(
    partitions_def=COIN_DAY,
    group_name=GROUP,
    deps=[days_dep(name, 1 - _SIGNALS.lookback_days) for name in ("features", "markouts")],
    kinds={"delta", "polars"},
)
def signal_quality(
    context: dg.AssetExecutionContext, config: SignalQualityConfig, data_lake: DataLakeResource
) -> dg.MaterializeResult:
    """Mutual information of book imbalance and VPIN with what they should predict, its trend and half-life."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    first = date - dt.timedelta(days=config.lookback_days - 1)
    markouts = lake.read("markouts", coins=coin, start=first, end=date, columns=list(MARKOUT_COLUMNS))
    minute_bars = pl.col("bar_ms") == MINUTE_MS
    minute = lake.read("features", coins=coin, start=first, end=date, columns=list(BAR_COLUMNS), where=minute_bars)
    rows = signal_rows(markouts, minute, config.settings())
    if not any(r.get("mutual_information") is not None for r in rows):
        reason = "no signal measured: " + "; ".join(f"{r['signal']}: {r['n']} samples" for r in rows)
        earlier = lake.read_partition("signal_quality", coin, date).filter(pl.col("mutual_information").is_not_null())
        if earlier.height:  # keep the measured rows an earlier run wrote rather than erase them
            context.log.warning(
                f"{coin} {date}: {reason}; kept the {earlier.height} measured signal(s) of an earlier run"
            )
            return dg.MaterializeResult(
                metadata={
                    "delta_version": _version(lake, "signal_quality"),
                    **skipped(reason),
                    KEPT: dg.MetadataValue.text(f"{earlier.height} measured signal(s) of an earlier run"),
                }
            )
    table = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        coin=pl.lit(coin), date=pl.lit(date), time=pl.lit(day_bounds_ms(date)[1])
    )
    version = lake.write_partition("signal_quality", table, coin, date)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "delta_version": version,
            "signals": dg.MetadataValue.md(signals_markdown(rows)),
        }
    )


# ---------------------------------------------------------------------------------------------------------------
# alerts


run_failures = dg.AssetSpec(
    "run_failures",
    partitions_def=COIN_DAY,
    group_name=GROUP,
    kinds={"delta"},
    description="Failed runs of each (coin, day), written only by the run_failure_alert sensor (it reports each write "
    "here); a run without a (coin, day) partition is kept under coin '' and the day it failed.",
)


@dg.asset(
    partitions_def=COIN_DAY,
    group_name=GROUP,
    deps=["walk_forward", "calibration_metrics", signal_quality, run_failures],
    kinds={"delta", "polars"},
)
def alerts(context: dg.AssetExecutionContext, data_lake: DataLakeResource) -> dg.MaterializeResult:
    """ModelMiscalibrated, SignalDecaying, InsufficientSamples and InformationRatioBelowOne alerts of the day, and a
    RunFailed alert per failed run of the partition (merged from ``run_failures``, which only the sensor writes)."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    found = (
        calibration_table_alerts(lake.read_partition("calibration_metrics", coin, date), coin)
        + signal_table_alerts(lake.read_partition("signal_quality", coin, date), coin)
        + walk_forward_alerts(lake.read_partition("walk_forward", coin, date), coin)
        + run_failure_alerts(lake.read_partition("run_failures", coin, date), coin)
    )
    table = alerts_frame(found, coin, date)
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


VALIDATION_ASSETS: list[dg.AssetsDefinition | dg.AssetSpec] = [
    walk_forward_assets,
    signal_quality,
    run_failures,
    alerts,
]
VALIDATION_CHECKS = [predictions_calibrated, information_ratio_at_least_one, signals_informative]
