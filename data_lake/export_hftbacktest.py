"""A coin-day of the lake as hftbacktest's event array (hftbacktest 2.4: ``event_dtype``, saved as ``.npz`` key
``data``).

Book: the ``l2Book`` rows of ``book`` (full snapshots; ``bbo`` rows hold level 1 only, so they cannot say which
deeper levels left and are not exported). The first snapshot becomes, per side, a ``DEPTH_CLEAR_EVENT`` up to its
deepest price and one ``DEPTH_SNAPSHOT_EVENT`` per level; every later snapshot becomes the levels that left
(``DEPTH_EVENT`` with qty 0) and then the levels that appeared or changed size (``DEPTH_EVENT`` with the new qty),
found by hftbacktest's own ``DiffOrderBookSnapshot`` as its Hyperliquid converter finds them (levels that fall
out of the 20 kept are deleted too: nothing beyond them is known). Removals go first, so a book that moves
through itself is never momentarily crossed.

Trades: one ``TRADE_EVENT`` each, ``BUY_EVENT`` / ``SELL_EVENT`` = the aggressor (hftbacktest's "initiator"),
price and size as in the lake. A trade and a snapshot in the same millisecond: the trade goes first (a snapshot
shows the book after its block's trades).

Times: ``exch_ts`` = the event time (ms -> ns); ``local_ts`` = the receive time as captured (``recv_time_ns``;
the event time where it is missing) or, with ``feed_latency_ms``, the event time plus that constant. Then
hftbacktest's own ``correct_local_timestamp`` / ``correct_event_order`` / ``validate_event_order`` run, as in its
converters: an event whose exchange and local orders disagree is split into an exchange-only and a local-only
event, so both clocks stay monotone. Prices are in quote currency, sizes in base units. Needs hftbacktest
(the ``reference`` extra); the quoter never imports this module.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from hftbacktest.data.utils.difforderbooksnapshot import UNCHANGED, DiffOrderBookSnapshot
from hftbacktest.data.validation import correct_event_order, correct_local_timestamp, validate_event_order
from hftbacktest.types import (
    BUY_EVENT,
    DEPTH_CLEAR_EVENT,
    DEPTH_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
    event_dtype,
)
from numba import njit

from data_lake.units import NS_PER_MS

_FINEST_DECIMALS = 12


def grid_step(values: np.ndarray) -> float:
    """The coarsest power of ten (<= 1) every finite positive value is a multiple of: a price's tick or a size's
    lot as the data shows it (Hyperliquid's tick depends on the price's magnitude; this is the finest one seen)."""
    finite = np.abs(values[np.isfinite(values) & (values > 0)])
    for decimals in range(_FINEST_DECIMALS + 1):
        scaled = finite * 10.0**decimals
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, scaled)):
            return float(10.0**-decimals)
    return float(10.0**-_FINEST_DECIMALS)


def tick_and_lot(book: pl.DataFrame, trades: pl.DataFrame) -> tuple[float, float]:
    """(tick, lot): the :func:`grid_step` of every book and trade price, and of every size."""
    prices = [book.select(pl.col(r"^(bid|ask)_px_\d+$")).to_numpy().ravel(), trades["px"].to_numpy()]
    sizes = [book.select(pl.col(r"^(bid|ask)_sz_\d+$")).to_numpy().ravel(), trades["sz"].to_numpy()]
    return grid_step(np.concatenate(prices).astype(np.float64)), grid_step(np.concatenate(sizes).astype(np.float64))


def book_snapshots(book: pl.DataFrame) -> pl.DataFrame:
    """The full snapshots of a lake ``book`` frame (``l2Book`` rows; all rows when it has no ``source``), by time."""
    if "source" in book.columns:
        book = book.filter(pl.col("source") == "l2Book")
    return book.sort("time", maintain_order=True)


def _levels(book: pl.DataFrame, name: str) -> np.ndarray:
    """``{name}_1..N`` as a (rows, N) float array, NaN where a level is absent."""
    columns: list[str] = []
    while f"{name}_{len(columns) + 1}" in book.columns:
        columns.append(f"{name}_{len(columns) + 1}")
    return np.ascontiguousarray(book.select(pl.col(columns).cast(pl.Float64)).to_numpy(), dtype=np.float64)


def _local_ns(frame: pl.DataFrame, feed_latency_ms: float | None) -> np.ndarray:
    """Local (receive) ns per row: ``recv_time_ns`` (the event time where missing), or event time + a constant."""
    exch = pl.col("time").cast(pl.Int64) * NS_PER_MS
    if feed_latency_ms is not None:
        local = exch + int(round(feed_latency_ms * NS_PER_MS))
    elif "recv_time_ns" in frame.columns:
        local = pl.coalesce(pl.col("recv_time_ns").cast(pl.Int64), exch)
    else:
        local = exch
    return frame.select(local).to_series().to_numpy().astype(np.int64)


@njit
def _depth_count(px: np.ndarray) -> int:
    """Levels present from level 1 (a snapshot's side stops at its first absent level)."""
    n = 0
    while n < px.shape[0] and np.isfinite(px[n]):
        n += 1
    return n


@njit
def _put(out, n, ev, exch_ns, local_ns, px, qty):
    out[n].ev = ev
    out[n].exch_ts = exch_ns
    out[n].local_ts = local_ns
    out[n].px = px
    out[n].qty = qty
    return n + 1


@njit
def _book_events(exch, local, bid_px, bid_sz, ask_px, ask_sz, diff, out):
    """Fill ``out`` with the clear + snapshot of the first row and the diffs of every later row; returns the count."""
    n = 0
    for row in range(exch.shape[0]):
        nb, na = _depth_count(bid_px[row]), _depth_count(ask_px[row])
        bids, asks, bid_gone, ask_gone = diff.snapshot(
            bid_px[row, :nb], bid_sz[row, :nb], ask_px[row, :na], ask_sz[row, :na]
        )
        t, lt = exch[row], local[row]
        if row == 0:
            for levels, count, side in ((bids, nb, BUY_EVENT), (asks, na, SELL_EVENT)):
                if count > 0:
                    n = _put(out, n, DEPTH_CLEAR_EVENT | side, t, lt, levels[count - 1, 0], 0.0)
                for lv in range(count):
                    n = _put(out, n, DEPTH_SNAPSHOT_EVENT | side, t, lt, levels[lv, 0], levels[lv, 1])
            continue
        for gone, side in ((bid_gone, BUY_EVENT), (ask_gone, SELL_EVENT)):
            for k in range(gone.shape[0]):
                n = _put(out, n, DEPTH_EVENT | side, t, lt, gone[k, 0], 0.0)
        for levels, count, side in ((bids, nb, BUY_EVENT), (asks, na, SELL_EVENT)):
            for lv in range(count):
                if levels[lv, 2] != UNCHANGED:
                    n = _put(out, n, DEPTH_EVENT | side, t, lt, levels[lv, 0], levels[lv, 1])
    return n


def _trade_events(trades: pl.DataFrame, feed_latency_ms: float | None) -> np.ndarray:
    out = np.zeros(trades.height, event_dtype)
    out["ev"] = np.where(trades["side"].to_numpy() == 1, TRADE_EVENT | BUY_EVENT, TRADE_EVENT | SELL_EVENT)
    out["exch_ts"] = trades["time"].to_numpy().astype(np.int64) * NS_PER_MS
    out["local_ts"] = _local_ns(trades, feed_latency_ms)
    out["px"] = trades["px"].to_numpy()
    out["qty"] = trades["sz"].to_numpy()
    return out


def hftbacktest_events(
    book: pl.DataFrame, trades: pl.DataFrame, tick_size: float, lot_size: float, feed_latency_ms: float | None = None
) -> np.ndarray:
    """hftbacktest events (``event_dtype``) of one coin's ``book`` and ``trades`` frames (lake columns: ``time`` ms,
    ``{bid,ask}_{px,sz}_{i}``, ``recv_time_ns``; trades ``px``, ``sz``, ``side`` = aggressor +1/-1).

    ``tick_size`` and ``lot_size`` are those the backtest will use (levels are matched on that grid);
    ``feed_latency_ms`` replaces the captured receive times by a constant latency (None: as captured).
    """
    snapshots = book_snapshots(book)
    depth_levels = max(_levels(snapshots, name).shape[1] for name in ("bid_px", "ask_px")) if snapshots.height else 0
    book_out = np.zeros(snapshots.height * 4 * max(depth_levels, 1) + 2, event_dtype)
    written = 0
    if snapshots.height:
        written = _book_events(
            snapshots["time"].to_numpy().astype(np.int64) * NS_PER_MS,
            _local_ns(snapshots, feed_latency_ms),
            _levels(snapshots, "bid_px"),
            _levels(snapshots, "bid_sz"),
            _levels(snapshots, "ask_px"),
            _levels(snapshots, "ask_sz"),
            DiffOrderBookSnapshot(depth_levels, tick_size, lot_size),
            book_out,
        )
    events = np.concatenate(
        [_trade_events(trades.sort("time", maintain_order=True), feed_latency_ms), book_out[:written]]
    )
    if events.shape[0] == 0:
        return events
    events = correct_local_timestamp(events, 0)
    ordered = correct_event_order(
        events, np.argsort(events["exch_ts"], kind="mergesort"), np.argsort(events["local_ts"], kind="mergesort")
    )
    validate_event_order(ordered)
    return ordered


def event_counts(events: np.ndarray) -> dict[str, int]:
    """Events by kind (depth clear, depth snapshot, depth, trade), for a summary of an export."""
    kind = events["ev"] & 0xFF
    names = {
        "depth_clear": DEPTH_CLEAR_EVENT,
        "depth_snapshot": DEPTH_SNAPSHOT_EVENT,
        "depth": DEPTH_EVENT,
        "trade": TRADE_EVENT,
    }
    return {name: int(np.sum(kind == code)) for name, code in names.items()}
