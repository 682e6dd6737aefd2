"""The volatility-regime Markov chain, stepping once per minute."""

from __future__ import annotations

import bisect

import numpy as np


def simulate_regime_path(
    transition: np.ndarray, initial: np.ndarray, n_minutes: int, rng: np.random.Generator
) -> np.ndarray:
    """States (int8) of each minute: the first drawn from ``initial``, then one transition-matrix step per minute."""
    last = len(initial) - 1
    cumulative = np.cumsum(transition, axis=1).tolist()
    draws = rng.random(n_minutes).tolist()
    path = np.empty(n_minutes, dtype=np.int8)
    state = min(int(np.searchsorted(np.cumsum(initial), draws[0], side="right")), last)
    path[0] = state
    for minute in range(1, n_minutes):
        state = min(bisect.bisect_right(cumulative[state], draws[minute]), last)
        path[minute] = state
    return path
