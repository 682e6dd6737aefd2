"""Parquet layout of a partition write: bounded row groups, statistics only on the key columns, the rows unchanged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from data_lake.lake import ROW_GROUP_ROWS, Lake

DAY = dt.date(2026, 1, 1)


def _trades(rows: int, day: dt.date = DAY) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    return pl.DataFrame(
        {
            "coin": "DEMO",
            "date": day,
            "time": 1_767_225_600_000 + np.arange(rows, dtype=np.int64),
            "tid": np.arange(rows, dtype=np.int64),
            "px": rng.uniform(99.0, 101.0, rows),
            "sz": rng.uniform(0.1, 2.0, rows),
            "side": pl.Series(rng.choice([-1, 1], rows), dtype=pl.Int8),
            "buyer": "0xb",
            "seller": "0xs",
            "hash": None,
            "source": "ws",
            "recv_time_ns": np.arange(rows, dtype=np.int64) * 1_000_000,
        }
    )


def test_a_day_is_written_in_bounded_row_groups_with_statistics_on_the_key_columns_only(tmp_path: Path) -> None:
    rows = ROW_GROUP_ROWS + 1_000
    written = _trades(rows)
    lake = Lake(tmp_path / "lake", storage_options={})
    lake.write_partition("trades", written, "DEMO", DAY)

    (path,) = (tmp_path / "lake" / "trades").rglob("*.parquet")
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [ROW_GROUP_ROWS, 1_000]
    first = meta.row_group(0)
    with_stats = {first.column(i).path_in_schema for i in range(first.num_columns) if first.column(i).is_stats_set}
    assert with_stats == {"time", "tid"}
    assert first.column(0).compression == "ZSTD"
    read = lake.read_partition("trades", "DEMO", DAY)
    assert read.sort("tid").equals(written.select(read.columns))


def test_a_partition_keeps_the_row_order_of_a_frame_in_many_chunks(tmp_path: Path) -> None:
    rows = 2 * ROW_GROUP_ROWS + 20_000  # three row groups
    chunks = [_trades(rows).slice(start, rows // 4) for start in range(0, rows, rows // 4)]
    written = pl.concat(chunks, rechunk=False)
    assert written.n_chunks() == 4
    lake = Lake(tmp_path / "lake", storage_options={})
    lake.write_partition("trades", written, "DEMO", DAY)
    assert lake.read_partition("trades", "DEMO", DAY)["tid"].to_list() == list(range(rows))


def test_an_empty_frame_replaces_the_partition_with_no_rows(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake", storage_options={})
    lake.write_partition("trades", _trades(10), "DEMO", DAY)
    lake.write_partition("trades", _trades(5, DAY + dt.timedelta(days=1)), "DEMO", DAY + dt.timedelta(days=1))
    lake.write_partition("trades", _trades(0), "DEMO", DAY)
    assert lake.read_partition("trades", "DEMO", DAY).height == 0
    assert lake.read("trades").height == 5
