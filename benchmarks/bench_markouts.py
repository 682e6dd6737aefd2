"""Markouts throughput: ``calibration.markouts.markouts`` against a plain per-horizon polars ``join_asof`` loop.

Synthetic day: 10M book rows (bbo and l2Book merged), 1M fills, 3 horizons. Prints fill-horizons per second of
both, their ratio, and checks that both give the same markouts. Run: ``python benchmarks/bench_markouts.py``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import polars as pl

from calibration.markouts import markouts
from calibration.mids import MID_MAX_AGE_MS, mid_series
from data_lake.units import DAY_MS

HORIZONS_MS = (1000, 5000, 30000)


def synthetic_book(n_rows: int, seed: int = 0) -> pl.DataFrame:
    """``n_rows`` book rows over one day: a random-walk mid, 0.01 half-spread, 1 in 10 rows from l2Book."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, DAY_MS, n_rows))
    mid = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 2e-5, n_rows)))
    return pl.DataFrame(
        {
            "coin": pl.Series(["BTC"] * n_rows, dtype=pl.String),
            "time": t,
            "recv_time_ns": t * 1_000_000 + rng.integers(0, 1_000_000, n_rows),
            "source": np.where(rng.random(n_rows) < 0.1, "l2Book", "bbo"),
            "bid_px_1": mid - 0.01,
            "ask_px_1": mid + 0.01,
        }
    )


def synthetic_fills(n_fills: int, seed: int = 1) -> pl.DataFrame:
    """``n_fills`` fills sorted by time, random side, price within 2 bps of 100."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "coin": ["BTC"] * n_fills,
            "time": np.sort(rng.integers(0, DAY_MS, n_fills)),
            "side": rng.choice(np.array([-1, 1], dtype=np.int8), n_fills),
            "px": 100.0 * (1 + rng.normal(0, 2e-4, n_fills)),
        }
    )


def join_asof_loop(fills: pl.DataFrame, mids: pl.DataFrame, horizons_ms: tuple[int, ...]) -> pl.DataFrame:
    """The plain polars way: one ``join_asof`` per horizon plus one for the mid before the fill (strictly before
    it), each at most ``MID_MAX_AGE_MS`` old."""
    out = (
        fills.with_row_index("_row")
        .sort("time")
        .join_asof(
            mids.rename({"mid": "mid_at_fill"}),
            on="time",
            by="coin",
            check_sortedness=False,
            allow_exact_matches=False,
            tolerance=MID_MAX_AGE_MS,
        )
    )
    for h in horizons_ms:
        right = mids.rename({"time": "_t", "mid": f"mid_{h}ms"})
        out = out.with_columns((pl.col("time") + h).alias("_t"))
        out = out.join_asof(right, on="_t", by="coin", check_sortedness=False, tolerance=MID_MAX_AGE_MS)
    m0 = pl.col("mid_at_fill")
    return out.sort("_row").select(
        *fills.columns,
        *[(pl.col("side") * (pl.col(f"mid_{h}ms") - m0) / m0 * 1e4).alias(f"markout_{h}ms_bps") for h in horizons_ms],
    )


def best_of(fn: Callable[[], pl.DataFrame], repeats: int) -> tuple[float, pl.DataFrame]:
    """Best wall time in seconds over ``repeats`` runs, and the last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book-rows", type=int, default=10_000_000)
    parser.add_argument("--fills", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    book, fills = synthetic_book(args.book_rows), synthetic_fills(args.fills)
    t_mids, mids = best_of(lambda: mid_series(book), 1)

    def run_ours(f: pl.DataFrame = fills, m: pl.DataFrame = mids) -> pl.DataFrame:
        return markouts(f, m, horizons_ms=HORIZONS_MS, fee_bps=0.0, adverse_horizon_ms=None)

    run_ours(fills.head(10), mids.head(1000))  # numba: load the compiled kernel outside the timing
    t_ours, ours = best_of(run_ours, args.repeats)
    t_loop, loop = best_of(lambda: join_asof_loop(fills, mids, HORIZONS_MS), args.repeats)

    cols = [f"markout_{h}ms_bps" for h in HORIZONS_MS]
    np.testing.assert_array_equal(ours.select(cols).to_numpy(), loop.select(cols).to_numpy())

    n = args.fills * len(HORIZONS_MS)
    print(f"book rows {args.book_rows:,} -> mid series {mids.height:,} rows in {t_mids:.2f} s")
    print(f"fills {args.fills:,} x horizons {HORIZONS_MS} = {n:,} fill-horizons (best of {args.repeats})")
    print(f"{'implementation':<34}{'seconds':>9}{'fill-horizons/s':>18}")
    print(f"{'calibration.markouts.markouts':<34}{t_ours:>9.3f}{n / t_ours:>18,.0f}")
    print(f"{'polars join_asof per horizon':<34}{t_loop:>9.3f}{n / t_loop:>18,.0f}")
    print(f"ratio (join_asof loop time / ours): {t_loop / t_ours:.1f}x; results identical: True")


if __name__ == "__main__":
    main()
