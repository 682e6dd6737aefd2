"""Parquet layout of a partition write: bounded row groups, statistics only on the key columns, the rows unchanged; the
pyarrow-written partition laid out and described in the log as delta-rs lays out and describes its own, on a local
lake and on S3; a file written but never committed is not read and is vacuumed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from data_lake.lake import ROW_GROUP_ROWS, Lake, parquet_options
from data_lake.partition_files import write_partition_file
from data_lake.tables import table
from tests import services

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


def _stats(lake: Lake, name: str) -> dict[str, dict[str, Any]]:
    """Per partition folder: the number of records and the min, max and null count of every statistics column."""
    flat = pa.table(lake.delta_table(name).get_add_actions(flatten=True)).to_pylist()
    return {
        a["path"].rsplit("/part-", 1)[0]: {
            k: v for k, v in a.items() if k.split(".")[0] in ("num_records", "min", "max", "null_count")
        }
        for a in flat
    }


HOSTILE_COINS = ("DEMO", "xyz:NVDA", "@107", "a b", "x%y", "é")


@pytest.mark.parametrize("writer", ["pyarrow", "delta-rs"])
def test_a_partition_is_replaced_not_doubled_and_reads_back_for_any_coin_name(tmp_path: Path, writer: str) -> None:
    lake = Lake(tmp_path / "lake", storage_options={})
    for coin in HOSTILE_COINS:
        for rows in (7, 3):  # the second write replaces the first
            lake.replace("trades", _trades(rows).with_columns(coin=pl.lit(coin)), {"coin": coin, "date": DAY}, writer)
    for coin in HOSTILE_COINS:
        assert lake.read_partition("trades", coin, DAY)["tid"].to_list() == [0, 1, 2], coin


def test_pyarrow_lays_out_and_describes_a_partition_as_delta_rs_does(tmp_path: Path) -> None:
    long_text = "k" * 100
    by = {}
    for writer in ("delta-rs", "pyarrow"):
        lake = Lake(tmp_path / writer, storage_options={})
        for coin in HOSTILE_COINS:
            df = _trades(5).with_columns(coin=pl.lit(coin))
            lake.replace("trades", df, {"coin": coin, "date": DAY}, writer)
            alerts = pl.DataFrame(
                {"coin": coin, "date": DAY, "time": [3, None, 1], "kind": ["b", "a", None], "subject": "s"}
            ).with_columns(message=pl.Series([long_text + "a", long_text + "b", "é" * 40]))
            lake.replace("alerts", alerts, {"coin": coin, "date": DAY}, writer)
        by[writer] = {name: _stats(lake, name) for name in ("trades", "alerts")}
        files = sorted(str(p.parent.relative_to(tmp_path / writer)) for p in (tmp_path / writer).rglob("*.parquet"))
        by[writer]["files"] = files  # type: ignore[assignment]
    assert by["pyarrow"] == by["delta-rs"]
    assert by["pyarrow"]["trades"]["coin=xyz%253ANVDA/date=2026-01-01"]["max.tid"] == 4


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    with services.moto_s3_or_skip("smallfish-writes") as aws:
        yield aws


def test_an_s3_partition_is_replaced_in_row_order_with_statistics_and_vacuumed(s3: dict[str, str]) -> None:
    import boto3

    from data_lake.vacuum import vacuum_table

    lake = Lake("s3://smallfish-writes/lake", storage_options=s3)
    rows = ROW_GROUP_ROWS + 500
    for n in (10, rows):
        lake.write_partition("trades", _trades(n).with_columns(coin=pl.lit("xyz:NVDA")), "xyz:NVDA", DAY)
    assert lake.read_partition("trades", "xyz:NVDA", DAY)["tid"].to_list() == list(range(rows))
    (stats,) = _stats(lake, "trades").values()
    assert (stats["num_records"], stats["min.tid"], stats["max.tid"], stats["null_count.time"]) == (
        rows,
        0,
        rows - 1,
        0,
    )

    client = boto3.client(
        "s3",
        endpoint_url=s3["AWS_ENDPOINT_URL"],
        region_name=s3["AWS_REGION"],
        aws_access_key_id=s3["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3["AWS_SECRET_ACCESS_KEY"],
    )
    listing = client.list_objects_v2(Bucket="smallfish-writes", Prefix="lake/trades/coin=")["Contents"]
    assert [o["Key"].rsplit("/", 1)[0] for o in listing] == ["lake/trades/coin=xyz%3ANVDA/date=2026-01-01"] * 2
    assert vacuum_table(lake, "trades", retention_hours=0).files_deleted == 1  # the replaced file, no folder markers
    assert lake.read_partition("trades", "xyz:NVDA", DAY).height == rows


def test_a_file_written_but_never_committed_is_not_read_and_is_vacuumed(tmp_path: Path) -> None:
    from data_lake.vacuum import vacuum_table

    lake = Lake(tmp_path / "lake", storage_options={})
    lake.write_partition("trades", _trades(4), "DEMO", DAY)
    spec = table("trades")
    # what a writer killed between its file and its commit leaves behind
    write_partition_file(
        _trades(9), {"coin": "DEMO", "date": DAY}, pafs.LocalFileSystem(), lake.uri("trades"), parquet_options(spec)
    )
    assert len(list((tmp_path / "lake" / "trades").rglob("*.parquet"))) == 2
    assert lake.read_partition("trades", "DEMO", DAY).height == 4
    assert vacuum_table(lake, "trades", retention_hours=0).files_deleted == 1
    assert len(list((tmp_path / "lake" / "trades").rglob("*.parquet"))) == 1
    assert lake.read_partition("trades", "DEMO", DAY).height == 4


def _rewrite(root: str, coin: str, times: int, barrier: Any, out: Any) -> None:
    """Replace ``coin``'s partition ``times`` times (its i-th write holds i + 1 rows) once the other writer is ready."""
    lake = Lake(root, storage_options={})
    barrier.wait()
    try:
        for i in range(times):
            lake.write_partition("trades", _trades(i + 1).with_columns(coin=pl.lit(coin)), coin, DAY)
        out.put("ok")
    except Exception as exc:  # noqa: BLE001 - the outcome is the finding
        out.put(f"{type(exc).__name__}: {exc}")


def test_two_writers_of_other_partitions_both_commit_every_write(tmp_path: Path) -> None:
    import multiprocessing as mp

    root, times, ctx = str(tmp_path / "lake"), 15, mp.get_context("spawn")
    Lake(root, storage_options={}).write_partition("trades", _trades(1), "DEMO", DAY)  # the table exists
    barrier, out = ctx.Barrier(2), ctx.Queue()
    writers = [ctx.Process(target=_rewrite, args=(root, coin, times, barrier, out)) for coin in ("AAA", "BBB")]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
    assert [out.get(timeout=5) for _ in writers] == ["ok", "ok"]
    lake = Lake(root, storage_options={})
    assert lake.version("trades") == 1 + 2 * times  # every write is one commit, none lost to a conflict
    for coin in ("AAA", "BBB"):
        assert lake.read_partition("trades", coin, DAY)["tid"].to_list() == list(range(times)), coin
