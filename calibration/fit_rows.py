"""FitResult -> long-format rows of the fit tables (``kappa_fit``, ``hawkes_fit``, ``regime_fit``, ``vol_fit``: one
row per estimate, with its window, n and status), the schema of :func:`data_lake.tables._fit_table`."""

from __future__ import annotations

import datetime as dt
import json
import math
import time

import polars as pl

from calibration.fit_result import FitResult, code_version
from calibration.window_fits import Segmented


def fit_rows(fit: FitResult, coin: str, date: dt.date, window: tuple[int, int], segment: str = "all") -> pl.DataFrame:
    """One row per estimate; a fit without estimates (e.g. insufficient samples) still leaves one status row."""
    common = {
        "coin": coin,
        "date": date,
        "window_start_ms": window[0],
        "window_end_ms": window[1],
        "model": fit.model,
        "segment": segment,
        "n": fit.n,
        "status": fit.status,
        "goodness_of_fit": json.dumps(
            {
                k: (v if isinstance(v, (int, float)) and math.isfinite(v) else None)
                for k, v in fit.goodness_of_fit.items()
            }
        ),
        "warnings": "; ".join(fit.warnings),
        "code_version": code_version(),
        "fitted_at_ms": int(time.time() * 1000),
    }
    params = list(fit.estimates) or ["status"]
    rows = [
        {
            **common,
            "param": name,
            "value": fit.estimates.get(name, math.nan),
            "se": fit.std_errors.get(name, math.nan),
            "unit": fit.units.get(name, ""),
        }
        for name in params
    ]
    return pl.DataFrame(rows)


def segmented_fit_rows(fits: Segmented, coin: str, date: dt.date, window: tuple[int, int]) -> pl.DataFrame:
    """The rows of every segment's fit (:func:`fit_rows`), in segment order."""
    return pl.concat([fit_rows(fit, coin, date, window, segment) for segment, fit in fits])
