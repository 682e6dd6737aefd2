"""The raw zone: captures exactly as received, one file per (source, day, hour, coin).

Layout: ``{raw_root}/{source}/{YYYYMMDD}/{H}/{coin_file}.jsonl[.lz4]`` with the hour unpadded (as in
Hyperliquid's S3 archive). Each line is the archive envelope
``{"time": "<receive time, ISO ns UTC, no zone>", "ver_num": 1, "raw": <the WS frame>}``.
Coin names may contain ``/`` and ``:`` (``PURR/USDC``, ``xyz:NVDA``); :func:`coin_file_name` makes them
file-safe and :func:`coin_from_file_name` inverts it. Files whose name starts with ``_`` (such as an
importer's ``_unattributed.jsonl``) are not coin files and are never discovered, so a coin whose name starts
with ``_``, or whose file name would exceed the file system's 255-byte limit, is refused by
:func:`coin_name_problem` before anything is written. Writers of one file serialise on the lock of its
directory (:func:`locked`) and replace it atomically (:func:`data_lake.atomic_files.write_atomically`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lz4.block
import lz4.frame

from data_lake.atomic_files import write_atomically

SOURCES = ("ws", "archive", "node", "quoter", "api", "asset_ctxs", "hl_historical", "tabular")
_SUFFIXES = (".jsonl.lz4", ".jsonl", ".lz4")
_DAY_RE = re.compile(r"^\d{8}$")


def coin_file_name(coin: str) -> str:
    """File-safe form of a coin name: ``/`` -> ``%2F`` (``:`` and ``@`` are kept)."""
    return coin.replace("%", "%25").replace("/", "%2F")


def coin_from_file_name(name: str) -> str:
    return name.replace("%2F", "/").replace("%25", "%")


NAME_MAX_BYTES = 255
"""Longest file name (bytes) of the common local file systems (ext4, xfs, apfs) and of most object stores' keys'
parts."""


def coin_name_problem(coin: str) -> str | None:
    """Why ``coin`` cannot have a raw-zone file (null when it can): a name :func:`discover` would skip
    (leading ``_``, reserved for non-coin files), an empty name or one with a NUL byte, or a file name longer
    than :data:`NAME_MAX_BYTES`."""
    if not coin or "\x00" in coin:
        return "empty coin name or NUL byte in it"
    if coin.startswith("_"):
        return "coin name starts with '_' (reserved for non-coin raw files)"
    longest = len(f"{coin_file_name(coin)}{_SUFFIXES[0]}".encode())
    if longest > NAME_MAX_BYTES:
        return f"coin name too long for a file name ({longest} bytes > {NAME_MAX_BYTES})"
    return None


def raw_path(raw_root: str | Path, source: str, date: dt.date, hour: int, coin: str, compressed: bool = True) -> Path:
    suffix = ".jsonl.lz4" if compressed else ".jsonl"
    return Path(raw_root) / source / date.strftime("%Y%m%d") / str(hour) / f"{coin_file_name(coin)}{suffix}"


@dataclass(frozen=True)
class RawFile:
    """One raw-zone file and where it sits in the layout; ``problem`` says why it cannot be read (null if it can)."""

    path: Path
    source: str
    date: dt.date
    hour: int
    coin: str
    problem: str | None = None


def _strip_suffix(name: str) -> str | None:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def _day(name: str) -> dt.date | None:
    if not _DAY_RE.match(name):
        return None
    try:
        return dt.datetime.strptime(name, "%Y%m%d").date()
    except ValueError:
        return None


def _file_problem(path: Path) -> str | None:
    """Why a coin-file name in the layout cannot be read as a file (null when it can)."""
    try:
        path.resolve(strict=True)
    except RuntimeError:
        return "symlink loop, not a raw file"
    except OSError as exc:
        return f"broken symlink, not a raw file ({exc.strerror})"
    if path.is_dir():
        return "a directory where a raw file is expected"
    if not path.is_file():
        return "not a regular file"
    return None


def _read_once(found: list[RawFile]) -> list[RawFile]:
    """Files reached twice (through a symlinked file or source directory) are read once, at their own path if
    it is listed, else at the first listed; every other route to them is kept with the reason it is not read."""
    routes: dict[Path, list[RawFile]] = {}
    for f in found:
        if f.problem is None:
            routes.setdefault(f.path.resolve(), []).append(f)
    aliases: dict[Path, str] = {}
    for real, listed in routes.items():
        kept = next((f for f in listed if f.path.absolute() == real), listed[0])
        aliases |= {
            f.path: f"same file as {kept.path} (reached through a symlink), read once there"
            for f in listed
            if f is not kept
        }
    return [
        RawFile(f.path, f.source, f.date, f.hour, f.coin, aliases[f.path]) if f.path in aliases else f for f in found
    ]


def discover(raw_root: str | Path, coin: str | None = None, date: dt.date | None = None) -> list[RawFile]:
    """All raw files, optionally only one coin and/or one day, sorted by (date, hour, source, name).

    A coin file name that is no readable file (a directory, a symlink loop, a broken symlink) or a second route
    to a file already listed (a symlinked file or source directory) is listed with its ``problem``, so the
    cleaning reports it instead of skipping or reading it twice. Directories that are no UTC day (``YYYYMMDD``)
    or hour (``0``-``23``) are not part of the layout and are passed over.
    """
    root = Path(raw_root)
    found: list[RawFile] = []
    if not root.is_dir():
        return found
    for source_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        day_dirs = [source_dir / date.strftime("%Y%m%d")] if date else sorted(source_dir.iterdir())
        for day_dir in day_dirs:
            day = _day(day_dir.name)
            if day is None or not day_dir.is_dir():
                continue
            for hour_dir in day_dir.iterdir():
                if not hour_dir.is_dir() or not hour_dir.name.isdigit() or int(hour_dir.name) > 23:
                    continue
                for f in hour_dir.iterdir():
                    stem = _strip_suffix(f.name)
                    if stem is None or stem.startswith("_"):
                        continue
                    file_coin = coin_from_file_name(stem)
                    if coin is not None and file_coin != coin:
                        continue
                    found.append(RawFile(f, source_dir.name, day, int(hour_dir.name), file_coin, _file_problem(f)))
    return _read_once(sorted(found, key=lambda r: (r.date, r.hour, r.source, r.path.name)))


def file_stat(path: Path) -> os.stat_result:
    """The file's status, or its link's when the link leads nowhere (a symlink loop or a broken link)."""
    try:
        return path.stat()
    except OSError:
        return path.lstat()


def inventory(raw_file: RawFile) -> tuple[int, int, int]:
    """(bytes, lines, modified ns) of a raw file; one that cannot be read counts no lines (cleaning
    quarantines it with its reason)."""
    stat = file_stat(raw_file.path)
    try:
        lines = count_lines(raw_file.path) if raw_file.problem is None else 0
    except OSError:
        lines = 0
    return stat.st_size, lines, stat.st_mtime_ns


def coins_in(raw_root: str | Path) -> list[str]:
    return sorted({f.coin for f in discover(raw_root)})


def dates_in(raw_root: str | Path) -> list[dt.date]:
    return sorted({f.date for f in discover(raw_root)})


@dataclass(frozen=True)
class DecodedFile:
    """A raw file's decoded content and how many of its stored bytes could not be decoded (damaged LZ4)."""

    data: bytes
    stored_bytes: int
    undecoded_bytes: int = 0
    problem: str | None = None


def decode_file(path: str | Path) -> DecodedFile:
    """Decode a raw file (LZ4 frame if the name ends in ``.lz4``), salvaging every complete block of a
    truncated or damaged frame and saying how many stored bytes were lost, so nothing goes unnoticed."""
    path = Path(path)
    data = path.read_bytes()
    if not path.name.endswith(".lz4") or not data:
        return DecodedFile(data, len(data))
    try:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        out = decompressor.decompress(data)
        while decompressor.eof and decompressor.unused_data:
            rest = decompressor.unused_data
            decompressor = lz4.frame.LZ4FrameDecompressor()
            out += decompressor.decompress(rest)
        if decompressor.eof:
            return DecodedFile(out, len(data))
    except RuntimeError:
        pass
    return _salvage(data)


DAMAGED_LZ4 = "damaged lz4"
"""How every reason for an lz4 file that could not be decoded whole begins."""
_LZ4_MAGIC = 0x184D2204
_LZ4_BLOCK_MAX = {4: 1 << 16, 5: 1 << 18, 6: 1 << 20, 7: 1 << 22}


class _Lz4Damage(ValueError):
    """Where and why decoding an LZ4 file stopped."""

    def __init__(self, pos: int, why: str):
        super().__init__(why)
        self.pos = pos


def _salvage(data: bytes) -> DecodedFile:
    """Decode LZ4 frames block by block up to the first incomplete or undecodable block."""
    out = bytearray()
    pos = 0
    while pos < len(data):
        try:
            pos = _decode_frame(data, pos, out)
        except _Lz4Damage as exc:
            lost = len(data) - exc.pos
            problem = (
                f"{DAMAGED_LZ4} ({exc}): {lost} of {len(data)} stored bytes from byte {exc.pos} could not be decoded"
            )
            return DecodedFile(bytes(out), len(data), lost, problem)
    return DecodedFile(bytes(out), len(data))


def _decode_frame(data: bytes, pos: int, out: bytearray) -> int:
    """Append the frame at ``pos`` to ``out`` one block at a time; returns the position after the frame.

    On failure ``out`` keeps every complete block and the exception says where decoding stopped.
    """
    if len(data) - pos < 7 or int.from_bytes(data[pos : pos + 4], "little") != _LZ4_MAGIC:
        raise _Lz4Damage(pos, "no complete lz4 frame header")
    flags, block_max = data[pos + 4], _LZ4_BLOCK_MAX.get((data[pos + 5] >> 4) & 0x7, 1 << 22)
    linked, frame_start = not flags & 0x20, len(out)
    pos += 7 + (8 if flags & 0x08 else 0) + (4 if flags & 0x01 else 0)
    while True:
        if len(data) - pos < 4:
            raise _Lz4Damage(pos, "frame truncated")
        size = int.from_bytes(data[pos : pos + 4], "little")
        if size == 0:
            return pos + 4 + (4 if flags & 0x04 else 0)
        end = pos + 4 + (size & 0x7FFFFFFF)
        if end > len(data):
            raise _Lz4Damage(pos, "block truncated")
        block = data[pos + 4 : end]
        if size & 0x80000000:
            out += block
        else:
            history = bytes(out[max(frame_start, len(out) - (1 << 16)) :]) if linked else None
            try:
                out += lz4.block.decompress(block, uncompressed_size=block_max, dict=history)
            except lz4.block.LZ4BlockError as exc:
                raise _Lz4Damage(pos, "undecodable block") from exc
        pos = end + (4 if flags & 0x10 else 0)


def read_bytes(path: str | Path) -> bytes:
    """The decompressed content of a raw file (LZ4 frame if the name ends in ``.lz4``).

    A truncated LZ4 frame (a recorder killed mid-write) yields every byte that could be decoded;
    :func:`decode_file` also says how many bytes were lost.
    """
    return decode_file(path).data


def read_lines(path: str | Path) -> list[str]:
    """Lines of a raw file, decoded as UTF-8 (invalid bytes replaced, so the line still reaches quarantine).

    A missing final newline is kept as a last line: it may be a truncated write, the parser decides.
    """
    text = read_bytes(path).decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def count_lines(path: str | Path) -> int:
    """``len(read_lines(path))`` without holding the file: newlines counted over streamed 1 MiB chunks.

    A damaged LZ4 file falls back to the salvaging decode, so the count matches :func:`read_lines`.
    """
    path = Path(path)
    newlines, last = 0, b""
    try:
        with lz4.frame.open(path, "rb") if path.name.endswith(".lz4") else open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                newlines, last = newlines + chunk.count(b"\n"), chunk[-1:]
    except (RuntimeError, EOFError):
        data = read_bytes(path)
        newlines, last = data.count(b"\n"), data[-1:]
    return newlines + (last not in (b"", b"\n"))


def iso_ns(recv_time_ns: int) -> str:
    """Envelope receive time: ISO 8601 with 9 fractional digits, UTC, no zone suffix (as the archive)."""
    seconds, nanos = divmod(recv_time_ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}"


def envelope(recv_time_ns: int, frame: Any) -> str:
    """One raw-zone line for a frame received at ``recv_time_ns``."""
    return json.dumps({"time": iso_ns(recv_time_ns), "ver_num": 1, "raw": frame}, separators=(",", ":"))


def write_lines(path: str | Path, lines: list[str]) -> Path:
    """Write lines atomically (:func:`write_atomically`); LZ4 frame when the name ends in ``.lz4``."""
    path = Path(path)
    payload = ("\n".join(lines) + "\n").encode() if lines else b""
    if path.name.endswith(".lz4"):
        payload = lz4.frame.compress(payload)
    return write_atomically(path, payload)


@contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold the exclusive lock of ``path``'s directory (``flock`` on its ``.lock`` file) for a read-modify-write
    of ``path``, so two importers merging into one file each see the other's lines (POSIX, local file systems)."""
    directory = Path(path).parent
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
