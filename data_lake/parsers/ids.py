"""Deterministic trade ids for records that carry none (node_trades lines, 2023 API fills).

A derived tid chains splitmix64 over the record's identifying values — integers as they are, floats by
their IEEE-754 bits, the L1 hash by its first 52 bits — and keeps 50 bits, offset by 2^52: it never
collides with an exchange tid (a 50-bit hash, < 2^50), is an ordinary Int64, and is the same on every run,
platform and library version (no Python or polars hashing involved).

- node_trades: (buyer oid, seller oid, time ms, px, sz, hash) — the exchange's own tid hashes the two oids.
- fills without tid: (oid, time ms, px, sz, startPosition, hash) — startPosition tells apart two fills of
  one order at the same price and millisecond.
"""

from __future__ import annotations

import numpy as np
import polars as pl

DERIVED_TID_OFFSET = 1 << 52
_MASK_50 = np.uint64((1 << 50) - 1)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _bits(values: pl.Series) -> np.ndarray:
    """64 bits of each value (nulls as 0): integers two's-complement, floats IEEE-754."""
    if values.dtype.is_float():
        return values.cast(pl.Float64).fill_null(0.0).to_numpy().view(np.uint64)
    return values.cast(pl.Int64).fill_null(0).to_numpy().view(np.uint64)


def hash_prefix(hash_hex: pl.Expr) -> pl.Expr:
    """The first 52 bits of a ``0x…`` hash as an integer (null when absent or not hex)."""
    return hash_hex.str.slice(2, 13).str.to_integer(base=16, strict=False)


def derived_tid(keys: pl.DataFrame) -> pl.Series:
    """One derived tid per row of ``keys`` (numeric columns, in a fixed order), as Int64."""
    state = np.zeros(keys.height, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in keys.columns:
            state = _splitmix64(state ^ _bits(keys[column]))
    return pl.Series("tid", (state & _MASK_50).astype(np.int64) + DERIVED_TID_OFFSET)
