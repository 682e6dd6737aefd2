"""The fill log's state columns: as of the fill, from the last book row at or before it."""

from __future__ import annotations

import numpy as np
import polars as pl

from calibration.fill_log import enrich_fill_log


def test_five_level_imbalance_carries_over_bbo_rows_in_time_order() -> None:
    """bbo rows have level 1 only: a fill after one gets the 5-level imbalance of the last l2Book row before it."""
    n = 4_000
    times = np.arange(n, dtype=np.int64) * 100
    is_l2 = np.arange(n) % 2 == 0
    signals = pl.DataFrame(
        {
            "coin": "X",
            "time": times,
            "imbalance_1": np.linspace(-1, 1, n),
            "imbalance_5": np.where(is_l2, np.linspace(-0.9, 0.9, n), np.nan),
            "microprice": 100.0,
        }
    ).with_columns(pl.col("imbalance_5").fill_nan(None))
    fills = pl.DataFrame({"coin": "X", "time": times[~is_l2] + 50, "tid": np.arange((~is_l2).sum())})
    bars = pl.DataFrame({"coin": "X", "time": [-1000], "ewma_var": [1e-8]})

    marked = enrich_fill_log(fills, bars, signals)

    expected = np.linspace(-0.9, 0.9, n)[np.flatnonzero(~is_l2) - 1]
    np.testing.assert_array_equal(marked["imbalance_5"].to_numpy(), expected)
    np.testing.assert_array_equal(marked["imbalance_1"].to_numpy(), np.linspace(-1, 1, n)[~is_l2])
