"""The capture recorder: Hyperliquid's WS feeds per coin, written to the raw zone exactly as received.

It subscribes to ``trades``, ``l2Book``, ``bbo`` and ``activeAssetCtx`` for each coin (plus ``userFills`` and
``orderUpdates`` with an address) and writes every data frame as the archive envelope
``{"time": <receive time, ISO ns>, "ver_num": 1, "raw": <frame>}`` into
``{out}/ws/{YYYYMMDD}/{H}/{coin}.jsonl`` by receive hour; finished hours become ``.jsonl.lz4``
(:mod:`quoting.capture.raw_capture`). A frame is written the moment it is read, before the next is read, so a
reconnect or a stop never drops one that was received. Routing (user frames split by coin; coin-less
frames to ``_unattributed``; ``subscriptionResponse``/``pong`` not written) is :mod:`quoting.capture.frame_routing`.
The connection sends ``{"method":"ping"}`` every ``ping_interval_s`` (Hyperliquid closes connections
silent for 60 s) and reconnects with exponential backoff, resubscribing everything (Hyperliquid has no
resume cursor; the ``trades`` snapshot on subscribe may repeat trades, which cleaning deduplicates).
SIGTERM/SIGINT: stop reading, fsync, compress every open file, exit 0. A raw zone that cannot be written (a
full disk, an unwritable or missing path) is not a network error: the recorder checks the output at start and
stops at the first failed write with :class:`quoting.capture.raw_capture.CaptureWriteError`, which ``record_main``
reports in one line with exit code 1 (reconnecting would only drop every later frame the same way). With
``leaders``, the configured leaders of the coins (:mod:`data_lake.leaders`: ``$SMALLFISH_LEADERS``, default BTC and
ETH) are recorded too, as coins of their own: their clean books are what the nightly lead-lag fit and a lead-lag
quoter read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from data_lake.leaders import with_leaders
from data_lake.raw_zone import envelope, iso_ns
from quoting.capture.frame_routing import CONTROL_CHANNELS, route
from quoting.capture.raw_capture import (
    HOUR_NS,
    UNATTRIBUTED,
    CaptureWriteError,
    HourlyRawWriter,
    compress_plain,
    probe_writable,
)

MAINNET_WS_URL = "wss://api.hyperliquid.xyz/ws"
TESTNET_WS_URL = "wss://api.hyperliquid-testnet.xyz/ws"
MARKET_FEEDS = ("trades", "l2Book", "bbo", "activeAssetCtx")
USER_FEEDS = ("userFills", "orderUpdates")
PING = json.dumps({"method": "ping"})
MAX_FRAME_BYTES = 64 * 1024 * 1024
MAX_ERRORS = 100
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
NETWORK_ERRORS = (OSError, TimeoutError, InvalidHandshake, ConnectionClosed)
"""What ends a connection and is retried with backoff (raw-zone write failures are CaptureWriteError, not these)."""

log = logging.getLogger(__name__)


def subscriptions(coins: tuple[str, ...], address: str | None) -> list[dict[str, Any]]:
    """The subscribe requests: market feeds per coin, then the user feeds when an address is given."""
    subs: list[dict[str, Any]] = [{"type": feed, "coin": coin} for coin in coins for feed in MARKET_FEEDS]
    if address is not None:
        subs += [{"type": feed, "user": address} for feed in USER_FEEDS]
    return subs


@dataclass(frozen=True)
class RecorderConfig:
    """What to record, where, and the connection's timing (seconds)."""

    coins: tuple[str, ...]
    out: Path
    ws_url: str = MAINNET_WS_URL
    address: str | None = None
    source: str = "ws"
    ping_interval_s: float = 30.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    fsync_interval_s: float = 1.0
    close_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if not self.coins or not all(self.coins):
            raise ValueError("record at least one coin")
        if not self.ws_url.startswith(("ws://", "wss://")):
            raise ValueError(f"not a WebSocket URL: {self.ws_url!r}")
        if self.address is not None and not _ADDRESS.match(self.address):
            raise ValueError("address must be 0x followed by 40 hex digits")
        if not 0 < self.ping_interval_s < 60:
            raise ValueError("ping_interval_s must be in (0, 60): Hyperliquid closes connections idle for 60 s")


@dataclass
class RecorderStats:
    """Counts of one run: data frames read, lines written, control frames skipped, connections opened, and
    the last ``MAX_ERRORS`` connection or file errors."""

    frames: int = 0
    lines: int = 0
    control: int = 0
    connections: int = 0
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_ERRORS))


def raw_line(recv_ns: int, text: str, frame: Any, parsed: bool) -> str:
    """The envelope line; a parsed single-line frame is embedded verbatim, byte for byte as received."""
    if parsed and "\n" not in text and "\r" not in text:
        return f'{{"time":"{iso_ns(recv_ns)}","ver_num":1,"raw":{text}}}'
    return envelope(recv_ns, frame if parsed else text)


class Recorder:
    """One recording run; ``clock`` gives the receive time in epoch ns (kept non-decreasing)."""

    def __init__(self, config: RecorderConfig, clock: Callable[[], int] = time.time_ns) -> None:
        self.config = config
        self.stats = RecorderStats()
        self.writer = HourlyRawWriter(config.out, config.source)
        self._clock = clock
        self._last_ns = 0
        self._hour = -1
        self._compressing: set[asyncio.Task[None]] = set()
        self._received = False

    def now_ns(self) -> int:
        self._last_ns = max(self._clock(), self._last_ns)
        return self._last_ns

    async def run(self, stop: asyncio.Event) -> RecorderStats:
        """Record until ``stop`` is set; every file is compressed before returning.

        Raises :class:`CaptureWriteError` when the raw zone cannot be written, before connecting if the output
        folder is unwritable (what was written is still closed, and compressed if the disk allows).
        """
        probe_writable(self.writer.raw_root / self.writer.source)
        for leftover in self.writer.leftovers(self.now_ns()):
            self._compress([leftover])
        upkeep = asyncio.create_task(self._upkeep())
        connections = asyncio.create_task(self._connect_loop(stop))
        try:
            await asyncio.wait({connections, upkeep}, return_when=asyncio.FIRST_COMPLETED)
            if upkeep.done():  # it only ends by failing to fsync
                connections.cancel()
                await asyncio.gather(connections, return_exceptions=True)
                upkeep.result()
            connections.result()
        finally:
            for task in (upkeep, connections):
                task.cancel()
            await asyncio.gather(upkeep, connections, return_exceptions=True)
            await asyncio.gather(*self._compressing)
            try:
                self._compress(self.writer.detach_all())
            except CaptureWriteError as exc:  # the plain files stay readable; the next start compresses them
                self.stats.errors.append(str(exc))
        return self.stats

    async def _connect_loop(self, stop: asyncio.Event) -> None:
        delay = self.config.backoff_initial_s
        while not stop.is_set():
            self._received = False
            error = await self._connection(stop)
            if error is not None:
                self.stats.errors.append(f"{type(error).__name__}: {error}")
                log.warning("recorder connection to %s ended: %s", self.config.ws_url, error)
            if stop.is_set():
                return
            if self._received:
                delay = self.config.backoff_initial_s
            log.info("recorder reconnecting in %.2f s", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, self.config.backoff_max_s)

    async def _connection(self, stop: asyncio.Event) -> Exception | None:
        """One connection, until it ends or ``stop``; returns the network error that ended it, if any.

        An open session winds down by itself on ``stop`` (close handshake); a pending opening handshake is
        cancelled after ``close_timeout_s``.
        """
        attempt = asyncio.create_task(self._connect_and_read(stop))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({attempt, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not attempt.done():
            await asyncio.wait({attempt}, timeout=self.config.close_timeout_s)
            attempt.cancel()
        [outcome] = await asyncio.gather(attempt, return_exceptions=True)
        if isinstance(outcome, NETWORK_ERRORS):
            return outcome
        if isinstance(outcome, Exception):
            raise outcome
        return None

    async def _connect_and_read(self, stop: asyncio.Event) -> None:
        timeout = self.config.close_timeout_s
        async with connect(self.config.ws_url, max_size=MAX_FRAME_BYTES, close_timeout=timeout) as ws:
            self.stats.connections += 1
            log.info("recorder connected to %s", self.config.ws_url)
            await self._session(ws, stop)

    async def _session(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        for sub in subscriptions(self.config.coins, self.config.address):
            await ws.send(json.dumps({"method": "subscribe", "subscription": sub}))
        reader = asyncio.create_task(self._read(ws))
        pinger = asyncio.create_task(self._ping(ws))
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, pinger, stopper):
                task.cancel()
            await asyncio.gather(reader, pinger, stopper, return_exceptions=True)
        error = None if reader.cancelled() else reader.exception()
        if error is not None:
            raise error

    async def _read(self, ws: ClientConnection) -> None:
        async for message in ws:
            self.on_message(message)

    async def _ping(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.config.ping_interval_s)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(PING)

    def on_message(self, message: str | bytes) -> None:
        """Write one received WS message (synchronously: it is on disk, unflushed to media, on return)."""
        recv_ns = self.now_ns()
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        try:
            frame, parsed = json.loads(text), True
        except ValueError:
            frame, parsed = text, False
        channel = frame.get("channel") if isinstance(frame, dict) else None
        if channel in CONTROL_CHANNELS:
            self.stats.control += 1
            return
        if channel == "error":
            log.warning("server error frame: %s", str(frame.get("data"))[:200])
        self._received = True
        self.stats.frames += 1
        for coin, part in route(frame) if parsed else [(None, None)]:
            line = raw_line(recv_ns, text, frame, parsed) if part is None else envelope(recv_ns, part)
            self.writer.write(recv_ns, coin or UNATTRIBUTED, line)
            self.stats.lines += 1
        if recv_ns // HOUR_NS > self._hour:
            self._rotate(recv_ns)

    def _rotate(self, now_ns: int) -> None:
        """Hand every file of an hour before ``now_ns``'s to a thread that compresses it."""
        self._hour = now_ns // HOUR_NS
        finished = self.writer.detach_before(now_ns)
        if finished:
            task = asyncio.create_task(asyncio.to_thread(self._compress, finished))
            self._compressing.add(task)
            task.add_done_callback(self._compressing.discard)

    def _compress(self, paths: list[Path]) -> None:
        for path in paths:
            try:
                compress_plain(path)
            except OSError as exc:
                self.stats.errors.append(f"compress {path}: {exc}")
                log.error("could not compress %s (the plain file is kept and still readable): %s", path, exc)

    async def _upkeep(self) -> None:
        while True:
            await asyncio.sleep(self.config.fsync_interval_s)
            self.writer.fsync()
            self._rotate(self.now_ns())


async def record(config: RecorderConfig, clock: Callable[[], int] = time.time_ns) -> RecorderStats:
    """Record until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        return await Recorder(config, clock).run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def record_main(
    coins: list[str],
    out: str,
    address: str | None = None,
    ws_url: str = MAINNET_WS_URL,
    *,
    ping_interval_s: float = 30.0,
    backoff_max_s: float = 30.0,
    leaders: bool = False,
) -> int:
    """``smallfish record``: record ``coins`` (with ``leaders``, also their configured leaders) and ``address``'s
    fills/orders into raw zone ``out`` until SIGTERM/SIGINT; returns the exit code."""
    recorded = with_leaders(coins) if leaders else tuple(coins)
    if leaders:
        log.info("recording %s (with the leaders of %s)", ", ".join(recorded), ", ".join(coins))
    config = RecorderConfig(
        recorded, Path(out), ws_url, address, ping_interval_s=ping_interval_s, backoff_max_s=backoff_max_s
    )
    try:
        stats = asyncio.run(record(config))
    except CaptureWriteError as exc:
        log.error("recorder stopped: %s; free space or fix the --out path, then start it again", exc)
        return 1
    log.info("recorder stopped: %d frames, %d lines, %d connections", stats.frames, stats.lines, stats.connections)
    return 0
