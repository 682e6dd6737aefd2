"""Volatility per regime from the features table: EWMA, realized, bipower and 1 min sigma, and the jump distribution.

Every sigma is the volatility of the mid's log price in bps per sqrt(second), a ratio estimator over the minutes of a
segment (all minutes, or those whose causal regime is a given state), ``sigma = 1e4 * sqrt(sum y_m / sum s_m)``:

| estimate | y_m per minute m | s_m (seconds) |
|---|---|---|
| ``sigma_rv`` | realized variance of the minute's 1 s returns | returns present |
| ``sigma_bv`` | bipower variation of the same returns (robust to jumps) | returns present |
| ``sigma_1min`` | the squared 1 min return (robust to microstructure noise) | 60 |
| ``sigma_ewma`` | mean of the 1 s bars' EWMA variance (the seed's online estimate) | 1 |

Standard errors by the delta method from a Bartlett (Newey-West) long-run variance of the ratio's linearisation
``(y_m - v s_m) / mean(s)`` over the segment's minutes in time order. The jump distribution: quantiles of the
minute's RV/BV with distribution-free order-statistic errors, and the share of minutes whose Huang-Tauchen test
rejects "no jump" at ``jump_alpha`` (Huang & Tauchen 2005; ``calibration.volatility``).

The model in the project's words, with its papers: ``docs/volatility.md``.
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np
import polars as pl
from scipy.stats import norm

from calibration.fit_result import FitResult, InsufficientSamples
from calibration.volatility import window_realized_measures
from data_lake.units import MINUTE_MS

MODEL = "volatility"
JUMP_QUANTILES = (0.1, 0.5, 0.9)
SIGMA_UNIT = "bps/sqrt(s)"
_SIGMAS = {  # estimate: (y column, seconds column)
    "sigma_rv": ("rv", "n"),
    "sigma_bv": ("bv", "n"),
    "sigma_1min": ("r2_1min", "s_1min"),
    "sigma_ewma": ("ewma_var", "s_ewma"),
}


def minute_measures(
    bars_1s: pl.DataFrame, bars_1min: pl.DataFrame, beliefs: pl.DataFrame | None = None
) -> pl.DataFrame:
    """One row per minute of the 1 s bars: ``time`` (minute start), ``n`` (1 s returns present), ``rv``, ``bv``,
    ``jump_ratio``, ``ht_pvalue`` (``calibration.volatility.realized_measures``), ``ewma_var`` (mean of the 1 s
    bars' EWMA variance, per second), ``r2_1min`` (squared 1 min return), the seconds ``s_1min``/``s_ewma`` behind
    those two (null when missing) and ``regime``: the argmax of the minute's own causal belief (``beliefs`` from
    ``calibration.regimes.regime_beliefs``, matched on ``bar_time``), null without one.

    ``bars_1s``/``bars_1min``: one coin's ``features`` rows (``coin, time, log_return``, and ``ewma_var`` on 1 s).
    """
    realized = window_realized_measures(bars_1s.sort("time"), MINUTE_MS, 1000).select(
        "time", "n", "rv", "bv", "jump_ratio", "ht_pvalue"
    )
    ewma = bars_1s.group_by((pl.col("time") // MINUTE_MS * MINUTE_MS).alias("time")).agg(pl.col("ewma_var").mean())
    minute = bars_1min.select(
        "time",
        r2_1min=pl.col("log_return").pow(2),
        s_1min=pl.when(pl.col("log_return").is_not_null()).then(pl.lit(60.0)),
    )
    out = realized.join(ewma, on="time", how="left").join(minute, on="time", how="left")
    out = out.with_columns(s_ewma=pl.when(pl.col("ewma_var").is_not_null()).then(pl.lit(1.0)))
    if beliefs is None:
        return out.with_columns(regime=pl.lit(None, dtype=pl.String)).sort("time")
    regimes = beliefs.select(pl.col("bar_time").alias("time"), "regime")
    return out.join(regimes, on="time", how="left").sort("time")


def fit_volatility(
    bars_1s: pl.DataFrame,
    bars_1min: pl.DataFrame,
    beliefs: pl.DataFrame | None = None,
    *,
    min_minutes: int = 30,
    jump_alpha: float = 0.01,
    hac_lags: int = 15,
) -> dict[str, FitResult]:
    """Volatility fits by segment: ``"all"`` and, with ``beliefs``, ``"regime=<state>"`` for every state with a
    non-null belief column (a state with fewer than ``min_minutes`` minutes gets ``FitResult.insufficient``).

    Estimates (see the module docstring): ``sigma_rv``, ``sigma_bv``, ``sigma_1min``, ``sigma_ewma`` in bps per
    sqrt(s), ``jump_ratio_p10/p50/p90`` and ``jump_share`` (minutes with a Huang-Tauchen p-value below
    ``jump_alpha``; about ``jump_alpha`` without jumps). ``hac_lags`` minutes of autocorrelation enter the SEs.
    """
    minutes = minute_measures(bars_1s, bars_1min, beliefs)
    segments = {"all": minutes}
    if beliefs is not None:
        states = [
            c.removeprefix("belief_")
            for c in beliefs.columns
            if c.startswith("belief_") and beliefs[c].null_count() < beliefs.height
        ]
        segments |= {f"regime={s}": minutes.filter(pl.col("regime") == s) for s in states}
    fits = {}
    for segment, rows in segments.items():
        try:
            fits[segment] = _fit_segment(rows, min_minutes, jump_alpha, hac_lags)
        except InsufficientSamples as error:
            fits[segment] = FitResult.insufficient(error)
    return fits


def _fit_segment(minutes: pl.DataFrame, min_minutes: int, jump_alpha: float, hac_lags: int) -> FitResult:
    if minutes.height < min_minutes:
        raise InsufficientSamples(MODEL, minutes.height, min_minutes)
    estimates: dict[str, float] = {}
    std_errors: dict[str, float] = {}
    units: dict[str, str] = {}
    for name, (y_col, s_col) in _SIGMAS.items():
        rows = minutes.filter(pl.col(y_col).is_not_null() & pl.col(s_col).is_not_null() & (pl.col(s_col) > 0))
        estimates[name], std_errors[name] = _sigma(rows[y_col].to_numpy(), rows[s_col].to_numpy(), hac_lags)
        units[name] = SIGMA_UNIT
    ratios = np.sort(minutes["jump_ratio"].drop_nulls().to_numpy())
    for q in JUMP_QUANTILES:
        name = f"jump_ratio_p{round(q * 100)}"
        estimates[name], std_errors[name] = _quantile(ratios, q)
        units[name] = "1"
    rejected = (minutes["ht_pvalue"].drop_nulls().to_numpy() < jump_alpha).astype(np.float64)
    estimates["jump_share"] = float(rejected.mean()) if rejected.size else math.nan
    std_errors["jump_share"] = (
        math.sqrt(_long_run_variance(rejected, hac_lags) / rejected.size) if rejected.size > 1 else math.nan
    )
    units["jump_share"] = "1"
    return FitResult(
        model=MODEL,
        n=minutes.height,
        estimates=estimates,
        std_errors=std_errors,
        units=units,
        goodness_of_fit={
            "jump_alpha": jump_alpha,
            "hac_lags": float(hac_lags),
            "returns_per_minute": float(cast(float, minutes["n"].mean())),
        },
        warnings=_warnings(estimates, jump_alpha),
    )


def _sigma(y: np.ndarray, seconds: np.ndarray, lags: int) -> tuple[float, float]:
    """``1e4 * sqrt(sum y / sum s)`` and its delta-method SE from the HAC variance of the ratio."""
    if y.size < 2 or seconds.sum() <= 0:
        return math.nan, math.nan
    v = y.sum() / seconds.sum()
    if v <= 0:
        return 0.0, math.nan
    z = (y - v * seconds) / seconds.mean()
    se_v = math.sqrt(_long_run_variance(z, lags) / y.size)
    return 1e4 * math.sqrt(v), 1e4 * se_v / (2 * math.sqrt(v))


def _long_run_variance(x: np.ndarray, lags: int) -> float:
    """Bartlett-kernel long-run variance ``g0 + 2 sum_k (1 - k/(L+1)) g_k`` (Newey & West 1987). Products are
    summed by numpy, not BLAS: multithreaded BLAS takes milliseconds per lag when the other cores are busy."""
    d = x - x.mean()
    n = d.size
    lrv = np.sum(d * d) / n
    for k in range(1, min(lags, n - 1) + 1):
        lrv += 2 * (1 - k / (lags + 1)) * np.sum(d[k:] * d[:-k]) / n
    return float(max(lrv, 0.0))


def _quantile(sorted_x: np.ndarray, q: float) -> tuple[float, float]:
    """Sample quantile and an SE from the distribution-free 95% order-statistic interval (its half-width / 1.96)."""
    n = sorted_x.size
    if n < 2:
        return math.nan, math.nan
    z = norm.ppf(0.975)
    half = z * math.sqrt(n * q * (1 - q))
    lo, hi = max(int(math.floor(n * q - half)), 0), min(int(math.ceil(n * q + half)), n - 1)
    return float(np.quantile(sorted_x, q)), float((sorted_x[hi] - sorted_x[lo]) / (2 * z))


def _warnings(estimates: dict[str, float], jump_alpha: float) -> tuple[str, ...]:
    rv, ewma, one_min = estimates["sigma_rv"], estimates["sigma_ewma"], estimates["sigma_1min"]
    warnings = []
    if rv > 0 and abs(ewma / rv - 1) > 0.2:
        warnings.append(
            f"EWMA sigma {ewma:.3g} is {ewma / rv - 1:+.0%} off the realized sigma {rv:.3g}: the EWMA half-life "
            "smooths across regime changes"
        )
    if one_min > 0 and abs(rv / one_min - 1) > 0.2:
        warnings.append(
            f"1 s realized sigma {rv:.3g} vs 1 min sigma {one_min:.3g}: microstructure noise (tick, bounce) in 1 s "
            "returns"
        )
    if estimates["jump_share"] > 5 * jump_alpha:
        warnings.append(
            f"{estimates['jump_share']:.0%} of minutes reject 'no jump' at {jump_alpha:g} (jumps or tick discreteness)"
        )
    return tuple(warnings)
