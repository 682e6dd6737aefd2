"""A fitted variant on its TEST window: :func:`simulate_fitted` backtests it with its causal beliefs
(:mod:`validation.backtest.runner`) and scores its predictions against what happened. :class:`VariantOutcome` holds
the fills with their realised markouts (:func:`calibration.markouts.markouts`) and P&L, the scored quotes
(:mod:`validation.experiments.interval_scoring`), the mark-to-mid P&L per period and the figures of a
``walk_forward`` row. Times UTC epoch ms, P&L quote currency, markouts bps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from calibration.markouts import markouts
from data_lake.scalars import as_float
from validation.backtest.runner import market_tape, run_backtest
from validation.experiments.interval_scoring import policy_leader_mids, quote_outcomes
from validation.experiments.train_estimates import _mids, _window
from validation.experiments.variant_types import FittedSummary, FittedVariant, Market, VariantConfig

BPS = 1e-4


@dataclass(frozen=True, eq=False)
class VariantOutcome:
    """A fitted variant's backtest on one test window, with its predictions scored.

    ``fills``: the backtest's fill log plus the realised markouts (:func:`calibration.markouts.markouts`), the
    realised adverse selection ``realised_adverse_bps`` = max(-markout at the horizon, 0) and ``pnl`` (quote
    currency: spread capture + markout - fee, on the fill's notional). ``quotes``: one row per side and tau
    interval the quoter had a quote out, with ``pred_fill_prob`` and ``filled`` (a market print reached its
    price within tau). ``period_pnl``: mark-to-mid P&L per ``period_ms`` bucket (``time`` = bucket start).
    ``beliefs``: the causal beliefs the quoter used. ``fitted``: the variant as fitted, or its
    :class:`FittedSummary` once the walk-forward keeps the outcome past its fold.
    """

    fitted: FittedVariant | FittedSummary
    fills: pl.DataFrame
    quotes: pl.DataFrame
    period_pnl: pl.DataFrame
    beliefs: pl.DataFrame
    final_inventory: float
    orders_sent: int

    @property
    def name(self) -> str:
        return self.fitted.name

    @property
    def n_fills(self) -> int:
        return self.fills.height

    @property
    def pnl(self) -> float:
        """Mark-to-mid P&L over the test window, quote currency."""
        return float(self.period_pnl["pnl"].sum())

    @property
    def sharpe_per_period(self) -> float:
        return _sharpe(self.period_pnl["pnl"].to_numpy())

    @property
    def sharpe_per_fill(self) -> float:
        return _sharpe(self.fills["pnl"].drop_nulls().to_numpy())

    @property
    def predicted_fill_rate(self) -> float:
        return _mean(self.quotes["pred_fill_prob"])

    @property
    def actual_fill_rate(self) -> float:
        return _mean(self.quotes["filled"].cast(pl.Float64))

    @property
    def brier(self) -> float:
        return _mean((self.quotes["pred_fill_prob"] - self.quotes["filled"].cast(pl.Float64)) ** 2)

    @property
    def predicted_adverse_bps(self) -> float:
        return _mean(self.fills["pred_adverse_bps"])

    @property
    def realised_adverse_bps(self) -> float:
        return _mean(self.fills["realised_adverse_bps"])

    def summary(self) -> dict[str, float | int]:
        """The figures of one ``walk_forward`` row."""
        return {
            "pnl": self.pnl,
            "sharpe_per_period": self.sharpe_per_period,
            "sharpe_per_fill": self.sharpe_per_fill,
            "n_fills": self.n_fills,
            "n_periods": self.period_pnl.height,
            "n_quotes": self.quotes.height,
            "predicted_fill_rate": self.predicted_fill_rate,
            "actual_fill_rate": self.actual_fill_rate,
            "brier": self.brier,
            "predicted_adverse_bps": self.predicted_adverse_bps,
            "realised_adverse_bps": self.realised_adverse_bps,
            "final_inventory": self.final_inventory,
            "orders_sent": self.orders_sent,
        }


def _mean(series: pl.Series) -> float:
    values = series.drop_nulls().drop_nans()
    return as_float(values.mean()) if values.len() else math.nan


def _sharpe(x: np.ndarray) -> float:
    """Per-period mean / std (ddof 1), NaN when undefined."""
    x = x[np.isfinite(x)]
    sd = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return float(x.mean()) / sd if sd > 0 else math.nan


def simulate_fitted(
    fitted: FittedVariant, test: Market, config: VariantConfig, window: tuple[int, int] | None = None
) -> VariantOutcome:
    """Backtest a fitted variant on ``test`` with its causal beliefs and score its predictions; ``window`` is the
    test window [start, end) in ms, by default the span of its book rows and trades."""
    start, end = window or _window(test)
    beliefs = fitted.beliefs(test, start)
    result = run_backtest(
        test["book"],
        test["trades"],
        fitted.model,
        fitted.policy,
        config.backtest,
        beliefs,
        fitted.adverse_bps_by_regime,
        fitted.regime_names,
        fitted.reach,
        policy_leader_mids(test, fitted.policy),
        tape=market_tape(test),
    )
    return VariantOutcome(
        fitted=fitted,
        fills=marked_fills(result.fills, test, config.markout_horizon_ms),
        quotes=quote_outcomes(fitted, beliefs, result.equity, test, (start, end), config),
        period_pnl=period_pnl(result.equity, start, end, config.period_ms),
        beliefs=beliefs,
        final_inventory=result.final_inventory,
        orders_sent=result.orders_sent,
    )


def marked_fills(fills: pl.DataFrame, data: Market, horizon_ms: int) -> pl.DataFrame:
    """Backtest fills with realised markouts against ``data``'s mids, ``realised_adverse_bps`` and per-fill ``pnl``
    (quote currency)."""
    marked = markouts(fills, _mids(data), horizons_ms=(horizon_ms,), adverse_horizon_ms=horizon_ms)
    return marked.with_columns(
        realised_adverse_bps=pl.col("adverse_selection_bps"),
        pnl=pl.col(f"net_{horizon_ms}ms_bps") * BPS * pl.col("mid_at_fill") * pl.col("sz"),
    )


def period_pnl(equity: pl.DataFrame, start_ms: int, end_ms: int, period_ms: int) -> pl.DataFrame:
    """Mark-to-mid P&L (equity change, from 0) per ``period_ms`` bucket of [start_ms, end_ms); the last may be
    partial."""
    n = -(-(end_ms - start_ms) // period_ms)
    bounds = np.minimum(start_ms + period_ms * np.arange(1, n + 1, dtype=np.int64), end_ms)
    times = equity["time"].to_numpy()
    values = equity["equity"].fill_nan(None).forward_fill().fill_null(0.0).to_numpy()
    rows = np.searchsorted(times, bounds, side="left") - 1  # the last row strictly before each bucket end
    level = np.where(rows >= 0, values[np.maximum(rows, 0)], 0.0)
    starts = start_ms + period_ms * np.arange(n, dtype=np.int64)
    return pl.DataFrame({"time": starts, "pnl": np.diff(level, prepend=0.0)})
