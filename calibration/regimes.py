"""Volatility regimes: a Gaussian HMM fitted by EM, a causal forward filter, its online form, the regime table.

Model (Hamilton 1989, Econometrica 57(2):357-384; Rabiner 1989, Proc. IEEE 77(2):257-286). A hidden state s_t in
{0..K-1} follows a Markov chain with transition matrix P (P[i, j] = P(s_t = j | s_{t-1} = i)); given the state, the
standardised feature vector z_t of bar t is Gaussian with diagonal covariance, N(mu_s, diag(v_s)). Features are
typically the bar's log return (column 0, which orders the states) and the log of its realised variance.

Only the forward (Hamilton) filter P(s_t | z_1..z_t) may feed a quoter or a backtest: hmmlearn's ``predict`` and
``predict_proba`` condition on the whole sequence, future included (hmmlearn issues #345, #355, #579).

The model in the project's words, with its papers: ``docs/regimes.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np
import polars as pl
from numba import njit

from calibration.fit_result import FitResult, InsufficientSamples
from calibration.hmm_em import GaussianHmm, fit_gaussian_hmm

MODEL = "regime_hmm"
STATE_NAMES: dict[int, tuple[str, ...]] = {2: ("calm", "volatile"), 3: ("calm", "volatile", "cascade")}
"""HMM state names by number of states, in increasing variance of the return feature."""
REGIME_FEATURES = ("log_return", "log_rv")
"""The columns of :func:`regime_features`, in the order the HMM expects (the return first)."""


def regime_features(bars: pl.DataFrame) -> pl.DataFrame:
    """HMM inputs per bar from feature bars with ``time``, ``log_return`` and ``rv`` (``calibration.bars``' 1 min
    bars, RV of the minute's 1 s returns): ``time`` and :data:`REGIME_FEATURES`, sorted by time.

    Bars without a return or RV are dropped (the chain then steps over them; pass ``lengths`` to the fit when the
    gaps are long). An RV of 0 (the mid never moved in the bar) is floored at the window's smallest positive RV so
    that its log stays finite.
    """
    present = bars.filter(pl.col("log_return").is_not_null() & pl.col("rv").is_not_null()).sort("time")
    floor = cast(float | None, present.filter(pl.col("rv") > 0)["rv"].min())
    return present.select("time", "log_return", log_rv=pl.col("rv").clip(lower_bound=floor).log())


@dataclass(frozen=True, eq=False)
class RegimeParams:
    """A fitted HMM in the form the online filter needs; ``means``/``variances`` are in standardised units.

    Raw features x are standardised as z = (x - feature_mean) / feature_scale before the emission density is
    evaluated. Arrays: ``startprob`` (K,), ``transmat`` (K, K), ``means`` and ``variances`` (K, d).
    """

    state_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    startprob: np.ndarray
    transmat: np.ndarray
    means: np.ndarray
    variances: np.ndarray

    @property
    def n_states(self) -> int:
        return len(self.state_names)

    def standardise(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.feature_mean) / self.feature_scale

    def stationary(self) -> np.ndarray:
        """The stationary distribution of the chain (left eigenvector of P for eigenvalue 1)."""
        k = self.n_states
        system = np.vstack([self.transmat.T - np.eye(k), np.ones(k)])
        return np.linalg.lstsq(system, np.append(np.zeros(k), 1.0), rcond=None)[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (lists of floats), read back by :meth:`from_dict`."""
        return {
            "state_names": list(self.state_names),
            "feature_names": list(self.feature_names),
            "feature_mean": self.feature_mean.tolist(),
            "feature_scale": self.feature_scale.tolist(),
            "startprob": self.startprob.tolist(),
            "transmat": self.transmat.tolist(),
            "means": self.means.tolist(),
            "variances": self.variances.tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RegimeParams:
        def arr(key: str) -> np.ndarray:
            return np.asarray(d[key], dtype=np.float64)

        return cls(
            state_names=tuple(d["state_names"]),
            feature_names=tuple(d["feature_names"]),
            feature_mean=arr("feature_mean"),
            feature_scale=arr("feature_scale"),
            startprob=arr("startprob"),
            transmat=arr("transmat"),
            means=arr("means"),
            variances=arr("variances"),
        )


@dataclass(frozen=True, eq=False)
class RegimeFit:
    """A regime fit: the parameters for the filter, the stored record, BIC per number of states, restart scores of
    the chosen number of states, and the best fit of every candidate number of states (``candidates``, warm starts
    for the next fit over an overlapping window)."""

    params: RegimeParams
    result: FitResult
    bic: dict[int, float]
    restart_logliks: tuple[float, ...]
    candidates: dict[int, RegimeParams]


# ---------------------------------------------------------------------------------------------------------------
# the causal filter


def _log_emission(params: RegimeParams, z: np.ndarray) -> np.ndarray:
    """log N(z_t; mu_k, diag(v_k)) for every row and state, shape (n, K); NaN features are marginalised out."""
    diff = z[:, None, :] - params.means[None, :, :]
    terms = -0.5 * (np.log(2 * np.pi * params.variances)[None, :, :] + diff**2 / params.variances[None, :, :])
    return np.where(np.isnan(terms), 0.0, terms).sum(axis=2)


@njit(cache=True)
def _forward(log_b: np.ndarray, transmat: np.ndarray, initial: np.ndarray, starts: np.ndarray) -> tuple:
    n, k = log_b.shape
    out = np.empty((n, k))
    log_w = np.empty(k)
    belief = initial.copy()
    loglik = 0.0
    for t in range(n):
        for j in range(k):
            if starts[t]:
                prior = initial[j]
            else:
                prior = 0.0
                for i in range(k):
                    prior += belief[i] * transmat[i, j]
            log_w[j] = (math.log(prior) if prior > 0.0 else -np.inf) + log_b[t, j]
        m = log_w.max()
        total = 0.0
        for j in range(k):
            belief[j] = math.exp(log_w[j] - m)
            total += belief[j]
        for j in range(k):
            belief[j] /= total
        out[t] = belief
        loglik += m + math.log(total)
    return out, loglik


def _sequence_starts(n: int, lengths: Sequence[int] | None) -> np.ndarray:
    starts = np.zeros(n, dtype=np.bool_)
    if lengths is None:
        starts[0] = True
        return starts
    if sum(lengths) != n:
        raise ValueError(f"lengths sum to {sum(lengths)}, not to the {n} rows of X")
    starts[np.cumsum([0, *lengths[:-1]])] = True
    return starts


def _run_filter(
    params: RegimeParams, x: np.ndarray, lengths: Sequence[int] | None, initial: np.ndarray | None
) -> tuple[np.ndarray, float]:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(params.feature_names):
        raise ValueError(f"x must be (n, {len(params.feature_names)}) for features {params.feature_names}")
    init = params.startprob if initial is None else np.asarray(initial, dtype=np.float64)
    log_b = _log_emission(params, params.standardise(x))
    return _forward(log_b, params.transmat, init, _sequence_starts(len(x), lengths))


def filter_probabilities(
    params: RegimeParams, x: np.ndarray, *, lengths: Sequence[int] | None = None, initial: np.ndarray | None = None
) -> np.ndarray:
    """Causal state probabilities P(s_t = k | x_1..x_t), shape (n, K), by the forward (Hamilton) filter.

    p_t is proportional to f(x_t | s) * (p_{t-1} @ P), with p_1 proportional to ``initial`` * f(x_1 | s)
    (default the fitted ``startprob``; use ``params.stationary()`` when starting mid-stream). ``lengths`` splits x
    into independent sequences (days with gaps), each restarting from ``initial``. O(n K^2); row t uses rows <= t
    only. NaN features are treated as missing (the row then only propagates the chain).
    """
    return _run_filter(params, x, lengths, initial)[0]


def hmm_log_likelihood(params: RegimeParams, x: np.ndarray, *, lengths: Sequence[int] | None = None) -> float:
    """Log-likelihood of the standardised features under ``params`` (the sum of the forward filter's normalisers;
    the raw features' log-likelihood is lower by n * sum(log feature_scale))."""
    return _run_filter(params, x, lengths, None)[1]


class RegimeFilter:
    """The forward filter one bar at a time, for the quoter: O(K^2 + K d) numpy per update, no hmmlearn.

    ``update(x)`` takes the raw feature vector of the bar just closed and returns P(state | all bars so far);
    :meth:`predict` is the belief for the bar now forming. ``update`` on a sequence reproduces
    :func:`filter_probabilities` row by row.
    """

    def __init__(self, params: RegimeParams | Mapping[str, Any], initial: np.ndarray | None = None):
        self.params = params if isinstance(params, RegimeParams) else RegimeParams.from_dict(params)
        self._initial = self.params.startprob if initial is None else np.asarray(initial, dtype=np.float64)
        self._belief: np.ndarray | None = None

    @property
    def belief(self) -> np.ndarray:
        """Current P(state | bars so far); the initial distribution before the first update."""
        return (self._initial if self._belief is None else self._belief).copy()

    def predict(self) -> np.ndarray:
        """P(state of the next bar | bars so far)."""
        return self._initial.copy() if self._belief is None else self._belief @ self.params.transmat

    def update(self, x: np.ndarray) -> np.ndarray:
        """Condition on one bar's raw feature vector (shape (d,); NaN entries missing) and return the new belief."""
        log_b = _log_emission(self.params, self.params.standardise(np.reshape(x, (1, -1))))[0]
        with np.errstate(divide="ignore"):
            log_w = np.log(self.predict()) + log_b
        w = np.exp(log_w - log_w.max())
        self._belief = w / w.sum()
        return self._belief.copy()

    def reset(self) -> None:
        self._belief = None


BELIEF_STATES = STATE_NAMES[3]
"""The belief columns of :func:`regime_beliefs` (``belief_<state>``), as in the lake's fills and markouts tables."""


def regime_beliefs(bars: pl.DataFrame, params: RegimeParams, *, bar_ms: int = 60_000) -> pl.DataFrame:
    """Causal regime beliefs of one coin's consecutive feature bars (``calibration.bars`` 1 min bars: ``coin,
    time, log_return, rv``), filtered with ``params`` from the chain's stationary distribution.

    Returns one row per bar: ``coin``, ``time`` = the bar's END (``time + bar_ms``, the first instant the belief is
    known, so a backward as-of join on an event's time is causal), ``bar_time`` (the bar's start), ``belief_calm``,
    ``belief_volatile``, ``belief_cascade`` (P(state | bars up to this one); null for a state the model lacks) and
    ``regime`` (the argmax). Bars without a return or RV only propagate the chain; zero RVs are floored as in
    :func:`regime_features`.
    """
    if bars["coin"].n_unique() > 1:
        raise ValueError("regime_beliefs expects the bars of one coin")
    bars = bars.sort("time")
    floor = cast(float | None, bars.filter(pl.col("rv") > 0)["rv"].min())
    raw = {"log_return": pl.col("log_return"), "log_rv": pl.col("rv").clip(lower_bound=floor).log()}
    x = bars.select(raw[f].cast(pl.Float64).fill_null(np.nan).alias(f) for f in params.feature_names).to_numpy()
    belief = filter_probabilities(params, x, initial=params.stationary()) if len(x) else np.empty((0, params.n_states))
    out = bars.select("coin", (pl.col("time") + bar_ms).alias("time"), pl.col("time").alias("bar_time"))
    for state in BELIEF_STATES:
        k = params.state_names.index(state) if state in params.state_names else None
        values = pl.Series(belief[:, k]) if k is not None else pl.repeat(None, len(x), dtype=pl.Float64, eager=True)
        out = out.with_columns(values.cast(pl.Float64).alias(f"belief_{state}"))
    names = pl.Series(list(params.state_names), dtype=pl.String)
    return out.with_columns(regime=names.gather(belief.argmax(axis=1)) if len(x) else pl.lit(None, dtype=pl.String))


def state_summary(fit: RegimeFit, beliefs: pl.DataFrame, *, bar_s: float = 60.0) -> dict[str, FitResult]:
    """The regime table of a fit, one FitResult per state: ``stationary`` share, expected ``duration_bars``, the
    state's return volatility ``sigma_bps_per_sqrt_s`` = 1e4 sqrt(var_log_return / ``bar_s``) (delta-method SE),
    with n = the bars whose causal belief (:func:`regime_beliefs`) has the state as argmax."""
    r = fit.result
    counts = dict(beliefs.group_by("regime").len().iter_rows())
    out = {}
    for state in fit.params.state_names:
        var, se_var = r.estimates[f"var_log_return_{state}"], r.std_errors[f"var_log_return_{state}"]
        out[state] = FitResult(
            model=r.model,
            n=int(counts.get(state, 0)),
            estimates={
                "stationary": r.estimates[f"stationary_{state}"],
                "duration_bars": r.estimates[f"duration_{state}"],
                "sigma_bps_per_sqrt_s": 1e4 * math.sqrt(var / bar_s),
            },
            std_errors={
                "stationary": r.std_errors[f"stationary_{state}"],
                "duration_bars": r.std_errors[f"duration_{state}"],
                "sigma_bps_per_sqrt_s": 1e4 * se_var / (2 * math.sqrt(var * bar_s)),
            },
            units={"stationary": "1", "duration_bars": "bars", "sigma_bps_per_sqrt_s": "bps/sqrt(s)"},
            goodness_of_fit={"bar_s": bar_s},
            warnings=r.warnings,
        )
    return out


# ---------------------------------------------------------------------------------------------------------------
# the fit


def fit_regime_hmm(
    x: np.ndarray,
    *,
    feature_names: Sequence[str],
    n_states: int | Sequence[int] = (2, 3),
    lengths: Sequence[int] | None = None,
    n_restarts: int = 10,
    warm_starts: Mapping[int, RegimeParams] | None = None,
    warm_restarts: int | None = None,
    n_iter: int = 1000,
    tol: float = 1e-6,
    random_state: int = 0,
    min_duration_bars: float = 3.0,
    min_variance_ratio: float = 1.5,
    samples_per_parameter: int = 10,
) -> RegimeFit:
    """Fit a diagonal Gaussian HMM with 2 or 3 states to bar features and choose the number of states by BIC.

    ``x`` is (n, d) raw features, column 0 the bar log return (states are ordered by its variance: calm <
    volatile < cascade). Features are z-scored first (hmmlearn's ``min_covar=1e-3`` breaks on raw returns).
    Each K is fitted by EM (:func:`calibration.hmm_em.fit_gaussian_hmm`, hmmlearn's ``GaussianHMM.fit`` compiled)
    from ``n_restarts`` starts (one by squared-return quantiles, the others random) with ``n_iter``/``tol`` far
    stricter than hmmlearn's defaults (10 / 1e-2), keeping the best log-likelihood. K minimises hmmlearn's BIC
    (Schwarz 1978, Ann. Stat. 6(2):461-464) among the *admissible* fits: every expected duration 1 / (1 - p_ii) at
    least ``min_duration_bars`` and adjacent return variances at least ``min_variance_ratio`` apart. Gaussian
    emissions on fat-tailed or jumpy features let BIC add states that flicker every bar or split one regime in two
    (Schwarz 1978, Ann. Stat. 6:461-464, for BIC; Hamilton 1989, Econometrica 57:357-384, for regimes); if no K is
    admissible, the lowest BIC is kept with a warning. ``goodness_of_fit`` holds the log-likelihood, AIC, BIC
    (``bic_<K>`` and ``admissible_<K>`` per candidate) and ``restarts_at_best``, the number of restarts that ended
    within 0.01 of the best log-likelihood (a stability check: 1 means the optimum was found once). ``warm_starts`` (K
    -> a fit of K states, e.g. the previous night's ``candidates`` over an overlapping window) adds that fit,
    restandardised to this window, as the first start of K, followed by ``warm_restarts`` (default ``n_restarts``) of
    the others; ``restart_logliks`` and ``restarts_at_best`` count it too.

    Standard errors: inverse observed information of the log-likelihood (central-difference Hessian in the free
    transition probabilities, means and variances; the start distribution is held fixed, it is not identified from
    one sequence), mapped to the reported quantities by the delta method. Estimates: ``p_<from>_<to>``,
    ``duration_<state>`` = 1 / (1 - p_ii) bars, ``stationary_<state>``, and per feature ``mean_<f>_<state>``,
    ``var_<f>_<state>`` in raw units. Raises :class:`InsufficientSamples` below ``samples_per_parameter`` bars per
    free parameter of the largest model.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(feature_names):
        raise ValueError(f"x must be (n, {len(feature_names)}) for features {tuple(feature_names)}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x holds non-finite values; drop or impute them before fitting")
    candidates = (n_states,) if isinstance(n_states, int) else tuple(n_states)
    if not set(candidates) <= set(STATE_NAMES):
        raise ValueError(f"n_states must be among {sorted(STATE_NAMES)}, got {candidates}")
    n, d = x.shape
    required = samples_per_parameter * max(_n_free_parameters(k, d) for k in candidates)
    if n < required:
        raise InsufficientSamples(MODEL, n, required)
    loc, scale = x.mean(axis=0), x.std(axis=0)
    if np.any(scale == 0):
        raise ValueError("a feature is constant over the window")
    z = (x - loc) / scale

    warm = {k: p for k, p in (warm_starts or {}).items() if p.feature_names == tuple(feature_names)}
    fits = {}
    for k in candidates:
        start = _restandardised(warm.get(k), loc, scale)
        restarts = n_restarts if start is None or warm_restarts is None else warm_restarts
        fits[k] = _best_of_restarts(z, k, lengths, restarts, n_iter, tol, random_state, start)
    bic = {k: model.bic(n) for k, (model, _) in fits.items()}
    admissible = {k: _admissible(model, min_duration_bars, min_variance_ratio) for k, (model, _) in fits.items()}
    k = min((kk for kk in candidates if admissible[kk]), key=bic.__getitem__, default=min(bic, key=bic.__getitem__))
    fitted = {kk: _params(model, tuple(feature_names), loc, scale) for kk, (model, _) in fits.items()}
    model, logliks = fits[k]
    return RegimeFit(
        params=fitted[k],
        result=_fit_result(fitted[k], z, lengths, model, logliks, bic, admissible, n_iter),
        bic=bic,
        restart_logliks=tuple(logliks),
        candidates=fitted,
    )


def _params(model: GaussianHmm, feature_names: tuple[str, ...], loc: np.ndarray, scale: np.ndarray) -> RegimeParams:
    """A fitted HMM as :class:`RegimeParams`, states ordered by the variance of the return feature."""
    order = np.argsort(model.variances[:, 0])
    return RegimeParams(
        state_names=STATE_NAMES[len(order)],
        feature_names=feature_names,
        feature_mean=loc,
        feature_scale=scale,
        startprob=model.startprob[order],
        transmat=model.transmat[np.ix_(order, order)],
        means=model.means[order],
        variances=model.variances[order],
    )


def _restandardised(params: RegimeParams | None, loc: np.ndarray, scale: np.ndarray) -> RegimeParams | None:
    """``params`` with means and variances in the units of the standardisation (loc, scale); every transition kept
    possible (EM never leaves a zero probability)."""
    if params is None:
        return None
    ratio = params.feature_scale / scale
    transmat = np.maximum(params.transmat, 1e-6)
    return replace(
        params,
        feature_mean=loc,
        feature_scale=scale,
        transmat=transmat / transmat.sum(axis=1, keepdims=True),
        means=(params.feature_mean - loc) / scale + params.means * ratio,
        variances=params.variances * ratio**2,
    )


def expected_durations(self_transitions: np.ndarray) -> np.ndarray:
    """Expected stay of each state in bars, 1 / (1 - p_ii): the mean of the geometric sojourn of a Markov chain
    (Hamilton 1989, Econometrica 57(2):357-384). A state never left (p_ii = 1) stays forever: ``inf``, without
    numpy's division-by-zero warning for a value that is correct."""
    with np.errstate(divide="ignore"):
        return 1.0 / (1.0 - np.asarray(self_transitions, dtype=np.float64))


def _admissible(model: GaussianHmm, min_duration_bars: float, min_variance_ratio: float) -> bool:
    durations = expected_durations(np.diag(model.transmat))
    variances = np.sort(model.variances[:, 0])
    return bool(np.all(durations >= min_duration_bars) and np.all(variances[1:] >= min_variance_ratio * variances[:-1]))


def _n_free_parameters(k: int, d: int) -> int:
    return (k - 1) + k * (k - 1) + 2 * k * d


def _best_of_restarts(
    z: np.ndarray,
    k: int,
    lengths: Sequence[int] | None,
    n_restarts: int,
    n_iter: int,
    tol: float,
    seed: int,
    warm: RegimeParams | None = None,
) -> tuple[GaussianHmm, list[float]]:
    """EM from ``warm`` (when given, in standardised units) and then ``n_restarts`` starts with sticky transitions
    (0.9 on the diagonal): the first groups bars by quantiles of the squared return, the others take random rows as
    means and scatter the variances. Every start has a uniform start distribution."""
    rng = np.random.default_rng(seed)
    rank = np.argsort(np.argsort(z[:, 0] ** 2)) * k // len(z)
    starts = _sequence_starts(len(z), lengths)
    sticky = np.full((k, k), 0.1 / (k - 1)) + np.eye(k) * (0.9 - 0.1 / (k - 1))
    best, logliks = None, []
    for r in range(-1 if warm is not None else 0, n_restarts):
        if warm is not None and r == -1:
            transmat, means, variances = warm.transmat, warm.means, warm.variances
        elif r == 0:
            means = np.stack([z[rank == i].mean(axis=0) for i in range(k)])
            transmat, variances = sticky, np.stack([z[rank == i].var(axis=0) for i in range(k)]) + 1e-3
        else:
            means = z[rng.choice(len(z), size=k, replace=False)]
            transmat, variances = sticky, z.var(axis=0) * rng.uniform(0.2, 3.0, size=(k, z.shape[1]))
        model = fit_gaussian_hmm(z, starts, np.full(k, 1.0 / k), transmat, means, variances, n_iter, tol)
        logliks.append(model.loglik)
        if best is None or model.loglik > max(logliks[:-1]):
            best = model
    if best is None:
        raise ValueError("no EM start: n_restarts must be >= 1 without a warm start")
    return best, logliks


def _fit_result(
    params: RegimeParams,
    z: np.ndarray,
    lengths: Sequence[int] | None,
    model: GaussianHmm,
    logliks: list[float],
    bic: dict[int, float],
    admissible: dict[int, bool],
    n_iter: int,
) -> FitResult:
    k, d = params.means.shape
    names, feats = params.state_names, params.feature_names
    z_params = replace(params, feature_mean=np.zeros(d), feature_scale=np.ones(d))
    theta = _pack(z_params)
    cov = _observed_information_cov(z_params, z, lengths, theta)

    def derived(th: np.ndarray) -> dict[str, float]:
        p = _unpack(z_params, th)
        out = {f"p_{names[i]}_{names[j]}": p.transmat[i, j] for i in range(k) for j in range(k)}
        durations = expected_durations(np.diag(p.transmat))
        out |= {f"duration_{names[i]}": durations[i] for i in range(k)}
        out |= {f"stationary_{names[i]}": s for i, s in enumerate(p.stationary())}
        for f, feat in enumerate(feats):
            loc, scale = params.feature_mean[f], params.feature_scale[f]
            out |= {f"mean_{feat}_{names[i]}": loc + scale * p.means[i, f] for i in range(k)}
            out |= {f"var_{feat}_{names[i]}": scale**2 * p.variances[i, f] for i in range(k)}
        return {key: float(v) for key, v in out.items()}

    estimates = derived(theta)
    warnings = []
    if cov is None:
        std_errors = dict.fromkeys(estimates, math.nan)
        warnings.append("observed information not positive definite: standard errors undefined")
    else:
        jac = _jacobian(derived, theta)
        variances = np.maximum(np.einsum("ij,jk,ik->i", jac, cov, jac), 0.0)
        std_errors = {key: float(math.sqrt(v)) for key, v in zip(estimates, variances, strict=True)}
    if model.iterations >= n_iter:
        warnings.append(f"EM stopped at n_iter={n_iter} without meeting tol")
    if not admissible[k]:
        durations = [round(estimates[f"duration_{s}"], 1) for s in names]
        ratios = np.round(params.variances[1:, 0] / params.variances[:-1, 0], 2).tolist()
        warnings.append(
            f"no admissible number of states: {k} states with durations {durations} bars and adjacent return "
            f"variance ratios {ratios} (states may be soaking up outliers)"
        )
    units = {key: "1" for key in estimates if key.startswith(("p_", "stationary_"))}
    units |= {key: "bars" for key in estimates if key.startswith("duration_")}
    for feat in feats:
        units |= {f"mean_{feat}_{s}": feat for s in names} | {f"var_{feat}_{s}": f"({feat})^2" for s in names}
    best = max(logliks)
    return FitResult(
        model=MODEL,
        n=len(z),
        estimates=estimates,
        std_errors=std_errors,
        units=units,
        goodness_of_fit={
            "loglik": best,
            "aic": model.aic(),
            "bic": bic[k],
            **{f"bic_{kk}": v for kk, v in bic.items()},
            **{f"admissible_{kk}": float(ok) for kk, ok in admissible.items()},
            "n_states": float(k),
            "restarts_at_best": float(sum(ll > best - 0.01 for ll in logliks)),
        },
        warnings=tuple(warnings),
    )


def _pack(params: RegimeParams) -> np.ndarray:
    """Free parameters: off-diagonal transition probabilities (row-major), means, variances."""
    off = ~np.eye(params.n_states, dtype=bool)
    return np.concatenate([params.transmat[off], params.means.ravel(), params.variances.ravel()])


def _unpack(template: RegimeParams, theta: np.ndarray) -> RegimeParams:
    k, d = template.means.shape
    off = ~np.eye(k, dtype=bool)
    transmat = np.zeros((k, k))
    transmat[off] = theta[: k * (k - 1)]
    transmat[np.diag_indices(k)] = 1.0 - transmat.sum(axis=1)
    means = theta[k * (k - 1) : k * (k - 1) + k * d].reshape(k, d)
    variances = theta[k * (k - 1) + k * d :].reshape(k, d)
    return replace(template, transmat=transmat, means=means, variances=variances)


def _observed_information_cov(
    params: RegimeParams, z: np.ndarray, lengths: Sequence[int] | None, theta: np.ndarray
) -> np.ndarray | None:
    """Inverse of minus the central-difference Hessian of the log-likelihood at ``theta``; None unless minus the
    Hessian is positive definite (or the steps would leave the parameter space).

    Steps are a tenth of a rough standard error of each parameter (n_i = n * stationary_i bars spent in state i).
    """
    k, d = params.means.shape
    n_i = len(z) * np.clip(params.stationary(), 1.0 / len(z), None)
    off = ~np.eye(k, dtype=bool)
    p_off = params.transmat[off]
    n_row = np.repeat(n_i, k - 1)
    h_p = np.minimum(0.1 * np.sqrt(np.maximum(p_off, 1.0 / n_row) / n_row), 0.25 * p_off)
    h_m = 0.1 * np.sqrt(params.variances / n_i[:, None]).ravel()
    h_v = 0.1 * (params.variances * np.sqrt(2.0 / n_i[:, None])).ravel()
    h = np.concatenate([h_p, h_m, h_v])
    if np.any(h <= 0) or np.any(np.diag(params.transmat) - (k - 1) * 2 * h_p.max() <= 0):
        return None

    def f(th: np.ndarray) -> float:
        return hmm_log_likelihood(_unpack(params, th), z, lengths=lengths)

    m = theta.size
    hess = np.empty((m, m))
    f0 = f(theta)
    e = np.eye(m) * h
    for i in range(m):
        hess[i, i] = (f(theta + e[i]) - 2 * f0 + f(theta - e[i])) / h[i] ** 2
        for j in range(i):
            hess[i, j] = hess[j, i] = (
                f(theta + e[i] + e[j]) - f(theta + e[i] - e[j]) - f(theta - e[i] + e[j]) + f(theta - e[i] - e[j])
            ) / (4 * h[i] * h[j])
    try:
        np.linalg.cholesky(-hess)
    except np.linalg.LinAlgError:
        return None
    return np.linalg.inv(-hess)


def _jacobian(g: Callable[[np.ndarray], dict[str, float]], theta: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian of a dict-valued function of theta (rows in the dict's key order)."""
    step = 1e-6 * np.maximum(np.abs(theta), 1e-3)
    cols = []
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = step[i]
        up, down = g(theta + e), g(theta - e)
        cols.append([(up[key] - down[key]) / (2 * step[i]) for key in up])
    return np.array(cols).T


# ---------------------------------------------------------------------------------------------------------------
# the seed's regime table


REGIMES = ("calm", "normal", "volatile", "cascade")
QUOTE_ACTION = {"calm": "quote", "normal": "quote", "volatile": "widen", "cascade": "pull"}
"""What the quoter does in each regime of the table: cascade pulls all quotes."""


@dataclass(frozen=True)
class RegimeThresholds:
    """Thresholds of the regime table on r = sigma / sigma_baseline and the jump ratio RV / BV.

    calm if r < ``calm_below``; volatile if r >= ``volatile_from``; cascade if r >= ``cascade_from`` or
    (r >= ``volatile_from`` and RV/BV >= ``cascade_jump_ratio``); normal otherwise. Defaults: a third below and
    1.5x / 3x above the baseline, and RV/BV of 1.5, about five standard deviations above its no-jump value of 1
    for 60 one-second returns per bar (sd of RV/BV ~ sqrt(0.609 / M) ~ 0.10; Barndorff-Nielsen & Shephard 2006,
    J. Fin. Econometrics 4:1-30; Huang & Tauchen 2005, J. Fin. Econometrics 3:456-499).
    """

    calm_below: float = 0.67
    volatile_from: float = 1.5
    cascade_from: float = 3.0
    cascade_jump_ratio: float = 1.5


def regime_table(
    sigma: np.ndarray,
    sigma_baseline: np.ndarray | float,
    jump_ratio: np.ndarray,
    thresholds: RegimeThresholds = RegimeThresholds(),
) -> np.ndarray:
    """The seed's regime per bar (calm / normal / volatile / cascade) from volatility against its baseline.

    ``sigma`` is the bar's (short-window) volatility and ``sigma_baseline`` a slow reference in the same unit (e.g.
    a trailing 24 h median of sigma, computed causally); ``jump_ratio`` is RV / BV of the same bar. Rules in
    :class:`RegimeThresholds`; a non-finite sigma or a non-positive baseline gives cascade (fail closed: no
    volatility, no quotes); a NaN jump ratio never triggers the jump rule. See :data:`QUOTE_ACTION`.
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    base = np.broadcast_to(np.asarray(sigma_baseline, dtype=np.float64), sigma.shape)
    jump = np.broadcast_to(np.asarray(jump_ratio, dtype=np.float64), sigma.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(base > 0, sigma / base, np.nan)
    t = thresholds
    jumpy = np.nan_to_num(jump, nan=-np.inf) >= t.cascade_jump_ratio
    cascade = ~np.isfinite(r) | (r >= t.cascade_from) | ((r >= t.volatile_from) & jumpy)
    return np.select(
        [cascade, r >= t.volatile_from, r < t.calm_below], ["cascade", "volatile", "calm"], default="normal"
    )
