"""Give the C heap's free pages back to the operating system (glibc's ``malloc_trim``) where the C library has it.

numpy arrays and Python ``bytes`` come from the C heap. Cleaning a day interleaves each raw file's temporaries (its
decoded bytes and the scanner's row buffers, ~50 MB an hour of a demo day) with the book columns it keeps, so after the
last file the heap holds 70-100 MB of free holes between live columns: ``free`` returns only the top of the heap, and
the later steps allocate through polars' and pyarrow's own allocators, so nothing reuses them. One ``malloc_trim(0)``
(glibc 2.8 and later also releases whole free pages inside the heap, with ``madvise``) returns them for ~10 ms; trimming
after every file would cost ~0.7 s a day of page faults as the next file reuses the pages.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` from the running process's symbols; None elsewhere (macOS, musl)."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    return trim


def release_free_heap() -> bool:
    """Return the C heap's free pages to the operating system; whether the C library could (glibc only)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
