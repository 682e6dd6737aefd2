"""Frames derived from one lake partition, kept in the lake's file store so a window fit derives only its new day.

The kappa and Hawkes fits read a 7-day window every night, and six of its days are the ones the night before read:
their taker orders, mids and arrival times are pure functions of partitions that have not changed. A
:class:`PartitionCache` entry is named by everything such a frame depends on: the derivation's name, the partition's
Delta files (path, size and modification time of each: a rewritten partition has new files, so its entries are never
served again), the code version of the packages that read and derive it and the versions of the libraries that make
its numbers and its Parquet. An entry is the derived frame as Parquet, which keeps every value (floats bit for bit,
nulls, NaNs) and the row order, so a served frame equals a derived one.

Layout: ``partition_cache/<coin>/<date>/<derivation>/<key digest>.parquet``, written atomically
(:meth:`data_lake.lake.LakeFiles.write`); storing an entry deletes the derivation's other entries of that partition
(stale ones: the partition rewritten or the code changed), so each partition holds at most one entry per derivation.
:func:`prune_before` deletes a coin's entries of the days before a window: a nightly window fit never reads them
again (a re-run of an old day derives them again), so the cache holds about one window of days per coin.
An entry that cannot be read back as Parquet is derived again with a warning, never trusted. A partition without
files (absent, or empty) is derived directly and nothing is stored.

:func:`cached_day_frames` is what a window fit calls: named pure functions of a day's columns (they live with the
estimators, so the lake imports none of them), each day's frames served or derived from one read of its partition.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import polars as pl

from data_lake.lake import Lake

log = logging.getLogger(__name__)

ROOT = "partition_cache"
FORMAT = 1
"""Version of the entry layout; an entry of another format is never asked for again (its key differs)."""
LIBRARIES = ("polars", "numpy", "numba", "deltalake", "pyarrow")
"""Distributions whose upgrade may change a derived frame or its Parquet: part of the key."""

Derive = Callable[[Lake, int | None], pl.DataFrame]
"""A derivation: the frame, from the lake read at the given table version (None: the table does not exist)."""
DayDerivation = Callable[[pl.DataFrame], pl.DataFrame]
"""A pure function of one partition's columns, e.g. a day's book to its mids."""


@cache
def library_versions() -> dict[str, str]:
    """Versions of :data:`LIBRARIES` (``absent`` for one not installed)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "absent"
    return versions


class PartitionCache:
    """Derived frames of the ``(coin, date)`` partitions of one table, at the table's version when the cache was
    made (every derivation reads that version, so an entry's key names exactly the files its frame came from).

    ``code`` is the version of the code that reads and derives the frames (e.g.
    :func:`calibration.fit_result.code_version` of the packages involved).
    """

    def __init__(self, lake: Lake, table_name: str, code: str):
        self.lake, self.table_name, self.code = lake, table_name, code
        self.version: int | None = None
        self._files: dict[tuple[str, dt.date], list[tuple[Any, ...]]] = {}
        if lake.exists(table_name):
            table = lake.delta_table(table_name)
            self.version = table.version()
            actions = pl.DataFrame(table.get_add_actions(flatten=True)).select(
                "path", "size_bytes", "modification_time", coin="partition.coin", date="partition.date"
            )
            for (coin, date), files in actions.sort("path").group_by("coin", "date", maintain_order=True):
                self._files[(str(coin), date)] = files.select("path", "size_bytes", "modification_time").rows()

    def key(self, derivation: str, coin: str, date: dt.date) -> dict[str, Any] | None:
        """What the frame ``derivation`` of partition (coin, date) depends on; None for a partition without files."""
        files = self._files.get((coin, date))
        if not files:
            return None
        return {
            "format": FORMAT,
            "derivation": derivation,
            "table": self.table_name,
            "coin": coin,
            "date": date.isoformat(),
            "files": files,
            "code_version": self.code,
            "libraries": library_versions(),
        }

    def frame(self, derivation: str, coin: str, date: dt.date, derive: Derive) -> pl.DataFrame:
        """The frame ``derive(lake, version)`` of partition (coin, date): the stored entry when there is one, else
        derived and stored (replacing the derivation's other entries of the partition)."""
        key = self.key(derivation, coin, date)
        if key is None or self.version is None:
            return derive(self.lake, self.version)
        folder = f"{ROOT}/{coin}/{date.isoformat()}/{derivation}"
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
        rel = f"{folder}/{digest}.parquet"
        files = self.lake.files()
        stored = files.read(rel)
        if stored is not None:
            try:
                return pl.read_parquet(io.BytesIO(stored))
            except (pl.exceptions.PolarsError, OSError) as error:
                log.warning("%s: unreadable partition cache entry derived again (%s)", rel, error)
        frame = derive(self.lake, self.version)
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        files.write(rel, buffer.getvalue())
        for stale in files.list_files(folder):
            if stale.rel != rel:
                files.delete(stale.rel)
        return frame


def prune_before(lake: Lake, coin: str, first_day: dt.date) -> int:
    """Delete every entry of ``coin`` for a day before ``first_day``; returns how many were deleted."""
    files = lake.files()
    stale = [
        f.rel for f in files.list_files(f"{ROOT}/{coin}") if dt.date.fromisoformat(f.rel.split("/")[2]) < first_day
    ]
    for rel in stale:
        files.delete(rel)
    return len(stale)


def cached_day_frames(
    lake: Lake,
    table_name: str,
    coin: str,
    days: Sequence[dt.date],
    columns: list[str],
    derivations: Mapping[str, DayDerivation],
    code: str,
) -> dict[str, list[pl.DataFrame]]:
    """Each derivation's frame of each day's partition of ``table_name``, by derivation name, one frame per day in
    the order of ``days``: the stored entry when there is one, else derived from ``columns`` of the partition (read
    at most once a day, whatever the number of derivations that need it) and stored. ``code`` is the version of the
    derivations' code (:class:`PartitionCache`)."""
    cache = PartitionCache(lake, table_name, code)
    frames: dict[str, list[pl.DataFrame]] = {name: [] for name in derivations}
    for day in days:
        read = _read_once(table_name, coin, day, columns)
        for name, derivation in derivations.items():
            frames[name].append(cache.frame(name, coin, day, _applied(derivation, read)))
    return frames


def _read_once(table_name: str, coin: str, day: dt.date, columns: list[str]) -> Derive:
    """A read of ``columns`` of one partition at a table version, done at most once (the derivations share it)."""
    done: dict[int | None, pl.DataFrame] = {}

    def read(lake: Lake, version: int | None) -> pl.DataFrame:
        if version not in done:
            done[version] = lake.read(table_name, coins=coin, start=day, end=day, columns=columns, version=version)
        return done[version]

    return read


def _applied(derivation: DayDerivation, read: Derive) -> Derive:
    """``derivation`` of what ``read`` reads."""
    return lambda lake, version: derivation(read(lake, version))
