"""The raw zone: captures exactly as received, one file per (source, day, hour, coin).

Layout: ``{raw_root}/{source}/{YYYYMMDD}/{H}/{coin_file}.jsonl[.lz4]`` with the hour unpadded (as in
Hyperliquid's S3 archive). Each line is the archive envelope
``{"time": "<receive time, ISO ns UTC, no zone>", "ver_num": 1, "raw": <the WS frame>}``.
Coin names may contain ``/`` and ``:`` (``PURR/USDC``, ``xyz:NVDA``); :func:`coin_file_name` makes them
file-safe and :func:`coin_from_file_name` inverts it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lz4.frame

SOURCES = ("ws", "archive", "node", "quoter")
_SUFFIXES = (".jsonl.lz4", ".jsonl", ".lz4")
_DAY_RE = re.compile(r"^\d{8}$")


def coin_file_name(coin: str) -> str:
    """File-safe form of a coin name: ``/`` -> ``%2F`` (``:`` and ``@`` are kept)."""
    return coin.replace("%", "%25").replace("/", "%2F")


def coin_from_file_name(name: str) -> str:
    return name.replace("%2F", "/").replace("%25", "%")


def raw_path(raw_root: str | Path, source: str, date: dt.date, hour: int, coin: str, compressed: bool = True) -> Path:
    suffix = ".jsonl.lz4" if compressed else ".jsonl"
    return Path(raw_root) / source / date.strftime("%Y%m%d") / str(hour) / f"{coin_file_name(coin)}{suffix}"


@dataclass(frozen=True)
class RawFile:
    """One raw-zone file and where it sits in the layout."""

    path: Path
    source: str
    date: dt.date
    hour: int
    coin: str


def _strip_suffix(name: str) -> str | None:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def discover(raw_root: str | Path, coin: str | None = None, date: dt.date | None = None) -> list[RawFile]:
    """All raw files, optionally only one coin and/or one day, sorted by (date, hour, source, name)."""
    root = Path(raw_root)
    found: list[RawFile] = []
    if not root.is_dir():
        return found
    for source_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        day_dirs = [source_dir / date.strftime("%Y%m%d")] if date else sorted(source_dir.iterdir())
        for day_dir in day_dirs:
            if not day_dir.is_dir() or not _DAY_RE.match(day_dir.name):
                continue
            day = dt.datetime.strptime(day_dir.name, "%Y%m%d").date()
            for hour_dir in day_dir.iterdir():
                if not hour_dir.is_dir() or not hour_dir.name.isdigit():
                    continue
                for f in hour_dir.iterdir():
                    stem = _strip_suffix(f.name)
                    if stem is None or not f.is_file():
                        continue
                    file_coin = coin_from_file_name(stem)
                    if coin is not None and file_coin != coin:
                        continue
                    found.append(RawFile(f, source_dir.name, day, int(hour_dir.name), file_coin))
    return sorted(found, key=lambda r: (r.date, r.hour, r.source, r.path.name))


def coins_in(raw_root: str | Path) -> list[str]:
    return sorted({f.coin for f in discover(raw_root)})


def dates_in(raw_root: str | Path) -> list[dt.date]:
    return sorted({f.date for f in discover(raw_root)})


def read_bytes(path: str | Path) -> bytes:
    """The decompressed content of a raw file (LZ4 frame if the name ends in ``.lz4``).

    A truncated LZ4 frame (a recorder killed mid-write) yields every byte that could be decoded.
    """
    path = Path(path)
    data = path.read_bytes()
    if not path.name.endswith(".lz4"):
        return data
    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        return decompressor.decompress(data)
    except RuntimeError:
        return _decompress_prefix(data)


def _decompress_prefix(data: bytes) -> bytes:
    """Decode as much of a damaged LZ4 frame as possible, block by block."""
    out = bytearray()
    decompressor = lz4.frame.LZ4FrameDecompressor()
    step = 1 << 16
    for start in range(0, len(data), step):
        try:
            out += decompressor.decompress(data[start : start + step])
        except RuntimeError:
            break
    return bytes(out)


def read_lines(path: str | Path) -> list[str]:
    """Lines of a raw file, decoded as UTF-8 (invalid bytes replaced, so the line still reaches quarantine).

    A missing final newline is kept as a last line: it may be a truncated write, the parser decides.
    """
    text = read_bytes(path).decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def iso_ns(recv_time_ns: int) -> str:
    """Envelope receive time: ISO 8601 with 9 fractional digits, UTC, no zone suffix (as the archive)."""
    seconds, nanos = divmod(recv_time_ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}"


def envelope(recv_time_ns: int, frame: Any) -> str:
    """One raw-zone line for a frame received at ``recv_time_ns``."""
    return json.dumps({"time": iso_ns(recv_time_ns), "ver_num": 1, "raw": frame}, separators=(",", ":"))


def write_lines(path: str | Path, lines: list[str]) -> Path:
    """Write lines atomically (temp file, fsync, rename); LZ4 frame when the name ends in ``.lz4``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = ("\n".join(lines) + "\n").encode() if lines else b""
    if path.name.endswith(".lz4"):
        payload = lz4.frame.compress(payload)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
