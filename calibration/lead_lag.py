"""How a leader's mid (e.g. BTC) leads a follower's mid: lead time, response coefficient, their SEs and a p-value.

Both mids are asynchronous tick series (a row whenever the mid changed). Hayashi & Yoshida (2005, Bernoulli 11(2)
359-379) estimate the covariance of two such series without a common clock: the sum of the products of every pair of
returns whose intervals overlap, ``U = sum_ij r^L(I_i) r^F(J_j) 1{I_i and J_j overlap}``. Hoffmann, Rosenbaum &
Yoshida (2013, Bernoulli 19(2) 426-461, "Estimation of the lead-lag parameter from non-synchronous data") shift one
series' intervals by a lag theta and estimate the lead time as the argmax of ``|U(theta)|`` over a grid. Here:

- ``hy_corr(theta) = U(theta) / sqrt(sum r^L^2 * sum r^F^2)`` over the grid ``lags_ms`` (sub-second to 30 s, both
  signs), where ``U(theta)`` pairs the leader's interval ``(s, s']`` with the follower's intervals overlapping
  ``(s + theta, s' + theta]``: theta > 0 means the leader moves first and the follower follows theta ms later.
- **Lead time** ``lag_ms`` = the grid lag of the largest ``|hy_corr|``. Its SE is the standard deviation of that
  argmax over a bootstrap of ``block_ms`` blocks of leader intervals (iid blocks, each block's contribution to every
  ``U(theta)`` resampled together), floored at the grid's own resolution ``step / sqrt(12)`` around the estimate:
  the bootstrap cannot see finer than the grid.
- **Significance** of a lead (theta > 0) against a null that keeps each series' own dynamics (volatility
  clustering, tick size, noise) and breaks only their alignment: the leader is shifted circularly by a random offset
  of at least ``min_shift_ms`` and the statistic ``max_{theta > 0} |hy_corr(theta)|`` recomputed, up to
  ``n_shifts`` times; ``p = (1 + #null >= observed) / (1 + n_shifts)``. The max over the grid makes the test honest
  about having searched all the lags. Each shift costs a pass over both days of ticks, so the draws stop early once
  ``stop_after`` of them reach the observed value (Besag & Clifford 1991, Biometrika 78(2) 301-304, "Sequential
  Monte Carlo p-values": then ``p = stop_after / draws``, valid and far above any level worth using).
- **Response coefficient** ``beta``: the follower's log move per unit log move of the leader at that lag, the OLS
  slope of the follower's return over ``(t, t + h]`` on the leader's over ``(t - lag, t + h - lag]``, on consecutive
  non-overlapping windows of ``h = response_window_ms`` (mids as of each instant, :mod:`calibration.mids`' rule),
  with a Newey-West HAC SE. Windows of
  seconds keep tick-rounding noise in the leader's return (which would bias an RV-normalised ratio towards zero)
  small against its signal.

The window is trimmed to the span both series cover (a partial day is not padded with silence, which would make the
shifted null too quiet); capture gaps inside it are not filled, so a long gap makes the null slightly too quiet
(a shifted leader meets the follower's gap elsewhere). The fit is ``ok`` only with enough ticks, a significant null
test at ``alpha`` and a positive lead (the leader first); otherwise it carries the estimates with status
``insufficient_samples``, ``not_significant`` or ``no_lead`` and a reason. Times are UTC epoch ms, mids quote currency,
returns log, beta dimensionless.

The model in the project's words, with its papers: ``docs/lead-lag.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl
from numba import njit
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant

from calibration.fit_result import FitResult, InsufficientSamples
from calibration.mids import mid_index

MODEL = "lead_lag"
POSITIVE_LAGS_MS = (
    100,
    200,
    300,
    400,
    500,
    750,
    1_000,
    1_500,
    2_000,
    2_500,
    3_000,
    4_000,
    5_000,
    7_500,
    10_000,
    15_000,
    20_000,
    30_000,
)
DEFAULT_LAGS_MS = (*(-lag for lag in reversed(POSITIVE_LAGS_MS)), 0, *POSITIVE_LAGS_MS)
"""Lag grid, ms: fine below a second (leads on liquid venues are often sub-second), coarser up to 30 s."""
OK, INSUFFICIENT, NOT_SIGNIFICANT, NO_LEAD = "ok", "insufficient_samples", "not_significant", "no_lead"


@dataclass(frozen=True)
class LeadLagConfig:
    """Lag grid, response window, null and bootstrap sizes, level and minimum sample (units in the names)."""

    lags_ms: tuple[int, ...] = DEFAULT_LAGS_MS
    response_window_ms: int = 10_000
    """h of the response regression: the length of each pair of returns, ms."""
    n_shifts: int = 99
    """Most circular shifts of the leader making the null distribution."""
    stop_after: int = 10
    """Null draws at or above the observed statistic after which the shifting stops (p >= stop_after / draws)."""
    min_shift_ms: int = 600_000
    """Smallest circular shift, ms: far beyond any lead the grid looks for."""
    block_ms: int = 600_000
    """Bootstrap block of the lead time's SE, ms."""
    n_bootstrap: int = 200
    alpha: float = 0.01
    """Level of the shifted-null test a lead must pass to be ``ok``."""
    min_returns: int = 200
    """Fewest non-zero mid changes each series needs."""
    seed: int = 0

    def __post_init__(self) -> None:
        lags = np.asarray(self.lags_ms)
        if lags.size < 2 or np.any(np.diff(lags) <= 0):
            raise ValueError("lags_ms must hold at least two strictly increasing lags")
        if min(self.response_window_ms, self.min_shift_ms, self.block_ms) <= 0:
            raise ValueError("response_window_ms, min_shift_ms and block_ms must be > 0")
        if self.n_shifts < 1 or self.stop_after < 1 or self.n_bootstrap < 2 or not 0.0 < self.alpha < 1.0:
            raise ValueError("need n_shifts >= 1, stop_after >= 1, n_bootstrap >= 2 and alpha in (0, 1)")
        if not np.any(lags > 0):
            raise ValueError("lags_ms needs positive lags (the leader moving first)")


class NoLeadLag(InsufficientSamples):
    """A lead-lag component that cannot be built: no leader mids, or no significant lead in them (a refusal that
    says why, not a crash)."""

    def __init__(self, reason: str):
        super().__init__(MODEL, 0, 1)
        self.args = (f"{MODEL}: {reason}",)


@dataclass(frozen=True, eq=False)
class LeadLagResult:
    """The fit (``fit.estimates``: ``lag_ms``, ``beta``, ``hy_corr``; SEs of lag and beta; ``goodness_of_fit``:
    ``p_value`` of the shifted null, its ``null_p95`` statistic, the response regression's ``beta_t`` and ``r2``,
    ``n_windows``, sample sizes) with its status and reason, and the whole cross-correlation curve."""

    fit: FitResult
    reason: str
    lags_ms: np.ndarray
    hy_corr: np.ndarray
    """HY correlation per lag of ``lags_ms`` (NaN when not computed)."""
    window: tuple[int, int]
    """[start, end) ms the fit used: the window asked for, trimmed to the span both series cover."""

    @property
    def ok(self) -> bool:
        return self.fit.ok

    @property
    def status(self) -> str:
        return self.fit.status


# ---------------------------------------------------------------------------------------------------------------
# Hayashi-Yoshida cross-covariance over a lag grid


@njit(cache=True)
def _hy_by_block(
    s: np.ndarray, x: np.ndarray, u: np.ndarray, y: np.ndarray, lags: np.ndarray, block: np.ndarray, n_blocks: int
) -> np.ndarray:  # pragma: no cover - compiled
    """``U(theta)`` per lag, split by the block of each leader interval: (n_blocks x n_lags).

    Leader interval i is ``(s[i-1], s[i]]`` with return ``x[i] - x[i-1]``; shifted by theta it overlaps the follower
    intervals ``j = a..b`` (``u[j] > s[i-1] + theta`` and ``u[j-1] < s[i] + theta``), whose returns sum to
    ``y[b] - y[a-1]``. Both bounds only grow with i: one pass over the leader with two pointers per lag, O(n + m)
    per lag.
    """
    n, m, n_lags = s.shape[0] - 1, u.shape[0] - 1, lags.shape[0]
    out = np.zeros((n_blocks, n_lags))
    a = np.zeros(n_lags, np.int64)
    b = np.zeros(n_lags, np.int64)
    for i in range(1, n + 1):
        r = x[i] - x[i - 1]
        row = block[i]
        for k in range(n_lags):
            lo, hi = s[i - 1] + lags[k], s[i] + lags[k]
            ak, bk = a[k], b[k]
            while ak <= m and u[ak] <= lo:
                ak += 1
            while bk <= m and u[bk] < hi:
                bk += 1
            a[k], b[k] = ak, bk
            first, last = max(ak, 1), min(bk, m)
            if last >= first:
                out[row, k] += r * (y[last] - y[first - 1])
    return out


def _series(mids: pl.DataFrame, start_ms: int, end_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Times (ms) and log mids of a ``time, mid`` series inside [start_ms, end_ms), the last mid of each ms kept;
    non-positive or missing mids are dropped."""
    clean = (
        mids.select(pl.col("time").cast(pl.Int64), pl.col("mid").cast(pl.Float64))
        .filter(pl.col("mid").is_finite() & (pl.col("mid") > 0) & pl.col("time").is_between(start_ms, end_ms - 1))
        .sort("time", maintain_order=True)
        .unique("time", keep="last", maintain_order=True)
    )
    return clean["time"].to_numpy(), np.log(clean["mid"].to_numpy())


def _changes(times: np.ndarray, logs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ticks of a series where its mid changed (the first one kept), times as float ms: the HY input."""
    changed = np.concatenate([[True], np.diff(logs) != 0.0]) if logs.size else np.zeros(0, bool)
    return times[changed].astype(np.float64), logs[changed]


def _ticks(mids: pl.DataFrame, start_ms: int, end_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_changes` of :func:`_series`."""
    return _changes(*_series(mids, start_ms, end_ms))


def _rotated(s: np.ndarray, x: np.ndarray, start: float, span: float, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """The leader shifted circularly by ``shift`` ms within [start, start + span): ticks past the end wrap to the
    start, the one return straddling the seam is dropped and the wrapped piece joins with a zero return."""
    k = int(np.searchsorted(s, start + span - shift, side="left"))
    times = np.concatenate([s[k:] + shift - span, s[:k] + shift])
    logs = np.concatenate([x[k:] - x[k], x[:k] - x[0] + (x[-1] - x[k])]) if k < s.size else x - x[0]
    return times, logs


def hy_cross_correlation(
    leader: pl.DataFrame, follower: pl.DataFrame, lags_ms: tuple[int, ...], window: tuple[int, int]
) -> np.ndarray:
    """``hy_corr(theta)`` for every lag of ``lags_ms`` over ``window`` = [start, end) ms (see the module docstring);
    ``leader``/``follower``: ``time`` (ms) and ``mid`` rows."""
    s, x = _ticks(leader, *window)
    u, y = _ticks(follower, *window)
    lags = np.asarray(lags_ms, dtype=np.float64)
    covariance = _hy_by_block(s, x, u, y, lags, np.zeros(s.size, np.int64), 1)[0]
    return covariance / math.sqrt(float(np.sum(np.diff(x) ** 2) * np.sum(np.diff(y) ** 2)))


# ---------------------------------------------------------------------------------------------------------------
# the response coefficient


def _mid_at(times: np.ndarray, logs: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Log mid in force at each of ``at`` by the project's rule (:func:`calibration.mids.mid_index`: the last at or
    before it, at most ``MID_MAX_AGE_MS`` old), NaN where there is none."""
    rows = mid_index(times, at.astype(np.int64))
    return np.where(rows >= 0, logs[np.maximum(rows, 0)], np.nan)


Series = tuple[np.ndarray, np.ndarray]
"""Times (ms) and log mids of one coin."""


def response_regression(
    leader: Series, follower: Series, lag_ms: float, window: tuple[int, int], horizon_ms: int
) -> tuple[float, float, float, float, int]:
    """OLS of the follower's return over (t, t+h] on the leader's over (t-lag, t+h-lag] on consecutive windows t =
    start + lag + k h: (beta, HAC SE, t statistic, R^2, windows). ``leader``/``follower``: every row's time (ms) and
    log mid (:func:`_series`); a window whose end points lack a mid (a capture gap) is left out. Newey-West lags
    ``floor(4 (n/100)^(2/9))``."""
    start, end = window
    first = start + max(lag_ms, 0.0)
    t = first + horizon_ms * np.arange(max(int((end - horizon_ms - first) // horizon_ms) + 1, 0))
    follower_move = _mid_at(*follower, t + horizon_ms) - _mid_at(*follower, t)
    leader_move = _mid_at(*leader, t + horizon_ms - lag_ms) - _mid_at(*leader, t - lag_ms)
    keep = np.isfinite(follower_move) & np.isfinite(leader_move)
    n = int(keep.sum())
    if n < 10 or not np.any(leader_move[keep] != 0.0):
        return math.nan, math.nan, math.nan, math.nan, n
    design = add_constant(leader_move[keep], has_constant="add")
    lags = int(math.floor(4 * (n / 100) ** (2 / 9)))
    ols = OLS(follower_move[keep], design).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    return float(ols.params[1]), float(ols.bse[1]), float(ols.tvalues[1]), float(ols.rsquared), n


# ---------------------------------------------------------------------------------------------------------------
# the fit


def _grid_resolution(lags: np.ndarray, k: int) -> float:
    """Width of the grid cell around lag k (half the gaps to its neighbours), ms."""
    left = lags[k] - lags[k - 1] if k > 0 else lags[1] - lags[0]
    right = lags[k + 1] - lags[k] if k + 1 < lags.size else left
    return 0.5 * (left + right)


def fit_lead_lag(
    leader: pl.DataFrame,
    follower: pl.DataFrame,
    window: tuple[int, int] | None = None,
    config: LeadLagConfig = LeadLagConfig(),
) -> LeadLagResult:
    """Lead time, response coefficient, SEs and shifted-null p-value of ``leader`` over ``follower`` (module
    docstring). ``leader``/``follower``: ``time`` (UTC epoch ms) and ``mid`` (quote currency) rows; ``window`` =
    [start, end) ms (default: everything), trimmed to the span both cover. Never raises on thin data: the result says
    why it is not ok."""
    lags = np.asarray(config.lags_ms, dtype=np.float64)
    nothing = np.full(lags.size, np.nan)
    if window is None:
        window = (np.iinfo(np.int64).min, np.iinfo(np.int64).max)
    s, x = _ticks(leader, *window)
    u, y = _ticks(follower, *window)
    n_leader, n_follower = max(s.size - 1, 0), max(u.size - 1, 0)
    if min(n_leader, n_follower) < config.min_returns:
        error = InsufficientSamples(MODEL, min(n_leader, n_follower), config.min_returns)
        return _insufficient(error, lags, nothing, window)
    start, end = max(window[0], int(s[0]), int(u[0])), min(window[1], int(s[-1]) + 1, int(u[-1]) + 1)
    window = (start, end)
    leader_rows, follower_rows = _series(leader, start, end), _series(follower, start, end)
    (s, x), (u, y) = _changes(*leader_rows), _changes(*follower_rows)
    n_leader, n_follower = s.size - 1, u.size - 1
    span = float(end - start)
    shortest = 2 * config.min_shift_ms + 2 * float(np.abs(lags).max())
    if span < shortest or min(n_leader, n_follower) < config.min_returns:
        error = (
            InsufficientSamples(f"{MODEL}_window_ms", int(span), int(shortest))
            if span < shortest
            else InsufficientSamples(MODEL, min(n_leader, n_follower), config.min_returns)
        )
        return _insufficient(error, lags, nothing, window)

    scale = math.sqrt(float(np.sum(np.diff(x) ** 2) * np.sum(np.diff(y) ** 2)))
    n_blocks = int(math.ceil(span / config.block_ms))
    block = np.minimum(((s - start) // config.block_ms).astype(np.int64), n_blocks - 1)
    by_block = _hy_by_block(s, x, u, y, lags, block, n_blocks)
    corr = by_block.sum(axis=0) / scale
    k = int(np.argmax(np.abs(corr)))
    rng = np.random.default_rng(config.seed)
    p_value, null = _shifted_null_p(s, x, u, y, lags, (float(start), span), scale, corr, config, rng)

    weights = rng.multinomial(n_blocks, np.full(n_blocks, 1.0 / n_blocks), size=config.n_bootstrap)
    boot_lags = lags[np.argmax(np.abs(weights @ by_block), axis=1)]
    lag_se = max(float(boot_lags.std(ddof=1)), _grid_resolution(lags, k) / math.sqrt(12.0))

    lag = float(lags[k])
    beta, beta_se, beta_t, r2, n_windows = response_regression(
        leader_rows, follower_rows, lag, window, config.response_window_ms
    )
    if lag <= 0:
        status, reason = (
            NO_LEAD,
            (
                f"the strongest co-movement is at {lag:g} ms (the leader does not move first)"
                f"{'' if p_value <= config.alpha else f'; and not significant, p = {p_value:.3g}'}"
            ),
        )
    elif p_value > config.alpha:
        status, reason = (
            NOT_SIGNIFICANT,
            (
                f"max |HY corr| {abs(corr[k]):.3g} at {lag:g} ms is not significant "
                f"against {null.size} circular shifts: p = {p_value:.3g} > {config.alpha:g}"
            ),
        )
    elif not math.isfinite(beta):
        status, reason = INSUFFICIENT, f"too few response windows ({n_windows}) for beta"
    else:
        status, reason = (
            OK,
            (f"leader leads by {lag:g} +- {lag_se:.3g} ms, beta {beta:.3g} +- {beta_se:.3g}, p = {p_value:.3g}"),
        )
    fit = FitResult(
        model=MODEL,
        n=n_follower,
        estimates={"lag_ms": lag, "beta": beta, "hy_corr": float(corr[k])},
        std_errors={"lag_ms": lag_se, "beta": beta_se, "hy_corr": math.nan},
        units={"lag_ms": "ms", "beta": "log return / log return", "hy_corr": ""},
        goodness_of_fit={
            "p_value": p_value,
            "null_p95": float(np.quantile(null, 0.95)),
            "null_draws": float(null.size),
            "alpha": config.alpha,
            "beta_t": beta_t,
            "r2": r2,
            "n_windows": float(n_windows),
            "n_leader_returns": float(n_leader),
            "n_follower_returns": float(n_follower),
            "lag_grid_resolution_ms": _grid_resolution(lags, k),
        },
        warnings=() if status == OK else (reason,),
        status=status,
    )
    return LeadLagResult(fit=fit, reason=reason, lags_ms=lags, hy_corr=corr, window=window)


def _shifted_null_p(
    s: np.ndarray,
    x: np.ndarray,
    u: np.ndarray,
    y: np.ndarray,
    lags: np.ndarray,
    window: tuple[float, float],
    scale: float,
    corr: np.ndarray,
    config: LeadLagConfig,
    rng: np.random.Generator,
) -> tuple[float, np.ndarray]:
    """p-value of ``max_{theta > 0} |hy_corr|`` against circular shifts of the leader, with sequential stopping
    (module docstring), and the null statistics drawn."""
    leads = lags > 0
    observed = float(np.abs(corr[leads]).max())
    start, span = window
    one_block = np.zeros(s.size, np.int64)
    null: list[float] = []
    for shift in rng.uniform(config.min_shift_ms, span - config.min_shift_ms, config.n_shifts):
        rs, rx = _rotated(s, x, start, span, float(shift))
        null.append(float(np.abs(_hy_by_block(rs, rx, u, y, lags[leads], one_block, 1)[0]).max()) / scale)
        reached = sum(value >= observed for value in null)
        if reached >= config.stop_after:
            return reached / len(null), np.asarray(null)
    return (1.0 + sum(value >= observed for value in null)) / (1.0 + config.n_shifts), np.asarray(null)


def _insufficient(
    error: InsufficientSamples, lags: np.ndarray, corr: np.ndarray, window: tuple[int, int]
) -> LeadLagResult:
    return LeadLagResult(
        fit=FitResult.insufficient(error), reason=str(error), lags_ms=lags, hy_corr=corr, window=window
    )
