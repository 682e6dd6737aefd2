"""Append-only hourly raw-zone files, so a crash loses nothing that was received.

The open hour of each coin is a plain ``{raw_root}/{source}/{YYYYMMDD}/{H}/{coin}.jsonl`` written with one
``write`` per line (the line reaches the OS at once, so a kill -9 leaves every complete line readable and at
most a truncated last line, which cleaning quarantines); :meth:`HourlyRawWriter.fsync` makes it durable.
When the hour is over the plain file is folded into ``{coin}.jsonl.lz4`` (LZ4 frame via
:func:`data_lake.raw_zone.write_lines`: temp file, fsync, atomic rename, under the importers' lock) and removed.
Reopening a plain file whose last line was cut off starts on a fresh line, so new lines never glue onto the truncated
one. The hour is the receive time's; ``raw_zone.discover`` reads both the plain and the compressed file.

A write that fails (a full disk, an unwritable or missing directory) raises :class:`CaptureWriteError`: the
writer's caller must stop, since every later line would be lost the same way.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from data_lake.atomic_files import fsync_directory
from data_lake.raw_zone import locked, raw_path, read_lines, write_lines
from data_lake.units import HOUR_NS

UNATTRIBUTED = "_unattributed"
"""File stem for frames that concern no coin (raw-zone discovery skips names starting with ``_``)."""


class CaptureWriteError(RuntimeError):
    """The raw zone cannot be written (disk full, unwritable path): a local fault, not a network one."""


def _cannot(action: str, path: Path, exc: OSError) -> CaptureWriteError:
    return CaptureWriteError(f"cannot {action} {path}: {exc.strerror or exc}")


def probe_writable(folder: Path) -> None:
    """Create ``folder`` and write, fsync and remove a file in it; raises :class:`CaptureWriteError` if any fails."""
    probe = folder / f".write-probe-{uuid.uuid4().hex}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)
    except OSError as exc:
        raise _cannot("write in", folder, exc) from None


def hour_start(hour_index: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(hour_index * 3_600, tz=dt.UTC)


def compress_plain(plain: Path) -> Path:
    """Fold a finished plain hour file into its ``.jsonl.lz4`` (after any lines already there) and remove it.

    The read-modify-write holds the lock ``smallfish import`` takes to merge into the same file
    (:func:`data_lake.raw_zone.locked`), so neither rewrites the file without the other's lines.
    Idempotent: if a crash hit between the rename and the removal, the plain lines are already the tail of
    the compressed file and are not appended twice.
    """
    packed = plain.with_name(plain.name + ".lz4")
    with locked(packed):
        lines = read_lines(plain)
        if packed.exists():
            existing = read_lines(packed)
            lines = existing if lines and existing[-len(lines) :] == lines else existing + lines
        if lines:
            write_lines(packed, lines)
            fsync_directory(plain.parent)
        plain.unlink()
        fsync_directory(plain.parent)
    return packed


class HourlyRawWriter:
    """Open plain files keyed by (receive hour, coin); not thread-safe (one event loop owns it)."""

    def __init__(self, raw_root: str | Path, source: str = "ws", write: Callable[[int, bytes], int] = os.write) -> None:
        """``write`` is ``os.write`` (tests pass one that fails as a full disk does)."""
        self.raw_root = Path(raw_root)
        self.source = source
        self._write = write
        self._open: dict[tuple[int, str], tuple[int, Path]] = {}

    def path(self, hour_index: int, coin: str) -> Path:
        start = hour_start(hour_index)
        return raw_path(self.raw_root, self.source, start.date(), start.hour, coin, compressed=False)

    def write(self, recv_ns: int, coin: str, line: str) -> None:
        """Append one line (no newline inside) to the (receive hour, coin) file; :class:`CaptureWriteError` if the
        line cannot be written whole."""
        key = (recv_ns // HOUR_NS, coin)
        if key not in self._open:
            path = self.path(*key)
            try:
                self._open[key] = self._open_file(path)
            except OSError as exc:
                raise _cannot("open", path, exc) from None
        data = (line + "\n").encode()
        fd, path = self._open[key]
        try:
            written = self._write(fd, data)
            while written < len(data):
                written += self._write(fd, data[written:])
        except OSError as exc:
            raise _cannot("append to", path, exc) from None

    @staticmethod
    def _open_file(path: Path) -> tuple[int, Path]:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.write(fd, b"\n")
        return fd, path

    def fsync(self) -> None:
        for fd, path in self._open.values():
            try:
                os.fsync(fd)
            except OSError as exc:
                raise _cannot("fsync", path, exc) from None

    def detach_before(self, now_ns: int) -> list[Path]:
        """fsync and close the files of hours before ``now_ns``'s hour; returns their paths (to compress)."""
        current = now_ns // HOUR_NS
        return self._detach([key for key in self._open if key[0] < current])

    def detach_all(self) -> list[Path]:
        return self._detach(list(self._open))

    def _detach(self, keys: list[tuple[int, str]]) -> list[Path]:
        """Close every file of ``keys``; raises :class:`CaptureWriteError` (after closing them all) if an fsync
        failed."""
        paths, failure = [], None
        for key in keys:
            fd, path = self._open.pop(key)
            try:
                os.fsync(fd)
                paths.append(path)
            except OSError as exc:
                failure = failure or _cannot("fsync", path, exc)
            finally:
                os.close(fd)
        if failure is not None:
            raise failure
        return paths

    def leftovers(self, now_ns: int) -> list[Path]:
        """Plain files of earlier hours left by a crash (not open here), to compress at start-up."""
        current = now_ns // HOUR_NS
        open_paths = {path for _, path in self._open.values()}
        found = []
        for day_dir in sorted((self.raw_root / self.source).glob("[0-9]" * 8)):
            for plain in sorted(day_dir.glob("*/*.jsonl")):
                hour_index = _hour_index(day_dir.name, plain.parent.name)
                if hour_index is not None and hour_index < current and plain not in open_paths:
                    found.append(plain)
        return found


def _hour_index(day: str, hour: str) -> int | None:
    if not hour.isdigit():
        return None
    start = dt.datetime.strptime(day, "%Y%m%d").replace(tzinfo=dt.UTC) + dt.timedelta(hours=int(hour))
    return int(start.timestamp()) // 3_600
