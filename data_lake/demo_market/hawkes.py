"""Exact simulation of a univariate exponential-kernel Hawkes process (Dassios & Zhao 2013)."""

from __future__ import annotations

import math

import numpy as np


def simulate_hawkes(mu: float, alpha: float, beta: float, horizon_s: float, rng: np.random.Generator) -> np.ndarray:
    """Event times in seconds on [0, horizon_s) of lambda(t) = mu + sum alpha*exp(-beta(t - t_i)), started empty.

    Exact, no thinning: the next event is the earlier of a baseline Exp(mu) arrival and the first arrival of the
    decaying excitation, whose inverse CDF is closed-form.
    """
    expected = mu / (1 - alpha / beta) * horizon_s
    chunk = int(expected * 1.1) + 1_000
    times: list[float] = []
    t = 0.0
    excess = 0.0
    while True:
        log_u = np.log(rng.random(chunk)).tolist()
        baseline_wait = rng.exponential(1 / mu, chunk).tolist()
        for log_u_i, wait_i in zip(log_u, baseline_wait, strict=True):
            d = 1 + beta * log_u_i / excess if excess > 0 else 0.0
            wait = min(-math.log(d) / beta, wait_i) if d > 0 else wait_i
            t += wait
            if t >= horizon_s:
                return np.asarray(times)
            excess = excess * math.exp(-beta * wait) + alpha
            times.append(t)
