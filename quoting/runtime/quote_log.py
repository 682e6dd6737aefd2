"""The quoter's own log in the raw zone: decisions, predictions, orders, fills and pulls, source ``quoter``.

Files are ``{raw_root}/quoter/{YYYYMMDD}/{H}/{coin}.jsonl`` while the hour is open and ``.jsonl.lz4`` after
(:class:`quoting.capture.raw_capture.HourlyRawWriter`, by the hour of the feed clock: receive time live, the replayed
receive time in replay). Every line is the raw-zone envelope ``{"time": "<feed clock, ISO ns UTC>", "ver_num": 1,
"raw": <frame>}``. Numbers are JSON numbers (null when unknown or not finite); times epoch ms; prices quote
currency; sizes base units; sides ``"B"``/``"A"``; ``belief_<state>`` keys use the promoted HMM's state names
(``belief_calm``, ``belief_volatile``, ``belief_cascade`` for the usual three). ``pred_adverse_bps`` is the
expected ``max(-markout_5s, 0)`` of a maker fill in bps (> 0 = cost; the ``markouts`` table's
``adverse_selection_bps``, which the nightly calibration scores it against): the promoted set's per-regime values
weighted by the belief at the decision, null when the set has none. Frames:

``quoterParams`` -- a parameter set loaded, or a promotion refused (``param_set_id`` only when the set was read)::

    {"coin", "time", "event": "loaded", "param_set_id", "version", "sha256", "promoted_at_ms", "window_end_ms",
     "expires_at_ms", "error": null}
    {"coin", "time", "event": "refused", "param_set_id"?, "error"}
    {"coin", "time", "event": "leader_missing", "param_set_id", "error"}   (a lead-lag set whose leader's books
                                                                           the session does not follow)

``quoterQuote`` -- every decision (one per accepted book update, own fill, parameter change and pull)::

    {"coin", "time", "mode": "paper"|"live", "param_set_id", "pull_reason", "book_time", "mid", "best_bid",
     "best_ask", "inventory", "day_pnl", "sigma", "belief_<state>"..., "gamma", "half_spread", "skew",
     "reservation_px", "fair_value" (the quote's centre: the mid, or the mid moved by a lead-lag set's leader),
     "tau_s", "latency_ms", "pred_adverse_bps",
     "bid": {"px", "sz", "reason", "pred_fill_prob"}, "ask": {...}, "actions": <number of order actions>}

  ``book_time`` is the exchange time (ms) of the book the decision saw. A quoting decision is logged at most once
  per the set's requote interval (pulls at once). Its side ``px`` is the price the order on that side rests at once
  the decision's actions land, and ``pred_fill_prob`` the probability that a market print reaches that price (a
  sell at or below the bid, a buy at or above the ask) in ``[book_time + latency_ms, book_time + latency_ms +
  tau_s)``; null for a pulled side or one with a request still in flight (:mod:`validation.statistics.quoter_scoring`
  scores it on exactly that event).

``quoterOrder`` -- the result of every order action, every order update and dead-man switch event::

    {"coin", "time", "event": "place"|"modify"|"cancel", "status": "resting"|"filled"|"cancelled"|"error",
     "side", "oid": <the order working on that side afterwards, null if none>, "replaces": <oid modified or
     cancelled>, "px", "sz", "error",
     "pred_fill_prob", "pred_adverse_bps", "belief_<state>"..., "param_set_id", "quote_time"}
    {"coin", "time", "event": "update", "side", "oid", "status": <Hyperliquid order status, e.g. "canceled",
     "filled", "scheduledCancel", "badAloPxRejected">}
    {"coin", "time", "event": "cancel_all", "reason", "oids": [...], "error"}
    {"coin", "time", "event": "dead_man", "status": "armed"|"cleared"|"error"|"fired", "until_ms", "error"}

``quoterFill`` -- every own fill with the predictions of the order it filled (join onto ``fills`` by oid, tid)::

    {"coin", "time": <fill time, exchange ms>, "oid", "tid", "side", "px", "sz", "fee", "crossed", "inventory":
     <after the fill>, "mid", "day_pnl", "pred_fill_prob", "pred_adverse_bps", "belief_<state>"...,
     "param_set_id", "quote_time"}

``quoterPull`` -- entering, changing or leaving a pulled state (all quotes cancelled)::

    {"coin", "time", "state": "pulled"|"resumed", "reason", "detail"}

Pull reasons (also ``quoterQuote.pull_reason``): ``no_parameters``, ``parameters_refused``, ``stale_parameters``,
``daily_loss_limit``, ``dead_man_switch_unarmed``, ``dead_man_switch_budget``, ``exchange_state_unknown``,
``no_book``, ``stale_feed``, ``no_mid``, ``warming_up``, ``leader_move`` (a sharp leader move within its hold,
quoterQuote only); ``shutdown`` ends every session's log.

``userFills`` -- the same fills in Hyperliquid's exact WS shape, ``{"user", "fills": [WsFill, ...]}`` (live: the
frame as received, this coin's fills only; paper: ``"user": "paper"`` and simulated WsFill items), so the existing
parser turns them into the ``fills`` table.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from data_lake.raw_zone import envelope
from quoting.capture.raw_capture import HourlyRawWriter, compress_plain
from quoting.runtime.orders import Prediction

SOURCE = "quoter"


def finite(x: float | None) -> float | None:
    """``x`` as a JSON number, None when unknown or not finite."""
    return None if x is None or not math.isfinite(x) else float(x)


def prediction_fields(prediction: Prediction | None, states: tuple[str, ...]) -> dict[str, Any]:
    """The ``pred_*``, ``belief_*``, ``param_set_id`` and ``quote_time`` fields of an order or fill frame."""
    if prediction is None:
        return {
            "pred_fill_prob": None,
            "pred_adverse_bps": None,
            **{f"belief_{s}": None for s in states},
            "param_set_id": None,
            "quote_time": None,
        }
    return {
        "pred_fill_prob": finite(prediction.fill_prob),
        "pred_adverse_bps": finite(prediction.adverse_bps),
        **{f"belief_{s}": finite(b) for s, b in zip(states, prediction.belief, strict=True)},
        "param_set_id": prediction.param_set_id,
        "quote_time": prediction.quote_time_ms,
    }


class QuoteLog:
    """Writes the frames above for one coin; not thread-safe (the quoter's event loop owns it)."""

    def __init__(self, raw_root: str | Path, coin: str) -> None:
        self.coin = coin
        self.writer = HourlyRawWriter(raw_root, SOURCE)
        self.lines = 0

    def compress_leftovers(self, now_ns: int) -> None:
        """Fold plain files of earlier hours left by a crashed run into their ``.jsonl.lz4``."""
        for path in self.writer.leftovers(now_ns):
            compress_plain(path)

    def write(self, now_ns: int, channel: str, data: dict[str, Any]) -> None:
        self.write_frame(now_ns, {"channel": channel, "data": {"coin": self.coin, "time": now_ns // 1_000_000, **data}})

    def write_frame(self, now_ns: int, frame: dict[str, Any]) -> None:
        self.writer.write(now_ns, self.coin, envelope(now_ns, frame))
        self.lines += 1

    def finished(self, now_ns: int) -> list[Path]:
        """Close the files of hours before ``now_ns``'s and return them, for :func:`compress`."""
        return self.writer.detach_before(now_ns)

    def flush(self) -> None:
        self.writer.fsync()

    def close(self) -> list[Path]:
        return compress(self.writer.detach_all())


def compress(paths: list[Path]) -> list[Path]:
    """Fold finished plain hour files into their ``.jsonl.lz4`` (safe to run in a worker thread)."""
    return [compress_plain(path) for path in paths]
