"""Raw .jsonl.lz4 -> clean Delta for one simulated day, beside a bare polars.read_ndjson of the same lines.

Prints records per second of the full clean step (decompress, parse, validate, dedupe, quarantine, Delta
writes of every table) and its ratio to polars reading the decompressed NDJSON (goal: within 2x), and the
peak RSS of both, each run alone in a fresh process (goal: clean + write under 1.5 GiB).
"""

from __future__ import annotations

import datetime as dt
import io
import multiprocessing
import re
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import polars as pl

from data_lake import raw_zone
from data_lake.cleaning import CLEAN_TABLES, clean_partition
from data_lake.demo_market import DemoMarketConfig, simulate_to_raw
from data_lake.lake import Lake

DAY = dt.date(2026, 1, 1)
COIN = "DEMO"


def _best_of(n: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(n):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _split_by_channel(text: bytes) -> list[bytes]:
    """NDJSON blobs of one channel each: polars cannot read frames of different shapes as one file."""
    groups: dict[bytes, list[bytes]] = {}
    for line in text.splitlines():
        key = line[line.find(b'"channel"') : line.find(b'"channel"') + 30]
        groups.setdefault(key, []).append(line)
    return [b"\n".join(g) + b"\n" for g in groups.values()]


def _decompress_and_read(files: list[raw_zone.RawFile]) -> list[pl.DataFrame]:
    blobs = _split_by_channel(b"".join(raw_zone.read_bytes(f.path) for f in files))
    return [pl.read_ndjson(io.BytesIO(blob), infer_schema_length=None) for blob in blobs]


def _clean_and_write(raw: Path, lake: Lake) -> int:
    """What the ``clean_tables`` asset does: clean the partition, then write every table and the quarantine."""
    result = clean_partition(raw, COIN, DAY)
    for name in CLEAN_TABLES:
        lake.write_partition(name, result.tables[name], COIN, DAY)
    lake.write_partition("quarantine", result.quarantine, COIN, DAY)
    return result.accounting.records_in


def _peak_rss(fn: Callable[..., object], *args: object) -> float:
    """Peak RSS in GiB of the process that ran ``fn(*args)`` (polars allocates natively, out of tracemalloc's
    sight); VmHWM rather than ru_maxrss, which a spawned child inherits from its parent across fork and exec."""
    fn(*args)
    return int(re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) / 2**20


def _peak_rss_alone(fn: Callable[..., object], *args: object) -> float:
    """:func:`_peak_rss` in a fresh process, so nothing earlier in this one raises the mark."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_peak_rss, fn, *args).result()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    raw = work / "raw"
    start = time.perf_counter()
    simulate_to_raw(DemoMarketConfig(coin=COIN, days=1, seed=3, start=DAY), raw)
    print(f"simulated 1 day in {time.perf_counter() - start:.1f} s")
    files = raw_zone.discover(raw, coin=COIN, date=DAY)
    text = b"".join(raw_zone.read_bytes(f.path) for f in files)
    lines = text.count(b"\n")
    by_channel = _split_by_channel(text)

    def polars_read() -> list[pl.DataFrame]:
        return [pl.read_ndjson(io.BytesIO(blob), infer_schema_length=None) for blob in by_channel]

    lake = Lake(work / "lake", storage_options={})
    t_read, _ = _best_of(3, polars_read)
    t_dread, _ = _best_of(3, lambda: _decompress_and_read(files))
    t_clean, records = _best_of(3, lambda: _clean_and_write(raw, lake))
    t_parse, _ = _best_of(3, lambda: clean_partition(raw, COIN, DAY))
    print(f"\n{lines:,} raw lines, {records:,} records (a multi-trade frame counts its trades)")
    print(f"{'step':<52}{'seconds':>9}{'lines/s':>14}")
    for label, seconds in (
        ("polars.read_ndjson per channel (bytes in memory)", t_read),
        ("lz4 decompress + split + polars.read_ndjson", t_dread),
        ("clean_partition (decompress, parse, clean)", t_parse),
        ("clean_partition + Delta writes of every table", t_clean),
    ):
        print(f"{label:<52}{seconds:>9.2f}{lines / seconds:>14,.0f}")
    print(f"\nratio clean+write / polars.read_ndjson:          {t_clean / t_read:.2f}x (goal <= 2x)")
    print(f"ratio clean+write / decompress+read_ndjson:      {t_clean / t_dread:.2f}x")
    rss_dread = _peak_rss_alone(_decompress_and_read, files)
    rss_clean = _peak_rss_alone(_clean_and_write, raw, Lake(work / "lake_rss", storage_options={}))
    print(
        f"\npeak RSS, each alone in a fresh process: lz4 decompress + split + polars.read_ndjson {rss_dread:.2f} GiB, "
        f"clean_partition + Delta writes {rss_clean:.2f} GiB (goal < 1.5 GiB)"
    )
    print(f"ratio peak RSS clean+write / decompress+read_ndjson: {rss_clean / rss_dread:.2f}x")


if __name__ == "__main__":
    main()
