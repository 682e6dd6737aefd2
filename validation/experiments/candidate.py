"""The candidate: the one function that turns a training window into a parameter set and its quoting policy.

:func:`candidate_parameters` builds the ``parameters`` of a parameter-set document (:mod:`data_lake.param_schema`)
from one training window; :func:`fit_candidate` turns them into the kernel's model and policy through
:func:`quoting.core.policy_inputs.quoting_inputs`, the very conversion the quoter applies to a promoted set. The
walk-forward evaluates this as variant ``candidate`` on every training fold, the gate judges that variant's
out-of-sample results, and promotion writes what :func:`candidate_parameters` builds on the last window: what is
promoted is exactly what was validated.

On the training window, in this order:

1. sigma from the mean bipower variation of the closed 1 min bars (jumps excluded), A and kappa by grouped MLE;
2. a Gaussian HMM on the minute bars (states ordered by variance: calm, volatile, cascade), gamma and spread
   floor per state from the policy config by that order;
3. reach curves per state (:mod:`calibration.fill_probability`): the fill probability of the scored event;
4. the policy quoting in every state is run through the backtest over the training window itself; its fills are
   the population whose edge and adverse selection matter (own fills at the quote, not all market trades). A
   first pass prices in the fee only and measures, per state, the expected move of the mid against a fill
   (mean ``-markout_5s``, >= 0), which is then priced into the quote as a per-fill cost (:mod:`quoting.core.glft`);
   passes over a grid of spread floors (``candidate_floor_grid_bps``, never below the configured floor) choose
   each state's floor as the one with the largest total net edge (where a maker stands is its niche); a last
   pass with those floors gives, per state (the argmax of the causal belief the order was quoted under),
   the mean adverse selection ``max(-markout_5s, 0)`` the quoter predicts and the mean net edge per fill
   (spread capture + 5 s markout - fee, bps) with HAC SEs. The candidate quotes in a state only where that net
   edge is more than ``edge_z`` SEs above zero on at least ``min_regime_fills`` fills: choosing when to play,
   whatever the states are called. The reach curves are then recalibrated (shift and scale of the log intensity,
   :func:`reach_recalibration`) on the final policy's own in-sample quotes, the scale kept only where those quotes
   show it (BIC against a constant forecast).

When the coin has a leader (``leader_mids`` in the window) and the window's lead-lag is significant
(:func:`validation.experiments.lead_lag_variant.fit_leader_shift`, the ``+lead_lag`` variant's fit), the policy also
carries that lead-lag shift and its sharp-move pull from step 2 on, so the in-sample passes, the validated candidate and
the promoted set all quote with it; without a leader, or without a significant lead, nothing changes.

Units: prices quote currency, sigma price units per sqrt(second), kappa per price unit, A per second per side,
spreads, edges and adverse selection bps, times UTC epoch ms.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import minimize

from calibration.fill_probability import hat_basis
from calibration.fit_result import InsufficientSamples
from calibration.lead_lag import NoLeadLag
from data_lake.param_schema import ARRIVAL_RATE_UNIT, KAPPA_UNIT, SIGMA_UNIT, Parameters
from data_lake.units import MINUTE_MS, SECOND_MS
from quoting.core.fill_prediction import ReachModel
from quoting.core.policy_inputs import quoting_inputs
from validation.backtest.runner import market_tape, run_backtest
from validation.experiments.interval_scoring import policy_leader_mids, quote_outcomes
from validation.experiments.lead_lag_variant import LeaderFit, fit_leader_shift
from validation.experiments.out_of_sample import marked_fills
from validation.experiments.regime_beliefs import RegimeModel, fit_regimes, regime_reach
from validation.experiments.train_estimates import _base, _closed_bars, _window, bipower_sigma
from validation.experiments.variant_types import LEADER_MIDS, FittedVariant, Market, VariantConfig
from validation.statistics.significance import overlapping_mean

CANDIDATE = "candidate"


@dataclass(frozen=True)
class RegimeEdge:
    """One state's in-sample own fills: net edge per fill and adverse selection (bps, HAC SEs), and the verdict."""

    regime: str
    n_fills: int
    net_bps: float
    net_se_bps: float
    adverse_bps: float
    adverse_se_bps: float
    cost_bps: float
    """Mean move of the mid against the fill within the horizon (``-markout``), bps."""
    cost_se_bps: float
    quote: bool

    @property
    def net_t(self) -> float:
        """net_bps / net_se_bps; NaN when undefined."""
        return self.net_bps / self.net_se_bps if self.net_se_bps > 0 else math.nan


def regime_edges(fills: pl.DataFrame, names: tuple[str, ...], config: VariantConfig) -> list[RegimeEdge]:
    """Per state, the edge of the marked own ``fills`` (:func:`validation.experiments.out_of_sample.marked_fills`, with
    the ``belief_<state>`` columns they were quoted under) whose most likely state it was.

    A state with fewer than 2 marked fills takes the pooled adverse selection (n says how few it had) and is not
    quoted; so is one whose net edge is not above ``edge_z`` SEs or that has fewer than ``min_regime_fills``.
    """
    horizon = config.markout_horizon_ms
    marked = fills.filter(pl.col("realised_adverse_bps").is_not_null()).sort("time")
    if marked.height < 2:
        raise InsufficientSamples("candidate_train_fills", marked.height, 2)
    state = np.argmax(marked.select(f"belief_{n}" for n in names).to_numpy(), axis=1)
    times = marked["time"].to_numpy()
    net = marked[f"net_{horizon}ms_bps"].to_numpy()
    adverse = marked["realised_adverse_bps"].to_numpy()
    cost = -marked[f"markout_{horizon}ms_bps"].to_numpy()
    pooled = (*overlapping_mean(times, adverse, horizon), *overlapping_mean(times, cost, horizon))
    edges = []
    for k, name in enumerate(names):
        own = state == k
        n = int(own.sum())
        if n < 2:
            edges.append(RegimeEdge(name, n, math.nan, math.nan, *pooled, quote=False))
            continue
        net_mean, net_se = overlapping_mean(times[own], net[own], horizon)
        adverse_mean, adverse_se = overlapping_mean(times[own], adverse[own], horizon)
        cost_mean, cost_se = overlapping_mean(times[own], cost[own], horizon)
        quote = n >= config.min_regime_fills and net_se > 0 and net_mean - config.edge_z * net_se > 0
        edges.append(RegimeEdge(name, n, net_mean, net_se, adverse_mean, adverse_se, cost_mean, cost_se, bool(quote)))
    return edges


@dataclass(frozen=True, eq=False)
class InSample:
    """A policy run through the backtest over its own training window: its marked fills
    (:func:`validation.experiments.out_of_sample.marked_fills`), the policy as a fitted variant, and the backtest's
    equity curve."""

    fills: pl.DataFrame
    fitted: FittedVariant
    equity: pl.DataFrame


def _in_sample(train: Market, parameters: dict[str, Any], regimes: RegimeModel, config: VariantConfig) -> InSample:
    """The policy ``parameters`` describe, run through the backtest over ``train``."""
    inputs = quoting_inputs(Parameters.from_dict(parameters))
    assert inputs.reach is not None  # the candidate always sets it
    adverse = inputs.adverse_bps_by_regime if inputs.adverse_bps_by_regime is not None else np.zeros(len(regimes.names))
    result = run_backtest(
        train["book"],
        train["trades"],
        inputs.model,
        inputs.policy,
        config.backtest,
        regimes.train_beliefs,
        0.0,
        regimes.names,
        inputs.reach,
        policy_leader_mids(train, inputs.policy),
        tape=market_tape(train),
    )
    fitted = FittedVariant(
        name=CANDIDATE,
        model=inputs.model,
        policy=inputs.policy,
        regime_names=regimes.names,
        adverse_bps_by_regime=tuple(float(a) for a in adverse),
        params={},
        beliefs=regimes.beliefs,
        reach=inputs.reach,
        parameter_set=parameters,
    )
    return InSample(marked_fills(result.fills, train, config.markout_horizon_ms), fitted, result.equity)


class _InSampleRuns:
    """The in-sample runs (:func:`_in_sample`) of one candidate fit on ``train``, each policy backtested once: the
    search meets some policies twice (the configured pull threshold's is the policy whose edges chose the quoted
    states; the floors every state chose may be one of the grid's), and these backtests are most of the fit's cost.
    A policy is known by its ``parameters`` document (canonical JSON)."""

    def __init__(self, train: Market, regimes: RegimeModel, config: VariantConfig) -> None:
        self.train, self.regimes, self.config = train, regimes, config
        self._runs: dict[str, InSample] = {}

    def run(self, parameters: dict[str, Any]) -> InSample:
        """The policy ``parameters`` describe, run through the backtest over the training window."""
        key = json.dumps(parameters, sort_keys=True)
        if key not in self._runs:
            self._runs[key] = _in_sample(self.train, parameters, self.regimes, self.config)
        return self._runs[key]

    def edges(self, parameters: dict[str, Any]) -> list[RegimeEdge]:
        """:func:`regime_edges` of the policy's in-sample fills; raises InsufficientSamples with fewer than 2."""
        return regime_edges(self.run(parameters).fills, self.regimes.names, self.config)


def reach_recalibration(log_intensity: np.ndarray, belief: np.ndarray, reached: np.ndarray) -> tuple[float, float]:
    """(a, b) maximising the binomial likelihood of ``reached`` under ``P = sum_r belief_r (1 - exp(-exp(a + b g_r)))``
    with ``g`` the (quotes x regimes) log reach intensities: a Mincer-Zarnowitz-style recalibration on the
    complementary log-log scale (b = 1, a = 0 leaves the curves as fitted; b < 1 flattens them). b in [0, 3].

    The scale is kept only where the quotes show it: against the constant forecast (b = 0, the quotes' own reach
    rate) it must win by the Bayesian information criterion, ``2 (LL_ab - LL_a) > ln n`` (Schwarz 1978, Annals of
    Statistics 6(2)). Otherwise the resolution the curves claim between these quotes (depth, regime) is not one the
    policy's own quotes bear out, and predicting it would only add noise that the out-of-sample calibration slope
    reads as overconfidence: the forecast is then the constant, (a, 0).
    """

    def negative_loglik(x: np.ndarray) -> float:
        p = (belief * -np.expm1(-np.exp(np.minimum(x[0] + x[1] * log_intensity, 50.0)))).sum(axis=1)
        p = np.clip(p, 1e-12, 1.0 - 1e-12)
        return -float(np.where(reached, np.log(p), np.log1p(-p)).sum())

    found = minimize(negative_loglik, np.array([0.0, 1.0]), method="L-BFGS-B", bounds=[(-10.0, 10.0), (0.0, 3.0)])
    rate = float(np.clip(np.mean(reached), 1e-12, 1.0 - 1e-12))
    constant = np.array([math.log(-math.log1p(-rate)), 0.0])
    if 2.0 * (negative_loglik(constant) - float(found.fun)) > math.log(reached.size):
        return float(found.x[0]), float(found.x[1])
    return float(constant[0]), 0.0


def _reach_recalibration(
    train: Market, run: InSample, regimes: RegimeModel, config: VariantConfig
) -> tuple[float, float]:
    """:func:`reach_recalibration` on the policy's own in-sample quotes
    (:func:`validation.experiments.interval_scoring.quote_outcomes` of ``run`` on ``train``); (0, 1) without quotes, or
    when every quote or none was reached.

    The reach curves are fitted on every decision interval; the policy quotes at some of them, at depths that move
    with its inventory and so with the flow that filled it. Recalibrating on the training window's own quotes
    carries that selection into the prediction of the event the gate scores.
    """
    fitted = run.fitted
    quotes = quote_outcomes(fitted, regimes.train_beliefs, run.equity, train, _window(train), config)
    reached = quotes["filled"].to_numpy() if quotes.height else np.zeros(0, dtype=bool)
    if reached.size == 0 or reached.all() or not reached.any():
        return 0.0, 1.0
    depth = (quotes["depth_px"] / quotes["mid"] * 1e4).to_numpy()
    beliefs = quotes.select("time").join_asof(regimes.train_beliefs.sort("time"), on="time", strategy="backward")
    belief = beliefs.select(f"belief_{n}" for n in regimes.names).fill_null(0.0).to_numpy()
    log_intensity = hat_basis(depth, fitted.reach.knots) @ fitted.reach.log_intensities.T  # (quotes x regimes)
    return reach_recalibration(log_intensity, belief, reached)


def _best_floors(runs: _InSampleRuns, parameters: dict[str, Any]) -> dict[str, float]:
    """Per state, the floor of the grid (raised to the configured floor) with the largest in-sample total net edge
    (fills x mean net bps) on at least ``min_regime_fills`` fills; the configured floor when none qualifies."""
    config = runs.config
    configured = parameters["min_spread_bps_by_regime"]
    best = {name: (-math.inf, configured[name]) for name in runs.regimes.names}
    for grid_floor in config.candidate_floor_grid_bps:
        floors = {name: max(float(grid_floor), floor) for name, floor in configured.items()}
        try:
            edges = runs.edges(parameters | {"min_spread_bps_by_regime": floors})
        except InsufficientSamples:
            continue
        for edge in edges:
            total = edge.n_fills * edge.net_bps
            if edge.n_fills >= config.min_regime_fills and total > best[edge.regime][0]:
                best[edge.regime] = (total, floors[edge.regime])
    return {name: floor for name, (_, floor) in best.items()}


def _best_pull_threshold(
    runs: _InSampleRuns, parameters: dict[str, Any]
) -> tuple[float, InSample, list[RegimeEdge] | None]:
    """The pull threshold of ``candidate_pull_threshold_grid`` with the largest in-sample total net edge (a lower
    threshold stands aside sooner when the causal belief starts to doubt a quoted state: the filter learns of a
    regime change only as minutes close), with that policy's in-sample run and the edges of its fills (None with
    fewer than 2 fills). Every state quoted or none: the threshold changes nothing, the configured one stays."""
    config = runs.config
    quoted = parameters["quote_by_regime"].values()
    candidates = config.candidate_pull_threshold_grid if any(quoted) and not all(quoted) else (config.pull_threshold,)
    best: tuple[float, float, InSample, list[RegimeEdge] | None] | None = None
    for threshold in candidates:
        run = runs.run(parameters | {"cascade_threshold": float(threshold)})
        try:
            edges: list[RegimeEdge] | None = regime_edges(run.fills, runs.regimes.names, config)
        except InsufficientSamples:
            edges = None
        total = sum(e.n_fills * e.net_bps for e in edges if e.n_fills >= 2) if edges else -math.inf
        if best is None or total > best[0]:
            best = (total, float(threshold), run, edges)
    assert best is not None  # the grid is not empty
    if best[3] is None and best[1] != config.pull_threshold:  # no threshold gave fills: keep the configured one
        return config.pull_threshold, runs.run(parameters), None
    return best[1], best[2], best[3]


def _adverse_by_regime(
    fills: pl.DataFrame,
    final: list[RegimeEdge] | None,
    every_state: list[RegimeEdge],
    quoted: dict[str, bool],
    horizon_ms: int,
) -> dict[str, dict[str, Any]]:
    """The adverse selection per state the quoter blends, from the final policy's own in-sample fills.

    A quoted state: the mean of the fills quoted under it (argmax belief). A pulled state: the mean of all the
    final policy's fills, because the policy fills only while its belief in a pulled state is below the pull
    threshold, so those are the fills that state's belief weight blends into (the state's own fills, taken by a
    policy quoting there, are a population the quoter never meets). Without 2 final fills (every state pulled):
    the values of the policy quoting in every state.
    """
    if final is None:  # fewer than 2 marked final fills
        return _means(every_state, "adverse_bps", "adverse_se_bps")
    marked = fills.filter(pl.col("realised_adverse_bps").is_not_null()).sort("time")
    pooled = overlapping_mean(marked["time"].to_numpy(), marked["realised_adverse_bps"].to_numpy(), horizon_ms)
    out = {}
    for edge in final:
        own = quoted[edge.regime] and edge.n_fills >= 2
        value, se = (edge.adverse_bps, edge.adverse_se_bps) if own else pooled
        out[edge.regime] = {
            "value": float(max(value, 0.0)),
            "se": float(se),
            "n": edge.n_fills if own else marked.height,
        }
    return out


def _means(edges: list[RegimeEdge], value: str, se: str) -> dict[str, dict[str, Any]]:
    return {
        e.regime: {"value": float(max(getattr(e, value), 0.0)), "se": float(getattr(e, se)), "n": e.n_fills}
        for e in edges
    }


def _bipower_sigma_se(train: Market, end_ms: int, sigma_log: float) -> float:
    """Delta-method SE of the bipower sigma (log units per sqrt(second)) from the spread of the minute BVs."""
    bv = _closed_bars(train["features"], MINUTE_MS, end_ms)["bv"].drop_nulls().drop_nans().to_numpy()
    if bv.size < 2 or sigma_log <= 0:
        return 0.0
    mean_se = float(bv.std(ddof=1)) / math.sqrt(bv.size) / (MINUTE_MS / SECOND_MS)
    return mean_se / (2.0 * sigma_log)


def _regime_sigmas(
    train: Market, end_ms: int, regimes: RegimeModel, mid: float, pooled: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Per state, the bipower sigma (price units per sqrt(second)) of the closed train minutes weighted by the
    state's causal belief at each minute's close, with its delta-method SE; ``pooled`` for a state that held less
    than two minutes of belief. One sigma for every state lets the volatile minutes set the calm quotes' skew."""
    bars = _closed_bars(train["features"], MINUTE_MS, end_ms).select("time", "bv").drop_nulls().drop_nans()
    known = bars.with_columns(time=pl.col("time") + MINUTE_MS).join(regimes.train_beliefs, on="time", how="inner")
    bv = known["bv"].to_numpy() / (MINUTE_MS / SECOND_MS)  # variance per second
    out = {}
    for name in regimes.names:
        w = known[f"belief_{name}"].to_numpy()
        if w.sum() < 2.0:
            out[name] = dict(pooled)
            continue
        mean = float(w @ bv / w.sum())
        mean_se = math.sqrt(float(w @ (bv - mean) ** 2 / w.sum()) / w.sum())
        sigma_log = math.sqrt(mean)
        out[name] = {"value": sigma_log * mid, "se": mean_se / (2.0 * sigma_log) * mid, "unit": SIGMA_UNIT}
    return out


def _reach_parameters(reach: ReachModel, names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "horizon_ms": int(reach.horizon_ms),
        "latency_ms": int(reach.latency_ms),
        "depth_knots_bps": [float(k) for k in reach.knots_bps],
        "log_intensity_by_regime": {
            n: [float(v) for v in values] for n, values in zip(names, reach.log_intensity_by_regime, strict=True)
        },
    }


def _significant_leader(train: Market, config: VariantConfig, end_ms: int) -> LeaderFit | None:
    """The training window's lead-lag (:func:`validation.experiments.lead_lag_variant.fit_leader_shift`, as the
    ``+lead_lag`` variant fits it) when the coin has leader mids and the lead is significant; None otherwise (the policy
    stays as it is)."""
    leaders = train.get(LEADER_MIDS)
    if leaders is None or leaders.height == 0:
        return None
    try:
        return fit_leader_shift(train, config, end_ms)
    except NoLeadLag:
        return None


def _lead_lag_parameters(leader: LeaderFit) -> dict[str, Any]:
    shift = leader.shift
    return {
        "leader": shift.leader,
        "lag_ms": int(shift.lag_ms),
        "beta": float(shift.beta),
        "beta_se": float(leader.params["lead_lag_beta_se"]),
        "move_sd": float(shift.move_sd),
        "pull_k": float(shift.pull_k),
        "hold_ms": int(shift.hold_ms),
    }


@dataclass(frozen=True, eq=False)
class CandidateFit:
    """The parameter-set ``parameters``, the training window they describe, and how they came about."""

    parameters: dict[str, Any]
    window: tuple[int, int]
    regimes: RegimeModel
    edges: list[RegimeEdge]
    figures: dict[str, float]


def candidate_parameters(train: Market, config: VariantConfig) -> CandidateFit:
    """Fit the candidate on ``train`` (see the module docstring); raises InsufficientSamples when a fit cannot be
    made on the window."""
    base = _base(train, config, bipower_sigma)
    regimes = fit_regimes(train, base.end_ms, config)
    names = regimes.names
    if len(names) > len(config.candidate_gamma_by_regime):
        raise ValueError(f"{len(names)} HMM states but gammas for {len(config.candidate_gamma_by_regime)}")
    reach = regime_reach(train, base.end_ms, config)
    lot = 10.0**-config.sz_decimals
    sigma_log = base.params["sigma_log_per_sqrt_s"]
    mid = base.params["mid_px"]
    parameters: dict[str, Any] = {
        "gamma_per_quote_by_regime": {n: float(config.candidate_gamma_by_regime[k]) for k, n in enumerate(names)},
        "min_spread_bps_by_regime": {
            n: float(config.candidate_min_spread_bps_by_regime[k]) for k, n in enumerate(names)
        },
        "kappa": {"value": float(base.kappa), "se": float(base.kappa_se), "unit": KAPPA_UNIT},
        "arrival_rate": {
            "value": float(base.arrival_rate),
            "se": float(base.params["arrival_rate_se_per_s"]),
            "unit": ARRIVAL_RATE_UNIT,
        },
        "sigma": {
            "value": float(base.sigma),
            "se": float(_bipower_sigma_se(train, base.end_ms, sigma_log) * mid),
            "unit": SIGMA_UNIT,
        },
        "hmm": regimes.params.to_dict(),
        "maker_fee_bps": float(config.maker_fee_bps),
        "order_size_base": float(base.order_size),
        "position_limit_base": float(round(config.position_limit_orders * base.order_size / lot) * lot),
        "daily_loss_limit_quote": float(config.daily_loss_limit_quote),
        "sz_decimals": int(config.sz_decimals),
        "is_spot": False,
        "cascade_threshold": float(config.pull_threshold),
        "kappa_se_mult": float(config.kappa_se_mult),
        "fill_probability": _reach_parameters(reach, names),
        "quote_by_regime": dict.fromkeys(names, True),
        "requote_interval_ms": int(config.backtest.requote_ms),
    }
    leader = _significant_leader(train, config, base.end_ms)
    if leader is not None:
        parameters["lead_lag"] = _lead_lag_parameters(leader)
    parameters["sigma_by_regime"] = _regime_sigmas(train, base.end_ms, regimes, mid, parameters["sigma"])
    runs = _InSampleRuns(train, regimes, config)
    parameters["adverse_cost_bps_by_regime"] = _means(runs.edges(parameters), "cost_bps", "cost_se_bps")
    parameters["min_spread_bps_by_regime"] = _best_floors(runs, parameters)
    edges = runs.edges(parameters)
    parameters["quote_by_regime"] = {e.regime: e.quote for e in edges}
    parameters["cascade_threshold"], final, final_edges = _best_pull_threshold(runs, parameters)
    parameters["adverse_selection_bps_by_regime"] = _adverse_by_regime(
        final.fills, final_edges, edges, parameters["quote_by_regime"], config.markout_horizon_ms
    )
    shift, scale = _reach_recalibration(train, final, regimes, config)
    parameters["fill_probability"]["log_intensity_by_regime"] = {
        n: [shift + scale * v for v in values]
        for n, values in parameters["fill_probability"]["log_intensity_by_regime"].items()
    }
    start, end = _window(train)
    figures = {
        **base.params,
        **{f"hmm_{key}": value for key, value in regimes.estimates.items()},
        **{f"train_net_bps_{e.regime}": e.net_bps for e in edges},
        **{f"train_net_se_bps_{e.regime}": e.net_se_bps for e in edges},
        **{f"train_fills_{e.regime}": float(e.n_fills) for e in edges},
        **{f"adverse_bps_{e.regime}": e.adverse_bps for e in edges},
        **{f"adverse_cost_bps_{r}": c["value"] for r, c in parameters["adverse_cost_bps_by_regime"].items()},
        **{f"sigma_px_per_sqrt_s_{r}": c["value"] for r, c in parameters["sigma_by_regime"].items()},
        **{f"quote_{e.regime}": float(e.quote) for e in edges},
        "reach_recalibration_shift": shift,
        "reach_recalibration_scale": scale,
        "pull_threshold": parameters["cascade_threshold"],
        **(leader.params if leader is not None else {}),
    }
    return CandidateFit(parameters, (start, end), regimes, edges, figures)


def fit_candidate(train: Market, config: VariantConfig) -> FittedVariant:
    """The candidate as a walk-forward variant: :func:`candidate_parameters` through the quoter's own conversion."""
    fit = candidate_parameters(train, config)
    inputs = quoting_inputs(Parameters.from_dict(fit.parameters))
    assert inputs.adverse_bps_by_regime is not None and inputs.reach is not None  # the candidate always sets them
    return FittedVariant(
        name=CANDIDATE,
        model=inputs.model,
        policy=inputs.policy,
        regime_names=fit.regimes.names,
        adverse_bps_by_regime=tuple(float(a) for a in inputs.adverse_bps_by_regime),
        params=fit.figures,
        beliefs=fit.regimes.beliefs,
        reach=inputs.reach,
        parameter_set=fit.parameters,
    )
