"""Content hashes of every table of one or two lakes: did a speed-up change any result?

``python benchmarks/lake_hashes.py LAKE [OTHER_LAKE]`` prints, per catalogue table present, its row count and an
order-free content hash (``polars.DataFrame.hash_rows`` summed over the rows, one table of one lake in memory at a
time). Columns that record when or by what code a row was written (``*_at_ms``, ``code_version``, ``run_id``) are
left out, as are those derived from them and the raw files' paths (:data:`WRITE_STAMPED`); with two lakes it prints
whether each table agrees and, for one that does not, the columns whose values differ. Exit status 1 when two lakes
disagree.
"""

from __future__ import annotations

import argparse
import sys

import polars as pl

from data_lake.lake import Lake
from data_lake.tables import CATALOGUE, table

STAMP_COLUMNS = ("code_version", "run_id")
"""Columns naming the code or run that wrote a row, besides every ``*_at_ms`` column (when it was written)."""
WRITE_STAMPED = {
    "param_sets": ("param_set_id", "sha256", "parameters", "evidence", "rollback_to"),
    "raw_captures": ("file",),
}
"""Per table, columns that embed a write time (a parameter set's id and document carry its creation time) or the
place of the raw zone (a capture's file path)."""


def comparable(lake: Lake, name: str, partition: dict[str, object] | None = None) -> pl.DataFrame:
    """``name``'s rows (of one ``partition``, else all) without the write-stamp columns, in the order read
    (:func:`content_hash` ignores it)."""
    lf = lake.scan(name)
    for column, value in (partition or {}).items():
        lf = lf.filter(pl.col(column).is_null() if value is None else pl.col(column) == value)
    frame = lf.collect()
    stamped = [
        c for c in frame.columns if c.endswith("_at_ms") or c in STAMP_COLUMNS or c in WRITE_STAMPED.get(name, ())
    ]
    return frame.drop(stamped)


def summary(lake: Lake, name: str) -> tuple[int, int] | None:
    """(rows, :func:`content_hash`) of ``name`` in ``lake``, None when absent, read one partition at a time: the hash
    is a sum over rows, so partitions add up, and two lakes' books (130 columns, millions of rows) never sit in memory
    at once."""
    if not lake.exists(name):
        return None
    keys = list(table(name).partition_by)
    if not keys:
        frame = comparable(lake, name)
        return frame.height, content_hash(frame)
    rows, total = 0, 0
    for partition in lake.scan(name).select(keys).unique().collect().iter_rows(named=True):
        frame = comparable(lake, name, partition)
        rows, total = rows + frame.height, (total + content_hash(frame)) % 2**64
    return rows, total


def content_hash(frame: pl.DataFrame) -> int:
    """Order-free hash of ``frame``'s rows (0 for none): the sum of the rows' hashes modulo 2^64."""
    return sum(frame.hash_rows(seed=1).to_list()) % 2**64


def differing_columns(left: pl.DataFrame, right: pl.DataFrame) -> list[str]:
    """Columns whose sorted values differ between two frames of the same schema (all when the schemas differ)."""
    if left.schema != right.schema or left.height != right.height:
        return sorted(set(left.columns) | set(right.columns))
    return [c for c in left.columns if not left[c].sort(nulls_last=True).equals(right[c].sort(nulls_last=True))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lakes", nargs="+", metavar="LAKE", help="one lake to hash, or two to compare")
    args = parser.parse_args(argv)
    lakes = [Lake(root, storage_options={}) for root in args.lakes[:2]]
    disagree = 0
    for name in sorted(CATALOGUE):
        summaries = [summary(lake, name) for lake in lakes]
        if all(s is None for s in summaries):
            continue
        cells = [f"{s[0]:>10,} {s[1]:>20}" if s is not None else f"{'absent':>31}" for s in summaries]
        line = f"{name:<24} " + "   ".join(cells)
        if len(summaries) == 2 and (None in summaries or summaries[0] != summaries[1]):
            disagree += 1
            both = None not in summaries
            columns = differing_columns(*(comparable(lake, name) for lake in lakes)) if both else []
            line += "   DIFFERENT" + (f" in {', '.join(columns)}" if columns else "")
        print(line)
    if len(lakes) == 2:
        print(f"{disagree} table(s) differ" if disagree else "every table agrees")
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
