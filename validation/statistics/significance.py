"""Significance of P&L: single-strategy tests, multiple comparisons, overfitting statistics, component verdicts.

Conventions. P&L arrays are per period (per fill, or per time bucket) and *not* annualised; a Sharpe ratio
is the per-period ``mean / std``. Multiple-comparison tests take P&L and hand ``losses = -PnL`` to
:mod:`arch.bootstrap`, whose inputs are losses.

Dependence. Fills and bucketed P&L are autocorrelated (inventory carries over, markouts overlap), so the
i.i.d. t-test, the sign-flip test and the binomial test overstate significance; they are reported, but
every *decision* here rests on the HAC t-test, on block bootstraps, or on the effective sample size.

Minimum samples. Fewer than :data:`MIN_INDEPENDENT_FILLS` independent observations is never "significant":
the verdict is "insufficient" (:func:`pnl_significance`) or "insufficient evidence"
(:func:`component_verdict`). "Independent" means the effective sample size of :func:`effective_sample_size`
(and, when the P&L is bucketed, no more than the number of fills behind it).

The model in the project's words, with its papers: ``docs/significance.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import numpy as np
from arch.bootstrap import SPA, optimal_block_length
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from statsmodels.regression.linear_model import OLS

from calibration.fit_result import InsufficientSamples

MIN_INDEPENDENT_FILLS = 200
"""Below this many independent fills (effective sample size) no result is declared significant."""

EULER_MASCHERONI = 0.5772156649015329

Alternative = Literal["two-sided", "greater", "less"]


@dataclass(frozen=True)
class HypothesisTest:
    """One test of one null hypothesis: the estimate, its test statistic, p-value and a two-sided interval.

    ``ci`` is ``(nan, nan)`` for tests that do not produce an interval (the sign-flip test).
    """

    name: str
    estimate: float
    statistic: float
    p_value: float
    n: int
    ci: tuple[float, float]
    alternative: Alternative


def _as_1d(x: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    return arr


def newey_west_lags(n: int) -> int:
    """Newey & West (1994) plug-in truncation lag ``floor(4 * (n / 100) ** (2 / 9))`` for Bartlett-kernel HAC.

    Newey, W. K. & West, K. D. (1994), "Automatic lag selection in covariance matrix estimation",
    Review of Economic Studies 61(4), 631-653. The rule grows as n^(2/9): 4 lags at n = 100, 9 at 5 000.
    It suits weak dependence; pass an explicit lag when the P&L is known to be persistent for longer
    (e.g. overlapping markouts of horizon h need at least h - 1 lags).
    """
    if n < 1:
        raise ValueError("n must be positive")
    return int(math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0)))


def binomial_test(
    successes: int, trials: int, p0: float = 0.5, alternative: Alternative = "greater", confidence: float = 0.95
) -> HypothesisTest:
    """Exact binomial test of a win rate against ``p0`` with a two-sided Wilson score interval.

    Wraps :func:`scipy.stats.binomtest`. The interval is always two-sided (``proportion_ci`` of the
    two-sided test, method ``'wilson'``, Wilson 1927) so that it reads the same whatever the alternative.
    Assumes independent trials: with autocorrelated fills the p-value is too small.
    """
    if trials < 1:
        raise InsufficientSamples("binomial_test", trials, 1)
    result = stats.binomtest(successes, trials, p0, alternative=alternative)
    interval = stats.binomtest(successes, trials, p0).proportion_ci(confidence_level=confidence, method="wilson")
    return HypothesisTest(
        name="binomial",
        estimate=successes / trials,
        statistic=float(result.statistic),
        p_value=float(result.pvalue),
        n=trials,
        ci=(float(interval.low), float(interval.high)),
        alternative=alternative,
    )


def hac_mean_test(
    x: ArrayLike, maxlags: int | None = None, alternative: Alternative = "greater", confidence: float = 0.95
) -> HypothesisTest:
    """t-test of ``E[x] = 0`` with Newey-West (Bartlett kernel) HAC standard errors.

    Regresses ``x`` on a constant with statsmodels OLS, ``cov_type='HAC'``, ``maxlags`` lags (default
    :func:`newey_west_lags`), the small-sample correction ``n / (n - 1)`` and Student-t reference
    distribution with ``n - 1`` degrees of freedom. With ``maxlags=0`` this is exactly
    :func:`scipy.stats.ttest_1samp`. Newey, W. K. & West, K. D. (1987), Econometrica 55(3), 703-708.

    A series with zero variance has an undefined statistic: the p-value is then 0 or 1 according to the
    sign of its mean under the alternative (1 when the mean is 0).
    """
    arr = _as_1d(x, "x")
    n = arr.size
    if n < 2:
        raise InsufficientSamples("hac_mean_test", n, 2)
    lags = newey_west_lags(n) if maxlags is None else maxlags
    mean = float(arr.mean())
    if np.ptp(arr) == 0.0:
        supports = {"greater": mean > 0, "less": mean < 0, "two-sided": mean != 0}[alternative]
        return HypothesisTest("hac_t", mean, math.nan, 0.0 if supports else 1.0, n, (mean, mean), alternative)
    fit = OLS(arr, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True}, use_t=True)
    t_stat = float(fit.tvalues[0])
    dist = stats.t(df=n - 1)
    p_value = {
        "two-sided": 2.0 * dist.sf(abs(t_stat)),
        "greater": dist.sf(t_stat),
        "less": dist.cdf(t_stat),
    }[alternative]
    low, high = fit.conf_int(alpha=1.0 - confidence)[0]
    return HypothesisTest("hac_t", mean, t_stat, float(p_value), n, (float(low), float(high)), alternative)


def sign_flip_test(
    x: ArrayLike, alternative: Alternative = "greater", n_resamples: int = 9999, seed: int = 0
) -> HypothesisTest:
    """Monte Carlo sign-flip (one-sample permutation) test of a zero mean, seeded.

    :func:`scipy.stats.permutation_test` with one sample and ``permutation_type='samples'`` flips the sign
    of each observation independently; exact when ``2**n <= n_resamples``. Valid under symmetry about 0 and
    independence (Fisher 1935; Good 2005, *Permutation, Parametric and Bootstrap Tests of Hypotheses*).
    """
    arr = _as_1d(x, "x")
    if arr.size < 1:
        raise InsufficientSamples("sign_flip_test", 0, 1)
    result = stats.permutation_test(
        (arr,),
        lambda a, axis: np.mean(a, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative=alternative,
        rng=seed,
    )
    mean = float(arr.mean())
    return HypothesisTest("sign_flip", mean, mean, float(result.pvalue), arr.size, (math.nan, math.nan), alternative)


def overlap_lags(times_ms: ArrayLike, horizon_ms: int) -> int:
    """HAC lag for per-fill values measured over ``horizon_ms`` after each fill (markouts): values of fills within
    one horizon overlap and Bartlett weights fall linearly, so twice the most fills one horizon holds, at least the
    Newey-West rule. ``times_ms`` sorted, not empty."""
    times = np.asarray(times_ms, dtype=np.int64)
    in_horizon = np.searchsorted(times, times, side="right") - np.searchsorted(times, times - horizon_ms, side="right")
    return max(newey_west_lags(times.size), 2 * int(in_horizon.max()))


def overlapping_mean(times_ms: ArrayLike, x: ArrayLike, horizon_ms: int) -> tuple[float, float]:
    """Mean and Newey-West SE of per-fill values measured over ``horizon_ms`` after each fill (markouts), with the
    lag of :func:`overlap_lags`. ``times_ms`` sorted; needs at least 2 values."""
    arr = _as_1d(x, "x")
    if arr.size < 2:
        raise InsufficientSamples("overlapping_mean", arr.size, 2)
    lags = overlap_lags(times_ms, horizon_ms)
    return float(arr.mean()), float(arr.std() / math.sqrt(effective_sample_size(arr, lags)))


def effective_sample_size(x: ArrayLike, maxlags: int | None = None) -> float:
    """Effective number of independent observations of an autocorrelated series, ``n * gamma_0 / LRV``.

    ``LRV = gamma_0 + 2 * sum_{k=1..L} (1 - k / (L + 1)) * gamma_k`` is the Bartlett-kernel (Newey-West)
    long-run variance with ``L = maxlags`` (default :func:`newey_west_lags`), the same one the HAC t-test
    uses, so ``n_eff = n * (SE_iid / SE_HAC) ** 2``. For an AR(1) with coefficient phi and large L,
    ``n_eff -> n (1 - phi) / (1 + phi)`` (e.g. Thiebaux & Zwiers 1984, J. Clim. Appl. Meteor. 23:800).
    Negative autocorrelation is not credited: the result is capped at ``n``. A short default L understates
    strong persistence (the Bartlett weights and truncation bias LRV down); pass a larger ``maxlags`` for
    slowly decaying P&L. A constant series has ``n_eff = n``.
    """
    arr = _as_1d(x, "x")
    n = arr.size
    if n < 2:
        return float(n)
    lags = min(newey_west_lags(n) if maxlags is None else maxlags, n - 1)
    demeaned = arr - arr.mean()
    gamma0 = float(demeaned @ demeaned) / n
    if gamma0 == 0.0:
        return float(n)
    lrv = gamma0
    for k in range(1, lags + 1):
        lrv += 2.0 * (1.0 - k / (lags + 1.0)) * float(demeaned[k:] @ demeaned[:-k]) / n
    return float(min(n, n * gamma0 / lrv))


@dataclass(frozen=True)
class PnLSignificance:
    """Is a strategy's mean P&L per period positive? Verdict plus the three single-strategy tests.

    ``verdict`` is "insufficient" when ``n_effective < MIN_INDEPENDENT_FILLS`` whatever the p-values,
    otherwise "significant" iff the one-sided HAC t-test rejects at ``alpha``. The sign-flip and binomial
    (win rate among non-zero P&L) tests assume independence and are reported for information only.
    """

    verdict: Literal["significant", "not significant", "insufficient"]
    n: int
    n_effective: float
    alpha: float
    hac: HypothesisTest
    sign_flip: HypothesisTest
    win_rate: HypothesisTest


def pnl_significance(
    pnl: ArrayLike, alpha: float = 0.05, maxlags: int | None = None, n_resamples: int = 9999, seed: int = 0
) -> PnLSignificance:
    """Test ``E[pnl] > 0`` for one strategy's per-fill (or per-period) P&L, with the minimum-samples rule.

    Raises :class:`InsufficientSamples` when fewer than two periods, or none with non-zero P&L, are given.
    """
    arr = _as_1d(pnl, "pnl")
    hac = hac_mean_test(arr, maxlags=maxlags, alternative="greater")
    flips = sign_flip_test(arr, alternative="greater", n_resamples=n_resamples, seed=seed)
    nonzero = arr[arr != 0.0]
    wins = binomial_test(int((nonzero > 0).sum()), nonzero.size, 0.5, alternative="greater")
    n_eff = effective_sample_size(arr, maxlags=maxlags)
    if n_eff < MIN_INDEPENDENT_FILLS:
        verdict: Literal["significant", "not significant", "insufficient"] = "insufficient"
    else:
        verdict = "significant" if hac.p_value < alpha else "not significant"
    return PnLSignificance(verdict, arr.size, n_eff, alpha, hac, flips, wins)


@dataclass(frozen=True)
class MultipleComparison:
    """White's Reality Check and Hansen's SPA p-values of ``H0: no variant beats the baseline``.

    ``reality_check`` is White's (2000) non-studentised statistic, never recentred; ``spa_lower``,
    ``spa_consistent`` (the one to report) and ``spa_upper`` are Hansen's (2005) studentised statistic with
    the three recentrings. ``best_variant`` is the column with the highest mean P&L.
    """

    reality_check: float
    spa_lower: float
    spa_consistent: float
    spa_upper: float
    best_variant: int
    block_size: int
    reps: int
    n: int
    n_variants: int


def _stationary_bootstrap_variance(d: NDArray[np.float64], block_size: int) -> NDArray[np.float64]:
    """Hansen (2005, eq. 5) / Politis & Romano (1994) long-run variance of each column under the
    stationary bootstrap with mean block length ``block_size`` (arch's non-nested SPA estimator)."""
    t = d.shape[0]
    demeaned = d - d.mean(axis=0)
    p = 1.0 / block_size
    spectrum = np.fft.rfft(demeaned, n=2 * t, axis=0)
    autocov = np.fft.irfft(spectrum * np.conj(spectrum), n=2 * t, axis=0)[:t] / t
    i = np.arange(1, t)
    kappa = (1.0 - i / t) * (1.0 - p) ** i + (i / t) * (1.0 - p) ** (t - i)
    return autocov[0] + 2.0 * kappa @ autocov[1:]


def superior_predictive_ability(
    baseline_pnl: ArrayLike,
    variants_pnl: ArrayLike,
    reps: int = 1000,
    block_size: int | None = None,
    seed: int = 0,
) -> MultipleComparison:
    """Reality Check and SPA of K variants (T x K P&L) against a baseline (T P&L), via :mod:`arch.bootstrap`.

    Losses are ``-PnL``; the loss differentials ``d_k = L_0 - L_k = pnl_k - pnl_0`` are resampled with the
    stationary bootstrap (Politis & Romano 1994) of mean block length ``block_size``, by default the
    rounded-up mean over variants of ``arch.bootstrap.optimal_block_length(d)['stationary']`` (Politis &
    White 2004, Patton, Politis & White 2009), at least 1. Both bootstraps share ``seed``.

    arch 8.0's ``SPA.compute`` compares *unstudentised* means (its variances only select the models kept
    by the consistent recentring), which is White's statistic. For Hansen's studentised statistic
    ``max_k sqrt(T) d_bar_k / omega_k`` each differential is divided by its stationary-bootstrap standard
    deviation ``omega_k`` (Hansen 2005, eq. 5) before it is passed to arch with a zero benchmark; this
    leaves the consistent recentring threshold unchanged. White, H. (2000), Econometrica 68(5):1097-1126;
    Hansen, P. R. (2005), J. Business & Economic Statistics 23(4):365-380.
    """
    base = _as_1d(baseline_pnl, "baseline_pnl")
    variants = np.asarray(variants_pnl, dtype=float)
    if variants.ndim == 1:
        variants = variants[:, None]
    if variants.shape[0] != base.size:
        raise ValueError(f"variants_pnl has {variants.shape[0]} rows, baseline_pnl {base.size}")
    if not np.all(np.isfinite(variants)):
        raise ValueError("variants_pnl contains non-finite values")
    t, k = variants.shape
    if t < 10:
        raise InsufficientSamples("superior_predictive_ability", t, 10)
    diff = variants - base[:, None]
    if block_size is None:
        lengths = optimal_block_length(diff)["stationary"].to_numpy()
        finite = lengths[np.isfinite(lengths)]
        block_size = max(1, int(math.ceil(float(finite.mean())))) if finite.size else 1
    white = SPA(-base, -variants, block_size=block_size, reps=reps, bootstrap="stationary", seed=seed)
    white.compute()
    omega = np.sqrt(_stationary_bootstrap_variance(diff, block_size))
    scaled = diff / np.where(omega > 0.0, omega, 1.0)
    hansen = SPA(np.zeros(t), -scaled, block_size=block_size, reps=reps, bootstrap="stationary", seed=seed)
    hansen.compute()
    spa = hansen.pvalues
    return MultipleComparison(
        reality_check=float(white.pvalues["upper"]),
        spa_lower=float(spa["lower"]),
        spa_consistent=float(spa["consistent"]),
        spa_upper=float(spa["upper"]),
        best_variant=int(np.argmax(variants.mean(axis=0))),
        block_size=block_size,
        reps=reps,
        n=t,
        n_variants=k,
    )


def sharpe_ratio(returns: ArrayLike) -> float:
    """Per-period Sharpe ratio ``mean / std`` (``ddof=1``), not annualised."""
    arr = _as_1d(returns, "returns")
    return float(arr.mean() / arr.std(ddof=1))


def probabilistic_sharpe_ratio(
    sharpe: float, n: int, skewness: float = 0.0, kurtosis: float = 3.0, sharpe_benchmark: float = 0.0
) -> float:
    """PSR: probability that the true per-period Sharpe exceeds ``sharpe_benchmark``.

    ``Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2))`` with ``g4`` the *non-excess*
    kurtosis (3 for normal returns, which gives Lo's 2002 standard error ``sqrt(1 + SR^2 / 2)``).
    Bailey, D. H. & Lopez de Prado, M. (2012), "The Sharpe ratio efficient frontier", J. Risk 15(2):3-44.
    """
    variance = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    return float(stats.norm.cdf((sharpe - sharpe_benchmark) * math.sqrt(n - 1) / math.sqrt(variance)))


def expected_maximum_sharpe(sharpe_variance: float, n_trials: float) -> float:
    """Expected maximum of ``n_trials`` independent zero-mean Sharpe estimates with variance ``sharpe_variance``.

    ``SR_0 = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))``, gamma the Euler-Mascheroni
    constant (Bailey & Lopez de Prado 2014, eq. 2; the False Strategy theorem). ``SR_0 = 0`` for one trial.
    """
    if n_trials < 1:
        raise ValueError("n_trials must be at least 1")
    if n_trials == 1:
        return 0.0
    g = EULER_MASCHERONI
    spread = (1.0 - g) * stats.norm.ppf(1.0 - 1.0 / n_trials) + g * stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(sharpe_variance) * spread)


@dataclass(frozen=True)
class DeflatedSharpe:
    """Deflated Sharpe ratio of the selected trial: its PSR against the expected maximum Sharpe of N trials.

    ``psr`` is the naive PSR(0) that ignores the selection; ``dsr`` = PSR(``sharpe_benchmark``). Skill is
    declared when ``dsr > 0.95`` and the selected trial has at least ``MIN_INDEPENDENT_FILLS`` observations.
    """

    selected: int
    sharpe: float
    sharpe_benchmark: float
    psr: float
    dsr: float
    n: int
    n_trials: float
    skewness: float
    kurtosis: float

    @property
    def significant(self) -> bool:
        return self.n >= MIN_INDEPENDENT_FILLS and self.dsr > 0.95


def deflated_sharpe_ratio(
    trial_returns: ArrayLike, n_trials: float | None = None, selected: int | None = None
) -> DeflatedSharpe:
    """Deflated Sharpe ratio (Bailey & Lopez de Prado 2014, J. Portfolio Management 40(5):94-107).

    ``trial_returns`` is T x N: the per-period returns of every configuration tried over the same periods.
    ``selected`` defaults to the trial with the highest Sharpe; ``n_trials`` (default N) is the number of
    *effectively independent* trials (e.g. clusters of correlated configurations). The variance of the
    Sharpe estimates is their cross-sectional variance over the N columns; skewness and (non-excess)
    kurtosis are the selected trial's biased sample moments.
    """
    returns = np.asarray(trial_returns, dtype=float)
    if returns.ndim != 2 or returns.shape[1] < 2:
        raise ValueError("trial_returns must be T x N with N >= 2")
    t = returns.shape[0]
    if t < 3:
        raise InsufficientSamples("deflated_sharpe_ratio", t, 3)
    sharpes = returns.mean(axis=0) / returns.std(axis=0, ddof=1)
    index = int(np.argmax(sharpes)) if selected is None else selected
    trials = float(returns.shape[1]) if n_trials is None else float(n_trials)
    chosen = returns[:, index]
    skewness = float(stats.skew(chosen))
    kurtosis = float(stats.kurtosis(chosen, fisher=False))
    benchmark = expected_maximum_sharpe(float(np.var(sharpes, ddof=1)), trials)
    sharpe = float(sharpes[index])
    return DeflatedSharpe(
        selected=index,
        sharpe=sharpe,
        sharpe_benchmark=benchmark,
        psr=probabilistic_sharpe_ratio(sharpe, t, skewness, kurtosis, 0.0),
        dsr=probabilistic_sharpe_ratio(sharpe, t, skewness, kurtosis, benchmark),
        n=t,
        n_trials=trials,
        skewness=skewness,
        kurtosis=kurtosis,
    )


@dataclass(frozen=True)
class BacktestOverfitting:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation.

    ``logits`` holds lambda_c for each of the C(S, S/2) splits; ``pbo`` the share with lambda_c <= 0;
    ``prob_oos_loss`` the share whose in-sample winner has a negative out-of-sample Sharpe;
    ``degradation_slope`` the OLS slope of the winner's OOS Sharpe on its IS Sharpe (negative: overfit).
    """

    pbo: float
    logits: NDArray[np.float64]
    prob_oos_loss: float
    degradation_slope: float
    n_splits: int
    n_combinations: int
    n: int
    n_strategies: int


def _block_sharpes(sums: NDArray[np.float64], squares: NDArray[np.float64], count: int) -> NDArray[np.float64]:
    mean = sums / count
    var = np.maximum((squares - count * mean**2) / (count - 1), 0.0)
    std = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(std > 0.0, mean / std, np.sign(mean) * np.inf)
    return np.nan_to_num(sharpe, nan=0.0, posinf=np.inf, neginf=-np.inf)


def probability_of_backtest_overfitting(pnl: ArrayLike, n_splits: int = 16) -> BacktestOverfitting:
    """PBO by CSCV (Bailey, Borwein, Lopez de Prado & Zhu 2017, J. Computational Finance 20(4):39-69).

    ``pnl`` is T x N (periods x candidate configurations). Rows are cut into ``n_splits`` (S, even)
    contiguous blocks of ``T // S`` rows (the remainder is dropped). For every choice of S/2 blocks as
    in-sample (IS) and the rest as out-of-sample (OOS), the configuration with the best IS Sharpe is
    ranked among the N OOS Sharpes (ranks 1..N ascending, ties averaged), ``omega = rank / (N + 1)`` and
    ``lambda = ln(omega / (1 - omega))``; PBO is the share of ``lambda <= 0``. A zero-variance column has
    Sharpe 0 when its mean is 0, else +-inf. S = 16 gives 12 870 splits. Noise gives PBO ~ 0.5 with a
    large spread between samples; one genuinely better configuration gives PBO ~ 0.
    """
    matrix = np.asarray(pnl, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise ValueError("pnl must be T x N with N >= 2")
    if n_splits < 2 or n_splits % 2:
        raise ValueError("n_splits must be an even number >= 2")
    t, n_strategies = matrix.shape
    rows = t // n_splits
    if rows < 2:
        raise InsufficientSamples("probability_of_backtest_overfitting", t, 2 * n_splits)
    blocks = matrix[: rows * n_splits].reshape(n_splits, rows, n_strategies)
    sums, squares = blocks.sum(axis=1), (blocks**2).sum(axis=1)
    chosen = np.array(list(combinations(range(n_splits), n_splits // 2)))
    in_sample = np.zeros((len(chosen), n_splits))
    np.put_along_axis(in_sample, chosen, 1.0, axis=1)
    out_sample = 1.0 - in_sample
    half = rows * n_splits // 2
    is_sharpe = _block_sharpes(in_sample @ sums, in_sample @ squares, half)
    oos_sharpe = _block_sharpes(out_sample @ sums, out_sample @ squares, half)
    best = np.argmax(is_sharpe, axis=1)
    ranks = stats.rankdata(oos_sharpe, axis=1)
    omega = ranks[np.arange(len(chosen)), best] / (n_strategies + 1.0)
    logits = np.log(omega / (1.0 - omega))
    best_is = is_sharpe[np.arange(len(chosen)), best]
    best_oos = oos_sharpe[np.arange(len(chosen)), best]
    finite = np.isfinite(best_is) & np.isfinite(best_oos)
    slope = (
        float(np.polyfit(best_is[finite], best_oos[finite], 1)[0])
        if finite.sum() > 1 and np.ptp(best_is[finite]) > 0
        else math.nan
    )
    return BacktestOverfitting(
        pbo=float(np.mean(logits <= 0.0)),
        logits=logits,
        prob_oos_loss=float(np.mean(best_oos < 0.0)),
        degradation_slope=slope,
        n_splits=n_splits,
        n_combinations=len(chosen),
        n=rows * n_splits,
        n_strategies=n_strategies,
    )


@dataclass(frozen=True)
class Verdict:
    """Walk-forward verdict on one component: does adding it raise P&L per period?

    ``effect`` is the mean of ``variant - baseline`` P&L per period, ``ci`` its two-sided ``1 - 2 alpha``
    HAC interval (its lower bound is above 0 exactly when the one-sided p-value is below ``alpha``),
    ``n`` the number of paired periods and ``n_effective`` the independent evidence behind the verdict.
    """

    decision: Literal["keep", "remove", "insufficient evidence"]
    p_value: float
    n: int
    effect: float
    ci: tuple[float, float]
    n_effective: float


def component_verdict(
    baseline_pnl: ArrayLike,
    variant_pnl: ArrayLike,
    alpha: float = 0.05,
    maxlags: int | None = None,
    n_fills: int | None = None,
) -> Verdict:
    """Keep a component only if the pipeline *with* it (variant) beats the pipeline *without* it (baseline).

    Both arrays are the out-of-sample P&L of the same walk-forward periods. The paired difference is
    tested with the one-sided HAC t-test (:func:`hac_mean_test`, ``H0: E[variant - baseline] <= 0``).
    Decision: "insufficient evidence" when the independent evidence ``min(n_effective, n_fills)`` is below
    :data:`MIN_INDEPENDENT_FILLS` (``n_fills``, the number of fills behind bucketed P&L, is optional);
    otherwise "keep" if the p-value is below ``alpha`` and "remove" if not - the simpler model wins ties.
    """
    base = _as_1d(baseline_pnl, "baseline_pnl")
    variant = _as_1d(variant_pnl, "variant_pnl")
    if base.size != variant.size:
        raise ValueError(f"baseline_pnl has {base.size} periods, variant_pnl {variant.size}")
    diff = variant - base
    test = hac_mean_test(diff, maxlags=maxlags, alternative="greater", confidence=1.0 - 2.0 * alpha)
    evidence = effective_sample_size(diff, maxlags=maxlags)
    if n_fills is not None:
        evidence = min(evidence, float(n_fills))
    if evidence < MIN_INDEPENDENT_FILLS:
        decision: Literal["keep", "remove", "insufficient evidence"] = "insufficient evidence"
    else:
        decision = "keep" if test.p_value < alpha else "remove"
    return Verdict(decision, test.p_value, diff.size, test.estimate, test.ci, evidence)
