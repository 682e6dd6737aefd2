"""The seed's Phase 2 baseline table ("measurement before modeling") and the markout curve, with CIs and n; the same
table for the quoter's own predictions beside what happened (:func:`quoter_prediction_table`).

Means carry Newey-West (HAC) 95% intervals because consecutive fills are autocorrelated; rates a Wilson score
interval (:func:`validation.statistics.significance.binomial_test`); the per-fill Sharpe ratio Lo's (2002) asymptotic
interval sqrt((1 + SR^2/2) / n).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from data_lake.tables import BASELINE_METRICS
from validation.statistics.calibration_metrics import calibration_metrics
from validation.statistics.quoter_scoring import quoted_sides, scored_fill_predictions
from validation.statistics.significance import binomial_test, hac_mean_test

Z95 = 1.959964
BASELINE_COLUMNS = BASELINE_METRICS.columns_without("coin", "date")


def _row(population: str, metric: str, value: float, ci: tuple[float, float], n: int) -> dict:
    """One row of the baseline table: an estimate with its 95% interval and sample size."""
    return {"population": population, "metric": metric, "value": value, "ci_low": ci[0], "ci_high": ci[1], "n": n}


def _mean_row(population: str, metric: str, x: np.ndarray) -> dict:
    x = x[np.isfinite(x)]
    if x.size < 2:
        return _row(population, metric, float(x.mean()) if x.size else math.nan, (math.nan, math.nan), int(x.size))
    test = hac_mean_test(x, alternative="two-sided")
    return _row(population, metric, test.estimate, test.ci, int(x.size))


def _sharpe_row(population: str, pnl: np.ndarray) -> dict:
    pnl = pnl[np.isfinite(pnl)]
    n = pnl.size
    sd = float(pnl.std(ddof=1)) if n > 1 else math.nan
    sharpe = float(pnl.mean()) / sd if n > 1 and sd > 0 else math.nan
    half = Z95 * math.sqrt((1 + 0.5 * sharpe**2) / n) if math.isfinite(sharpe) else math.nan
    return _row(population, "sharpe_per_fill", sharpe, (sharpe - half, sharpe + half), n)


def _rate_row(population: str, metric: str, hits: np.ndarray) -> dict:
    """Share of the boolean ``hits`` with its Wilson score interval (NaN with no observation)."""
    if hits.size == 0:
        return _row(population, metric, math.nan, (math.nan, math.nan), 0)
    test = binomial_test(int(hits.sum()), int(hits.size), 0.5, alternative="two-sided")
    return _row(population, metric, test.estimate, test.ci, int(hits.size))


def _win_rate_row(population: str, pnl: np.ndarray) -> dict:
    return _rate_row(population, "win_rate", pnl[np.isfinite(pnl)] > 0)


def baseline_metrics(marked: pl.DataFrame, quotes_placed: int | None = None, horizon_ms: int = 5000) -> pl.DataFrame:
    """Per population (own fills, market trades seen from the maker side): the seed's Phase 2 table.

    ``fill_rate`` = own fills / quotes placed, only when the quoter's logs give ``quotes_placed``.
    """
    rows = []
    for population, frame in (
        ("own", marked.filter(~pl.col("is_market_trade"))),
        ("market_maker_side", marked.filter(pl.col("is_market_trade"))),
    ):
        if frame.height == 0:
            continue
        net = frame[f"net_{horizon_ms}ms_bps"].to_numpy().astype(float)
        rows += [
            _mean_row(
                population,
                f"adverse_selection_{horizon_ms // 1000}s_bps",
                frame["adverse_selection_bps"].to_numpy().astype(float),
            ),
            _mean_row(
                population,
                f"markout_{horizon_ms // 1000}s_bps",
                frame[f"markout_{horizon_ms}ms_bps"].to_numpy().astype(float),
            ),
            _mean_row(population, "spread_capture_bps", frame["spread_capture_bps"].to_numpy().astype(float)),
            _mean_row(population, f"net_{horizon_ms // 1000}s_bps", net),
            _sharpe_row(population, net),
            _win_rate_row(population, net),
        ]
        if population == "own" and quotes_placed:
            fills = frame.height
            test = binomial_test(fills, quotes_placed, 0.5, alternative="two-sided")
            rows.append(
                {
                    "population": population,
                    "metric": "fill_rate",
                    "value": fills / quotes_placed,
                    "ci_low": test.ci[0],
                    "ci_high": test.ci[1],
                    "n": quotes_placed,
                }
            )
    return pl.DataFrame(rows, schema=BASELINE_COLUMNS)


def markout_curve(marked: pl.DataFrame, horizons_ms: tuple[int, ...]) -> pl.DataFrame:
    """Mean markout (bps) with a 95% CI per population, side and horizon (0 ms = spread capture excluded)."""
    rows = []
    for (population, side), frame in marked.group_by(
        pl.col("is_market_trade").replace_strict({True: "market_maker_side", False: "own"}), "side"
    ):
        for h in horizons_ms:
            x = frame[f"markout_{h}ms_bps"].drop_nulls().drop_nans().to_numpy()
            mean = float(x.mean()) if x.size else math.nan
            se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
            rows.append(
                {
                    "population": population,
                    "side": int(side),
                    "horizon_ms": h,
                    "mean_bps": mean,
                    "ci_low": mean - Z95 * se,
                    "ci_high": mean + Z95 * se,
                    "n": int(x.size),
                }
            )
    return pl.DataFrame(rows).sort("population", "side", "horizon_ms") if rows else pl.DataFrame()


def mean_markout_lines(fill_log: pl.DataFrame) -> str:
    """Mean 5 s markout per population (own fills, market trades from the maker side), with the fills it averages
    (n/a where none has one), as Markdown list items."""
    by_population = fill_log.group_by("is_market_trade").agg(
        pl.col("markout_5000ms_bps").mean(), pl.col("markout_5000ms_bps").count().alias("n")
    )
    lines = []
    for r in by_population.sort("is_market_trade").iter_rows(named=True):
        name = "market (maker side)" if r["is_market_trade"] else "own"
        mean = "n/a" if r["markout_5000ms_bps"] is None else f"{r['markout_5000ms_bps']:.3f} bps"
        lines.append(f"- {name}: {mean} (n={r['n']})")
    return "\n".join(lines)


QUOTER_TABLE_COLUMNS = {**BASELINE_COLUMNS, "predicted": pl.Float64()}


def quoter_prediction_table(
    quote_log: pl.DataFrame, own_marked: pl.DataFrame, trades: pl.DataFrame, horizon_ms: int = 5000
) -> pl.DataFrame:
    """The baseline table of the quoter's own predictions: realised vs predicted, with 95% CIs and n.

    ``quote_log``: the ``quoter_log`` table (its ``quoterQuote`` decisions); ``own_marked``: the quoter's fills as in
    the ``markouts`` table (``is_market_trade`` false: ``time``, ``side``, markouts, ``pred_adverse_bps``);
    ``trades``: the market's prints over the same time. Rows (:mod:`validation.statistics.quoter_scoring` for the scored
    sides):

    - ``fill_rate``: share of scored quoted sides whose price a market print reached in the predicted window (the
      event ``pred_fill_prob`` predicts), beside the mean prediction; ``fill_rate_minus_predicted``: the mean of
      reached - predicted; ``fill_cox_slope``: the Cox calibration slope (1 = calibrated resolution);
    - ``own_fill_rate``: share of the same sides the quoter's own order filled in the window, and
      ``own_fills_per_print_reach``: among the sides a print reached (the queue ahead trades first; not predicted);
    - ``adverse_selection_{h}s_bps`` beside the mean ``pred_adverse_bps`` of the same fills, and their difference;
    - spread capture, net markout, per-fill Sharpe and win rate of the fills (as :func:`baseline_metrics`).

    Means and the slope carry HAC intervals, rates Clopper-Pearson ones; ``predicted`` is null where nothing is
    predicted.
    """
    own = own_marked.filter(~pl.col("is_market_trade")).sort("time")
    scored = scored_fill_predictions(quoted_sides(quote_log), trades, own)
    rows = []
    if scored.height:
        reached = scored["filled"].to_numpy()
        own_filled = scored["own_filled"].to_numpy()
        predicted = scored["pred_fill_prob"].to_numpy()
        rows += [
            _rate_row("own", "fill_rate", reached) | {"predicted": float(predicted.mean())},
            _mean_row("own", "fill_rate_minus_predicted", reached.astype(float) - predicted),
        ]
        if 0 < reached.sum() < reached.size and np.ptp(predicted) > 0:
            cox = calibration_metrics(reached.astype(float), predicted)
            rows.append(
                {
                    "population": "own",
                    "metric": "fill_cox_slope",
                    "value": cox.slope,
                    "ci_low": cox.slope_ci[0],
                    "ci_high": cox.slope_ci[1],
                    "n": cox.n,
                }
            )
        rows.append(_rate_row("own", "own_fill_rate", own_filled))
        if reached.any():
            rows.append(_rate_row("own", "own_fills_per_print_reach", own_filled[reached]))
    if own.height:
        adverse_name = f"adverse_selection_{horizon_ms // 1000}s_bps"
        with_pred = own.filter(pl.col("pred_adverse_bps").is_not_null() & pl.col("adverse_selection_bps").is_not_null())
        adverse, pred = (with_pred[c].to_numpy().astype(float) for c in ("adverse_selection_bps", "pred_adverse_bps"))
        net = own[f"net_{horizon_ms}ms_bps"].to_numpy().astype(float)
        rows += [
            _mean_row("own", adverse_name, adverse) | {"predicted": float(pred.mean()) if pred.size else math.nan},
            _mean_row("own", f"{adverse_name}_minus_predicted", adverse - pred),
            _mean_row("own", "spread_capture_bps", own["spread_capture_bps"].to_numpy().astype(float)),
            _mean_row("own", f"net_{horizon_ms // 1000}s_bps", net),
            _sharpe_row("own", net),
            _win_rate_row("own", net),
        ]
    return pl.DataFrame([{"predicted": None} | r for r in rows], schema=QUOTER_TABLE_COLUMNS)
