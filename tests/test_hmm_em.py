"""The compiled Baum-Welch EM against hmmlearn's GaussianHMM.fit (the reference) from the same starts."""

from __future__ import annotations

import numpy as np
import pytest
from hmmlearn.hmm import GaussianHMM

from calibration.hmm_em import fit_gaussian_hmm

pytestmark = pytest.mark.usefixtures("quiet_hmmlearn")


def two_regime_features(n: int, seed: int) -> np.ndarray:
    """Standardised (return, log variance) pairs from a sticky two-state chain."""
    rng = np.random.default_rng(seed)
    state = np.cumsum(rng.random(n) < 0.03) % 2
    x = np.column_stack([rng.standard_normal(n) * (1 + 2 * state), rng.standard_normal(n) * 0.5 + 1.5 * state])
    return (x - x.mean(axis=0)) / x.std(axis=0)


@pytest.mark.parametrize(("k", "lengths"), [(2, None), (3, None), (3, [700, 1300])])
def test_em_matches_hmmlearn_step_for_step(k: int, lengths: list[int] | None) -> None:
    z = two_regime_features(2000, seed=k)
    rng = np.random.default_rng(1)
    startprob = np.full(k, 1.0 / k)
    transmat = np.full((k, k), 0.1 / (k - 1)) + np.eye(k) * (0.9 - 0.1 / (k - 1))
    means, variances = z[rng.choice(len(z), size=k, replace=False)], rng.uniform(0.2, 3.0, size=(k, 2))
    reference = GaussianHMM(k, covariance_type="diag", n_iter=400, tol=1e-6, init_params="", implementation="scaling")
    reference.startprob_, reference.transmat_ = startprob, transmat
    reference.means_, reference.covars_ = means, variances
    reference.fit(z, lengths)
    starts = np.zeros(len(z), dtype=bool)
    starts[np.cumsum([0, *(lengths or [len(z)])[:-1]])] = True
    fit = fit_gaussian_hmm(z, starts, startprob, transmat, means, variances, n_iter=400, tol=1e-6)
    assert fit.iterations == reference.monitor_.iter
    assert fit.loglik == pytest.approx(reference.score(z, lengths), abs=1e-8)
    np.testing.assert_allclose(fit.startprob, reference.startprob_, atol=1e-10)
    np.testing.assert_allclose(fit.transmat, reference.transmat_, atol=1e-10)
    np.testing.assert_allclose(fit.means, reference.means_, atol=1e-10)
    np.testing.assert_allclose(fit.variances, np.stack([np.diag(c) for c in reference.covars_]), atol=1e-10)
    assert fit.bic(len(z)) == pytest.approx(reference.bic(z, lengths), abs=1e-7)
    assert fit.aic() == pytest.approx(reference.aic(z, lengths), abs=1e-7)


def test_em_raises_when_a_row_is_impossible_under_every_state() -> None:
    z = np.array([[0.0], [1e200], [0.0], [0.1]])
    starts = np.array([True, False, False, False])
    with pytest.raises(ValueError, match="zero likelihood"):
        fit_gaussian_hmm(z, starts, np.full(2, 0.5), np.full((2, 2), 0.5), np.zeros((2, 1)), np.ones((2, 1)), 5, 1e-6)
