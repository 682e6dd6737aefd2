"""``FakeHyperliquid``: the fake exchange on 127.0.0.1, its event loop and HTTP server in background threads.

All exchange state (venue, exchange, WS hub) lives on one asyncio loop; the HTTP threads hand each request
to that loop and wait for the answer, so state is never touched from two threads.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from .actions import Exchange, Reply
from .info import handle_info, meta, spot_meta
from .replay import MARKET_CHANNELS, ReplayFrame, load_raw, market_frames, replay
from .venue import Venue
from .ws_hub import Hub, dumps, sub_key

T = TypeVar("T")
CALL_TIMEOUT_S = 10.0
SCHEDULER_TICK_S = 0.05


@dataclass(frozen=True)
class RecordedRequest:
    """Something a client sent: an HTTP request, a WS handshake or a WS message, exactly as received."""

    transport: str
    path: str
    headers: dict[str, str]
    body: str
    time_ns: int


class FakeHyperliquid:
    """A local fake of Hyperliquid's ``/info``, ``/exchange`` and ``/ws`` (see the package docstring)."""

    def __init__(
        self,
        universe: Sequence[tuple[str, int]] = (("DEMO", 2),),
        *,
        idle_timeout_s: float = 60.0,
        mainnet: bool = False,
        starting_usdc: float = 10_000.0,
        trades_snapshot: int = 0,
    ) -> None:
        self.venue = Venue(list(universe), Decimal(str(starting_usdc)))
        self.exchange = Exchange(self.venue, mainnet)
        self.hub = Hub(idle_timeout_s, self._on_ws_message, self._snapshots)
        self.requests: list[RecordedRequest] = []
        self._frames: list[ReplayFrame] = []
        self._recent_trades: dict[str, deque[dict[str, Any]]] = {}
        self._trades_snapshot = trades_snapshot
        self._loop = asyncio.new_event_loop()
        self._threads: list[threading.Thread] = []
        self._ws_server: Server | None = None
        self._http: ThreadingHTTPServer | None = None
        self._replay_task: asyncio.Task[int] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._gate: asyncio.Event | None = None

    # lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> FakeHyperliquid:
        """Start the loop thread, the WS server and the HTTP server on ephemeral ports."""
        thread = threading.Thread(target=self._loop.run_forever, name="fake-hl-loop", daemon=True)
        thread.start()
        self._threads.append(thread)
        self._ws_server = self._call(self._start_ws())
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._http.daemon_threads = True
        http_thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), name="fake-hl-http", daemon=True)
        http_thread.start()
        self._threads.append(http_thread)
        return self

    async def _start_ws(self) -> Server:
        self._gate = asyncio.Event()
        self._gate.set()
        self._ticker = asyncio.create_task(self._tick())
        return await serve(
            self.hub.serve, "127.0.0.1", 0, process_request=self._check_path, ping_interval=None, compression=None
        )

    def stop(self) -> None:
        """Close every connection and server and stop the threads."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._loop.is_running():
            self._call(self._stop_ws())
            self._loop.call_soon_threadsafe(self._loop.stop)
        for thread in self._threads:
            thread.join(timeout=5)
        self._loop.close()

    async def _stop_ws(self) -> None:
        for task in (self._replay_task, self._ticker):
            if task is not None:
                task.cancel()
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()

    def __enter__(self) -> FakeHyperliquid:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The HTTP base URL (``/info``, ``/exchange``): what the SDK's ``base_url`` takes."""
        assert self._http is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def ws_url(self) -> str:
        assert self._ws_server is not None, "start() the fake first"
        return f"ws://127.0.0.1:{self._ws_server.sockets[0].getsockname()[1]}/ws"

    # accounts and metadata -------------------------------------------------------------------------------

    def add_account(self, user: str, agents: Iterable[str] = ()) -> None:
        """Register ``user`` (who may sign for itself) and the API wallets approved to sign for it."""
        self._call(self._run(self._add_account, user, list(agents)))

    def _add_account(self, user: str, agents: list[str]) -> None:
        self.exchange.authorize(user)
        for agent in agents:
            self.exchange.authorize(user, agent)

    def meta(self) -> dict[str, Any]:
        """What ``{"type":"meta"}`` returns; pass it to the SDK's ``Info``/``Exchange`` as ``meta``."""
        return meta(self.venue)

    @staticmethod
    def spot_meta() -> dict[str, Any]:
        return spot_meta()

    @staticmethod
    def now_ms() -> int:
        return time.time_ns() // 1_000_000

    # market replay -----------------------------------------------------------------------------------------

    def load_raw(
        self, raw_root: str | Path, coins: Iterable[str] | None = None, source: str = "ws", limit: int | None = None
    ) -> int:
        """Queue the market frames of raw-zone captures for replay; returns how many were queued."""
        frames = load_raw(raw_root, coins, source, limit)
        self._frames.extend(frames)
        return len(frames)

    def load_frames(self, items: Iterable[tuple[int, dict[str, Any]]]) -> int:
        """Queue (receive ns, frame) pairs for replay (non-market frames are skipped)."""
        frames = market_frames(items)
        self._frames.extend(frames)
        return len(frames)

    @property
    def frames(self) -> list[ReplayFrame]:
        """The frames queued for replay."""
        return list(self._frames)

    def start_replay(self, speed: float | None = None) -> None:
        """Replay the queued frames to subscribers, paced by receive time / ``speed`` (None: as fast as possible)."""
        frames, self._frames = self._frames, []
        self._call(self._run(self._launch_replay, frames, speed))

    def _launch_replay(self, frames: list[ReplayFrame], speed: float | None) -> None:
        assert self._gate is not None
        self._replay_task = self._loop.create_task(replay(frames, speed, self._emit, self.hub.backlog, self._gate))

    def pause_replay(self) -> None:
        self._call(self._run(self._open_gate, False))

    def resume_replay(self) -> None:
        self._call(self._run(self._open_gate, True))

    def _open_gate(self, open_: bool) -> None:
        assert self._gate is not None
        if open_:
            self._gate.set()
        else:
            self._gate.clear()

    def wait_replay(self, timeout: float = 30.0) -> None:
        """Block until the replay has emitted every frame (``TimeoutError`` otherwise)."""
        task = self._replay_task
        if task is not None:
            waiting = asyncio.wait_for(asyncio.shield(task), timeout)
            asyncio.run_coroutine_threadsafe(waiting, self._loop).result(timeout + 1)

    def publish(self, frame: dict[str, Any]) -> None:
        """Emit one market frame now, as the replay would: market state, fills of resting orders, fan-out."""
        frames = market_frames([(time.time_ns(), frame)])
        if not frames:
            raise ValueError(f"not a replayable market frame: {frame!r}")
        self._call(self._run(self._emit, frames[0]))

    def _emit(self, item: ReplayFrame) -> None:
        events = self.venue.on_market(item.channel, item.frame["data"])
        if item.channel == "trades" and self._trades_snapshot:
            recent = self._recent_trades.setdefault(item.coin or "", deque(maxlen=self._trades_snapshot))
            recent.extend(item.frame["data"])
        self.hub.publish((MARKET_CHANNELS[item.channel], item.coin or ""), item.text)
        self.hub.push_user(events)

    def _snapshots(self, sub: dict[str, Any]) -> list[str]:
        if sub["type"] == "userFills":
            user = sub["user"].lower()
            fills = list(reversed(self.venue.ledger(user).fills))[:2000]
            return [dumps({"channel": "userFills", "data": {"isSnapshot": True, "user": user, "fills": fills}})]
        if sub["type"] == "trades" and self._recent_trades.get(sub["coin"]):
            return [dumps({"channel": "trades", "data": list(self._recent_trades[sub["coin"]])})]
        return []

    # connections -------------------------------------------------------------------------------------------

    def disconnect_all(self, abrupt: bool = False) -> int:
        """Drop every WS connection (graceful close: every frame logged as sent is delivered); returns how many."""
        return self._call(self.hub.disconnect_all(abrupt))

    def wait_for_subscription(self, subscription: dict[str, Any], timeout: float = 10.0) -> None:
        """Block until some client holds ``subscription`` (``TimeoutError`` otherwise)."""
        key = sub_key(subscription)
        deadline = time.monotonic() + timeout
        while not self._call(self._run(self.hub.subscribed, key)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"nobody subscribed to {subscription}")
            time.sleep(0.01)

    def client_count(self) -> int:
        return self._call(self._run(lambda: len(self.hub.clients)))

    def sent_frames(self, channels: Iterable[str] | None = None) -> list[str]:
        """Every frame written to a client, in order (optionally only these channels)."""
        sent = self._call(self._run(lambda: [s.text for s in self.hub.sent]))
        if channels is None:
            return sent
        wanted = set(channels)
        return [text for text in sent if json.loads(text).get("channel") in wanted]

    # request handling ---------------------------------------------------------------------------------------

    def _record(self, transport: str, path: str, headers: dict[str, str], body: str) -> None:
        self.requests.append(RecordedRequest(transport, path, headers, body, time.time_ns()))

    def _on_ws_message(self, text: str) -> None:
        self._record("ws", "/ws", {}, text)

    def _check_path(self, conn: ServerConnection, request: Request) -> Response | None:
        self._record("ws-handshake", request.path, dict(request.headers.raw_items()), "")
        if request.path != "/ws":
            return Response(404, "Not Found", Headers({"Content-Length": "0"}), b"")
        return None

    def handle_http(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        """Answer one HTTP request (called from the HTTP threads)."""
        body_text = raw.decode("utf-8", "replace")
        self._record("http", path, headers, body_text)
        if path not in ("/info", "/exchange"):
            return Reply(404, "Not Found")
        try:
            body = json.loads(body_text)
        except ValueError:
            return Reply(422, "Failed to deserialize the JSON body into the target type")
        return self._call(self._run(self._dispatch, path, body))

    def _dispatch(self, path: str, body: Any) -> Reply:
        now = self.now_ms()
        if path == "/info":
            return handle_info(self.venue, body, now)
        reply = self.exchange.handle(body, now)
        self.hub.push_user(reply.events)
        return reply

    async def _tick(self) -> None:
        while True:
            self.hub.push_user(self.exchange.fire_due(self.now_ms()))
            await asyncio.sleep(SCHEDULER_TICK_S)

    # loop plumbing ------------------------------------------------------------------------------------------

    @staticmethod
    async def _run(fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(CALL_TIMEOUT_S)


def _handler_for(fake: FakeHyperliquid) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            reply = fake.handle_http(self.path, dict(self.headers.items()), raw)
            payload = (reply.body if isinstance(reply.body, str) else json.dumps(reply.body)).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json" if not isinstance(reply.body, str) else "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
            """Silence the per-request stderr log."""

    return Handler
