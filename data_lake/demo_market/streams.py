"""Named random streams of one seed: each part of the simulation draws from its own, so each is reproducible."""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """What a generator is for; the value keys it, with the seed (and the day for per-day streams)."""

    REGIMES = 0
    HAWKES = 1
    ORDERS = 2
    PRICE = 3
    PRINTS = 4
    IMPACT = 5
    BOOK = 10
    HOURLY = 11
    CAPTURE = 12


def stream(seed: int, purpose: Stream, *key: int) -> np.random.Generator:
    """An independent generator for ``purpose`` (and e.g. a day index), deterministic in ``seed``."""
    return np.random.default_rng([seed, int(purpose), *key])
