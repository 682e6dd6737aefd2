"""The latent log price per 100 ms block and the displayed book top it implies.

The latent log price is a Gaussian random walk with the regime's sigma plus informed jumps (and the orders'
impacts, when the config has them); it is sampled at every block (the exchange's block clock) and the displayed
best bid is the tick at or below it, so the mid sits on the half-tick grid with a constant spread of
``spread_ticks`` ticks. Only blocks where the bid moved are kept.
"""

from __future__ import annotations

import math

import numpy as np

from data_lake.demo_market.config import DemoMarketConfig
from data_lake.units import DAY_MS, MINUTE_MS


def simulate_bid_changes(
    config: DemoMarketConfig,
    regime_path: np.ndarray,
    jump_blocks: np.ndarray,
    jump_log_sizes: np.ndarray,
    rng: np.random.Generator,
    impact_blocks: np.ndarray | None = None,
    impact_sizes: np.ndarray | None = None,
    response: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(block index, best bid in ticks) at block 0 and at every block where the best bid changed, and the latent
    log price at the end of every block.

    Block b covers (b-1, b] blocks of ``block_ms``: its increment uses the regime of the minute it lies in and
    adds the informed jumps (log-price sizes) that became visible in it, the follower's ``response`` to its leader
    (log moves per block over all days, None: no leader), then the order impacts visible in it (``impact_sizes`` in
    price units, so a move is exactly its size whatever the price has become).
    """
    impact_blocks = np.empty(0, np.int64) if impact_blocks is None else impact_blocks
    impact_sizes = np.empty(0) if impact_sizes is None else impact_sizes
    blocks_per_day = DAY_MS // config.block_ms
    blocks_per_minute = MINUTE_MS // config.block_ms
    sigma_log_per_block = np.asarray(config.sigma_bps_per_sqrt_s) * 1e-4 * math.sqrt(config.block_ms / 1000)
    ticks_per_price = 10**config.tick_decimals
    log_price = math.log(config.start_price)
    previous_bid = None
    change_blocks: list[np.ndarray] = []
    change_bids: list[np.ndarray] = []
    log_paths: list[np.ndarray] = []
    for day in range(config.days):
        first = day * blocks_per_day
        blocks = np.arange(first, first + blocks_per_day)
        regime = regime_path[np.maximum(blocks - 1, 0) // blocks_per_minute]
        increments = sigma_log_per_block[regime] * rng.standard_normal(blocks_per_day)
        in_day = (jump_blocks >= first) & (jump_blocks < first + blocks_per_day)
        increments += np.bincount(jump_blocks[in_day] - first, weights=jump_log_sizes[in_day], minlength=blocks_per_day)
        if response is not None:
            increments += response[first : first + blocks_per_day]
        if day == 0:
            increments[0] = 0.0
        path = log_price + np.cumsum(increments)
        impact_in_day = (impact_blocks >= first) & (impact_blocks < first + blocks_per_day)
        if impact_in_day.any():
            path = _with_impacts(path, impact_blocks[impact_in_day] - first, impact_sizes[impact_in_day])
        log_price = float(path[-1])
        log_paths.append(path)
        bids = np.floor(np.exp(path) * ticks_per_price).astype(np.int64)
        before = np.concatenate([[bids[0] - 1 if previous_bid is None else previous_bid], bids[:-1]])
        moved = bids != before
        change_blocks.append(blocks[moved])
        change_bids.append(bids[moved])
        previous_bid = int(bids[-1])
    return np.concatenate(change_blocks), np.concatenate(change_bids), np.concatenate(log_paths)


def lagged_response(leader_log_price: np.ndarray, lag_blocks: int, beta: float) -> np.ndarray:
    """Per block, ``beta`` times the leader's latent log move of ``lag_blocks`` blocks earlier (0 before the first
    lagged move): a follower's response to its leader."""
    moves = np.diff(leader_log_price, prepend=leader_log_price[0])
    response = np.zeros_like(moves)
    response[lag_blocks:] = beta * moves[: moves.size - lag_blocks]
    return response


def _with_impacts(path: np.ndarray, blocks: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The log-price ``path`` with price moves ``sizes`` (price units) added at ``blocks``, in block order.

    Each move is converted to log units at the price it meets (the path plus the moves before it), so it moves the
    price by exactly its size; a move that would take the price to zero or below is an error.
    """
    order = np.argsort(blocks, kind="stable")
    blocks, sizes = blocks[order], sizes[order]
    steps = np.empty(len(sizes))
    offset = 0.0
    for i, (block, size) in enumerate(zip(blocks.tolist(), sizes.tolist(), strict=True)):
        price = math.exp(path[block] + offset)
        if price + size <= 0:
            raise ValueError(f"an impact of {size} would take the price {price} to zero or below")
        steps[i] = math.log1p(size / price)
        offset += steps[i]
    return path + np.cumsum(np.bincount(blocks, weights=steps, minlength=len(path)))
