"""Content hashes of every table of one or two lakes: did a speed-up change any result?

``python benchmarks/lake_hashes.py LAKE [OTHER_LAKE]`` prints, per catalogue table present, its row count and an
order-free content hash (the rows sorted on every column, then ``polars.DataFrame.hash_rows`` summed). Columns that
record when or by what code a row was written (``*_at_ms``, ``code_version``, ``run_id``) are left out, as are
those derived from them and the raw files' paths (:data:`WRITE_STAMPED`); with two lakes it prints whether each table
agrees and, for one that does not, the columns whose values differ. Exit status 1 when two lakes disagree.
"""

from __future__ import annotations

import argparse
import sys

import polars as pl

from data_lake.lake import Lake
from data_lake.tables import CATALOGUE

STAMP_COLUMNS = ("code_version", "run_id")
"""Columns naming the code or run that wrote a row, besides every ``*_at_ms`` column (when it was written)."""
WRITE_STAMPED = {
    "param_sets": ("param_set_id", "sha256", "parameters", "evidence", "rollback_to"),
    "raw_captures": ("file",),
}
"""Per table, columns that embed a write time (a parameter set's id and document carry its creation time) or the
place of the raw zone (a capture's file path)."""


def comparable(lake: Lake, name: str) -> pl.DataFrame:
    """``name``'s rows without the write-stamp columns, sorted on every remaining column."""
    frame = lake.read(name)
    stamped = [
        c for c in frame.columns if c.endswith("_at_ms") or c in STAMP_COLUMNS or c in WRITE_STAMPED.get(name, ())
    ]
    frame = frame.drop(stamped)
    return frame.sort(frame.columns, nulls_last=True)


def content_hash(frame: pl.DataFrame) -> int:
    """Order-free hash of ``frame``'s rows (0 for none)."""
    return int(frame.hash_rows(seed=1).sum()) if frame.height else 0


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
        frames = [comparable(lake, name) if lake.exists(name) else None for lake in lakes]
        if all(f is None for f in frames):
            continue
        cells = [f"{f.height:>10,} {content_hash(f):>20}" if f is not None else f"{'absent':>31}" for f in frames]
        line = f"{name:<24} " + "   ".join(cells)
        if len(frames) == 2:
            left, right = frames
            same = left is not None and right is not None and content_hash(left) == content_hash(right)
            if not same:
                disagree += 1
                both = left is not None and right is not None
                line += "   DIFFERENT" + (f" in {', '.join(differing_columns(left, right))}" if both else "")
        print(line)
    if len(lakes) == 2:
        print(f"{disagree} table(s) differ" if disagree else "every table agrees")
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
