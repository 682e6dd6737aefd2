"""The fake's WebSocket side: subscriptions and their acks, ping/pong, the idle limit, fan-out, disconnects.

Every frame a client is sent goes through its outbox and is logged in :attr:`Hub.sent` at the moment it is
handed to the socket while the connection is open, so a graceful close (:meth:`Hub.disconnect_all`) delivers
every logged frame: tests can compare what was sent with what a client recorded, frame for frame.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from .venue import UserEvent

USER_TYPES = ("userFills", "orderUpdates", "userEvents")
USER_CHANNEL = {"userFills": "userFills", "orderUpdates": "orderUpdates", "userEvents": "user"}
SubKey = tuple[str, str]


def dumps(frame: Any) -> str:
    return json.dumps(frame, separators=(",", ":"))


def sub_key(sub: dict[str, Any]) -> SubKey:
    """What a subscription is keyed by: (type, coin) for market feeds, (type, user) for user feeds."""
    kind = sub["type"]
    if kind in USER_TYPES:
        return kind, sub["user"].lower()
    if "coin" in sub:
        return kind, sub["coin"]
    return kind, dumps(sub)


def normalized(sub: dict[str, Any]) -> dict[str, Any]:
    """The subscription as the ack echoes it (l2Book gains its null aggregation fields)."""
    if sub["type"] == "l2Book":
        return {"type": "l2Book", "coin": sub["coin"], "nSigFigs": sub.get("nSigFigs"), "mantissa": sub.get("mantissa")}
    return dict(sub)


@dataclass
class Client:
    """One WS connection: its subscriptions, outbox and when it last sent a message."""

    id: int
    conn: ServerConnection
    last_heard: float
    subs: dict[SubKey, dict[str, Any]] = field(default_factory=dict)
    outbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)


@dataclass(frozen=True)
class SentFrame:
    client: int
    text: str


class Hub:
    """All WS clients of the fake; runs on the fake's event loop."""

    def __init__(
        self,
        idle_timeout_s: float,
        on_message: Callable[[str], None],
        snapshots: Callable[[dict[str, Any]], list[str]],
    ) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.on_message = on_message
        self.snapshots = snapshots
        self.clients: dict[int, Client] = {}
        self.sent: list[SentFrame] = []
        self._ids = itertools.count(1)

    async def serve(self, conn: ServerConnection) -> None:
        """The connection handler: read client messages until the connection ends."""
        loop = asyncio.get_running_loop()
        client = Client(next(self._ids), conn, loop.time())
        self.clients[client.id] = client
        tasks = [asyncio.create_task(self._write(client)), asyncio.create_task(self._watch_idle(client))]
        try:
            async for message in conn:
                client.last_heard = loop.time()
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                self.on_message(text)
                self._handle(client, text)
        except ConnectionClosed:
            pass
        finally:
            del self.clients[client.id]
            for task in tasks:
                task.cancel()

    def _handle(self, client: Client, text: str) -> None:
        try:
            request = json.loads(text)
            method = request["method"]
        except (ValueError, TypeError, KeyError):
            error = f"Error parsing JSON into valid websocket request: {text}"
            client.outbox.put_nowait(dumps({"channel": "error", "data": error}))
            return
        if method == "ping":
            client.outbox.put_nowait(dumps({"channel": "pong"}))
        elif method in ("subscribe", "unsubscribe") and isinstance(request.get("subscription"), dict):
            self._subscription(client, method, request["subscription"])
        else:
            client.outbox.put_nowait(dumps({"channel": "error", "data": f"Unsupported websocket request: {text}"}))

    def _subscription(self, client: Client, method: str, sub: dict[str, Any]) -> None:
        try:
            key, echo = sub_key(sub), normalized(sub)
        except (KeyError, AttributeError):
            client.outbox.put_nowait(dumps({"channel": "error", "data": f"Invalid subscription {dumps(sub)}"}))
            return
        subscribing = method == "subscribe"
        if (key in client.subs) == subscribing:
            state = "Already subscribed" if subscribing else "Already unsubscribed"
            client.outbox.put_nowait(dumps({"channel": "error", "data": f"{state}: {dumps(echo)}"}))
            return
        if subscribing:
            client.subs[key] = echo
        else:
            del client.subs[key]
        ack = {"channel": "subscriptionResponse", "data": {"method": method, "subscription": echo}}
        client.outbox.put_nowait(dumps(ack))
        if subscribing:
            for frame in self.snapshots(echo):
                client.outbox.put_nowait(frame)

    async def _write(self, client: Client) -> None:
        while True:
            text = await client.outbox.get()
            if client.conn.state is not State.OPEN:
                return
            self.sent.append(SentFrame(client.id, text))
            try:
                await client.conn.send(text)
            except ConnectionClosed:
                return

    async def _watch_idle(self, client: Client) -> None:
        """Close the connection when the client has sent nothing for ``idle_timeout_s`` (Hyperliquid: 60 s)."""
        loop = asyncio.get_running_loop()
        while True:
            left = client.last_heard + self.idle_timeout_s - loop.time()
            if left <= 0:
                await client.conn.close(1000, "idle timeout")
                return
            await asyncio.sleep(left)

    def publish(self, key: SubKey, text: str) -> None:
        """Queue a market frame to every client subscribed to ``key``."""
        for client in self.clients.values():
            if key in client.subs:
                client.outbox.put_nowait(text)

    def push_user(self, events: list[UserEvent]) -> None:
        """Queue order updates and fills to the clients subscribed to their user's feeds."""
        grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for event in events:
            grouped.setdefault((event.user, event.channel), []).append(event.item)
        for (user, channel), items in grouped.items():
            if channel == "orderUpdates":
                self.publish(("orderUpdates", user), dumps({"channel": "orderUpdates", "data": items}))
            else:
                fills = {"channel": "userFills", "data": {"user": user, "fills": items}}
                self.publish(("userFills", user), dumps(fills))
                self.publish(("userEvents", user), dumps({"channel": "user", "data": {"fills": items}}))

    def backlog(self) -> int:
        """The longest outbox: how far the slowest client is behind."""
        return max((c.outbox.qsize() for c in self.clients.values()), default=0)

    def subscribed(self, key: SubKey) -> bool:
        return any(key in c.subs for c in self.clients.values())

    async def disconnect_all(self, abrupt: bool = False) -> int:
        """Drop every connection: a close handshake (every logged frame is delivered) or a TCP abort."""
        clients = list(self.clients.values())
        for client in clients:
            if abrupt:
                client.conn.transport.abort()
            else:
                await client.conn.close(1012, "fake restart")
        return len(clients)
