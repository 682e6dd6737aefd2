"""Does the simple quoter's prediction fail out of sample? One test per row of the method's diagnosis table.

Each check takes what the baseline (the simple version) predicted on the walk-forward test windows and what
happened, and returns a :class:`SimpleEvidence`: the test, its statistic and two-sided (or, for the leader row,
one-sided) p-value, the size of the failure in the prediction's own units, and a one-line summary.

| row | prediction | test |
|---|---|---|
| volatility | sigma^2 per second (last EWMA of the train window) | HAC t-test of ``E[RV_minute / (60 sigma^2)] = 1`` |
| fill rate | P(a print reaches the quote within tau) | Cox calibration: intercept 0 and slope 1 |
| regime | one net edge per fill, whatever the regime | HAC Wald test of equal net edge across causal HMM states |
| adverse selection | adverse selection per fill (bps) | Mincer-Zarnowitz: bias 0 (and slope 1 where defined) |
| lead-lag | one net edge per fill, whatever the leader did | HAC t-test: fills after a large leader move earn less |

Where a check has two hypotheses (calibration-in-the-large and slope) their p-values are combined by Bonferroni
(twice the smaller, capped at 1). The two calibration checks take :mod:`validation.statistics.calibration_metrics`'
intervals as they are: the level (intercept, bias) cluster-robust by walk-forward fold, t on folds - 1 degrees of
freedom (a fold's estimation error is shared by all its forecasts), the within-fold slope HAC; with few folds the level
test is weak by design. Dependence: markouts of fills within one horizon overlap, so the per-fill tests
use :func:`validation.statistics.significance.overlap_lags`; per-minute and per-quote series use the Newey-West rule.
Minimum evidence: as everywhere in :mod:`validation.statistics.significance`, fewer than ``MIN_INDEPENDENT_FILLS``
independent observations (the effective sample size of the tested series) never declare a failure: the check
is then "not evaluated" with that reason, as it is when its data is missing.

Why not Mincer-Zarnowitz for volatility: the baseline's forecast is one number per walk-forward fold, so a
regression of realised on forecast variance has as many distinct regressor values as folds; the ratio test of
unbiasedness uses every minute (Patton 2011, J. Econometrics 160(1):246-256, on robust variance-forecast
evaluation; the ratio is the QLIKE-consistent unbiasedness condition).

Units: times UTC epoch ms, edges and adverse selection bps per fill, variances in log-return^2.

The model in the project's words, with its papers: ``docs/forecast-calibration.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats
from statsmodels.regression.linear_model import OLS, RegressionResultsWrapper

from data_lake.units import MINUTE_MS
from validation.statistics.calibration_metrics import adverse_selection_calibration, calibration_metrics
from validation.statistics.significance import (
    MIN_INDEPENDENT_FILLS,
    effective_sample_size,
    hac_mean_test,
    newey_west_lags,
    overlap_lags,
)

SECONDS_PER_MINUTE = 60.0
MIN_GROUP_FILLS = 30
"""Fewest fills a regime state or the after-a-leader-move group needs to enter a comparison."""


@dataclass(frozen=True)
class SimpleEvidence:
    """(a) of a diagnosis row: does the simple version's prediction fail out of sample?

    ``statistic`` and ``p_value`` are the test's; ``effect`` the size of the failure in ``effect_unit``;
    ``n`` the observations tested and ``n_effective`` the independent evidence among them. ``not_evaluated``
    says why there is no test (missing data, too little evidence); the p-value is then NaN.
    """

    test: str
    statistic: float
    p_value: float
    n: int
    n_effective: float
    effect: float
    effect_unit: str
    summary: str
    not_evaluated: str = ""

    @property
    def evaluated(self) -> bool:
        return not self.not_evaluated

    def fails(self, alpha: float) -> bool:
        """The prediction is shown wrong at ``alpha``."""
        return self.evaluated and self.p_value < alpha


def not_evaluated(test: str, reason: str, n: int = 0, effect_unit: str = "") -> SimpleEvidence:
    """A check that could not run, and why."""
    return SimpleEvidence(test, math.nan, math.nan, n, math.nan, math.nan, effect_unit, "", reason)


def _with_min_evidence(evidence: SimpleEvidence) -> SimpleEvidence:
    """``evidence`` unless it rests on fewer than MIN_INDEPENDENT_FILLS independent observations."""
    if evidence.n_effective >= MIN_INDEPENDENT_FILLS:
        return evidence
    reason = (
        f"too little evidence, {evidence.n_effective:.0f} independent observations of {evidence.n:,} "
        f"(< {MIN_INDEPENDENT_FILLS}): {evidence.summary}"
    )
    return SimpleEvidence(
        evidence.test,
        evidence.statistic,
        math.nan,
        evidence.n,
        evidence.n_effective,
        evidence.effect,
        evidence.effect_unit,
        evidence.summary,
        reason,
    )


def _bonferroni(*p_values: float) -> float:
    """Twice the smallest finite p-value (capped at 1): either hypothesis may reject."""
    finite = [p for p in p_values if math.isfinite(p)]
    return min(1.0, len(finite) * min(finite)) if finite else math.nan


def _z_of(p_value: float, deviation: float) -> float:
    """The standard-normal statistic with two-sided p-value ``p_value``, signed like ``deviation`` (estimate minus
    its null value): a common scale for tests whose own statistic is not reported."""
    return math.copysign(float(stats.norm.isf(p_value / 2.0)), deviation)


# ---------------------------------------------------------------------------------------------------------------
# volatility


@dataclass(frozen=True)
class VolatilityForecast:
    """The baseline's sigma (log return per sqrt(second)) for the test window [start_ms, end_ms)."""

    start_ms: int
    end_ms: int
    sigma_log_per_sqrt_s: float


VOLATILITY_TEST = "HAC t: E[RV per minute / forecast] = 1"


def volatility_check(minute_bars: pl.DataFrame, forecasts: Sequence[VolatilityForecast]) -> SimpleEvidence:
    """Realised variance of each closed 1 min bar of every test window (``rv``: sum of its squared 1 s log
    returns, :mod:`calibration.bars`) over the window's forecast ``60 sigma^2``; two-sided HAC t-test that the
    ratio's mean is 1. ``effect``: the mean ratio (1 = unbiased; 2 = realised variance twice the forecast)."""
    bars = minute_bars.filter((pl.col("bar_ms") == MINUTE_MS) & pl.col("rv").is_not_null() & pl.col("rv").is_not_nan())
    ratios = []
    for f in forecasts:
        variance = f.sigma_log_per_sqrt_s**2 * SECONDS_PER_MINUTE
        if not (math.isfinite(variance) and variance > 0):
            continue
        inside = bars.filter((pl.col("time") >= f.start_ms) & (pl.col("time") + MINUTE_MS <= f.end_ms)).sort("time")
        ratios.append(inside["rv"].to_numpy() / variance)
    ratio = np.concatenate(ratios) if ratios else np.empty(0)
    if ratio.size < 2:
        return not_evaluated(
            VOLATILITY_TEST,
            f"no realised variance: {ratio.size} closed minute bars with a forecast",
            ratio.size,
            "realised / forecast variance",
        )
    lags = newey_west_lags(ratio.size)
    test = hac_mean_test(ratio - 1.0, maxlags=lags, alternative="two-sided")
    mean = float(ratio.mean())
    return _with_min_evidence(
        SimpleEvidence(
            VOLATILITY_TEST,
            test.statistic,
            test.p_value,
            ratio.size,
            effective_sample_size(ratio, lags),
            mean,
            "realised / forecast variance",
            f"realised variance {mean:.2f}x the EWMA forecast over {ratio.size} minutes",
        )
    )


# ---------------------------------------------------------------------------------------------------------------
# fill probability


FILL_TEST = "Cox calibration: intercept 0 (fold-clustered), slope 1 (HAC); Bonferroni; stat: z of the binding p"


def fill_probability_check(quotes: pl.DataFrame) -> SimpleEvidence:
    """:func:`validation.statistics.calibration_metrics.calibration_metrics` of the quotes' ``pred_fill_prob`` against
    ``filled`` with the slope within ``fold`` windows; the p-value is Bonferroni over calibration-in-the-large
    (intercept 0) and the slope (1). ``effect``: realised minus predicted fill rate (probability)."""
    scored = quotes.filter(pl.col("pred_fill_prob").is_not_null() & pl.col("pred_fill_prob").is_not_nan())
    if scored.height < 2:
        return not_evaluated(
            FILL_TEST, f"{scored.height} quotes with a predicted fill probability", scored.height, "probability"
        )
    outcome = scored["filled"].cast(pl.Float64).to_numpy()
    forecast = scored["pred_fill_prob"].to_numpy()
    metrics = calibration_metrics(outcome, forecast, windows=scored["fold"].to_numpy())
    p_value = _bonferroni(metrics.intercept_p_value, metrics.slope_p_value)
    if math.isnan(p_value):
        return not_evaluated(
            FILL_TEST, "calibration not defined (every quote filled, or none)", scored.height, "probability"
        )
    binding = "slope" if metrics.slope_p_value < metrics.intercept_p_value else "intercept"
    statistic = (
        _z_of(metrics.slope_p_value, metrics.slope - 1.0)
        if binding == "slope"
        else _z_of(metrics.intercept_p_value, metrics.intercept)
    )
    effect = float(outcome.mean() - forecast.mean())
    residual = outcome - forecast
    return _with_min_evidence(
        SimpleEvidence(
            FILL_TEST,
            statistic,
            p_value,
            scored.height,
            effective_sample_size(residual, newey_west_lags(residual.size)),
            effect,
            "probability",
            f"fill rate {outcome.mean():.2%} vs predicted {forecast.mean():.2%}, Cox slope {metrics.slope:.2f} "
            f"(binding: {binding}) over {scored.height:,} quotes",
        )
    )


# ---------------------------------------------------------------------------------------------------------------
# adverse selection


ADVERSE_TEST = "Mincer-Zarnowitz: bias 0 (fold-clustered), slope 1 (HAC); Bonferroni; stat: z of the binding p"


def adverse_selection_check(fills: pl.DataFrame, horizon_ms: int) -> SimpleEvidence:
    """:func:`validation.statistics.calibration_metrics.adverse_selection_calibration` of the fills'
    ``pred_adverse_bps`` against ``realised_adverse_bps`` (slope within ``fold``), lags for overlapping markouts; the
    p-value is Bonferroni over the bias (0) and, where the prediction varies within a fold, the slope (1). ``effect``:
    the bias, realised minus predicted (bps per fill; positive: the quoter was blindsided)."""
    marked = fills.filter(
        pl.col("pred_adverse_bps").is_not_null()
        & pl.col("realised_adverse_bps").is_not_null()
        & pl.col("pred_adverse_bps").is_not_nan()
        & pl.col("realised_adverse_bps").is_not_nan()
    ).sort("time")
    if marked.height < 3:
        return not_evaluated(
            ADVERSE_TEST,
            f"{marked.height} fills with predicted and realised adverse selection",
            marked.height,
            "bps per fill",
        )
    lags = overlap_lags(marked["time"].to_numpy(), horizon_ms)
    predicted, realised = marked["pred_adverse_bps"].to_numpy(), marked["realised_adverse_bps"].to_numpy()
    calibration = adverse_selection_calibration(predicted, realised, maxlags=lags, windows=marked["fold"].to_numpy())
    p_value = _bonferroni(calibration.bias_p_value, calibration.slope_p_value)
    binding = "slope" if calibration.slope_p_value < calibration.bias_p_value else "bias"
    error = realised - predicted
    slope = "constant forecast" if calibration.constant_forecast else f"slope {calibration.slope:.2f}"
    statistic = (
        _z_of(calibration.slope_p_value, calibration.slope - 1.0)
        if binding == "slope"
        else _z_of(calibration.bias_p_value, calibration.bias)
    )
    return _with_min_evidence(
        SimpleEvidence(
            ADVERSE_TEST,
            statistic,
            p_value,
            marked.height,
            effective_sample_size(error, lags),
            calibration.bias,
            "bps per fill",
            f"realised {realised.mean():.2f} vs predicted {predicted.mean():.2f} bps per fill ({slope}) over "
            f"{marked.height:,} fills",
        )
    )


# ---------------------------------------------------------------------------------------------------------------
# per-fill net edge: by regime, after leader moves


def _sorted_edges(fills: pl.DataFrame, net_column: str) -> pl.DataFrame:
    return (
        fills.filter(pl.col(net_column).is_not_null() & pl.col(net_column).is_not_nan())
        .select("time", net=pl.col(net_column))
        .sort("time")
    )


def _hac_ols(y: np.ndarray, x: np.ndarray, lags: int) -> RegressionResultsWrapper:
    return OLS(y, x).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True}, use_t=True)


REGIME_TEST = "HAC Wald: equal net edge per fill across HMM states"


def regime_edge_check(
    fills: pl.DataFrame, beliefs: pl.DataFrame | None, net_column: str, horizon_ms: int
) -> SimpleEvidence:
    """Does the simple quoter's net edge per fill (``net_column``, bps) depend on the regime? Each fill takes the
    most probable state of the causal belief held at its time (``beliefs``: ``time`` and ``belief_<state>``, each
    row known at its time); the net edge is regressed on state indicators with HAC errors and the Wald F-test
    asks whether every state's mean is equal. States with fewer than MIN_GROUP_FILLS fills are left out.
    ``effect``: the best state's mean minus the worst's (bps per fill)."""
    unit = "bps per fill"
    if beliefs is None or beliefs.height == 0:
        return not_evaluated(
            REGIME_TEST, "no causal HMM beliefs on the test windows (+hmm_blending did not run)", effect_unit=unit
        )
    states = [c for c in beliefs.columns if c.startswith("belief_")]
    held = beliefs.sort("time").select("time", *(pl.col(c).fill_null(0.0) for c in states))
    edges = _sorted_edges(fills, net_column).join_asof(held, on="time", strategy="backward").drop_nulls(states)
    if edges.height == 0:
        return not_evaluated(REGIME_TEST, "no fill with a belief held at its time", effect_unit=unit)
    state = np.asarray(states)[edges.select(states).to_numpy().argmax(axis=1)]
    names, counts = np.unique(state, return_counts=True)
    kept = names[counts >= MIN_GROUP_FILLS]
    if kept.size < 2:
        shown = ", ".join(f"{n.removeprefix('belief_')} {c}" for n, c in zip(names, counts, strict=True))
        return not_evaluated(
            REGIME_TEST, f"fewer than two states with {MIN_GROUP_FILLS}+ fills ({shown})", edges.height, unit
        )
    keep = np.isin(state, kept)
    y, times = edges["net"].to_numpy()[keep], edges["time"].to_numpy()[keep]
    dummies = (state[keep][:, None] == kept[None, :]).astype(float)
    lags = overlap_lags(times, horizon_ms)
    fit = _hac_ols(y, dummies, lags)
    restriction = np.column_stack([-np.ones(kept.size - 1), np.eye(kept.size - 1)])
    wald = fit.f_test(restriction)
    means = np.asarray(fit.params)
    shown = ", ".join(
        f"{n.removeprefix('belief_')} {m:+.2f} (n {int(d.sum())})"
        for n, m, d in zip(kept, means, dummies.T, strict=True)
    )
    return _with_min_evidence(
        SimpleEvidence(
            REGIME_TEST,
            float(np.squeeze(wald.fvalue)),
            float(np.squeeze(wald.pvalue)),
            y.size,
            effective_sample_size(y, lags),
            float(means.max() - means.min()),
            unit,
            f"net edge per fill by causal HMM state, bps: {shown}",
        )
    )


@dataclass(frozen=True)
class LeaderMoves:
    """What counts as a large leader move and how long after it a fill counts as exposed."""

    move_ms: int = 1_000
    """Leader return horizon: log mid change over each ``move_ms`` step of a regular grid."""
    after_ms: int = 5_000
    """A fill within this long after a large move (move end in (t - after_ms, t]) is exposed."""
    quantile: float = 0.99
    """A move is large when its |return| exceeds this quantile of the leader's |returns| over the test windows."""


LEADER_TEST = "HAC t (one-sided): fills after large leader moves earn less"


def leader_move_check(
    fills: pl.DataFrame,
    leader_mids: pl.DataFrame | None,
    net_column: str,
    horizon_ms: int,
    leader: str,
    moves: LeaderMoves = LeaderMoves(),
) -> SimpleEvidence:
    """P&L lost around leader moves: the simple quoter's net edge per fill (bps) on fills within ``after_ms`` of a
    large move of the leader's mid (``leader_mids``: ``time``, ``mid``) against its other fills; OLS on an
    exposed indicator with HAC errors, one-sided (exposed fills earn less). ``effect``: exposed minus other
    (bps per fill; negative: the leader's moves cost money)."""
    unit = "bps per fill"
    if leader_mids is None or leader_mids.height < 2:
        return not_evaluated(
            LEADER_TEST, f"no leader data ({leader} mids absent over the test windows)", effect_unit=unit
        )
    edges = _sorted_edges(fills, net_column)
    mids = leader_mids.filter(pl.col("mid") > 0).sort("time")
    if edges.height < 2:
        return not_evaluated(LEADER_TEST, f"{edges.height} fills with a net edge", edges.height, unit)
    first, last = int(edges["time"][0]) - moves.after_ms - moves.move_ms, int(edges["time"][-1])
    grid = pl.DataFrame({"time": np.arange(first, last + moves.move_ms, moves.move_ms, dtype=np.int64)})
    level = grid.join_asof(mids.select("time", "mid"), on="time", strategy="backward")["mid"].to_numpy()
    returns = np.abs(np.diff(np.log(level)))
    valid = np.isfinite(returns)
    if valid.sum() < 2:
        return not_evaluated(LEADER_TEST, f"no leader data ({leader} mids do not cover the fills)", edges.height, unit)
    threshold = float(np.quantile(returns[valid], moves.quantile))
    large = grid["time"].to_numpy()[1:][valid & (returns > threshold)]
    if large.size == 0:
        return not_evaluated(
            LEADER_TEST, f"{leader}'s mid made no move above its {moves.quantile:.0%} quantile", edges.height, unit
        )
    t = edges["time"].to_numpy()
    exposed = (np.searchsorted(large, t, side="right") - np.searchsorted(large, t - moves.after_ms, side="right")) > 0
    n_exposed = int(exposed.sum())
    if min(n_exposed, t.size - n_exposed) < MIN_GROUP_FILLS:
        return not_evaluated(
            LEADER_TEST,
            f"{n_exposed} of {t.size} fills within {moves.after_ms / 1000:g} s after a "
            f"large {leader} move: too few on one side to compare",
            t.size,
            unit,
        )
    y = edges["net"].to_numpy()
    lags = overlap_lags(t, horizon_ms)
    fit = _hac_ols(y, np.column_stack([np.ones(t.size), exposed.astype(float)]), lags)
    t_stat = float(fit.tvalues[1])
    difference = float(fit.params[1])
    return _with_min_evidence(
        SimpleEvidence(
            LEADER_TEST,
            t_stat,
            float(stats.t.cdf(t_stat, fit.df_resid)),
            t.size,
            effective_sample_size(y, lags),
            difference,
            unit,
            f"net edge {y[exposed].mean():+.2f} bps on {n_exposed:,} fills within {moves.after_ms / 1000:g} s after a "
            f"large {leader} move (|{moves.move_ms / 1000:g} s return| > {threshold * 1e4:.2f} bps) vs "
            f"{y[~exposed].mean():+.2f} bps on the other {t.size - n_exposed:,}",
        )
    )
