"""Backtest of the GLFT quoter on one coin's clean book and trades, with fill, latency and fee models.

The loop itself is compiled (:mod:`validation.backtest.engine`) and quotes through the same
:func:`quoting.core.glft.glft_quote_core` as the paper and live quoters. Inputs are the lake's ``book`` rows
(levels ``bid_px_1..``/``ask_px_1..``, ``mid``) and ``trades`` rows (``px``, ``sz``, ``side`` = aggressor),
times UTC epoch ms. A policy with a leader (:mod:`quoting.core.lead_lag_shift`) needs that leader's mids (``time``,
``mid``), quotes around the lead-lag fair value and pulls on its sharp moves; a policy with the Hawkes component
scales A by the taker-order intensity multiplier of the tape's own trades (:mod:`quoting.core.hawkes_intensity`).
Outputs are polars frames: the fill log (the FillLog fields) and the equity curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from calibration.window_fits import order_arrival_times
from quoting.core.fill_models import FILL_MODELS
from quoting.core.fill_prediction import ReachModel
from quoting.core.glft import DEFAULT_REGIMES, GlftInputs, MarketModel, QuotePolicy
from quoting.core.hawkes_intensity import intensity_multipliers
from quoting.core.lead_lag_shift import leader_log_returns, leader_pulls
from quoting.core.policy_inputs import REQUOTE_INTERVAL_MS
from validation.backtest.engine import FILL_LOG_COLUMNS, EngineParams, MarketData, RegimeTable, simulate
from validation.backtest.fold_data import derived

Tape = tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
]
"""The 16 book and trade fields of :class:`MarketData` (``book_time`` to ``trade_side``), in its order
(:func:`market_tape`); spelled out so the type checker counts them against ``MarketData``'s fields."""

NO_TIME = np.iinfo(np.int64).min
"""Stamp of the certain-calm belief row used without beliefs: known before any event."""


@dataclass(frozen=True)
class BacktestConfig:
    """Simulation settings; latencies in ms (default 100 + 100 = 200 ms from market event to live order)."""

    fill_model: str = "queue"
    """'queue' (queue position) or 'trade_through' (conservative), see quoting.core.fill_models."""
    feed_latency_ms: int = 100
    """Exchange event -> strategy sees it (own fills included)."""
    order_latency_ms: int = 100
    """Strategy sends an order or cancel -> it takes effect at the exchange."""
    order_latency_jitter_ms: int = 0
    """Extra uniform random order latency in [0, jitter], drawn from ``seed``."""
    requote_ms: int = REQUOTE_INTERVAL_MS
    """Minimum local time between two quote decisions (cascade pulls are never delayed)."""
    fill_prob_horizon_ms: int = 1_000
    """tau of the predicted fill probability: the horizon, after the order latency, in which a print must reach the
    quote's price (:mod:`quoting.core.fill_prediction`)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.fill_model not in FILL_MODELS:
            raise ValueError(f"fill_model {self.fill_model!r} not in {sorted(FILL_MODELS)}")
        if min(self.feed_latency_ms, self.order_latency_ms, self.order_latency_jitter_ms, self.requote_ms) < 0:
            raise ValueError("latencies and requote_ms must be >= 0")


@dataclass(frozen=True)
class BacktestResult:
    """Fill log, equity curve (one row per book row) and the end state; cash and equity in quote currency."""

    fills: pl.DataFrame
    equity: pl.DataFrame
    final_inventory: float
    final_cash: float
    final_mid: float
    orders_sent: int
    cancels_sent: int
    alo_rejects: int

    @property
    def final_equity(self) -> float:
        """Mark-to-mid value of the book: cash + inventory * mid."""
        return self.final_cash + self.final_inventory * self.final_mid


def run_backtest(
    book: pl.DataFrame,
    trades: pl.DataFrame,
    model: MarketModel,
    policy: QuotePolicy,
    config: BacktestConfig = BacktestConfig(),
    beliefs: pl.DataFrame | None = None,
    adverse_bps_by_regime: Sequence[float] | float = 0.0,
    regime_names: Sequence[str] = DEFAULT_REGIMES,
    reach: ReachModel | None = None,
    leader_mids: pl.DataFrame | None = None,
    tape: Tape | None = None,
) -> BacktestResult:
    """Replay one coin's ``book`` and ``trades`` and quote with ``policy``.

    ``beliefs`` has ``time`` and one ``belief_<regime>`` column per regime in ``regime_names`` order, each
    row computed from data up to its time (a causal filter); without it the calm regime (index 0) is certain.
    ``adverse_bps_by_regime`` is the predicted adverse selection logged with each fill (belief-weighted), ``reach``
    the fill-probability model logged with it (NaN without one). ``leader_mids`` (``time``, ``mid``) are the mids
    of ``policy.lead_lag``'s leader; a policy with a leader refuses to run without them. ``tape`` is
    :func:`market_tape` of the market ``book`` and ``trades`` come from, when the caller shares it between runs.
    """
    n_regimes = len(policy.gamma_by_regime)
    if len(regime_names) != n_regimes:
        raise ValueError(f"{len(regime_names)} regime names for {n_regimes} regimes")
    data = market_data(book, trades, beliefs, regime_names, policy, leader_mids, tape)
    regimes = RegimeTable(
        gammas=policy.gammas,
        min_spreads_bps=policy.min_spreads_bps,
        adverse_bps=np.broadcast_to(np.asarray(adverse_bps_by_regime, dtype=np.float64), (n_regimes,)).copy(),
        fill_costs_bps=policy.fill_costs_bps,
        sigmas=policy.sigmas(model.sigma),
        pulled=policy.pulled,
        reach_knots=reach.knots if reach else np.array([0.0, 1.0]),
        reach_log_intensities=reach.log_intensities if reach else np.full((n_regimes, 2), np.nan),
    )
    fill_log, account_by_row, account, last_mid, orders_sent, cancels_sent, alo_rejects = simulate(
        data, regimes, engine_params(model, policy, config)
    )
    return BacktestResult(
        fills=fill_frame(fill_log, data.belief, regime_names),
        equity=pl.DataFrame(
            {"time": data.book_time, "mid": data.mid, "inventory": account_by_row[:, 0], "cash": account_by_row[:, 1]}
        ).with_columns(equity=pl.col("cash") + pl.col("inventory") * pl.col("mid")),
        final_inventory=float(account[0]),
        final_cash=float(account[1]),
        final_mid=float(last_mid),
        orders_sent=int(orders_sent),
        cancels_sent=int(cancels_sent),
        alo_rejects=int(alo_rejects),
    )


def fill_frame(fill_log: np.ndarray, beliefs: np.ndarray, regime_names: Sequence[str]) -> pl.DataFrame:
    """The engine's fill log as the FillLog frame, with the regime belief each order was quoted under."""
    log = pl.DataFrame(fill_log, schema=list(FILL_LOG_COLUMNS), orient="row")
    quoted_under = beliefs[fill_log[:, FILL_LOG_COLUMNS.index("belief_row")].astype(np.int64)]
    return log.select(
        pl.col("time").cast(pl.Int64),
        pl.col("side").cast(pl.Int8),
        "px",
        "sz",
        "fee",
        "mid",
        "inventory",
        "pred_fill_prob",
        "pred_adverse_bps",
        *[pl.Series(f"belief_{name}", quoted_under[:, k]) for k, name in enumerate(regime_names)],
        pl.col("quote_age_ms").cast(pl.Int64),
    )


def market_data(
    book: pl.DataFrame,
    trades: pl.DataFrame,
    beliefs: pl.DataFrame | None,
    regime_names: Sequence[str],
    policy: QuotePolicy | None = None,
    leader_mids: pl.DataFrame | None = None,
    tape: Tape | None = None,
) -> MarketData:
    """Sorted numpy arrays for the engine; absent book levels become NaN; the leader's log return and sharp-move
    pull per book row when ``policy`` has a leader (NaN, False otherwise); the Hawkes intensity multiplier per book
    row when it has the Hawkes component (1.0 otherwise)."""
    if beliefs is None:
        belief_time = np.array([NO_TIME], dtype=np.int64)
        belief = np.eye(1, len(regime_names), dtype=np.float64)
    else:
        beliefs = beliefs.sort("time", maintain_order=True)
        belief_time = beliefs["time"].cast(pl.Int64).to_numpy()
        belief = beliefs.select([f"belief_{name}" for name in regime_names]).cast(pl.Float64).to_numpy()
    if tape is None:
        tape = _tape(book, trades)
    leader_return, leader_pull = _leader_returns(tape[0], policy, leader_mids)
    return MarketData(
        *tape,
        belief_time=np.ascontiguousarray(belief_time),
        belief=np.ascontiguousarray(belief),
        leader_return=leader_return,
        leader_pull=leader_pull,
        intensity_multiplier=book_intensity_multipliers(tape[0], trades, policy),
    )


def taker_order_times(trades: pl.DataFrame) -> np.ndarray:
    """Taker-order arrival times (ms, sorted, both sides pooled): the events of the Hawkes component, as fitted
    (:func:`calibration.window_fits.order_arrival_times`)."""
    return np.sort(np.concatenate(list(order_arrival_times(trades).values())))


def book_intensity_multipliers(at_ms: np.ndarray, trades: pl.DataFrame, policy: QuotePolicy | None) -> np.ndarray:
    """The Hawkes m(t) at each of the sorted ``at_ms`` from ``trades``' taker orders; 1.0 for a policy without the
    Hawkes component."""
    if policy is None or policy.hawkes is None:
        return np.ones(np.asarray(at_ms).size)
    return intensity_multipliers(taker_order_times(trades), at_ms, policy.hawkes)


def _leader_returns(
    book_time: np.ndarray, policy: QuotePolicy | None, leader_mids: pl.DataFrame | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per book row, the policy's leader's log return over its lag as of the row's time and whether a sharp leader
    move pulls the quotes; NaN and False without a leader."""
    shift = policy.lead_lag if policy is not None else None
    if shift is None:
        return np.full(book_time.size, np.nan), np.zeros(book_time.size, dtype=np.bool_)
    if leader_mids is None:
        raise ValueError(f"the policy shifts its fair value by {shift.leader}'s moves: pass that leader's mids")
    mids = leader_mids.sort("time")
    times, values = mids["time"].to_numpy(), mids["mid"].to_numpy()
    return (
        leader_log_returns(times, values, book_time, shift.lag_ms, shift.max_age_ms),
        leader_pulls(times, values, book_time, shift),
    )


def market_tape(data: Mapping[str, pl.DataFrame]) -> Tape:
    """The engine's arrays of ``data``'s ``book`` and ``trades``, built once per fold part when ``data`` is a
    :class:`validation.backtest.fold_data.FoldData` (every variant of a fold replays the same tape)."""
    return derived(data, "tape", (), lambda: _tape(data["book"], data["trades"]))


def in_time_order(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` stably sorted by ``time``; the frame itself when it already is (a lake read, or a fold's slice of
    one), which spares gathering every column: ~0.1 s for a fold's 20-level book of 100k rows."""
    times = frame["time"]
    return frame if times.null_count() == 0 and times.is_sorted() else frame.sort("time", maintain_order=True)


def _tape(book: pl.DataFrame, trades: pl.DataFrame) -> Tape:
    """The book and trade fields of :class:`MarketData`, in its order (read-only for the engine: variants share
    them, :func:`market_tape`).

    A row whose ``source`` is ``bbo`` shows the touch only; every other row (all of them without a ``source``
    column) is a full snapshot whose levels go to the ``depth_*`` arrays."""
    book = in_time_order(book)
    trades = in_time_order(trades)
    n_levels = sum(1 for c in book.columns if c.startswith("bid_px_"))
    has_source = "source" in book.columns
    is_snapshot = (book["source"] != "bbo").fill_null(True) if has_source else pl.repeat(True, book.height, eager=True)
    snapshots = book.filter(is_snapshot)

    def touch(prefix: str) -> np.ndarray:
        return np.ascontiguousarray(book.select(pl.col(f"{prefix}_1").cast(pl.Float64).fill_null(np.nan)).to_numpy())

    def depth(prefix: str) -> np.ndarray:
        cols = [f"{prefix}_{i}" for i in range(1, n_levels + 1)]
        levels = snapshots.select(pl.col(cols).cast(pl.Float64).fill_null(np.nan)).to_numpy()
        return np.ascontiguousarray(np.vstack([np.full((1, n_levels), np.nan), levels]))

    return (
        book["time"].cast(pl.Int64).to_numpy(),
        touch("bid_px"),
        touch("bid_sz"),
        touch("ask_px"),
        touch("ask_sz"),
        book["mid"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        is_snapshot.to_numpy(),
        is_snapshot.cast(pl.Int64).cum_sum().to_numpy(),
        depth("bid_px"),
        depth("bid_sz"),
        depth("ask_px"),
        depth("ask_sz"),
        trades["time"].cast(pl.Int64).to_numpy(),
        trades["px"].cast(pl.Float64).to_numpy(),
        trades["sz"].cast(pl.Float64).to_numpy(),
        trades["side"].cast(pl.Int64).to_numpy(),
    )


def engine_params(model: MarketModel, policy: QuotePolicy, config: BacktestConfig) -> EngineParams:
    """Flatten the model, the policy and the config into the compiled loop's parameter tuple."""
    return EngineParams(
        glft=GlftInputs.of(model, policy),
        pull_threshold=float(policy.pull_threshold),
        maker_fee_bps=float(policy.maker_fee_bps),
        fill_model=FILL_MODELS[config.fill_model],
        feed_latency_ms=int(config.feed_latency_ms),
        order_latency_ms=int(config.order_latency_ms),
        order_latency_jitter_ms=int(config.order_latency_jitter_ms),
        requote_ms=int(config.requote_ms),
        seed=int(config.seed),
        lead_lag_beta=float(policy.lead_lag_beta),
        reach_horizon_weight=1.0
        if policy.hawkes is None
        else policy.hawkes.horizon_weight(
            config.feed_latency_ms + config.order_latency_ms, config.fill_prob_horizon_ms
        ),
    )
