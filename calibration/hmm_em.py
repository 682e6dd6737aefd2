"""Baum-Welch EM of a diagonal Gaussian HMM, step for step hmmlearn's ``GaussianHMM.fit``, compiled with numba.

The nightly regime fit runs thousands of EM iterations on a week of 1 min bars; one costs about 1.1 ms of CPU in
hmmlearn 0.3.3 (``implementation="scaling"``) and 0.7 ms here, without BLAS calls (whose threads stall when the
other cores are busy). Same algorithm (Rabiner 1989, Proc. IEEE 77(2):257-286, scaled forward-backward), same
defaults: flat start and transition priors, no mean prior, ``covars_prior`` 1e-2 and ``covars_weight`` 1, zero
start or transition probabilities kept at zero, and the same stop rule (the E-step log-likelihood gained less than
``tol`` over the previous iteration, or ``n_iter`` iterations). Tests hold it to hmmlearn from the same starts.

The model in the project's words, with its papers: ``docs/regimes.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

COVARS_PRIOR = 1e-2
"""hmmlearn's default ``covars_prior`` (``covars_weight`` 1 adds nothing to the denominator)."""


@dataclass(frozen=True, eq=False)
class GaussianHmm:
    """A fitted diagonal Gaussian HMM on standardised features: ``startprob`` (K,), ``transmat`` (K, K), ``means``
    and ``variances`` (K, d); ``iterations`` of EM run and the ``loglik`` of the data under the final parameters."""

    startprob: np.ndarray
    transmat: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    iterations: int
    loglik: float

    @property
    def n_parameters(self) -> int:
        """Free parameters as hmmlearn counts them for AIC/BIC: start, transitions, means, variances."""
        k, d = self.means.shape
        return (k - 1) + k * (k - 1) + 2 * k * d

    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_parameters

    def bic(self, n: int) -> float:
        return -2.0 * self.loglik + self.n_parameters * math.log(n)


def fit_gaussian_hmm(
    z: np.ndarray,
    starts: np.ndarray,
    startprob: np.ndarray,
    transmat: np.ndarray,
    means: np.ndarray,
    variances: np.ndarray,
    n_iter: int,
    tol: float,
) -> GaussianHmm:
    """EM from the given parameters on the rows of ``z`` (n, d); ``starts`` flags the first row of each sequence.

    Raises ValueError when a row is impossible under every state (the scaled forward pass would divide by zero).
    """
    z = np.ascontiguousarray(z, dtype=np.float64)
    starts = np.ascontiguousarray(starts, dtype=np.bool_)
    fitted = _baum_welch(
        z,
        starts,
        np.array(startprob, dtype=np.float64),
        np.array(transmat, dtype=np.float64),
        np.array(means, dtype=np.float64),
        np.array(variances, dtype=np.float64),
        n_iter,
        tol,
    )
    loglik = _log_likelihood(z, starts, *fitted[:4])
    if fitted[5] or math.isnan(loglik):
        raise ValueError("forward pass failed: a row has zero likelihood under every state")
    startprob_hat, transmat_hat, means_hat, variances_hat, iterations = fitted[:5]
    return GaussianHmm(startprob_hat, transmat_hat, means_hat, variances_hat, iterations=int(iterations), loglik=loglik)


def _log_likelihood(
    z: np.ndarray,
    starts: np.ndarray,
    startprob: np.ndarray,
    transmat: np.ndarray,
    means: np.ndarray,
    variances: np.ndarray,
) -> float:
    """Log-likelihood of ``z`` under the parameters (the forward pass alone)."""
    n, k = z.shape[0], means.shape[0]
    b, fwd, scale = np.empty((n, k)), np.empty((n, k)), np.empty(n)
    return float(_forward(z, means, variances, starts, startprob, transmat, b, fwd, scale))


@njit(cache=True)
def _forward(z, means, variances, starts, startprob, transmat, b, fwd, scale):  # pragma: no cover - compiled
    """Emission densities into ``b`` (each row over its largest, so the row's top state has 1), normalised forward
    probabilities into ``fwd`` and their normalisers into ``scale``; returns the log-likelihood (NaN when a row's
    normaliser is zero). Logs are taken of running products of the normalisers, not of each one."""
    n, d = z.shape
    k = means.shape[0]
    log_norm = np.zeros(k)
    for j in range(k):
        for f in range(d):
            log_norm[j] -= 0.5 * math.log(2.0 * math.pi * variances[j, f])
    half_precision = 0.5 / variances
    loglik = 0.0
    product = 1.0
    for t in range(n):
        top = -np.inf
        for j in range(k):
            s = log_norm[j]
            for f in range(d):
                diff = z[t, f] - means[j, f]
                s -= diff * diff * half_precision[j, f]
            b[t, j] = s
            top = max(top, s)
        total = 0.0
        for j in range(k):
            density = math.exp(b[t, j] - top)
            b[t, j] = density
            if starts[t]:
                prior = startprob[j]
            else:
                prior = 0.0
                for i in range(k):
                    prior += fwd[t - 1, i] * transmat[i, j]
            fwd[t, j] = prior * density
            total += fwd[t, j]
        if not total > 0.0:
            return np.nan
        inverse = 1.0 / total
        for j in range(k):
            fwd[t, j] *= inverse
        scale[t] = total
        loglik += top
        product *= total
        if product < 1e-250:
            loglik += math.log(product)
            product = 1.0
    return loglik + math.log(product)


@njit(cache=True)
def _baum_welch(z, starts, startprob, transmat, means, variances, n_iter, tol):  # pragma: no cover - compiled
    """EM iterations as hmmlearn's ``fit``: E-step log-likelihood, M-step, stop when the gain is below ``tol``.
    The backward pass accumulates the sufficient statistics as it goes. Returns (startprob, transmat, means,
    variances, iterations, failed)."""
    n, d = z.shape
    k = means.shape[0]
    b, fwd, scale = np.empty((n, k)), np.empty((n, k)), np.empty(n)
    bwd, w, gamma = np.ones(k), np.empty(k), np.empty(k)
    previous = 0.0
    iterations = 0
    for it in range(n_iter):
        loglik = _forward(z, means, variances, starts, startprob, transmat, b, fwd, scale)
        if math.isnan(loglik):
            return startprob, transmat, means, variances, iterations, True
        start = np.zeros(k)
        xi = np.zeros((k, k))
        post = np.zeros(k)
        obs = np.zeros((k, d))
        obs2 = np.zeros((k, d))
        for t in range(n - 1, -1, -1):
            last = t == n - 1 or starts[t + 1]
            if last:
                bwd[:] = 1.0
            else:
                for j in range(k):
                    w[j] = b[t + 1, j] * bwd[j] / scale[t + 1]
                for i in range(k):
                    s = 0.0
                    for j in range(k):
                        s += transmat[i, j] * w[j]
                        xi[i, j] += fwd[t, i] * transmat[i, j] * w[j]
                    gamma[i] = s
                bwd[:] = gamma
            total = 0.0
            for j in range(k):
                gamma[j] = fwd[t, j] * bwd[j]
                total += gamma[j]
            if total == 0.0:
                total = 1.0
            for j in range(k):
                g = gamma[j] / total
                post[j] += g
                if starts[t]:
                    start[j] += g
                for f in range(d):
                    obs[j, f] += g * z[t, f]
                    obs2[j, f] += g * z[t, f] * z[t, f]
        startprob = _normalised(np.where(startprob == 0.0, 0.0, start))
        for i in range(k):
            transmat[i] = _normalised(np.where(transmat[i] == 0.0, 0.0, xi[i]))
        for j in range(k):
            for f in range(d):
                means[j, f] = obs[j, f] / post[j]
                spread = obs2[j, f] - 2.0 * means[j, f] * obs[j, f] + means[j, f] ** 2 * post[j]
                variances[j, f] = (COVARS_PRIOR + spread) / max(post[j], 1e-5)
        iterations += 1
        if it > 0 and loglik - previous < tol:
            break
        previous = loglik
    return startprob, transmat, means, variances, iterations, False


@njit(cache=True)
def _normalised(a):  # pragma: no cover - compiled
    """``a`` over its sum (unchanged when the sum is zero), as hmmlearn's ``normalize``."""
    total = a.sum()
    return a / total if total != 0.0 else a
