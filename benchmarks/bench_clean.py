"""Cleaning throughput in MB/s of decompressed raw JSON, Delta writes included, beside orjson parsing the same bytes.

One simulated demo day (~400 MB decompressed, 631k lines). Prints, as wall and process-CPU seconds (the machine is
shared: CPU seconds are what one process spends, wall seconds what it waited):
- the best-case parse anchor: ``orjson.loads`` of every line, garbage collector off, no columns built;
- the clean step split into stages: lz4 decompress, parse (lines -> candidate rows, the compiled l2Book/bbo scanner
  included), validate/dedupe/quarantine (the rest of ``clean_partition``), Delta writes of every table;
- the Delta writes both ways: pyarrow's Parquet writer committed by delta-rs (what ``Lake.replace`` does) and
  ``write_deltalake`` (what it did), and whether the two lakes hold the same tables (content hashes);
- the same clean step with the fast path off (``scan=False``), and a content hash per table of both, which must agree;
- peak RSS of one day's clean + write, alone in a fresh process, with either writer.
"""

from __future__ import annotations

import datetime as dt
import gc
import multiprocessing
import re
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Literal

import orjson
import pyarrow.parquet as pq
from lake_hashes import comparable, content_hash

from data_lake import raw_zone
from data_lake.cleaning import CLEAN_TABLES, CleanPartition, clean_partition
from data_lake.demo_market import DemoMarketConfig, simulate_to_raw
from data_lake.lake import Lake
from data_lake.parsers import parse_bytes

DAY = dt.date(2026, 1, 1)
COIN = "DEMO"
GOAL_MB_S = 250.0
RUNS = 3


def _best_of(fn: Callable[[], object], runs: int = RUNS) -> tuple[float, float, object]:
    """(best wall seconds, best process-CPU seconds, last result) over ``runs`` calls."""
    wall, cpu, out = float("inf"), float("inf"), None
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
    return wall, cpu, out


def _write(lake: Lake, result: CleanPartition, writer: Literal["pyarrow", "delta-rs"] = "pyarrow") -> None:
    where = {"coin": COIN, "date": DAY}
    for name in CLEAN_TABLES:
        lake.replace(name, result.tables[name], where, writer)
    lake.replace("quarantine", result.quarantine, where, writer)


def _clean_and_write(raw: Path, lake_root: Path, writer: Literal["pyarrow", "delta-rs"]) -> None:
    _write(Lake(lake_root, storage_options={}), clean_partition(raw, COIN, DAY), writer)


def _lake_hashes(lake: Lake) -> dict[str, int]:
    return {name: content_hash(comparable(lake, name)) for name in (*CLEAN_TABLES, "quarantine")}


def _peak_rss(fn: Callable[..., object], *args: object) -> float:
    """Peak RSS in GiB (VmHWM: polars and delta-rs allocate natively, out of tracemalloc's sight) of ``fn(*args)``."""
    fn(*args)
    return int(re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) / 2**20


def _peak_rss_alone(fn: Callable[..., object], *args: object) -> float:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_peak_rss, fn, *args).result()


def _orjson_every_line(lines: list[bytes]) -> int:
    gc.disable()
    try:
        return len([orjson.loads(line) for line in lines])
    finally:
        gc.enable()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench_clean_"))
    raw = work / "raw"
    simulate_to_raw(DemoMarketConfig(coin=COIN, days=1, seed=3, start=DAY), raw)
    files = raw_zone.discover(raw, coin=COIN, date=DAY)
    decoded = [raw_zone.decode_file(f.path).data for f in files]
    mb = sum(map(len, decoded)) / 1e6
    lines = [line for data in decoded for line in data.splitlines()]
    print(f"one demo day: {len(files)} files, {mb:.0f} MB decompressed, {len(lines):,} lines")

    clean_partition(raw, COIN, DAY)  # compiles (or loads) the scanner before anything is timed
    anchor = _best_of(lambda: _orjson_every_line(lines))
    decompress = _best_of(lambda: [raw_zone.decode_file(f.path) for f in files])
    parse = _best_of(lambda: [parse_bytes(d, i, f.source) for i, (f, d) in enumerate(zip(files, decoded, strict=True))])
    clean = _best_of(lambda: clean_partition(raw, COIN, DAY))
    lake = Lake(work / "lake", storage_options={})
    write = _best_of(lambda: _write(lake, clean[2]))
    delta_rs_lake = Lake(work / "lake_delta_rs", storage_options={})
    write_delta_rs = _best_of(lambda: _write(delta_rs_lake, clean[2], "delta-rs"))
    reference = _best_of(lambda: clean_partition(raw, COIN, DAY, scan=False), runs=1)

    validate = tuple(c - d - p for c, d, p in zip(clean[:2], decompress[:2], parse[:2], strict=True))
    total = tuple(c + w for c, w in zip(clean[:2], write[:2], strict=True))
    stages = (
        ("lz4 decompress", decompress),
        ("parse (lines -> candidate rows)", parse),
        ("validate, dedupe, quarantine", validate),
        ("Delta writes, every table (pyarrow)", write),
    )
    print(f"\n{'step':<44}{'wall s':>8}{'cpu s':>8}{'MB/s cpu':>10}{'share':>8}")
    print(f"{'anchor: orjson.loads of every line':<44}{anchor[0]:>8.2f}{anchor[1]:>8.2f}{mb / anchor[1]:>10.0f}")
    for label, (wall, cpu, *_) in stages:
        print(f"{label:<44}{wall:>8.2f}{cpu:>8.2f}{mb / cpu:>10.0f}{cpu / total[1]:>8.0%}")
    print(
        f"{'  the same writes by write_deltalake':<44}{write_delta_rs[0]:>8.2f}{write_delta_rs[1]:>8.2f}"
        f"{mb / write_delta_rs[1]:>10.0f}{'':>8}  ({write_delta_rs[1] / write[1]:.2f}x the cpu)"
    )
    print(f"{'clean + write (the clean_tables asset)':<44}{total[0]:>8.2f}{total[1]:>8.2f}{mb / total[1]:>10.0f}")
    print(
        f"{'clean + write, fast path off (scan=False)':<44}{reference[0] + write[0]:>8.2f}"
        f"{reference[1] + write[1]:>8.2f}{mb / (reference[1] + write[1]):>10.0f}"
    )
    print(
        f"\nclean + write: {mb / total[0]:.0f} MB/s wall, {mb / total[1]:.0f} MB/s cpu (goal >= {GOAL_MB_S:.0f}); "
        f"ratio to the orjson parse-only anchor (cpu): {anchor[1] / total[1]:.2f}x"
    )
    for name in ("book", "trades"):
        parquet = [Path(uri) for uri in lake.delta_table(name).file_uris()]
        groups = sum(pq.ParquetFile(f).metadata.num_row_groups for f in parquet)
        size = sum(f.stat().st_size for f in parquet) / 2**20
        print(f"{name} partition: {len(parquet)} file(s), {size:.0f} MiB, {groups} row groups (zstd 1)")
    fast, exact = clean[2].content_hashes(), reference[2].content_hashes()
    print(f"content hashes, fast path == reference: {fast == exact}  {fast}")
    same_lakes = _lake_hashes(lake) == _lake_hashes(delta_rs_lake)
    print(f"tables read back, pyarrow writer == write_deltalake: {same_lakes}")
    rss = _peak_rss_alone(_clean_and_write, raw, work / "lake_rss", "pyarrow")
    rss_delta_rs = _peak_rss_alone(_clean_and_write, raw, work / "lake_rss_delta_rs", "delta-rs")
    print(
        f"peak RSS of one day's clean + write, alone in a fresh process: {rss:.2f} GiB (goal < 1 GiB); "
        f"{rss_delta_rs:.2f} GiB writing with write_deltalake"
    )
    if fast != exact or not same_lakes:
        raise SystemExit("the fast path or the writer changed a table")


if __name__ == "__main__":
    main()
