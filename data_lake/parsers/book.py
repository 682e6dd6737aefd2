"""``l2Book`` and ``bbo`` frames -> ``book`` rows: top levels, mid, microprice, spread, depth, imbalance.

l2Book features are list operations over every snapshot at once; bbo frames (one level a side) use plain
columns. ``_levels_ok`` says whether every level present in the frame (for l2Book all of them, not only
the kept ones) has a finite, positive price and size; an absent bbo side is left to the empty-side rule.
``_counts_ok`` says whether every level's order count ``n`` is absent or fits the table's Int32 without being
negative (a count of 2^31 would otherwise abort the partition's write).
"""

from __future__ import annotations

import polars as pl

from data_lake.parsers.decode import decimal
from data_lake.parsers.records import Records, candidate, quarantined
from data_lake.tables import BOOK_LEVELS

DEPTH_BPS = 10.0
IMBALANCE_LEVELS = 5
"""Levels per side summed in ``imbalance_5``."""


def _snapshot_columns(source: str) -> list[pl.Expr]:
    """Provenance, coin, time, receive time, source and raw text of each snapshot, from the decoded ``data`` struct."""
    data = pl.col("data").struct
    return [
        pl.col("_file"),
        pl.col("_line"),
        pl.lit(0, pl.Int32).alias("_item"),
        data.field("coin").alias("coin"),
        data.field("time").alias("time"),
        pl.col("recv_time_ns"),
        pl.lit(source).alias("source"),
        pl.col("text").alias("_raw"),
    ]


def _top_of_book() -> dict[str, pl.Expr]:
    """mid, microprice, spread and level-1 imbalance from the level-1 columns."""
    bid_px, ask_px, bid_sz, ask_sz = pl.col("bid_px_1"), pl.col("ask_px_1"), pl.col("bid_sz_1"), pl.col("ask_sz_1")
    mid = (bid_px + ask_px) / 2
    return {
        "mid": mid,
        "microprice": (bid_px * ask_sz + ask_px * bid_sz) / (bid_sz + ask_sz),
        "spread_bps": (ask_px - bid_px) / mid * 1e4,
        "imbalance_1": (bid_sz - ask_sz) / (bid_sz + ask_sz),
    }


def _field_list(side: pl.Expr, name: str) -> pl.Expr:
    return side.list.eval(pl.element().struct.field(name))


N_MAX = 2**31 - 1
"""Largest order count of a level the ``book`` table holds (Int32)."""


def _count_fits(n: pl.Expr) -> pl.Expr:
    return (n.is_null() | n.is_between(0, N_MAX)).fill_null(False)


def _all_positive(values: pl.Expr) -> pl.Expr:
    return values.list.eval(((pl.element() > 0) & pl.element().is_finite()).fill_null(False)).list.all()


def _depth(px: str, sz: str, bound: pl.Expr, inside: str) -> pl.Expr:
    """Quote notional of the levels priced at or inside ``bound`` (``inside`` is ">=" for bids, "<=" asks)."""
    offset = (pl.col(px) - bound).list.eval(pl.element() >= 0 if inside == ">=" else pl.element() <= 0)
    return (pl.col(px) * pl.col(sz) * offset.list.eval(pl.element().cast(pl.Float64))).list.sum()


def _l2_rows(frame: pl.DataFrame, bids: pl.Expr, asks: pl.Expr) -> pl.DataFrame:
    """Book rows from per-snapshot bid and ask level lists, keeping ``BOOK_LEVELS`` levels per side."""
    sides = frame.select(
        *_snapshot_columns("l2Book"),
        _field_list(bids, "px").cast(pl.List(pl.Float64), strict=False).alias("_bpx"),
        _field_list(bids, "sz").cast(pl.List(pl.Float64), strict=False).alias("_bsz"),
        _field_list(bids, "n").alias("_bn"),
        _field_list(asks, "px").cast(pl.List(pl.Float64), strict=False).alias("_apx"),
        _field_list(asks, "sz").cast(pl.List(pl.Float64), strict=False).alias("_asz"),
        _field_list(asks, "n").alias("_an"),
    )
    return _book_from_sides(sides)


def _book_from_sides(sides: pl.DataFrame) -> pl.DataFrame:
    """Book rows from the level lists ``_bpx``, ``_bsz``, ``_bn``, ``_apx``, ``_asz``, ``_an`` of each snapshot."""
    levels = {}
    for side, prefix in (("bid", "_b"), ("ask", "_a")):
        for i in range(BOOK_LEVELS):
            for field in ("px", "sz", "n"):
                levels[f"{side}_{field}_{i + 1}"] = pl.col(f"{prefix}{field}").list.get(i, null_on_oob=True)
            levels[f"{side}_n_{i + 1}"] = levels[f"{side}_n_{i + 1}"].cast(pl.Int32, strict=False)
    band = DEPTH_BPS * 1e-4
    bid_k, ask_k = (pl.col(c).list.head(IMBALANCE_LEVELS).list.sum() for c in ("_bsz", "_asz"))
    rows = (
        sides.with_columns(**levels)
        .with_columns(**_top_of_book())
        .with_columns(
            bid_depth_10bps=_depth("_bpx", "_bsz", pl.col("mid") * (1 - band), ">="),
            ask_depth_10bps=_depth("_apx", "_asz", pl.col("mid") * (1 + band), "<="),
            imbalance_5=(bid_k - ask_k) / (bid_k + ask_k),
            _levels_ok=pl.all_horizontal(_all_positive(pl.col(c)) for c in ("_bpx", "_bsz", "_apx", "_asz")),
            _counts_ok=pl.all_horizontal(
                pl.col(c).list.eval(_count_fits(pl.element())).list.all() for c in ("_bn", "_an")
            ),
        )
    )
    return candidate("book", rows)


def l2book(frame: pl.DataFrame) -> Records:
    """``l2Book`` snapshots (``levels`` = [bids, asks]); a frame without exactly two sides is quarantined."""
    levels = pl.col("data").struct.field("levels")
    two_sides = (levels.list.len() == 2).fill_null(False)
    rows = _l2_rows(frame.filter(two_sides), levels.list.get(0), levels.list.get(1))
    malformed = frame.filter(~two_sides).with_columns(
        pl.lit(0, pl.Int32).alias("_item"),
        pl.col("data").struct.field("time").alias("time"),
        pl.col("text").alias("_raw"),
    )
    return Records(tables={"book": rows}, quarantine=quarantined(malformed, "l2Book levels are not [bids, asks]"))


def bbo(frame: pl.DataFrame) -> Records:
    """``bbo`` frames (``bbo`` = [best bid | null, best ask | null]): level 1 only, nulls elsewhere."""
    pair = pl.col("data").struct.field("bbo")
    columns, valid, counts = {}, [], []
    for index, side in enumerate(("bid", "ask")):
        level = pair.list.get(index, null_on_oob=True).struct
        for field in ("px", "sz"):
            text = level.field(field)
            value = decimal(text)
            columns[f"{side}_{field}_1"] = value
            valid.append(text.is_null() | ((value > 0) & value.is_finite()).fill_null(False))
        columns[f"{side}_n_1"] = level.field("n").cast(pl.Int32, strict=False)
        counts.append(_count_fits(level.field("n")))
    rows = frame.select(
        *_snapshot_columns("bbo"), **columns, _levels_ok=pl.all_horizontal(valid), _counts_ok=pl.all_horizontal(counts)
    )
    return Records(tables={"book": candidate("book", rows.with_columns(**_top_of_book()))})
