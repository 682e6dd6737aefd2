"""Live execution on Hyperliquid through the official SDK: post-only orders, the dead-man switch, cancel-all.

Orders are ``Alo`` (post-only). ``status: "ok"`` is not success: every item of ``statuses`` is checked; a cancel
answered "never placed, already canceled, or filled" means the order is gone; a failed modify is followed by a
cancel of the order it targeted, so no order is ever left untracked. A request that fails outright (network,
HTTP error) leaves the exchange state unknown: the venue cancels every open order of the coin and blocks quoting
until such a cancel-all succeeds. Actions run one at a time, each with a fresh nonce (the SDK uses the ms clock)
and ``expiresAfter`` = now + ``action_expiry_ms``, so an action delayed in transit is rejected, not executed late.

Dead-man switch (``scheduleCancel``): armed for ``dms_horizon_s`` before the first order and pushed forward every
``dms_refresh_s``; the quoter quotes only while it has at least ``dms_min_left_s`` to run. Hyperliquid counts a
*trigger* when the scheduled time comes and the orders are cancelled (at most 10 a day, reset 00:00 UTC;
docs/for-developers/api/exchange-endpoint.md: "Once the time comes, all open orders will be canceled and a
trigger count will be incremented"), so refreshing does not use the budget and a clean exit clears the schedule
after cancelling everything: only a crash, a hang or a lost connection fires it. Firings seen by this process
(``scheduledCancel`` order updates, or the armed time passing unrefreshed) are counted per UTC day and the
switch is not re-armed (so nothing is quoted) once ``max_dms_firings_per_day`` (< 10) is reached; the exchange's
own refusal to arm also blocks quoting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils.error import Error as SdkError

from data_lake.units import DAY_MS
from quoting.core.exchange_rules import AssetRules, is_valid_price, is_valid_size
from quoting.runtime.feed import Received
from quoting.runtime.orders import OrderAction, OrderResult, Side
from quoting.runtime.params import QuotingParams
from quoting.runtime.venue import VenueStart

ALO = {"limit": {"tif": "Alo"}}
MISSING_ORDER = "Order was never placed, already canceled, or filled."
MODIFY_MISSING = "Cannot modify canceled or filled order"
MIN_SCHEDULE_AHEAD_S = 5.0
MAX_TRIGGERS_PER_DAY = 10
EXCHANGE_ERRORS = (SdkError, requests.RequestException, OSError)
SPOT_ASSETS_FROM, BUILDER_PERPS_FROM = 10_000, 110_000
"""The SDK's asset ids: perps from 0, spot pairs from 10000, builder-deployed (HIP-3) perps from 110000."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveConfig:
    """Dead-man switch timing (seconds) and budget, the expiry of every signed action (ms), the HTTP timeout (s)."""

    dms_horizon_s: float = 120.0
    dms_refresh_s: float = 60.0
    dms_min_left_s: float = 15.0
    max_dms_firings_per_day: int = 8
    action_expiry_ms: int = 5_000
    http_timeout_s: float = 10.0
    """A request may not hang the quoter (the SDK's default is no timeout)."""

    def __post_init__(self) -> None:
        if self.dms_min_left_s < MIN_SCHEDULE_AHEAD_S or self.dms_refresh_s <= 0:
            raise ValueError(f"dms_min_left_s must be >= {MIN_SCHEDULE_AHEAD_S} s and dms_refresh_s > 0")
        if self.dms_refresh_s + self.dms_min_left_s > self.dms_horizon_s:
            raise ValueError("dms_refresh_s + dms_min_left_s must not exceed dms_horizon_s (refresh before blocking)")
        if not 0 < self.max_dms_firings_per_day < MAX_TRIGGERS_PER_DAY:
            raise ValueError(f"max_dms_firings_per_day must be in [1, {MAX_TRIGGERS_PER_DAY - 1}]")


class DeadManSwitch:
    """When the schedule was last set, until when it runs, and the firings of each UTC day."""

    def __init__(self, config: LiveConfig) -> None:
        self.config = config
        self.armed_until_ms: int | None = None
        self.set_at_ms: int | None = None
        self.firings: dict[int, int] = {}

    def left_ms(self, now_ms: int) -> int:
        return -1 if self.armed_until_ms is None else self.armed_until_ms - now_ms

    def may_quote(self, now_ms: int) -> bool:
        return self.left_ms(now_ms) >= self.config.dms_min_left_s * 1000

    def due(self, now_ms: int) -> bool:
        return self.set_at_ms is None or now_ms - self.set_at_ms >= self.config.dms_refresh_s * 1000

    def budget_left(self, now_ms: int) -> bool:
        return self.firings.get(now_ms // DAY_MS, 0) < self.config.max_dms_firings_per_day

    def fired(self, now_ms: int) -> None:
        day = now_ms // DAY_MS
        self.firings[day] = self.firings.get(day, 0) + 1
        self.armed_until_ms = self.set_at_ms = None


def _statuses(response: Any, n: int) -> list[Any]:
    """One status per request item: the ``statuses`` of an ok response, or the batch's error repeated."""
    if isinstance(response, dict) and response.get("status") == "ok":
        data = response.get("response", {}).get("data") or {}
        statuses = data.get("statuses", [])
        if len(statuses) == n:
            return statuses
        if len(statuses) == 1 and isinstance(statuses[0], dict) and "error" in statuses[0]:
            return statuses * n
        return [{"error": f"unexpected response {response!r}"}] * n
    text = response.get("response") if isinstance(response, dict) else response
    return [{"error": str(text)}] * n


def _error(status: Any) -> str | None:
    if isinstance(status, dict) and "error" in status:
        return str(status["error"])
    return None if isinstance(status, dict) or status == "success" else f"unexpected status {status!r}"


class LiveVenue:
    """Orders of one coin for ``user`` (the account the API wallet trades for)."""

    def __init__(
        self,
        coin: str,
        user: str,
        exchange: Exchange,
        info: Info,
        config: LiveConfig,
        on_event: Callable[[dict[str, Any]], None],
    ) -> None:
        self.coin = coin
        self.user = user
        self.exchange = exchange
        self.info = info
        self.config = config
        self.on_event = on_event
        self.dms = DeadManSwitch(config)
        asset = info.name_to_asset(coin)
        self.sz_decimals: int = info.asset_to_sz_decimals[asset]
        self.rules = AssetRules(self.sz_decimals, is_spot=SPOT_ASSETS_FROM <= asset < BUILDER_PERPS_FROM)
        self._unknown_state = False
        self._last_action_ms = 0

    # -- plumbing ---------------------------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """One SDK request in a thread; signed actions get a nonce above the last one and an expiry."""
        while (now_ms := time.time_ns() // 1_000_000) <= self._last_action_ms:
            await asyncio.sleep(0.001)
        self.exchange.set_expires_after(now_ms + self.config.action_expiry_ms)
        try:
            return await asyncio.to_thread(fn, *args)
        finally:
            self._last_action_ms = time.time_ns() // 1_000_000

    # -- start and stop ---------------------------------------------------------------------------------------

    async def start(self, now_ms: int) -> VenueStart:
        """Cancel what an earlier run left open, read the position and today's booked P&L, arm the switch."""
        cancelled = await self.cancel_all("start: open orders left by an earlier run", now_ms)
        if self._unknown_state:
            raise RuntimeError(f"{self.coin}: could not cancel the open orders of {self.user}; not quoting")
        state = await asyncio.to_thread(self.info.user_state, self.user)
        position = next(
            (p["position"] for p in state.get("assetPositions", []) if p.get("position", {}).get("coin") == self.coin),
            None,
        )
        fills = await asyncio.to_thread(self.info.user_fills, self.user)
        day_start = now_ms // DAY_MS * DAY_MS
        booked = sum(
            float(f["closedPnl"]) - float(f["fee"])
            for f in fills
            if f.get("coin") == self.coin and int(f["time"]) >= day_start
        )
        await self._arm(now_ms)
        return VenueStart(
            position=float(position["szi"]) if position else 0.0,
            avg_px=float(position["entryPx"]) if position else 0.0,
            as_of_ms=int(state.get("time", now_ms)),
            booked_today=booked,
            cancelled=cancelled,
        )

    async def close(self, now_ms: int) -> None:
        """Cancel everything, then clear the dead-man switch (a clean exit never uses a trigger)."""
        await self.cancel_all("shutdown", now_ms)
        if self._unknown_state or self.dms.armed_until_ms is None:
            return  # nothing armed, or orders we could not cancel: then the armed switch is the last defence
        try:
            response = await self._call(self.exchange.schedule_cancel, None)
            error = _error(response) if response.get("status") == "ok" else str(response.get("response"))
        except EXCHANGE_ERRORS as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.on_event(
            {"event": "dead_man", "status": "cleared" if error is None else "error", "until_ms": None, "error": error}
        )

    async def cancel_all(self, reason: str, now_ms: int) -> list[int]:
        """Cancel every open order of the coin (asked from the exchange, not from memory); returns their oids."""
        try:
            open_orders = await asyncio.to_thread(self.info.open_orders, self.user)
            oids = [int(o["oid"]) for o in open_orders if o.get("coin") == self.coin]
            errors = []
            if oids:
                response = await self._call(self.exchange.bulk_cancel, [{"coin": self.coin, "oid": o} for o in oids])
                errors = [e for e in map(_error, _statuses(response, len(oids))) if e not in (None, MISSING_ORDER)]
            error = "; ".join(errors) or None
        except EXCHANGE_ERRORS as exc:
            oids, error = [], f"{type(exc).__name__}: {exc}"
        self._unknown_state = error is not None
        self.on_event({"event": "cancel_all", "reason": reason, "oids": oids, "error": error})
        if error:
            log.error("%s: cancel-all (%s) failed: %s", self.coin, reason, error)
        return oids

    def use_params(self, params: QuotingParams) -> str | None:
        rules = params.policy.rules
        if (rules.sz_decimals, rules.is_spot) != (self.rules.sz_decimals, self.rules.is_spot):
            return (
                f"the exchange lists {self.coin} with szDecimals={self.sz_decimals}, spot={self.rules.is_spot}; "
                f"the set says szDecimals={rules.sz_decimals}, spot={rules.is_spot}"
            )
        return None

    # -- the dead-man switch ----------------------------------------------------------------------------------

    async def _arm(self, now_ms: int) -> None:
        if not self.dms.budget_left(now_ms):
            return
        until = now_ms + int(self.config.dms_horizon_s * 1000)
        try:
            response = await self._call(self.exchange.schedule_cancel, until)
            error = None if response.get("status") == "ok" else str(response.get("response"))
        except EXCHANGE_ERRORS as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            self.dms.armed_until_ms, self.dms.set_at_ms = until, now_ms
        else:
            self.dms.set_at_ms = now_ms  # retried after dms_refresh_s; quoting stays blocked meanwhile
            log.error("%s: could not arm the dead-man switch: %s", self.coin, error)
        self.on_event(
            {
                "event": "dead_man",
                "status": "armed" if error is None else "error",
                "until_ms": until if error is None else None,
                "error": error,
            }
        )

    def on_order_update(self, status: str, now_ms: int) -> None:
        if status == "scheduledCancel" and self.dms.armed_until_ms is not None:
            self.dms.fired(now_ms)
            self.on_event({"event": "dead_man", "status": "fired", "until_ms": None, "error": None})

    async def housekeeping(self, now_ms: int) -> None:
        """Notice a switch that ran out unrefreshed, refresh it when due, retry a failed cancel-all."""
        if self.dms.armed_until_ms is not None and now_ms >= self.dms.armed_until_ms:
            self.dms.fired(now_ms)
            self.on_event({"event": "dead_man", "status": "fired", "until_ms": None, "error": None})
        if self._unknown_state:
            await self.cancel_all("retry after an exchange error", now_ms)
        if self.dms.due(now_ms):
            await self._arm(now_ms)

    def blocked_reason(self, now_ms: int) -> str | None:
        if self._unknown_state:
            return "exchange_state_unknown"
        if not self.dms.budget_left(now_ms):
            return "dead_man_switch_budget"
        if not self.dms.may_quote(now_ms):
            return "dead_man_switch_unarmed"
        return None

    # -- orders -----------------------------------------------------------------------------------------------

    def busy(self) -> set[Side]:
        return set()

    def on_market(self, item: Received) -> list[dict[str, Any]]:
        return []

    def _request(self, action: OrderAction) -> dict[str, Any]:
        return {
            "coin": self.coin,
            "is_buy": action.side == "B",
            "sz": action.sz,
            "limit_px": action.px,
            "order_type": ALO,
            "reduce_only": False,
        }

    async def execute(self, actions: Sequence[OrderAction], now_ms: int) -> list[OrderResult]:
        """Cancels, then modifies, then new orders, one batch each; one result per action, in action order."""
        results: dict[int, OrderResult] = {}
        valid = []
        for i, a in enumerate(actions):
            if a.kind != "cancel" and (
                a.px is None or not (is_valid_price(a.px, self.rules) and is_valid_size(a.sz, self.rules))
            ):
                results[i] = OrderResult(
                    a,
                    "error",
                    a.oid if a.kind == "modify" else None,
                    f"not sent: invalid price {a.px!r} or size {a.sz!r}",
                )
            else:
                valid.append((i, a))
        try:
            for kind in ("cancel", "modify", "place"):
                batch = [(i, a) for i, a in valid if a.kind == kind]
                if batch:
                    results.update(
                        zip((i for i, _ in batch), await self._send(kind, [a for _, a in batch]), strict=True)
                    )
        except EXCHANGE_ERRORS as exc:
            log.error("%s: order request failed (%s); cancelling everything", self.coin, exc)
            await self.cancel_all(f"order request failed: {type(exc).__name__}", now_ms)
            for i, a in valid:
                results.setdefault(i, OrderResult(a, "error", None, f"{type(exc).__name__}: {exc}"))
        return [results[i] for i in range(len(actions))]

    async def _send(self, kind: str, batch: list[OrderAction]) -> list[OrderResult]:
        if kind == "cancel":
            response = await self._call(self.exchange.bulk_cancel, [{"coin": self.coin, "oid": a.oid} for a in batch])
            return [self._cancel_result(a, s) for a, s in zip(batch, _statuses(response, len(batch)), strict=True)]
        if kind == "modify":
            modifies = [{"oid": a.oid, "order": self._request(a)} for a in batch]
            response = await self._call(self.exchange.bulk_modify_orders_new, modifies)
        else:
            response = await self._call(self.exchange.bulk_orders, [self._request(a) for a in batch])
        results = []
        for a, status in zip(batch, _statuses(response, len(batch)), strict=True):
            if isinstance(status, dict) and "resting" in status:
                results.append(OrderResult(a, "resting", int(status["resting"]["oid"])))
            elif isinstance(status, dict) and "filled" in status:
                results.append(OrderResult(a, "filled", None))
            elif kind == "modify":
                results.append(await self._failed_modify(a, _error(status) or "unknown"))
            else:
                results.append(OrderResult(a, "error", None, _error(status)))
        return results

    @staticmethod
    def _cancel_result(action: OrderAction, status: Any) -> OrderResult:
        error = _error(status)
        if error is None or error == MISSING_ORDER:
            return OrderResult(action, "cancelled", None, error)
        return OrderResult(action, "error", action.oid, error)

    async def _failed_modify(self, action: OrderAction, error: str) -> OrderResult:
        """A modify that failed may have left the old order resting: cancel it too, so it is not untracked."""
        if error.startswith(MODIFY_MISSING):
            return OrderResult(action, "error", None, error)
        response = await self._call(self.exchange.bulk_cancel, [{"coin": self.coin, "oid": action.oid}])
        after = self._cancel_result(action, _statuses(response, 1)[0])
        return OrderResult(action, "error", after.oid, error)
