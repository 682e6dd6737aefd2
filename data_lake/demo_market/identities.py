"""Hyperliquid-shaped identifiers: 0x addresses, 0x transaction hashes and 50-bit trade ids."""

from __future__ import annotations

import numpy as np

TID_BITS = 50


def hex_strings(rng: np.random.Generator, count: int, n_bytes: int) -> list[str]:
    """``count`` random ``0x``-prefixed lowercase hex strings of ``n_bytes`` bytes (addresses: 20, hashes: 32)."""
    text = rng.bytes(count * n_bytes).hex()
    width = 2 * n_bytes
    return ["0x" + text[i * width : (i + 1) * width] for i in range(count)]


def unique_tids(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` distinct random 50-bit trade ids (Hyperliquid's tid is a 50-bit hash)."""
    tids = rng.integers(1, 1 << TID_BITS, size=count, dtype=np.int64)
    while len(np.unique(tids)) < count:
        _, first = np.unique(tids, return_index=True)
        repeated = np.setdiff1d(np.arange(count), first)
        tids[repeated] = rng.integers(1, 1 << TID_BITS, size=len(repeated), dtype=np.int64)
    return tids
