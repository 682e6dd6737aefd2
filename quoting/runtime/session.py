"""One quoting session: feed -> online state -> decision -> venue, everything logged (:class:`Quoter`).

A promoted set with a leader (``lead_lag``) centres the quotes on the fair value the leader's last ``lag_ms`` of moves
imply (:mod:`quoting.core.lead_lag_shift`): the leader's ``l2Book``/``bbo`` frames (subscribed, or replayed, for the
leaders the config names) keep its recent mids, and a change of its mid triggers a decision; without fresh leader
mids the quote stays around the mid; a sharp leader move pulls the quotes for the set's hold time. A set with the
Hawkes component (``hawkes_intensity``) scales A by the taker-order intensity of the coin's own ``trades`` frames
(:class:`quoting.runtime.online_state.TradeIntensity`).

Every accepted book update (``l2Book`` or ``bbo``, the freshest top by exchange time) updates the online state --
EWMA volatility of the mid, the causal regime filter of the promoted HMM on 1 min bars
(:mod:`quoting.runtime.online_state`)
-- and asks for a decision (:mod:`quoting.runtime.decision`; so do an own fill, a new parameter set and a pull):
:func:`quoting.core.glft.quote` for the current mid, inventory and belief, then post-only orders placed, modified or
cancelled where the desired price or size changed. As in the backtest that validated the set, a decision that quotes
acts at most once per the set's ``requote_interval_ms`` (a pull, by the gate or by the regime, acts at once), so
the logged decisions and their fill predictions are the population the walk-forward scored. Fills and order updates
arrive as ``userFills`` / ``orderUpdates`` frames (live: the WebSocket; paper: :mod:`quoting.runtime.paper`, the
backtest's fill model), update inventory and P&L (:mod:`quoting.runtime.account`) and the working orders.

The session reads only the promoted parameter set (:class:`quoting.runtime.params.PromotionWatcher`, polled every
``watch_interval_ms`` of wall time, so a new promotion is live within a second without a restart) and pulls every
quote, logging why (``quoterPull``), while any of these holds: no set / the newest promotion was refused (invalid,
stale, or inconsistent with the exchange) / the set passed its age limit (wall clock) / the day's realised +
unrealised P&L is below minus the set's daily loss limit (until 00:00 UTC) / the venue blocks (live: dead-man switch
not armed, exchange state unknown) / no book update for ``stale_feed_ms`` (feed clock) / no valid mid / fewer than
``min_regime_minutes`` closed minutes (warm-up). It refuses to start (exit code 2) without a usable promoted set.
A reconnect of the feed cancels everything (order updates may have been missed); any exit cancels everything
(:meth:`Venue.close`). The frame formats of the log are documented in :mod:`quoting.runtime.quote_log`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from hyperliquid.utils.constants import MAINNET_API_URL

from data_lake.param_registry import NoPromotedSet
from data_lake.units import DAY_MS, NS_PER_MS
from quoting.capture.raw_capture import HOUR_NS
from quoting.core.book import Book
from quoting.core.fill_models import FILL_MODELS
from quoting.core.glft import MarketModel
from quoting.core.lead_lag_shift import LeaderMids
from quoting.core.policy_inputs import REQUOTE_INTERVAL_MS
from quoting.runtime.account import Account
from quoting.runtime.decision import Decision, decide
from quoting.runtime.feed import Received, ReplayFeed, WsFeed, frame_coin
from quoting.runtime.live import LiveConfig
from quoting.runtime.online_state import MidBars, RegimeTracker, TradeIntensity
from quoting.runtime.orders import OrderResult, Prediction, Side, WorkingOrder
from quoting.runtime.params import PromotionWatcher, QuotingParams
from quoting.runtime.quote_log import QuoteLog, compress, finite, prediction_fields
from quoting.runtime.venue import Venue

EXIT_OK, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2
KEEP_OIDS = 4_096
"""Predictions kept for orders no longer working (late fills of replaced orders still find theirs)."""
KEEP_TIDS = 4_096
"""Trade ids remembered to drop fills heard twice (a reconnect's userFills snapshot repeats recent ones)."""
Feed = ReplayFeed | WsFeed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuoterConfig:
    """Everything ``smallfish quote`` is told; times in ms unless the name says otherwise."""

    coin: str
    mode: Literal["paper", "live"]
    feed: str
    """``hyperliquid`` (the WebSocket) or ``replay:PATH`` (a raw-zone file or directory)."""
    lake_root: Path
    raw_root: Path
    api_url: str = MAINNET_API_URL
    ws_url: str | None = None
    """Default: derived from ``api_url`` (``https://x`` -> ``wss://x/ws``)."""
    account_address: str | None = None
    """Live: the account the API wallet trades for (default: the API wallet's own address)."""
    max_param_age_s: float = 36 * 3_600.0
    stale_feed_ms: int = 3_000
    watch_interval_ms: int = 200
    vol_half_life_s: float = 300.0
    min_regime_minutes: int = 1
    paper_fill_model: str = "queue"
    paper_order_latency_ms: int = 100
    replay_speed: float | None = None
    """Replay pace as a multiple of real time; None = as fast as possible."""
    live: LiveConfig = field(default_factory=LiveConfig)
    leaders: tuple[str, ...] = ()
    """Coins whose books the session follows for a lead-lag set (subscribed live, replayed beside the coin's)."""

    def __post_init__(self) -> None:
        if self.mode not in ("paper", "live"):
            raise ValueError(f"mode must be paper or live, got {self.mode!r}")
        if self.feed != "hyperliquid" and not self.feed.startswith("replay:"):
            raise ValueError(f"feed must be 'hyperliquid' or 'replay:PATH', got {self.feed!r}")
        if self.mode == "live" and self.feed != "hyperliquid":
            raise ValueError("live mode trades real money on the live feed only")
        if self.paper_fill_model not in FILL_MODELS:
            raise ValueError(f"paper_fill_model must be one of {sorted(FILL_MODELS)}")
        if self.stale_feed_ms <= 0 or self.max_param_age_s <= 0 or self.watch_interval_ms <= 0:
            raise ValueError("stale_feed_ms, max_param_age_s and watch_interval_ms must be > 0")

    @property
    def websocket_url(self) -> str:
        return self.ws_url or "ws" + self.api_url.removeprefix("http") + "/ws"


class Quoter:
    """One quoting session: feed -> state -> decision -> venue, logged; :meth:`run` until ``stop`` or feed end."""

    def __init__(
        self,
        config: QuoterConfig,
        feed: Feed,
        venue: Venue,
        quote_log: QuoteLog,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.coin = config.coin
        self.feed = feed
        self.venue = venue
        self.log = quote_log
        self.clock = clock
        self.watcher = PromotionWatcher(config.lake_root, config.coin, config.max_param_age_s)
        self.params: QuotingParams | None = None
        self.book = Book(depth=False)
        self.bars = MidBars(config.vol_half_life_s)
        self.regime: RegimeTracker | None = None
        self.leader: LeaderMids | None = None
        self.intensity: TradeIntensity | None = None
        self.account = Account()
        self.working: dict[Side, WorkingOrder | None] = {"B": None, "A": None}
        self.predictions: OrderedDict[int, Prediction] = OrderedDict()
        self.pull: tuple[str, str] | None = None
        self.decisions = 0
        self.fills = 0
        self._as_of_ms = 0
        self._seen_tids: deque[int] = deque(maxlen=KEEP_TIDS)
        self._tid_set: set[int] = set()
        self._last_book_ns: int | None = None
        self._halted_day: int | None = None
        self._reported_error: Exception | None = None
        self._refused: str | None = None
        self._gate: tuple[str, str] | None = None
        self._next_watch_ns = 0
        self._next_flush_ns = 0
        self._hour = -1
        self._connections = 0
        self._dirty = False
        self._last_quote_ns = -(2**62)
        self._last_acted_ns = -(2**62)

    # -- parameters -------------------------------------------------------------------------------------------

    def _poll_params(self, now_ns: int) -> None:
        """Follow the promotion pointer every ``watch_interval_ms`` of wall time."""
        wall = self.clock()
        if wall >= self._next_watch_ns:
            self._next_watch_ns = wall + self.config.watch_interval_ms * NS_PER_MS
            self.reload_params(now_ns)

    def reload_params(self, now_ns: int) -> bool:
        """Poll the promotion pointer now; a new set takes effect at once. True when a new set was adopted."""
        adopted = False
        if self.watcher.poll(now_ms=self.clock() // NS_PER_MS) and self.watcher.current is not None:
            adopted = self._use(self.watcher.current, now_ns)
        error = self.watcher.last_error
        if error is not None and error is not self._reported_error:
            self._reported_error = error
            self.log.write(now_ns, "quoterParams", {"event": "refused", "error": str(error)})
            log.error("%s: promoted parameter set refused: %s", self.coin, error)
            self._dirty = True
        return adopted

    def _use(self, params: QuotingParams, now_ns: int) -> bool:
        old = self.regime
        try:
            if old is not None and old.filter.params.state_names == params.regime.state_names:
                regime = RegimeTracker(params.regime, old.belief, old.minutes)
            else:
                regime = RegimeTracker(params.regime)
            problem = self.venue.use_params(params)
        except ValueError as exc:
            problem = str(exc)
        if problem is not None:
            self._refused = f"set {params.param_set_id}: {problem}"
            self.log.write(
                now_ns, "quoterParams", {"event": "refused", "param_set_id": params.param_set_id, "error": problem}
            )
            log.error("%s: parameter set %s refused: %s", self.coin, params.param_set_id, problem)
            self._dirty = True
            return False
        self._refused = None
        self.regime = regime
        self.params = params
        self._follow_leader(params, now_ns)
        hawkes = params.policy.hawkes
        if hawkes is None:
            self.intensity = None
        elif self.intensity is None or self.intensity.hawkes != hawkes:
            self.intensity = TradeIntensity(hawkes)
        mid = self.book.mid
        if mid > 0.0:
            self.bars.seed((params.model.sigma / mid) ** 2)
        self.log.write(
            now_ns,
            "quoterParams",
            {
                "event": "loaded",
                "param_set_id": params.param_set_id,
                "version": params.version,
                "sha256": params.sha256,
                "promoted_at_ms": params.promoted_at_ms,
                "window_end_ms": params.window_end_ms,
                "expires_at_ms": params.expires_at_ms,
                "error": None,
            },
        )
        log.info(
            "%s: quoting with parameter set %s (pointer version %d)", self.coin, params.param_set_id, params.version
        )
        self._dirty = True
        return True

    def _follow_leader(self, params: QuotingParams, now_ns: int) -> None:
        """Track the set's leader (keeping its history when the leader stays the same); warn when the session does
        not receive that leader's books, so the quote stays around the mid."""
        shift = params.policy.lead_lag
        if shift is None:
            self.leader = None
            return
        if self.leader is None or self.leader.coin != shift.leader:
            self.leader = LeaderMids(shift)
        else:
            self.leader.shift = shift
        if shift.leader not in self.config.leaders:
            detail = (
                f"set {params.param_set_id} leans on {shift.leader}, whose books this session does not follow "
                f"(leaders: {', '.join(self.config.leaders) or 'none'}): quoting around the mid"
            )
            self.log.write(
                now_ns,
                "quoterParams",
                {"event": "leader_missing", "param_set_id": params.param_set_id, "error": detail},
            )
            log.warning("%s: %s", self.coin, detail)

    @property
    def states(self) -> tuple[str, ...]:
        return self.regime.filter.params.state_names if self.regime is not None else ()

    # -- frames -----------------------------------------------------------------------------------------------

    def handle(self, item: Received) -> None:
        """Apply one received frame (synchronous; decisions are left to :meth:`decide_now`)."""
        frame = item.frame
        if not isinstance(frame, dict):
            return
        channel, data = frame.get("channel"), frame.get("data")
        coin = frame_coin(frame) if channel in ("l2Book", "bbo", "trades") else None
        if coin is not None and coin != self.coin:
            # a book frame that names a coin carries its data as a dict (frame_coin)
            if (
                self.leader is not None
                and channel in ("l2Book", "bbo")
                and isinstance(data, dict)
                and coin == self.leader.coin
            ):
                self._dirty |= self.leader.on_book(channel, data)
            return
        if channel in ("l2Book", "bbo", "trades"):
            for user_frame in self.venue.on_market(item):
                self.handle(Received(item.recv_ns, user_frame))
            self.observe(item)
        elif channel == "userFills" and isinstance(data, dict):
            self._on_fills(frame, item.recv_ns)
        elif channel == "orderUpdates" and isinstance(data, list):
            self._on_order_updates(data, item.recv_ns)

    def observe(self, item: Received) -> None:
        """Apply a market frame to the book and the online state (what a book update costs before the decision;
        :meth:`handle` first lets the venue see it, which only the paper venue uses)."""
        channel, data = item.frame["channel"], item.frame["data"]
        if channel != "trades" and isinstance(data, dict) and data.get("coin") == self.coin:
            self._on_book(channel, data, item.recv_ns)
        elif channel == "trades" and isinstance(data, list) and self.intensity is not None:
            self.intensity.on_trades(data, self.coin)

    def _on_book(self, channel: str, data: dict[str, Any], now_ns: int) -> None:
        accepted = self.book.update_l2(data) if channel == "l2Book" else self.book.update_bbo(data)
        if not accepted:
            return
        self._last_book_ns = now_ns
        self._dirty = True
        mid = self.book.mid
        if not mid > 0.0:
            return
        if not self.bars.variance > 0.0 and self.params is not None:
            self.bars.seed((self.params.model.sigma / mid) ** 2)
        for features in self.bars.update(mid, self.book.top_time_ms):
            if self.regime is not None:
                self.regime.update(features)

    def _on_fills(self, frame: dict[str, Any], now_ns: int) -> None:
        data = frame["data"]
        new = [
            f
            for f in data.get("fills", [])
            if f.get("coin") == self.coin and int(f["time"]) > self._as_of_ms and int(f["tid"]) not in self._tid_set
        ]
        if not new:
            return
        self.log.write_frame(now_ns, {"channel": "userFills", "data": {**data, "fills": new}})
        for fill in new:
            self._on_fill(fill, now_ns)

    def _on_fill(self, fill: dict[str, Any], now_ns: int) -> None:
        tid, oid = int(fill["tid"]), int(fill["oid"])
        if len(self._seen_tids) == self._seen_tids.maxlen:
            self._tid_set.discard(self._seen_tids[0])
        self._seen_tids.append(tid)
        self._tid_set.add(tid)
        is_buy, sz = fill["side"] == "B", float(fill["sz"])
        self.account.apply_fill(is_buy, float(fill["px"]), sz, float(fill["fee"]))
        self.fills += 1
        side: Side = "B" if is_buy else "A"
        order = self.working[side]
        if order is not None and order.oid == oid:
            order.remaining -= sz
            if order.remaining < 0.5 * 10.0 ** -self._sz_decimals():
                self.working[side] = None
        mid = self.book.mid
        self.log.write(
            now_ns,
            "quoterFill",
            {
                "time": int(fill["time"]),
                "oid": oid,
                "tid": tid,
                "side": fill["side"],
                "px": float(fill["px"]),
                "sz": sz,
                "fee": float(fill["fee"]),
                "crossed": bool(fill.get("crossed")),
                "inventory": self.account.position,
                "mid": finite(mid),
                "day_pnl": finite(self.account.day_pnl(mid, now_ns // NS_PER_MS)) if mid > 0.0 else None,
                **prediction_fields(self.predictions.get(oid), self.states),
            },
        )
        self._dirty = True

    def _sz_decimals(self) -> int:
        return self.params.policy.rules.sz_decimals if self.params is not None else 8

    def _on_order_updates(self, items: list[dict[str, Any]], now_ns: int) -> None:
        for item in items:
            order, status = item.get("order", {}), item.get("status")
            if order.get("coin") != self.coin or status == "open":
                continue
            if isinstance(status, str):
                self.venue.on_order_update(status, now_ns // NS_PER_MS)
            oid = int(order["oid"])
            side: Side = order["side"]
            working = self.working.get(side)
            if working is not None and working.oid == oid:
                self.working[side] = None
                self._dirty = True
            self.log.write(now_ns, "quoterOrder", {"event": "update", "side": side, "oid": oid, "status": status})

    # -- decisions --------------------------------------------------------------------------------------------

    def gate(self, now_ns: int) -> tuple[str, str] | None:
        """Why nothing may be quoted now (reason, detail), or None."""
        if self.watcher.last_error is not None:
            return "parameters_refused", str(self.watcher.last_error)
        if self._refused is not None:
            return "parameters_refused", self._refused
        if self.params is None:
            return "no_parameters", "no promoted parameter set loaded"
        wall_ms = self.clock() // NS_PER_MS
        if wall_ms >= self.params.expires_at_ms:
            return "stale_parameters", (
                f"set {self.params.param_set_id} expired at {self.params.expires_at_ms} "
                f"(window end + {self.config.max_param_age_s:.0f} s)"
            )
        now_ms = now_ns // NS_PER_MS
        if self._halted_day == now_ms // DAY_MS:
            return "daily_loss_limit", f"day P&L below -{self.params.daily_loss_limit_quote} quote"
        blocked = self.venue.blocked_reason(wall_ms)
        if blocked is not None:
            return blocked, "venue blocked quoting"
        if self._last_book_ns is None:
            return "no_book", "no book update yet"
        age_ms = (now_ns - self._last_book_ns) // NS_PER_MS
        if age_ms > self.config.stale_feed_ms:
            return "stale_feed", f"no book update for {age_ms} ms (limit {self.config.stale_feed_ms} ms)"
        if not self.book.mid > 0.0:
            return "no_mid", f"one-sided or crossed book ({self.book.best_bid}, {self.book.best_ask})"
        assert self.regime is not None
        if self.regime.minutes < self.config.min_regime_minutes:
            return "warming_up", f"{self.regime.minutes} of {self.config.min_regime_minutes} regime minutes"
        return None

    def decide_now(self, now_ns: int) -> Decision:
        """The decision for the current state (the hot path measured by benchmarks/bench_quoter.py)."""
        mid, day = self.book.mid, now_ns // NS_PER_MS // DAY_MS
        if self._halted_day is not None and self._halted_day != day:
            self._halted_day = None
        if (
            self._halted_day is None
            and self.params is not None
            and mid > 0.0
            and self.account.day_pnl(mid, now_ns // NS_PER_MS) < -self.params.daily_loss_limit_quote
        ):
            self._halted_day = day
        self._gate = self.gate(now_ns)
        belief = self.regime.belief if self.regime is not None else np.empty(0)
        now_ms = now_ns // NS_PER_MS
        leader_return = self.leader.log_return(now_ms) if self.leader is not None else math.nan
        leader_pull = self.leader.pulled(now_ms) if self.leader is not None else False
        multiplier = self.intensity.multiplier(now_ms) if self.intensity is not None else 1.0
        return decide(
            now_ms,
            self.params,
            self._gate[0] if self._gate else None,
            mid,
            self._market_model(mid),
            belief,
            self.account.position,
            self.book.best_bid,
            self.book.best_ask,
            self.working,
            self.venue.busy(),
            leader_return,
            multiplier,
            leader_pull,
        )

    def due(self, decision: Decision, now_ns: int) -> bool:
        """Whether ``decision`` acts now. As in the backtest, a quoting decision acts once the set's requote interval
        has passed since the last one, and a pull (the gate's, or the quote's regime pull) that cancels orders or
        changes the gate's state acts at once; a pull with nothing to do is logged at most once per interval."""
        interval_ns = (self.params.requote_interval_ms if self.params is not None else REQUOTE_INTERVAL_MS) * NS_PER_MS
        if not decision.pulls:
            return now_ns - self._last_quote_ns >= interval_ns
        reason_changed = (self._gate and self._gate[0]) != (self.pull and self.pull[0])
        return bool(decision.actions) or reason_changed or now_ns - self._last_acted_ns >= interval_ns

    def _market_model(self, mid: float) -> MarketModel | None:
        """The promoted set's model, sigma included: the quoter quotes with exactly the inputs the walk-forward
        validated (a live EWMA sigma would be an unvalidated component)."""
        if self.params is None or not mid > 0.0:
            return None
        return self.params.model

    async def act(self, decision: Decision, now_ns: int) -> None:
        """Log the decision, record pull transitions, send its actions and apply the answers."""
        self.decisions += 1
        self._last_acted_ns = now_ns
        if not decision.pulls:
            self._last_quote_ns = now_ns
        self._log_decision(decision, now_ns)
        self._note_pull(now_ns)
        if decision.actions:
            results = await self.venue.execute(decision.actions, now_ns // NS_PER_MS)
            for result in results:
                self._apply(result, now_ns)

    def _apply(self, result: OrderResult, now_ns: int) -> None:
        action = result.action
        if result.oid is None:
            self.working[action.side] = None
        elif result.status == "resting":
            assert action.px is not None and action.prediction is not None
            self.working[action.side] = WorkingOrder(
                action.side, result.oid, action.px, action.sz, action.sz, now_ns // NS_PER_MS, action.prediction
            )
            self.predictions[result.oid] = action.prediction
            while len(self.predictions) > KEEP_OIDS:
                self.predictions.popitem(last=False)
        if result.status == "error":
            log.warning("%s: %s %s %s failed: %s", self.coin, action.kind, action.side, action.oid, result.error)
        self.log.write(
            now_ns,
            "quoterOrder",
            {
                "event": action.kind,
                "status": result.status,
                "side": action.side,
                "oid": result.oid,
                "replaces": action.oid,
                "px": finite(action.px),
                "sz": action.sz if action.kind != "cancel" else None,
                "error": result.error,
                **prediction_fields(action.prediction, self.states),
            },
        )

    def _note_pull(self, now_ns: int) -> None:
        pull = self._gate
        if pull == self.pull or (pull is not None and self.pull is not None and pull[0] == self.pull[0]):
            return
        if pull is None:
            assert self.pull is not None
            self.log.write(now_ns, "quoterPull", {"state": "resumed", "reason": self.pull[0], "detail": None})
            log.info("%s: quoting resumed (was pulled: %s)", self.coin, self.pull[0])
        else:
            self.log.write(now_ns, "quoterPull", {"state": "pulled", "reason": pull[0], "detail": pull[1]})
            log.warning("%s: all quotes pulled: %s (%s)", self.coin, pull[0], pull[1])
        self.pull = pull

    def _log_decision(self, d: Decision, now_ns: int) -> None:
        q = d.quote
        sides = {}
        per_side: tuple[tuple[Side, float | None, float | None, str | None], ...] = (
            (("B", q.bid_px, q.bid_sz, q.bid_reason), ("A", q.ask_px, q.ask_sz, q.ask_reason))
            if q is not None
            else (("B", None, None, None), ("A", None, None, None))
        )
        for side, px, sz, reason in per_side:
            sides["bid" if side == "B" else "ask"] = {
                "px": px,
                "sz": sz,
                "reason": reason,
                "pred_fill_prob": finite(d.fill_prob[side]),
            }
        mid = d.mid if d.mid > 0.0 else math.nan
        self.log.write(
            now_ns,
            "quoterQuote",
            {
                "mode": self.config.mode,
                "param_set_id": self.params.param_set_id if self.params else None,
                "pull_reason": d.pull_reason,
                "book_time": self.book.top_time_ms if self.book.top_time_ms >= 0 else None,
                "mid": finite(mid),
                "best_bid": finite(self.book.best_bid),
                "best_ask": finite(self.book.best_ask),
                "inventory": d.inventory,
                "day_pnl": finite(self.account.day_pnl(mid, d.time_ms)) if mid > 0.0 else None,
                "sigma": finite(d.sigma),
                **{f"belief_{s}": finite(b) for s, b in zip(self.states, d.belief, strict=True)},
                "gamma": finite(q.gamma_used) if q else None,
                "half_spread": finite(q.half_spread) if q else None,
                "skew": finite(q.skew) if q else None,
                "reservation_px": finite(q.reservation_px) if q else None,
                "fair_value": finite(q.fair_value) if q else None,
                "tau_s": self.params.reach.horizon_ms / 1000 if self.params and self.params.reach else None,
                "latency_ms": self.params.reach.latency_ms if self.params and self.params.reach else None,
                "pred_adverse_bps": finite(d.adverse_bps),
                **sides,
                "actions": len(d.actions),
            },
        )

    # -- the session ------------------------------------------------------------------------------------------

    async def housekeeping(self, now_ns: int) -> None:
        """Parameters, the venue's timers, reconnects, time-based pulls, log flushing and hourly rotation."""
        self._poll_params(now_ns)
        await self.venue.housekeeping(now_ns // NS_PER_MS)
        if self.feed.connections > self._connections:
            if self._connections:
                await self._reconcile(now_ns)
            self._connections = self.feed.connections
        pull = self.gate(now_ns)
        if pull is not None and (any(self.working.values()) or self.pull is None or pull[0] != self.pull[0]):
            self._dirty = True  # cancel what rests / log the new reason, without waiting for a book update
        wall = self.clock()
        if wall >= self._next_flush_ns:
            self._next_flush_ns = wall + 1_000 * NS_PER_MS
            self.log.flush()
        if now_ns // HOUR_NS > self._hour:
            if self._hour >= 0:
                await asyncio.to_thread(compress, self.log.finished(now_ns))
            self._hour = now_ns // HOUR_NS

    async def _reconcile(self, now_ns: int) -> None:
        """After a reconnect order updates may have been missed: cancel everything and start the sides afresh."""
        cancelled = await self.venue.cancel_all("feed reconnected", now_ns // NS_PER_MS)
        self.working = {"B": None, "A": None}
        log.warning("%s: feed reconnected; cancelled %d open orders", self.coin, len(cancelled))

    async def start(self) -> int:
        """Connect, let the venue clean up and report the account, load the promoted set; EXIT_OK to go on."""
        self.log.compress_leftovers(self.clock())
        await self.feed.start()
        start = await self.venue.start(self.clock() // NS_PER_MS)
        self.account = Account(start.position, start.avg_px)
        self.account.seed_day(start.booked_today, self.clock() // NS_PER_MS)
        self._as_of_ms = start.as_of_ms
        now_ns = self.feed.now_ns() or self.clock()
        self._poll_params(now_ns)
        if self.params is None:
            error = (
                self._refused
                or self.watcher.last_error
                or NoPromotedSet(f"{self.coin}: no parameter set has been promoted")
            )
            if self.watcher.last_error is None and self._refused is None:
                self.log.write(now_ns, "quoterParams", {"event": "refused", "error": str(error)})
            log.error("%s: refusing to quote: %s", self.coin, error)
            return EXIT_REFUSED
        return EXIT_OK

    async def run(self, stop: asyncio.Event) -> int:
        """Quote until ``stop`` is set or the feed ends; everything is cancelled and the log compressed on exit."""
        code = EXIT_ERROR
        try:
            code = await self.start()
            if code != EXIT_OK:
                return code
            async for batch in self.feed.batches(stop):
                for item in batch:
                    self.handle(item)
                now_ns = self.feed.now_ns()
                await self.housekeeping(now_ns)
                if self._dirty:
                    decision = self.decide_now(now_ns)
                    if self.due(decision, now_ns):
                        self._dirty = False
                        await self.act(decision, now_ns)
            return code
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        now_ns = self.feed.now_ns() or self.clock()
        try:
            await self.venue.close(self.clock() // NS_PER_MS)
        finally:
            self.working = {"B": None, "A": None}
            self.log.write(now_ns, "quoterPull", {"state": "pulled", "reason": "shutdown", "detail": None})
            await self.feed.close()
            self.log.close()
