"""The predicted fill probability scored on its own event: at each tau interval of the test window, the quote a
fitted variant would show and whether a market print reached its price in ``[t + latency, t + latency + tau)``, the
event the reach model predicts (:mod:`quoting.core.fill_prediction`). The quotes come from one compiled loop through
the shared GLFT kernel (:func:`quoting.core.glft.glft_quote_core`), as in the backtest and the quoter. Times UTC epoch
ms, prices quote currency.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numba import njit

from calibration.fill_probability import interval_extremes
from calibration.mids import mid_index
from quoting.core.fill_prediction import depth_bps, reach_probability
from quoting.core.glft import QUOTED, GlftInputs, QuotePolicy, blend_regimes, glft_quote_core, regime_pull
from quoting.core.hawkes_intensity import expected_multiplier
from quoting.core.lead_lag_shift import lead_lag_fair_value, leader_log_returns, leader_pulls
from validation.backtest.fold_data import derived
from validation.backtest.runner import book_intensity_multipliers, in_time_order
from validation.experiments.train_estimates import _asof_rows
from validation.experiments.variant_types import LEADER_MIDS, FittedVariant, Market, VariantConfig


def policy_leader_mids(data: Market, policy: QuotePolicy) -> pl.DataFrame | None:
    """``time, mid`` of the policy's leader in ``data`` (empty when the window holds none: the quote falls back to
    the mid); None for a policy without a leader."""
    if policy.lead_lag is None:
        return None
    empty = pl.DataFrame(schema={"time": pl.Int64, "mid": pl.Float64})
    frame = data.get(LEADER_MIDS)
    if frame is None:
        return empty
    return frame.filter(pl.col("leader") == policy.lead_lag.leader).select("time", "mid").sort("time")


def quote_outcomes(
    fitted: FittedVariant,
    beliefs: pl.DataFrame,
    equity: pl.DataFrame,
    test: Market,
    window: tuple[int, int],
    config: VariantConfig,
) -> pl.DataFrame:
    """Each tau interval of the test ``window``: the quote the variant would show at its start t, per side, and
    whether a market print reached that price in ``[t + latency, t + latency + tau)`` (the event the reach model
    predicts, :mod:`quoting.core.fill_prediction`; intervals whose scored window passes the window's end are left out).

    State at the interval start t: mid and touch of the last book row at or before t (at most ``MID_MAX_AGE_MS``
    old, :func:`calibration.mids.mid_index`: intervals starting in a capture gap are left out), the backtest's
    inventory, the belief of the last row at or before t, for a policy with a leader the leader's log return over
    its lag as of t (the quote's centre) and its sharp-move pull (:mod:`quoting.core.lead_lag_shift`), and for a policy
    with the Hawkes component the intensity multiplier m(t) (:mod:`quoting.core.hawkes_intensity`: A and the predicted
    fill probability scale with it). Pulled sides are not quoted and not scored.
    """
    tau_ms, latency_ms = fitted.reach.horizon_ms, fitted.reach.latency_ms
    start, end = window
    starts: np.ndarray = start + tau_ms * np.arange(max((end - start - latency_ms) // tau_ms, 0), dtype=np.int64)
    book = derived(test, "sorted_book", (), lambda: in_time_order(test["book"]))
    book_rows = derived(
        test, "interval_book_rows", (start, end, tau_ms, latency_ms), lambda: mid_index(book["time"].to_numpy(), starts)
    )
    belief_rows = _asof_rows(beliefs["time"].to_numpy(), starts)
    inventory_rows = _asof_rows(equity["time"].to_numpy(), starts)
    keep = (book_rows >= 0) & (belief_rows >= 0)
    starts, book_rows, belief_rows = starts[keep], book_rows[keep], belief_rows[keep]
    inventory_rows = inventory_rows[keep]
    mid = book["mid"].to_numpy()[book_rows]
    best_bid, best_ask = book["bid_px_1"].to_numpy()[book_rows], book["ask_px_1"].to_numpy()[book_rows]
    inventory = np.where(inventory_rows >= 0, equity["inventory"].to_numpy()[np.maximum(inventory_rows, 0)], 0.0)
    belief = beliefs.select(f"belief_{n}" for n in fitted.regime_names).to_numpy()[belief_rows]
    model, policy, reach = fitted.model, fitted.policy, fitted.reach
    leader = policy_leader_mids(test, policy)
    leader_return, leader_pull = (np.full(starts.size, np.nan), np.zeros(starts.size, dtype=np.bool_))
    if leader is not None and policy.lead_lag is not None:
        times, values = leader["time"].to_numpy(), leader["mid"].to_numpy()
        leader_return = leader_log_returns(times, values, starts, policy.lead_lag.lag_ms, policy.lead_lag.max_age_ms)
        leader_pull = leader_pulls(times, values, starts, policy.lead_lag)
    multiplier = book_intensity_multipliers(starts, test["trades"], policy)
    horizon_weight = 1.0 if policy.hawkes is None else policy.hawkes.horizon_weight(latency_ms, tau_ms)
    row, side, depth, prob, px = _interval_quotes(
        mid,
        leader_return,
        leader_pull,
        multiplier,
        horizon_weight,
        policy.lead_lag_beta,
        best_bid,
        best_ask,
        inventory,
        np.ascontiguousarray(belief, dtype=np.float64),
        GlftInputs.of(model, policy),
        policy.sigmas(model.sigma),
        policy.gammas,
        policy.min_spreads_bps,
        policy.fill_costs_bps,
        policy.pulled,
        policy.pull_threshold,
        reach.knots,
        reach.log_intensities,
    )
    quotes = pl.DataFrame(
        {"time": starts[row], "side": side, "mid": mid[row], "depth_px": depth, "pred_fill_prob": prob, "px": px},
        schema={
            "time": pl.Int64,
            "side": pl.Int8,
            "mid": pl.Float64,
            "depth_px": pl.Float64,
            "pred_fill_prob": pl.Float64,
            "px": pl.Float64,
        },
    )
    scored = derived(
        test,
        "interval_extremes",
        (start, tau_ms, latency_ms),
        lambda: interval_extremes(test["trades"], start, tau_ms, latency_ms),
    )
    return (
        quotes.join(scored, on="time", how="left")
        .with_columns(
            filled=pl.when(pl.col("side") > 0)
            .then(pl.col("lowest_sell") <= pl.col("px"))
            .otherwise(pl.col("highest_buy") >= pl.col("px"))
            .fill_null(False)
        )
        .drop("lowest_sell", "highest_buy")
    )


@njit(cache=True)
def _interval_quotes(
    mid,
    leader_return,
    leader_pull,
    multiplier,
    horizon_weight,
    lead_lag_beta,
    best_bid,
    best_ask,
    inventory,
    belief,
    inputs,
    sigmas,
    gammas,
    floors,
    fill_costs,
    pulled,
    pull_threshold,
    reach_knots,
    reach_log_intensities,
):  # pragma: no cover - compiled
    """The quoted sides at each interval start (bid before ask), centred on the lead-lag fair value with A times the
    Hawkes multiplier: interval index, side, depth from the mid (price units), predicted reach probability and
    price; pulled sides (regime or sharp leader move) are left out."""
    n = mid.shape[0]
    row = np.empty(2 * n, np.int64)
    side = np.empty(2 * n, np.int8)
    depth = np.empty(2 * n)
    prob = np.empty(2 * n)
    px = np.empty(2 * n)
    m = 0
    for i in range(n):
        probs = belief[i]
        bid_px, ask_px, _, _, _, _, _, bid_code, ask_code = glft_quote_core(
            inputs,
            blend_regimes(probs, sigmas, gammas, floors, fill_costs),
            lead_lag_fair_value(mid[i], leader_return[i], lead_lag_beta),
            inventory[i],
            multiplier[i],
            regime_pull(probs, pulled, pull_threshold) or leader_pull[i],
            best_bid[i],
            best_ask[i],
            0.0,
            0.0,
        )
        for s, price, code in ((1, bid_px, bid_code), (-1, ask_px, ask_code)):
            if code == QUOTED:
                row[m], side[m], px[m] = i, s, price
                depth[m] = abs(mid[i] - price)
                prob[m] = reach_probability(
                    depth_bps(price, mid[i]),
                    probs,
                    reach_knots,
                    reach_log_intensities,
                    expected_multiplier(multiplier[i], horizon_weight),
                )
                m += 1
    return row[:m], side[:m], depth[:m], prob[:m], px[:m]
