"""``POST /exchange``: signature, nonce and the order actions, answered in the real response shapes.

Transport-level problems (a body that does not deserialize) get HTTP 422 with the exchange's text;
action-level rejections (unknown signer, bad nonce) get ``{"status":"err","response":"..."}``; order
and cancel problems come back per item inside ``{"status":"ok"}``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .signing import MalformedAction, NonceBook, canonical_action, recover_signer
from .venue import UserEvent, Venue

DESERIALIZE_ERROR = "Failed to deserialize the JSON body into the target type"
MODIFY_MISSING = "Cannot modify canceled or filled order"
MIN_SCHEDULE_DELAY_MS = 5_000
MAX_TRIGGERS_PER_DAY = 10


@dataclass(frozen=True)
class Reply:
    """An HTTP answer of the fake (``body`` is JSON, or text for a 422) and the WS events it caused."""

    status: int
    body: Any
    events: list[UserEvent] = field(default_factory=list)


def _ok(kind: str, data: Any = None, events: list[UserEvent] | None = None) -> Reply:
    response = {"type": kind} if data is None else {"type": kind, "data": data}
    return Reply(200, {"status": "ok", "response": response}, events or [])


def _err(text: str) -> Reply:
    return Reply(200, {"status": "err", "response": text})


class Exchange:
    """Who may sign for whom, nonces, scheduled cancels, and the dispatch of L1 actions to the venue."""

    def __init__(self, venue: Venue, mainnet: bool = False) -> None:
        self.venue = venue
        self.mainnet = mainnet
        self.signers: dict[str, str] = {}
        self.nonces = NonceBook()
        self.scheduled: dict[str, int] = {}
        self.triggers: dict[tuple[str, dt.date], int] = {}

    def authorize(self, user: str, signer: str | None = None) -> None:
        """Let ``signer`` (an API wallet, or the user itself when None) sign for ``user``."""
        self.signers[(signer or user).lower()] = user.lower()

    def handle(self, body: Any, now_ms: int) -> Reply:
        try:
            action = canonical_action(body["action"])
            nonce = int(body["nonce"])
            vault, expires = body.get("vaultAddress"), body.get("expiresAfter")
            signer = recover_signer(action, nonce, body["signature"], vault, expires, self.mainnet)
        except (MalformedAction, KeyError, TypeError, ValueError):
            return Reply(422, DESERIALIZE_ERROR)
        user = self.signers.get(signer)
        if user is None:
            return _err(f"User or API Wallet {signer} does not exist.")
        if body.get("vaultAddress"):
            return _err("Vault and subaccount actions are not supported by the fake exchange.")
        rejected = self.nonces.use(signer, nonce, now_ms)
        if rejected:
            return _err(rejected)
        return getattr(self, "_" + action["type"])(user, action, now_ms)

    def _order(self, user: str, action: dict[str, Any], now_ms: int) -> Reply:
        statuses, events = [], []
        for wire in action["orders"]:
            status, caused = self.venue.place(user, wire, now_ms)
            statuses.append(status)
            events += caused
        return _ok("order", {"statuses": statuses}, events)

    def _cancel(self, user: str, action: dict[str, Any], now_ms: int) -> Reply:
        return self._cancels(user, [(c["a"], c["o"]) for c in action["cancels"]], now_ms)

    def _cancelByCloid(self, user: str, action: dict[str, Any], now_ms: int) -> Reply:  # noqa: N802 (action name)
        return self._cancels(user, [(c["asset"], c["cloid"]) for c in action["cancels"]], now_ms)

    def _cancels(self, user: str, targets: list[tuple[int, int | str]], now_ms: int) -> Reply:
        statuses, events = [], []
        for asset, oid in targets:
            status, caused = self.venue.cancel(self.venue.find(user, asset, oid), now_ms)
            statuses.append(status)
            events += caused
        return _ok("cancel", {"statuses": statuses}, events)

    def _replace(
        self, user: str, oid: int | str, wire: dict[str, Any], always_place: bool, now_ms: int
    ) -> tuple[Any, list[UserEvent]]:
        """Cancel ``oid`` and place ``wire`` in its stead (ALO unless always_place) under a new oid."""
        old = self.venue.find(user, wire["a"], oid)
        if old is None and not always_place:
            return {"error": MODIFY_MISSING}, []
        events = self.venue.cancel(old, now_ms)[1] if old is not None else []
        status, placed = self.venue.place(user, wire, now_ms, post_only=not always_place)
        return status, events + placed

    def _modify(self, user: str, action: dict[str, Any], now_ms: int) -> Reply:
        status, events = self._replace(user, action["oid"], action["order"], bool(action.get("a")), now_ms)
        if "error" in status:
            return Reply(200, {"status": "err", "response": status["error"]}, events)
        return _ok("default", events=events)

    def _batchModify(self, user: str, action: dict[str, Any], now_ms: int) -> Reply:  # noqa: N802 (action name)
        statuses, events = [], []
        for modify in action["modifies"]:
            status, caused = self._replace(user, modify["oid"], modify["order"], bool(action.get("a")), now_ms)
            statuses.append(status)
            events += caused
        return _ok("order", {"statuses": statuses}, events)

    def _scheduleCancel(self, user: str, action: dict[str, Any], now_ms: int) -> Reply:  # noqa: N802 (action name)
        when = action.get("time")
        if when is None:
            self.scheduled.pop(user, None)
            return _ok("default")
        if when < now_ms + MIN_SCHEDULE_DELAY_MS:
            return _err("Scheduled cancel time too early, must be at least 5 seconds after current time.")
        if self.triggers.get((user, _day(now_ms)), 0) >= MAX_TRIGGERS_PER_DAY:
            return _err(f"Too many scheduled cancel triggers today (max {MAX_TRIGGERS_PER_DAY}).")
        self.scheduled[user] = when
        return _ok("default")

    def fire_due(self, now_ms: int) -> list[UserEvent]:
        """Run every scheduled cancel whose time has come: cancel all the user's orders (``scheduledCancel``)."""
        events: list[UserEvent] = []
        for user, when in list(self.scheduled.items()):
            if when <= now_ms:
                del self.scheduled[user]
                key = (user, _day(now_ms))
                self.triggers[key] = self.triggers.get(key, 0) + 1
                events += self.venue.cancel_all(user, now_ms, "scheduledCancel")
        return events


def _day(now_ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC).date()
