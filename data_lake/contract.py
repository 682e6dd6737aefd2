"""Sanity bounds of the data contract: one definition read by the cleaning's quarantine rules
(:mod:`data_lake.cleaning`, :mod:`data_lake.parsers.checks`) and by the Great Expectations suites
(:mod:`assets.quality`), so what cleaning lets through is exactly what the suites accept.

- Trade ids: integers in [0, 2^63 - 1]. Exchange tids are 50-bit hashes and derived tids lie below 2^53
  (:mod:`data_lake.parsers.ids`); a negative tid, or one that is no Int64 at all, is quarantined with its
  reason, never replaced.
- Prices: within a factor :data:`PRICE_FACTOR` (10) of the day's median price of that table and coin (trades
  and own fills: ``px``; book: ``mid``, every level's price). No perp moves 10x within a UTC day, while a
  mis-scaled or garbage price (1e300, a price in the wrong unit) is off by orders of magnitude.
- Sizes: a trade, a fill or a book level worth at most :data:`MAX_NOTIONAL` (1e9, quote currency) at the
  day's median price, i.e. ``sz <= MAX_NOTIONAL / median price``: a per-coin size bound that needs no
  history and stays valid however few rows the day has (a percentile bound would be the outlier itself on
  a thin day). Hyperliquid's largest prints and resting levels are well below $1e9.
- Funding: at most :data:`FUNDING_CAP` (4% an hour) either way, Hyperliquid's cap on the hourly rate
  (Hyperliquid docs, trading/funding.md); a larger rate is garbage, not a market.
- Duplicates: records sharing their table's key are one record only when :data:`SAME_RECORD` columns agree;
  otherwise they are a conflicting duplicate and every version is quarantined (see cleaning).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import polars as pl

from data_lake.tables import BOOK_LEVELS

PRICE_FACTOR = 10.0
MAX_NOTIONAL = 1e9
TID_MIN, TID_MAX = 0, 2**63 - 1
FUNDING_CAP = 0.04

BOUNDED_TABLES = ("trades", "fills", "book")
_REFERENCE_PRICE = {"trades": "px", "fills": "px", "book": "mid"}

SAME_RECORD: dict[str, tuple[str, ...]] = {"trades": ("px", "sz", "side"), "fills": ("px", "sz", "side")}
"""Columns two records with one key must share to be the same record (a counted duplicate), else a conflict."""
CONFLICTING_DUPLICATE = "conflicting duplicate"


@dataclass(frozen=True)
class Bounds:
    """The plausible range of one (table, coin, day): prices in quote currency, sizes in base units."""

    median_px: float
    px_min: float
    px_max: float
    sz_max: float


def day_bounds(table: str, rows: pl.DataFrame) -> Bounds | None:
    """Bounds of ``table`` from its rows of one coin and day (null when the table is unbounded or has no price)."""
    if table not in _REFERENCE_PRICE or rows.height == 0:
        return None
    prices = rows[_REFERENCE_PRICE[table]]
    median = prices.filter(prices.is_finite() & (prices > 0)).median()
    if median is None:
        return None
    median = float(median)  # type: ignore[arg-type]
    return Bounds(median, median / PRICE_FACTOR, median * PRICE_FACTOR, MAX_NOTIONAL / median)


def _level_columns(kind: str, columns: Collection[str]) -> list[str]:
    levels = [f"{side}_{kind}_{i}" for side in ("bid", "ask") for i in range(1, BOOK_LEVELS + 1)]
    return [c for c in levels if c in columns]


def extremes(table: str, columns: Collection[str]) -> dict[str, pl.Expr]:
    """Per-row lowest price, highest price and largest size (``_px_low``, ``_px_high``, ``_sz_high``) over the
    price and size ``columns`` a frame has (a book's every level; a trade's or fill's ``px`` and ``sz``)."""
    if table == "book":
        return {
            "_px_low": pl.min_horizontal(_level_columns("px", columns)),
            "_px_high": pl.max_horizontal(_level_columns("px", columns)),
            "_sz_high": pl.max_horizontal(_level_columns("sz", columns)),
        }
    return {"_px_low": pl.col("px"), "_px_high": pl.col("px"), "_sz_high": pl.col("sz")}


def expected_ranges(table: str, bounds: Bounds | None) -> dict[str, tuple[float, float]]:
    """``{column: (min, max)}`` every value must lie in (inclusive); columns as :func:`extremes` names them, plus
    ``tid``."""
    ranges: dict[str, tuple[float, float]] = {"tid": (TID_MIN, TID_MAX)} if table in ("trades", "fills") else {}
    if bounds is not None:
        ranges |= {
            "_px_low": (bounds.px_min, bounds.px_max),
            "_px_high": (bounds.px_min, bounds.px_max),
            "_sz_high": (0.0, bounds.sz_max),
        }
    return ranges


def bound_problem(bounds: Bounds) -> pl.Expr:
    """Why a row (with :func:`extremes` columns) breaks ``bounds``, null when it does not."""
    price = (pl.col("_px_low") < bounds.px_min) | (pl.col("_px_high") > bounds.px_max)
    size = pl.col("_sz_high") > bounds.sz_max
    return (
        pl.when(price.fill_null(False))
        .then(pl.lit(f"price outside {PRICE_FACTOR:g}x of the day's median price {bounds.median_px:g}"))
        .when(size.fill_null(False))
        .then(pl.lit(f"size above {bounds.sz_max:g} (notional {MAX_NOTIONAL:g} at the day's median price)"))
        .otherwise(pl.lit(None, pl.String))
    )


def funding_rule() -> tuple[pl.Expr, str]:
    """Quarantine rule on an asset context's funding rate (a null rate is left to the other rules)."""
    return pl.col("funding").abs() > FUNDING_CAP, f"funding beyond {FUNDING_CAP:g} an hour (Hyperliquid's cap)"


def tid_rules() -> list[tuple[pl.Expr, str]]:
    """Quarantine rules on trade ids (``_tid_ok``: the tid's text was absent or an Int64, see the parsers)."""
    return [
        (~pl.col("_tid_ok"), "tid not an integer within Int64"),
        (pl.col("tid") < TID_MIN, "negative tid"),
    ]


def tid_from_text(text: pl.Expr) -> dict[str, pl.Expr]:
    """``tid`` as Int64 from its JSON text, and ``_tid_ok``: false when a tid is there but is no Int64
    (too large, fractional), so it is quarantined instead of silently replaced by a derived one."""
    tid = text.cast(pl.Int64, strict=False)
    return {"tid": tid, "_tid_ok": text.is_null() | tid.is_not_null()}


RECORDS_IN = ("records_in", "spilled_in")
"""Where a partition's records come from: its raw lines' data items, and items of the day before spilling over
midnight into it."""
RECORDS_OUT = ("clean_rows", "quarantined", "duplicates", "spilled_out")
"""Where every record ends: a clean table, ``quarantine``, a counted duplicate, or the next day's partition."""


def unaccounted_records(counts: Mapping[str, int]) -> int:
    """The reconciliation of the data contract, ``records_in + spilled_in - (clean_rows + quarantined + duplicates
    + spilled_out)`` (an ``ingest_accounting`` row or any mapping with those keys): 0 when no record was lost or
    counted twice; positive = records lost, negative = counted twice. Read by the cleaning's accounting, the
    ``reconciliation`` asset check and the promotion gate's data-quality condition."""
    return sum(int(counts[k]) for k in RECORDS_IN) - sum(int(counts[k]) for k in RECORDS_OUT)
