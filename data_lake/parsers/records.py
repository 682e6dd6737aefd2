"""Parsed records with provenance: candidate table rows, quarantined records and counted duplicates.

Every record keeps where it came from: ``_file`` (index of the file in the parsed batch), ``_line`` (1-based
line in that file) and ``_item`` (index inside a multi-record frame, 0 otherwise), so the cleaning step can
account for each one exactly. Candidate rows carry ``_raw``: the whole line for single-record frames, the
item's JSON (re-encoded from its decoded fields) for one item of a multi-record frame.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import polars as pl

from data_lake.tables import ASSET_CTX, BOOK, FILLS, ORDER_UPDATES, QUOTER_LOG, TRADES, Table

PROVENANCE: dict[str, pl.DataType] = {"_file": pl.Int32(), "_line": pl.Int64(), "_item": pl.Int32()}
PROVENANCE_COLUMNS = list(PROVENANCE)

NODE_FILLS: dict[str, pl.DataType] = {
    "coin": pl.String(),
    "time": pl.Int64(),
    "tid": pl.Int64(),
    "user": pl.String(),
    "side": pl.Int8(),
    "crossed": pl.Boolean(),
    "px": pl.Float64(),
    "sz": pl.Float64(),
    "hash": pl.String(),
    "dir": pl.String(),
    "source": pl.String(),
    "recv_time_ns": pl.Int64(),
}
"""Node fills before pairing into trades (``user`` is the filled party, ``side`` its side)."""


def _candidate(table: Table, extra: dict[str, pl.DataType] | None = None) -> dict[str, pl.DataType]:
    columns = {name: dtype for name, dtype in table.schema.items() if name != "date"}
    return {**PROVENANCE, **columns, **(extra or {}), "_raw": pl.String()}


CANDIDATE_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "trades": _candidate(TRADES, {"_tid_ok": pl.Boolean()}),
    "book": _candidate(BOOK, {"_levels_ok": pl.Boolean(), "_counts_ok": pl.Boolean()}),
    "asset_ctx": _candidate(ASSET_CTX),
    "fills": _candidate(FILLS, {"_tid_ok": pl.Boolean()}),
    "order_updates": _candidate(ORDER_UPDATES),
    "quoter_log": _candidate(QUOTER_LOG),
    "node_fills": {**PROVENANCE, **NODE_FILLS, "_tid_ok": pl.Boolean(), "_raw": pl.String()},
}
"""Columns of each candidate table: provenance, the catalogue columns except ``date``, parser flags read by the
rules (``_levels_ok``, ``_counts_ok``, ``_tid_ok``), ``_raw``."""

QUARANTINED: dict[str, pl.DataType] = {**PROVENANCE, "time": pl.Int64(), "reason": pl.String(), "raw": pl.String()}
DUPLICATES: dict[str, pl.DataType] = {**PROVENANCE, "time": pl.Int64()}


def candidate(name: str, df: pl.DataFrame) -> pl.DataFrame:
    """``df`` selected and cast to the candidate schema of table ``name`` (missing columns become null)."""
    schema, present = CANDIDATE_SCHEMAS[name], set(df.columns)
    return df.select(pl.col(c).cast(t) if c in present else pl.lit(None, dtype=t).alias(c) for c, t in schema.items())


def empty_candidate(name: str) -> pl.DataFrame:
    """No rows of candidate table ``name``."""
    return _empty(CANDIDATE_SCHEMAS[name])


def quarantined(df: pl.DataFrame, reason: str | pl.Expr) -> pl.DataFrame:
    """Quarantine rows for ``df``: its provenance, its time if it has one, the reason and ``_raw``."""
    reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
    return df.select(
        *(pl.col(c).cast(t) for c, t in PROVENANCE.items()),
        (pl.col("time") if "time" in df.columns else pl.lit(None)).cast(pl.Int64).alias("time"),
        reason_expr.cast(pl.String).alias("reason"),
        pl.col("_raw").cast(pl.String).alias("raw"),
    )


def _empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """An empty frame of ``schema``, built once per schema: a day's parse asks for about a thousand, and frames are
    never modified in place here."""
    return _empty_of(tuple(schema.items()))


@functools.cache
def _empty_of(columns: tuple[tuple[str, pl.DataType], ...]) -> pl.DataFrame:
    return pl.DataFrame(schema=dict(columns))


@dataclass
class Records:
    """Parsed records: candidate rows per table, quarantined records, and records counted as duplicates."""

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    quarantine: pl.DataFrame = field(default_factory=lambda: _empty(QUARANTINED))
    duplicates: pl.DataFrame = field(default_factory=lambda: _empty(DUPLICATES))

    def table(self, name: str) -> pl.DataFrame:
        """Candidate rows of table ``name`` (empty with the candidate schema when there are none)."""
        return self.tables[name] if name in self.tables else _empty(CANDIDATE_SCHEMAS[name])

    @property
    def record_count(self) -> int:
        """All records held: candidate rows, quarantined and duplicates."""
        return sum(df.height for df in self.tables.values()) + self.quarantine.height + self.duplicates.height

    @staticmethod
    def concat(parts: list[Records]) -> Records:
        """One ``Records`` holding every part's rows."""
        names = sorted({name for part in parts for name in part.tables})
        return Records(
            tables={
                name: pl.concat([p.tables[name] for p in parts if name in p.tables], how="vertical") for name in names
            },
            quarantine=pl.concat([_empty(QUARANTINED), *(p.quarantine for p in parts)], how="vertical"),
            duplicates=pl.concat([_empty(DUPLICATES), *(p.duplicates for p in parts)], how="vertical"),
        )


def explode_items(frame: pl.DataFrame, items: pl.Expr, if_null: str, if_empty: str) -> tuple[pl.DataFrame, Records]:
    """One row per element of the list ``items`` (as column ``item``, its index as ``_item``).

    Frames whose list is null or empty hold no record of their own: each is quarantined as one record
    (``if_null`` / ``if_empty`` are the reasons) so the line is still accounted for. The rows leave the whole
    frame (``data``) and its text behind: repeating them for every item would cost more than the items.
    """
    listed = frame.with_columns(items.alias("item"))
    count = pl.col("item").list.len()
    items_only = listed.filter(count > 0).drop("data", "text", strict=False)
    rows = items_only.with_columns(pl.int_ranges(count, dtype=pl.Int32).alias("_item")).explode("item", "_item")
    hollow = listed.filter((count == 0).fill_null(True)).with_columns(
        pl.lit(0, pl.Int32).alias("_item"), pl.col("text").alias("_raw")
    )
    reason = pl.when(pl.col("item").is_null()).then(pl.lit(if_null)).otherwise(pl.lit(if_empty))
    return rows, Records(quarantine=quarantined(hollow, reason))
