"""The table catalogue: every Delta table's schema, key and partition columns.

Conventions, stated once for the whole project:
- ``time`` columns are UTC epoch milliseconds (Int64); ``*_ns`` columns are UTC epoch nanoseconds.
- ``date`` is the UTC calendar day of ``time`` (the daily partition); ``coin`` is the Hyperliquid coin name
  (perps ``BTC``, HIP-3 ``dex:COIN``, spot ``@N``).
- prices are in quote currency (USDC for most perps), sizes in base units, spreads and markouts in bps.
- ``side`` is +1 for a buy and -1 for a sell. In ``trades`` it is the aggressor's side; in ``fills`` and
  ``markouts`` it is the filled party's side.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

BOOK_LEVELS = 20
"""Levels per side kept in the ``book`` table (level 1 is the best): all an ``l2Book`` snapshot carries, so the
backtest's queue ahead is known at every displayed price."""


@dataclass(frozen=True)
class Table:
    """A lake table: name, polars schema, primary key and Delta partition columns."""

    name: str
    schema: dict[str, pl.DataType]
    key: tuple[str, ...]
    partition_by: tuple[str, ...] = ("coin", "date")
    description: str = ""

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema(self.schema)

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars_schema)

    def columns_without(self, *names: str) -> dict[str, pl.DataType]:
        """The schema, in order, without ``names`` (e.g. the partition and run stamps an estimator does not
        produce): what the pure function that computes the table's rows returns, from this one definition."""
        missing = set(names) - set(self.schema)
        if missing:
            raise KeyError(f"{self.name} has no columns {sorted(missing)}")
        return {col: dtype for col, dtype in self.schema.items() if col not in names}

    def conform(self, df: pl.DataFrame) -> pl.DataFrame:
        """Select and cast ``df`` to this table's schema; missing nullable columns become nulls."""
        exprs = []
        for col, dtype in self.schema.items():
            if col in df.columns:
                exprs.append(pl.col(col).cast(dtype, strict=True))
            else:
                exprs.append(pl.lit(None, dtype=dtype).alias(col))
        return df.select(exprs)


def _levels(prefix: str) -> dict[str, pl.DataType]:
    cols: dict[str, pl.DataType] = {}
    for side in ("bid", "ask"):
        for i in range(1, BOOK_LEVELS + 1):
            cols[f"{side}_px_{i}"] = pl.Float64()
            cols[f"{side}_sz_{i}"] = pl.Float64()
            cols[f"{side}_n_{i}"] = pl.Int32()
    return {f"{prefix}{k}": v for k, v in cols.items()}


_PART = {"coin": pl.String(), "date": pl.Date()}

TRADES = Table(
    "trades",
    {
        **_PART,
        "time": pl.Int64(),
        "tid": pl.Int64(),
        "px": pl.Float64(),
        "sz": pl.Float64(),
        "side": pl.Int8(),
        "buyer": pl.String(),
        "seller": pl.String(),
        "hash": pl.String(),
        "source": pl.String(),
        "recv_time_ns": pl.Int64(),
    },
    key=("coin", "time", "tid"),
    description="Market trades; side is the aggressor (+1 buy, -1 sell); buyer/seller from `users`.",
)

BOOK = Table(
    "book",
    {
        **_PART,
        "time": pl.Int64(),
        "recv_time_ns": pl.Int64(),
        "source": pl.String(),
        **_levels(""),
        "bid_depth_10bps": pl.Float64(),
        "ask_depth_10bps": pl.Float64(),
        "mid": pl.Float64(),
        "microprice": pl.Float64(),
        "spread_bps": pl.Float64(),
        "imbalance_1": pl.Float64(),
        "imbalance_5": pl.Float64(),
    },
    key=("coin", "time", "source"),
    description=(
        "Book snapshots from l2Book (source 'l2Book', all 20 levels Hyperliquid sends) and bbo (source 'bbo', "
        "level 1 only: on a bbo row the deeper levels are unknown, not empty). depth_10bps is quote notional within "
        "10 bps of mid (l2Book rows only). imbalance_k = (bid size - ask size) / (bid size + ask size) over the "
        "top k levels."
    ),
)

ASSET_CTX = Table(
    "asset_ctx",
    {
        **_PART,
        "time": pl.Int64(),
        "recv_time_ns": pl.Int64(),
        "funding": pl.Float64(),
        "open_interest": pl.Float64(),
        "oracle_px": pl.Float64(),
        "mark_px": pl.Float64(),
        "mid_px": pl.Float64(),
        "premium": pl.Float64(),
        "impact_bid_px": pl.Float64(),
        "impact_ask_px": pl.Float64(),
        "day_ntl_vlm": pl.Float64(),
        "day_base_vlm": pl.Float64(),
        "prev_day_px": pl.Float64(),
        "source": pl.String(),
    },
    key=("coin", "time", "source"),
    description="Asset contexts; funding is the current hourly rate; open_interest in coins. time = receive time.",
)

FILLS = Table(
    "fills",
    {
        **_PART,
        "time": pl.Int64(),
        "tid": pl.Int64(),
        "oid": pl.Int64(),
        "user": pl.String(),
        "side": pl.Int8(),
        "px": pl.Float64(),
        "sz": pl.Float64(),
        "fee": pl.Float64(),
        "fee_token": pl.String(),
        "is_maker": pl.Boolean(),
        "cloid": pl.String(),
        "hash": pl.String(),
        "dir": pl.String(),
        "closed_pnl": pl.Float64(),
        "start_position": pl.Float64(),
        "is_liquidation": pl.Boolean(),
        "pred_fill_prob": pl.Float64(),
        "pred_adverse_bps": pl.Float64(),
        "belief_calm": pl.Float64(),
        "belief_volatile": pl.Float64(),
        "belief_cascade": pl.Float64(),
        "source": pl.String(),
        "recv_time_ns": pl.Int64(),
    },
    key=("coin", "time", "tid", "oid"),
    description=(
        "Own fills (userFills / user channel / API JSON / quoter). fee in quote currency, negative = rebate. "
        "pred_* and belief_* are the quoter's predictions for the order, null when no quoter log exists."
    ),
)

ORDER_UPDATES = Table(
    "order_updates",
    {
        **_PART,
        "time": pl.Int64(),
        "oid": pl.Int64(),
        "cloid": pl.String(),
        "side": pl.Int8(),
        "limit_px": pl.Float64(),
        "sz": pl.Float64(),
        "orig_sz": pl.Float64(),
        "status": pl.String(),
        "order_time": pl.Int64(),
        "source": pl.String(),
        "recv_time_ns": pl.Int64(),
    },
    key=("coin", "time", "oid", "status"),
    description="Own order status changes (orderUpdates); time = statusTimestamp, order_time = order creation.",
)

QUARANTINE = Table(
    "quarantine",
    {
        **_PART,
        "source": pl.String(),
        "file": pl.String(),
        "line": pl.Int64(),
        "item": pl.Int32(),
        "reason": pl.String(),
        "raw": pl.String(),
    },
    key=("source", "file", "line", "item"),
    description=(
        "Every raw record that did not reach a clean table, with its reason. `line` is 1-based within `file`; "
        "`item` is the index inside a multi-record frame (0 for whole lines)."
    ),
)

RAW_CAPTURES = Table(
    "raw_captures",
    {
        **_PART,
        "source": pl.String(),
        "file": pl.String(),
        "bytes": pl.Int64(),
        "lines": pl.Int64(),
        "modified_ns": pl.Int64(),
    },
    key=("coin", "date", "file"),
    description="Inventory of raw-zone files discovered for a partition, with their line counts.",
)

CATALOGUE: dict[str, Table] = {
    t.name: t for t in (TRADES, BOOK, ASSET_CTX, FILLS, ORDER_UPDATES, QUARANTINE, RAW_CAPTURES)
}


def register(table: Table) -> Table:
    """Add a table to the catalogue (used by later modules that own their tables)."""
    if table.name in CATALOGUE and CATALOGUE[table.name] != table:
        raise ValueError(f"table {table.name!r} already registered with a different definition")
    CATALOGUE[table.name] = table
    return table


def table(name: str) -> Table:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {sorted(CATALOGUE)}") from None


INGEST_ACCOUNTING = register(
    Table(
        "ingest_accounting",
        {
            **_PART,
            "records_in": pl.Int64(),
            "spilled_in": pl.Int64(),
            "clean_rows": pl.Int64(),
            "quarantined": pl.Int64(),
            "duplicates": pl.Int64(),
            "spilled_out": pl.Int64(),
            "code_version": pl.String(),
            "ingested_at_ms": pl.Int64(),
        },
        key=("coin", "date"),
        description=(
            "Per-partition record accounting of the raw -> clean step: records_in + spilled_in = clean_rows + "
            "quarantined + duplicates + spilled_out (checked against the rows actually in the lake)."
        ),
    )
)

MARKOUT_HORIZONS_MS = (200, 1000, 5000, 30000)

MARKOUTS = register(
    Table(
        "markouts",
        {
            **_PART,
            "time": pl.Int64(),
            "tid": pl.Int64(),
            "oid": pl.Int64(),
            "is_market_trade": pl.Boolean(),
            "side": pl.Int8(),
            "px": pl.Float64(),
            "sz": pl.Float64(),
            "mid_at_fill": pl.Float64(),
            "mid_age_ms": pl.Int64(),
            **{f"mid_{h}ms": pl.Float64() for h in MARKOUT_HORIZONS_MS},
            **{f"markout_{h}ms_bps": pl.Float64() for h in MARKOUT_HORIZONS_MS},
            "spread_capture_bps": pl.Float64(),
            "fee_bps": pl.Float64(),
            **{f"net_{h}ms_bps": pl.Float64() for h in MARKOUT_HORIZONS_MS},
            "adverse_selection_bps": pl.Float64(),
            "sigma_bps_per_sqrt_s": pl.Float64(),
            "imbalance_1": pl.Float64(),
            "imbalance_5": pl.Float64(),
            "belief_calm": pl.Float64(),
            "belief_volatile": pl.Float64(),
            "belief_cascade": pl.Float64(),
            "pred_fill_prob": pl.Float64(),
            "pred_adverse_bps": pl.Float64(),
        },
        key=("coin", "time", "tid", "oid", "is_market_trade"),
        description=(
            "The seed's FillLog: own fills (is_market_trade false) and market trades seen from the maker side "
            "(side = -aggressor). markout_h = side*(mid_h - mid_fill)/mid_fill*1e4, positive = favourable to the "
            "filled party; adverse_selection_bps = max(-markout_5s, 0). State columns as known at the fill."
        ),
    )
)

FEATURES = register(
    Table(
        "features",
        {
            **_PART,
            "bar_ms": pl.Int64(),
            "time": pl.Int64(),
            "mid": pl.Float64(),
            "log_return": pl.Float64(),
            "n_buys": pl.Int64(),
            "n_sells": pl.Int64(),
            "buy_volume": pl.Float64(),
            "sell_volume": pl.Float64(),
            "ewma_var": pl.Float64(),
            "rv": pl.Float64(),
            "bv": pl.Float64(),
            "jump_ratio": pl.Float64(),
            "imbalance_1": pl.Float64(),
            "imbalance_5": pl.Float64(),
            "microprice": pl.Float64(),
            "vpin": pl.Float64(),
        },
        key=("coin", "bar_ms", "time"),
        description="1 s and 1 min bars (bar_ms 1000 / 60000), time = bar start; see calibration/bars.py for units.",
    )
)

BASELINE_METRICS = register(
    Table(
        "baseline_metrics",
        {
            **_PART,
            "population": pl.String(),
            "metric": pl.String(),
            "value": pl.Float64(),
            "ci_low": pl.Float64(),
            "ci_high": pl.Float64(),
            "n": pl.Int64(),
        },
        key=("coin", "date", "population", "metric"),
        description="The seed's Phase 2 baseline table per coin and day, with 95% CIs and n.",
    )
)


def _fit_table(name: str, description: str) -> Table:
    return register(
        Table(
            name,
            {
                **_PART,
                "window_start_ms": pl.Int64(),
                "window_end_ms": pl.Int64(),
                "model": pl.String(),
                "segment": pl.String(),
                "param": pl.String(),
                "value": pl.Float64(),
                "se": pl.Float64(),
                "unit": pl.String(),
                "n": pl.Int64(),
                "status": pl.String(),
                "goodness_of_fit": pl.String(),
                "warnings": pl.String(),
                "code_version": pl.String(),
                "fitted_at_ms": pl.Int64(),
            },
            key=("coin", "date", "model", "segment", "param"),
            description=(
                f"{description} One row per estimate: value and standard error with unit, the window "
                "[window_start_ms, window_end_ms), sample size n, status ('ok' / 'low_coverage': the data cover "
                "under half the window / 'insufficient_samples' / 'failed'), goodness of fit as JSON, data warnings, "
                "and the code version. date = window end day."
            ),
        )
    )


KAPPA_FIT = _fit_table("kappa_fit", "Fill intensity A*exp(-kappa*d) by MLE, overall and per regime / hour.")
HAWKES_FIT = _fit_table("hawkes_fit", "Exponential-kernel Hawkes fits of taker-order arrivals (univariate, buy/sell).")
REGIME_FIT = _fit_table(
    "regime_fit",
    "Gaussian HMM regimes: per-state means/variances, transition matrix, regime table (the HMM itself: regime_hmm).",
)
VOL_FIT = _fit_table("vol_fit", "Volatility per regime: EWMA and bipower sigma, jump ratio distribution.")

REGIME_HMM = register(
    Table(
        "regime_hmm",
        {
            **_PART,
            "role": pl.String(),
            "n_states": pl.Int32(),
            "state": pl.Int32(),
            "state_name": pl.String(),
            "start_prob": pl.Float64(),
            "transition": pl.List(pl.Float64()),
            "means": pl.List(pl.Float64()),
            "variances": pl.List(pl.Float64()),
            "feature_names": pl.List(pl.String()),
            "feature_mean": pl.List(pl.Float64()),
            "feature_scale": pl.List(pl.Float64()),
            "log_likelihood": pl.Float64(),
            "bic": pl.Float64(),
            "window_start_ms": pl.Int64(),
            "window_end_ms": pl.Int64(),
            "code_version": pl.String(),
            "fitted_at_ms": pl.Int64(),
        },
        key=("coin", "date", "role", "n_states", "state"),
        description=(
            "The Gaussian HMMs of the day's regime fit as the causal filter reads them "
            "(calibration/regime_storage.py), one row per state: role 'fitted' (the HMM the filter, the kappa and vol "
            "fits and the next day's markouts use) or 'warm_start' (the best HMM of each number of states tried, where "
            "the next day's EM starts); state index (0 = calm, ordered by return variance) and name, start "
            "probability, the state's row of the transition matrix, per-feature means and variances in standardised "
            "units, and the standardisation (feature_names, feature_mean, feature_scale: z = (x - mean) / scale). "
            "log_likelihood (fitted role only) and BIC of the model over the window [window_start_ms, window_end_ms); "
            "date = window end day."
        ),
    )
)

LEAD_LAG_FIT = register(
    Table(
        "lead_lag_fit",
        {
            **_PART,
            "leader": pl.String(),
            "window_start_ms": pl.Int64(),
            "window_end_ms": pl.Int64(),
            "status": pl.String(),
            "reason": pl.String(),
            "lag_ms": pl.Float64(),
            "lag_se_ms": pl.Float64(),
            "beta": pl.Float64(),
            "beta_se": pl.Float64(),
            "hy_corr": pl.Float64(),
            "p_value": pl.Float64(),
            "alpha": pl.Float64(),
            "null_p95": pl.Float64(),
            "null_draws": pl.Int64(),
            "n_windows": pl.Int64(),
            "r2": pl.Float64(),
            "n_leader_returns": pl.Int64(),
            "n_follower_returns": pl.Int64(),
            "lags_ms": pl.List(pl.Int64()),
            "hy_corr_by_lag": pl.List(pl.Float64()),
            "code_version": pl.String(),
            "fitted_at_ms": pl.Int64(),
        },
        key=("coin", "date", "leader"),
        description=(
            "How each configured leader's mid leads the coin's over the day [window_start_ms, window_end_ms) "
            "(calibration/lead_lag.py; leaders: data_lake/leaders.py). lag_ms > 0: the coin follows that many ms "
            "after the leader (argmax of the Hayashi-Yoshida correlation over the lag grid lags_ms, curve in "
            "hy_corr_by_lag; lag_se_ms block-bootstrap SE floored at the grid resolution); beta: the coin's log move "
            "per unit log move of the leader at that lag (OLS on n_windows non-overlapping windows, HAC beta_se, r2); "
            "p_value of max over positive lags of |HY corr| against null_draws circular shifts of the leader "
            "(null_p95: the null's 95% quantile), significant at alpha. status 'ok' / 'not_significant' / 'no_lead' "
            "(the co-movement peaks at lag <= 0) / 'insufficient_samples' / 'no_leader_data' (the lake holds no "
            "clean book of the leader or the coin that day), with the reason in words."
        ),
    )
)

PARAM_SETS = register(
    Table(
        "param_sets",
        {
            "coin": pl.String(),
            "param_set_id": pl.String(),
            "status": pl.String(),
            "reason": pl.String(),
            "decided_at_ms": pl.Int64(),
            "pointer_version": pl.Int64(),
            "rollback_to": pl.String(),
            "created_at_ms": pl.Int64(),
            "window_start_ms": pl.Int64(),
            "window_end_ms": pl.Int64(),
            "code_version": pl.String(),
            "schema_version": pl.Int32(),
            "sha256": pl.String(),
            "parameters": pl.String(),
            "evidence": pl.String(),
        },
        key=("coin", "param_set_id", "pointer_version", "status", "decided_at_ms"),
        partition_by=("coin",),
        description=(
            "Append-only decision log of parameter sets (data_lake/param_registry.py): one row per decision, status "
            "'candidate' / 'promoted' / 'rejected' / 'retired', with its reason and time; pointer_version is the "
            "promotion pointer's version after the decision (promoted_at = decided_at_ms of a 'promoted' row); "
            "rollback_to is the set a rollback from a promotion restores. Candidate and promoted rows also carry the "
            "set: window [window_start_ms, window_end_ms), code version, sha256 of the stored JSON, parameters and "
            "evidence as JSON. The set documents themselves live at param_set_docs/{coin}/{param_set_id}.json."
        ),
    )
)

WALK_FORWARD = register(
    Table(
        "walk_forward",
        {
            **_PART,
            "fold": pl.Int32(),
            "variant": pl.String(),
            "component": pl.String(),
            "status": pl.String(),
            "train_start_ms": pl.Int64(),
            "train_end_ms": pl.Int64(),
            "test_start_ms": pl.Int64(),
            "test_end_ms": pl.Int64(),
            "pnl": pl.Float64(),
            "sharpe_per_period": pl.Float64(),
            "sharpe_per_fill": pl.Float64(),
            "n_fills": pl.Int64(),
            "n_periods": pl.Int64(),
            "n_quotes": pl.Int64(),
            "predicted_fill_rate": pl.Float64(),
            "actual_fill_rate": pl.Float64(),
            "brier": pl.Float64(),
            "predicted_adverse_bps": pl.Float64(),
            "realised_adverse_bps": pl.Float64(),
            "final_inventory": pl.Float64(),
            "orders_sent": pl.Int64(),
            "verdict": pl.String(),
            "p_value": pl.Float64(),
            "effect_per_period": pl.Float64(),
            "effect_ci_low": pl.Float64(),
            "effect_ci_high": pl.Float64(),
            "n_effective": pl.Float64(),
            "information_ratio": pl.Float64(),
            "spa_p_value": pl.Float64(),
            "reality_check_p_value": pl.Float64(),
            "dsr": pl.Float64(),
            "pbo": pl.Float64(),
            "is_trial": pl.Boolean(),
            "params": pl.String(),
            "candidate_set": pl.String(),
            "warnings": pl.String(),
            "code_version": pl.String(),
            "run_at_ms": pl.Int64(),
        },
        key=("coin", "date", "fold", "variant"),
        description=(
            "Walk-forward validation of the quoter's variants (validation/experiments/variants.py), date = run day. "
            "One row per "
            "fold and variant: train/test windows [start, end) in epoch ms, test-window mark-to-mid pnl (quote "
            "currency), per-period (1 min by default) and per-fill Sharpe, fills, quote-level predicted vs actual "
            "fill rate within tau and their Brier score, predicted vs realised 5 s adverse selection (bps), the "
            "fitted parameters as JSON; status 'ok' / 'insufficient_samples' / 'failed'. fold = -1 rows pool all "
            "complete folds: totals, the component verdict against the baseline ('keep' / 'remove' / "
            "'insufficient evidence', one-sided HAC p-value, mean per-period effect and its CI, n_effective), the "
            "annualised information ratio (baseline: against flat; a variant: against the baseline) and the "
            "run-level Hansen SPA and White Reality Check p-values, the DSR of the best variant and the PBO; "
            "is_trial = false for a variant whose out-of-sample P&L equals an earlier variant's (not counted in SPA, "
            "DSR, PBO). candidate_set, on the candidate's pooled row only: JSON {training_window: {start_ms, "
            "end_ms}, parameters} of validation.experiments.candidate on the last training window, what promotion "
            "writes."
        ),
    )
)

CALIBRATION_METRICS = register(
    Table(
        "calibration_metrics",
        {
            **_PART,
            "time": pl.Int64(),
            "source": pl.String(),
            "model": pl.String(),
            "window_start_ms": pl.Int64(),
            "window_end_ms": pl.Int64(),
            "n": pl.Int64(),
            "base_rate": pl.Float64(),
            "brier": pl.Float64(),
            "reliability": pl.Float64(),
            "resolution": pl.Float64(),
            "uncertainty": pl.Float64(),
            "ece": pl.Float64(),
            "skill_score": pl.Float64(),
            "bias": pl.Float64(),
            "bias_ci_low": pl.Float64(),
            "bias_ci_high": pl.Float64(),
            "slope": pl.Float64(),
            "slope_ci_low": pl.Float64(),
            "slope_ci_high": pl.Float64(),
            "intercept": pl.Float64(),
            "intercept_ci_low": pl.Float64(),
            "intercept_ci_high": pl.Float64(),
            "mse": pl.Float64(),
            "mse_bias": pl.Float64(),
            "mse_regression": pl.Float64(),
            "mse_disturbance": pl.Float64(),
            "confidence": pl.Float64(),
            "well_calibrated": pl.Boolean(),
        },
        key=("coin", "time", "source", "model"),
        description=(
            "Calibration of the quoter's predictions over [window_start_ms, window_end_ms); time = window end. "
            "model 'fill_probability' (binary forecasts: Brier with its exact CORP reliability / resolution / "
            "uncertainty, ECE, Cox slope and calibration-in-the-large on the logit scale with HAC CIs) or "
            "'adverse_selection' (bps: bias realised - predicted, Mincer-Zarnowitz intercept/slope, Theil MSE "
            "split). source 'walk_forward:baseline' (the baseline's out-of-sample predictions) or 'live' (own fills)."
        ),
    )
)

SIGNAL_QUALITY = register(
    Table(
        "signal_quality",
        {
            **_PART,
            "time": pl.Int64(),
            "signal": pl.String(),
            "target": pl.String(),
            "n": pl.Int64(),
            "mutual_information": pl.Float64(),
            "p_value": pl.Float64(),
            "n_bins": pl.Int64(),
            "window_ms": pl.Int64(),
            "window_start_ms": pl.List(pl.Int64()),
            "window_mi": pl.List(pl.Float64()),
            "window_n": pl.List(pl.Int64()),
            "slope_per_day": pl.Float64(),
            "slope_ci_low": pl.Float64(),
            "slope_ci_high": pl.Float64(),
            "half_life_days": pl.Float64(),
            "half_life_ci_low": pl.Float64(),
            "half_life_ci_high": pl.Float64(),
            "confidence": pl.Float64(),
            "is_decaying": pl.Boolean(),
        },
        key=("coin", "time", "signal", "target"),
        description=(
            "Mutual information (nats, Miller-Madow) of a signal with its target over the lookback ending at time, "
            "its permutation p-value, the MI of each window_ms window (lists), the MI trend per day and the "
            "half-life of its decay (validation/statistics/signal_quality.py)."
        ),
    )
)

ALERTS = register(
    Table(
        "alerts",
        {
            **_PART,
            "time": pl.Int64(),
            "kind": pl.String(),
            "severity": pl.String(),
            "subject": pl.String(),
            "message": pl.String(),
            "value": pl.Float64(),
            "threshold": pl.Float64(),
        },
        key=("coin", "time", "kind", "subject", "message"),
        description=(
            "Alerts from calibration, signal quality and walk-forward results (validation/decisions/alerts.py): kind "
            "ModelMiscalibrated / SignalDecaying / InsufficientSamples / InformationRatioBelowOne / RegimeShift, "
            "severity info / warning / critical, the subject it is about, and the value compared with threshold."
        ),
    )
)

RUN_FAILURES = register(
    Table(
        "run_failures",
        {
            **_PART,
            "run_id": pl.String(),
            "time": pl.Int64(),
            "job_name": pl.String(),
            "partition": pl.String(),
            "failed_steps": pl.String(),
            "message": pl.String(),
        },
        key=("coin", "date", "run_id"),
        description=(
            "Failed Dagster runs, one row per run, written only by the run-failure sensor and keyed by the partition "
            "that failed (coin, date); a run without a (coin, day) partition has coin '' and the UTC day it failed. "
            "time = when the failure was recorded; failed_steps and message say what broke. The alerts asset "
            "merges each (coin, date)'s rows as critical RunFailed alerts."
        ),
    )
)

WALK_FORWARD_PNL = register(
    Table(
        "walk_forward_pnl",
        {**_PART, "fold": pl.Int32(), "time": pl.Int64(), "variant": pl.String(), "pnl": pl.Float64()},
        key=("coin", "date", "fold", "time", "variant"),
        description=(
            "Out-of-sample mark-to-mid P&L (quote currency) per period of every walk-forward test window, per "
            "variant; time = period start. The promotion gate pairs candidate and incumbent by period."
        ),
    )
)

COMPONENT_VERDICT = register(
    Table(
        "diagnosis",
        {
            **_PART,
            "rank": pl.Int32(),
            "component": pl.String(),
            "prediction": pl.String(),
            "verdict": pl.String(),
            "reason": pl.String(),
            "simple_test": pl.String(),
            "simple_stat": pl.Float64(),
            "simple_p": pl.Float64(),
            "simple_n": pl.Int64(),
            "simple_n_effective": pl.Float64(),
            "simple_effect": pl.Float64(),
            "simple_effect_unit": pl.String(),
            "addition_variant": pl.String(),
            "addition_effect": pl.Float64(),
            "addition_p": pl.Float64(),
            "adjusted_p": pl.Float64(),
            "adjustment": pl.String(),
            "alpha": pl.Float64(),
            "test_start_ms": pl.Int64(),
            "test_end_ms": pl.Int64(),
            "code_version": pl.String(),
            "run_at_ms": pl.Int64(),
        },
        key=("coin", "date", "component"),
        description=(
            "The nightly verdict per component of the method's diagnosis table "
            "(validation/decisions/component_verdict.py), "
            "date = run day, from the same walk-forward run as walk_forward over its complete folds' test windows "
            "[test_start_ms, test_end_ms). component bipower (prediction volatility), hawkes (fill rate), "
            "hmm_blending (regime), vpin_widening (adverse selection), lead_lag (cross-asset leader moves). (a) "
            "simple fails: simple_test of the baseline's out-of-sample prediction, its statistic, p-value (per row, "
            "two-sided; one-sided for lead_lag), n observations, n effective, and the size of the failure "
            "simple_effect in simple_effect_unit (realised / forecast variance; realised - predicted fill "
            "probability; bps per fill: best - worst regime edge, realised - predicted adverse selection, edge after "
            "leader moves - other fills); null p when not evaluated. (b) addition fixes: addition_variant's mean "
            "per-period P&L over the baseline's (quote currency per period), its one-sided HAC p-value and that "
            "p-value adjusted as adjustment says (Holm over the run's distinct trials). (c) verdict 'add' / 'keep "
            "simple' / 'no fix' / 'untested' at alpha with its one-line reason; rank 1 = the largest weakness "
            "(smallest p-value of (a); unevaluated rows last)."
        ),
    )
)

UNIVERSE = register(
    Table(
        "universe",
        {
            "date": pl.Date(),
            "coin": pl.String(),
            "dex": pl.String(),
            "dex_index": pl.Int32(),
            "asset_index": pl.Int32(),
            "asset_id": pl.Int64(),
            "sz_decimals": pl.Int32(),
            "max_leverage": pl.Int32(),
            "only_isolated": pl.Boolean(),
            "is_delisted": pl.Boolean(),
            "margin_mode": pl.String(),
            "collateral_token": pl.Int32(),
            "snapshot_time": pl.Int64(),
        },
        key=("date", "coin"),
        partition_by=("date",),
        description=(
            "The perp universe as of the end of date, from the latest Info-API meta / allPerpMetas / "
            "metaAndAssetCtxs snapshot of each dex and the latest perpDexs (data_lake/universe.py). dex '' is the "
            "validator dex; HIP-3 coins are 'dex:COIN'; asset_id = asset_index (dex 0) or 100000 + 10000 * "
            "dex_index + asset_index, null when the dex is missing from perpDexs. snapshot_time = when the meta was "
            "taken (epoch ms)."
        ),
    )
)

MARKET_SCREEN = register(
    Table(
        "market_screen",
        {
            "date": pl.Date(),
            "coin": pl.String(),
            "dex": pl.String(),
            "rank": pl.Int32(),
            "score": pl.Int32(),
            "criteria_known": pl.Int32(),
            "pass_volume": pl.Boolean(),
            "pass_spread": pl.Boolean(),
            "pass_makers": pl.Boolean(),
            "pass_edge": pl.Boolean(),
            "volume_quote": pl.Float64(),
            "volume_source": pl.String(),
            "trade_volume_quote": pl.Float64(),
            "trade_volume_per_day_quote": pl.Float64(),
            "coverage_hours": pl.Float64(),
            "exchange_volume_quote": pl.Float64(),
            "open_interest": pl.Float64(),
            "open_interest_quote": pl.Float64(),
            "spread_median_bps": pl.Float64(),
            "spread_twa_bps": pl.Float64(),
            "impact_spread_bps": pl.Float64(),
            "depth_10bps_quote": pl.Float64(),
            "trade_count": pl.Int64(),
            "n_passive_counterparties": pl.Int64(),
            "unknown_maker_share": pl.Float64(),
            "top3_maker_share": pl.Float64(),
            "effective_makers": pl.Float64(),
            "maker_markout_5s_bps": pl.Float64(),
            "spread_capture_bps": pl.Float64(),
            "edge_bps": pl.Float64(),
            "edge_ci_low": pl.Float64(),
            "edge_ci_high": pl.Float64(),
            "n_markouts": pl.Int64(),
            "funding_mean_bps_per_hour": pl.Float64(),
            "funding_sd_bps_per_hour": pl.Float64(),
            "volatility_bps_per_sqrt_s": pl.Float64(),
            "volatility_source": pl.String(),
            "in_universe": pl.Boolean(),
            "is_delisted": pl.Boolean(),
            "max_leverage": pl.Int32(),
            "thresholds": pl.String(),
        },
        key=("date", "coin"),
        partition_by=("date",),
        description=(
            "Niche selection screen of every coin with data on date (validation/screening/market_screen.py). "
            "Volumes, open "
            "interest and depth in quote currency (open_interest in coins); volume_quote is per day: the exchange's "
            "24 h volume, else the captured trade_volume_quote x 24 / coverage_hours (hours the capture was live, "
            "from book states; null without a book: then unscaled), volume_source says which; spreads, markouts and "
            "edge in bps; spread_median/twa are time-weighted over book states; effective_makers = 1 / sum(maker "
            "volume share^2) over the trades' known passive counterparties (a missing or all-zero placeholder "
            "address is unknown: unknown_maker_share of the volume); edge_bps = mean(spread capture + 5 s markout - "
            "maker fee) of market trades seen by their maker, with a Newey-West 95% CI; funding as the hourly rate in "
            "bps (mean, sd across hours); volatility in bps per sqrt(s). pass_* are the seed's criteria (null = figure "
            "missing), score = criteria passed, rank 1 = best (score, then edge, then volume); thresholds as JSON."
        ),
    )
)

TIME_OF_DAY = register(
    Table(
        "time_of_day",
        {
            "date": pl.Date(),
            "coin": pl.String(),
            "window_start_ms": pl.Int64(),
            "window_end_ms": pl.Int64(),
            "dimension": pl.String(),
            "bucket": pl.String(),
            "bucket_index": pl.Int32(),
            "metric": pl.String(),
            "value": pl.Float64(),
            "ci_low": pl.Float64(),
            "ci_high": pl.Float64(),
            "effect": pl.Float64(),
            "n": pl.Int64(),
            "n_cells": pl.Int64(),
            "p_value": pl.Float64(),
            "p_value_vs_rest": pl.Float64(),
        },
        key=("date", "coin", "dimension", "bucket", "metric"),
        partition_by=("date",),
        description=(
            "Time structure per coin over [window_start_ms, window_end_ms), date = window end day "
            "(validation/screening/time_structure.py). dimension 'hour_of_day' (bucket '00'..'23' UTC), 'day_type' "
            "('weekday' / 'weekend') or 'minutes_to_funding' (e.g. '0-10' = the last ten minutes before the hourly "
            "payment); metric spread_bps, trades_per_minute, adverse_selection_5s_bps (mean -markout_5s of market "
            "trades seen by their maker) or volatility_bps_per_sqrt_s. value with a cell-clustered 95% CI, effect = "
            "value minus the all-bucket value, n observations in n_cells cells; p_value = within-block permutation "
            "test that the metric does not depend on the bucket, p_value_vs_rest = the bucket against the rest, "
            "Holm-adjusted."
        ),
    )
)

QUOTER_LOG = register(
    Table(
        "quoter_log",
        {
            **_PART,
            "time": pl.Int64(),
            "channel": pl.String(),
            "event": pl.String(),
            "oid": pl.Int64(),
            "tid": pl.Int64(),
            "side": pl.Int8(),
            "px": pl.Float64(),
            "sz": pl.Float64(),
            "pred_fill_prob": pl.Float64(),
            "pred_adverse_bps": pl.Float64(),
            "belief_calm": pl.Float64(),
            "belief_volatile": pl.Float64(),
            "belief_cascade": pl.Float64(),
            "param_set_id": pl.String(),
            "payload": pl.String(),
            "recv_time_ns": pl.Int64(),
        },
        key=("coin", "time", "channel", "payload"),
        description=(
            "The quoter's own log (raw source `quoter`, frames quoterParams / quoterQuote / quoterOrder / quoterFill / "
            "quoterPull; formats in quoting/runtime/quote_log.py): the decoded common fields plus the whole frame as "
            "JSON. "
            "quoterFill predictions are joined onto `fills` by (oid, tid)."
        ),
    )
)
