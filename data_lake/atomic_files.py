"""Durable, atomic replacement of a local file: the one "write temp, fsync, rename, fsync the directory" of the
repository, used by the raw zone, the lake's small files (parameter registry, pointers) and the archive download.

A reader sees the old or the new file, never a mixture, and after a crash the new file is either wholly there or
not at all: the bytes are fsynced before the rename, and the directory after it (the rename itself is only
durable once the directory entry is on disk; POSIX rename(2), fsync(2)).
"""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from pathlib import Path


def fsync_directory(path: str | Path) -> None:
    """Make the entries of directory ``path`` (a rename, a new or removed file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(source: str | Path, target: str | Path) -> None:
    """Rename the (already fsynced) file ``source`` over ``target`` in the same directory and fsync the directory."""
    os.replace(source, target)
    fsync_directory(Path(target).parent)


def write_atomically(path: str | Path, payload: bytes) -> Path:
    """Replace ``path`` with ``payload``: a temp file of its own beside it (``.{name}.*.tmp``, unique per writer,
    never discovered by the raw zone's or the lake's listings), fsync, rename, directory fsync; the temp file is
    removed if any step fails. Creates the parent directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_directory(path.parent)
    return path
