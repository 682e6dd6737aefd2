"""One partition's Parquet data file written by pyarrow and described as a Delta ``add`` action, as delta-rs does.

:meth:`data_lake.lake.Lake.replace` writes a partition this way and commits the file with delta-rs
(``DeltaTable.create_write_transaction``): pyarrow's writer encodes the frame's row groups one at a time from zero-copy
slices, in the frame's row order, where ``write_deltalake`` first needs the whole partition as one record batch (in
any other shape delta-rs 1.6 writes the batches out of order) and holds about 0.5 GiB more while writing a day's book.

The layout is delta-rs': ``coin=<value>/date=<value>/part-00000-<uuid>-c000.zstd.parquet`` with partition values
percent-encoded as the Delta protocol asks (its "How to URL Encode Keys and String Values"), the partition columns
kept out of the file, and the statistics delta-rs puts in the log (``numRecords`` and per-column ``minValues``,
``maxValues``, ``nullCount`` of the table's statistics columns, strings whole as
:func:`data_lake.lake.writer_properties` has delta-rs write them), so readers prune files on them as before.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake.transaction import AddAction

_PARTITION_VALUE_SAFE = ""
"""Partition values: every character but ``A-Za-z0-9-._~`` is percent-encoded (delta-rs' RFC 3986 set)."""


@dataclass(frozen=True)
class ParquetOptions:
    """pyarrow's Parquet settings of a write: codec and level, row group rows, the columns that get statistics
    and the columns that get dictionary encoding (every other column gets neither)."""

    compression: str
    compression_level: int
    row_group_rows: int
    statistics: Sequence[str]
    dictionary: Sequence[str]


def partition_text(value: Any) -> str:
    """A partition value as the Delta log stores it (dates ISO, booleans lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def partition_folder(values: Mapping[str, Any]) -> str:
    """The Hive-style folder of one partition, e.g. ``coin=dex%3AABC/date=2026-01-01``."""
    return "/".join(
        f"{column}={urllib.parse.quote(partition_text(value), safe=_PARTITION_VALUE_SAFE)}"
        for column, value in values.items()
    )


def _json_value(value: Any) -> Any:
    """A min or max as the log's JSON stores it; None when it cannot bound the column (NaN, a type without order)."""
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.date):
        return value.isoformat()
    return None


def file_statistics(df: pl.DataFrame, columns: Sequence[str]) -> str:
    """The ``stats`` JSON of an ``add`` action: row count, and min, max and null count of ``columns``."""
    stats: dict[str, Any] = {"numRecords": df.height, "minValues": {}, "maxValues": {}, "nullCount": {}}
    orderable = [c for c in columns if df.schema[c].is_numeric() or df.schema[c] in (pl.String, pl.Boolean, pl.Date)]
    if df.height and columns:
        row = df.select(
            *(pl.col(c).min().alias(f"min_{c}") for c in orderable),
            *(pl.col(c).max().alias(f"max_{c}") for c in orderable),
            *(pl.col(c).null_count().alias(f"nulls_{c}") for c in columns),
        ).row(0, named=True)
        for c in columns:
            stats["nullCount"][c] = row[f"nulls_{c}"]
            if c not in orderable or row[f"min_{c}"] is None:
                continue
            low, high = _json_value(row[f"min_{c}"]), _json_value(row[f"max_{c}"])
            if low is not None:
                stats["minValues"][c] = low
            if high is not None:
                stats["maxValues"][c] = high
    return json.dumps(stats, separators=(",", ":"))


def write_partition_file(
    df: pl.DataFrame,
    partition: Mapping[str, Any],
    fs: pafs.FileSystem,
    table_path: str,
    options: ParquetOptions,
) -> AddAction:
    """Write ``df`` (the rows of one partition, partition columns included) as one new Parquet file under the
    table's folder ``table_path`` on ``fs``; returns the ``add`` action that makes it part of the table.

    The file is referenced by nothing until that action is committed, so a write that fails or is killed leaves at
    most an unreferenced file, which a full vacuum removes. Row groups hold ``options.row_group_rows`` rows in the
    frame's order; only one of them is encoded in memory at a time."""
    folder = partition_folder(partition)
    name = f"part-00000-{uuid.uuid4()}-c000.{options.compression.lower()}.parquet"
    # polars' own string views, not a copy as large strings (a day's trades: 40 MB); the file then carries no Arrow
    # schema, only Parquet's (UTF8 strings, INT(8) bytes...), which every reader maps to the table's types
    data = df.drop(list(partition)).to_arrow(compat_level=pl.CompatLevel.newest())
    if isinstance(fs, pafs.LocalFileSystem):  # S3 has no folders: creating one there leaves marker objects
        fs.create_dir(f"{table_path}/{folder}", recursive=True)
    with fs.open_output_stream(f"{table_path}/{folder}/{name}") as sink:
        with pq.ParquetWriter(
            sink,
            data.schema,
            compression=options.compression,
            compression_level=options.compression_level,
            write_statistics=list(options.statistics) or False,
            use_dictionary=list(options.dictionary) or False,
            store_schema=False,
        ) as writer:
            writer.write_table(data, row_group_size=options.row_group_rows)
        size = sink.tell()
    return AddAction(
        path=f"{folder}/{name}",  # the file's own path: delta-rs URL-encodes it for the log
        size=size,
        partition_values={column: partition_text(value) for column, value in partition.items()},
        modification_time=int(time.time() * 1000),
        data_change=True,
        stats=file_statistics(df, options.statistics),
    )
