"""release_free_heap returns the free holes between live heap blocks to the operating system (glibc)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np
import pytest

from data_lake.heap import release_free_heap

BLOCK_BYTES = 64 * 1024
"""Below glibc's smallest mmap threshold (128 KiB): the blocks come from the heap itself."""
BLOCKS = 2_000


def _resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's; elsewhere it is a no-op")
def test_holes_between_live_blocks_go_back_to_the_system() -> None:
    blocks = [np.ones(BLOCK_BYTES // 8) for _ in range(BLOCKS)]
    del blocks[::2]  # every other block freed: holes that free() cannot return, each between two live blocks
    before = _resident_bytes()
    assert release_free_heap()
    released = before - _resident_bytes()
    assert released > 0.5 * (BLOCKS // 2) * BLOCK_BYTES, f"released {released / 2**20:.1f} MiB"
    assert all(block[0] == 1.0 and block[-1] == 1.0 for block in blocks)  # the live blocks are untouched
