"""Where the quoter's frames come from: Hyperliquid's WebSocket, or raw-zone captures replayed.

Both yield batches of :class:`Received` (receive time in epoch ns, the parsed WS frame) and keep a feed clock
(:meth:`now_ns`), so the quoter handles a replayed hour exactly as a live session. The WebSocket feed yields all
frames queued since the last batch (an empty batch every ``tick_s`` when nothing arrives, so timers run), pings
every ``ping_interval_s`` and reconnects with backoff, resubscribing; :attr:`WsFeed.connections` counts
successful connections so the quoter can reconcile after a reconnect. Its clock is the wall clock. The replay
feed yields one frame per batch in receive order, paced by receive time / ``speed`` (None: as fast as possible);
its clock is the receive time of the frame being replayed.

A replay path is a raw-zone file (``.jsonl`` or ``.jsonl.lz4``) or a directory searched recursively for the
coin's files (any source but ``quoter``); only ``l2Book``, ``bbo`` and ``trades`` frames of the coin are replayed,
plus the ``l2Book`` and ``bbo`` frames of its ``leaders`` (a lead-lag policy's) from their files beside the coin's
(the same hour's sibling files, or the directory's), when the raw zone has them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import heapq
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from data_lake.raw_zone import coin_file_name, read_lines

REPLAY_CHANNELS = frozenset({"l2Book", "bbo", "trades"})
LEADER_CHANNELS = frozenset({"l2Book", "bbo"})
"""What a leader contributes to a replay: its mid."""
MAX_FRAME_BYTES = 64 * 1024 * 1024
NETWORK_ERRORS = (OSError, TimeoutError, InvalidHandshake, ConnectionClosed)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    """One frame and when it was received (epoch ns)."""

    recv_ns: int
    frame: Any


def parse_iso_ns(text: str) -> int:
    """The envelope's receive time (``YYYY-MM-DDTHH:MM:SS.fffffffff``, UTC, no zone) as epoch ns."""
    whole, _, frac = text.partition(".")
    seconds = int(dt.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC).timestamp())
    return seconds * 1_000_000_000 + int(frac.ljust(9, "0")[:9] or 0)


def frame_coin(frame: dict[str, Any]) -> str | None:
    """The coin a market frame is about (a ``trades`` frame: its first trade's), None when it names none."""
    data = frame.get("data")
    if frame.get("channel") == "trades":
        return data[0].get("coin") if isinstance(data, list) and data else None
    return data.get("coin") if isinstance(data, dict) else None


def replay_files(path: str | Path, coin: str) -> list[Path]:
    """The files a replay of ``coin`` reads: ``path`` itself, or the coin's files under it, in path order."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"replay path {path} does not exist")
    stem = coin_file_name(coin)
    found = [p for suffix in (".jsonl", ".jsonl.lz4") for p in path.rglob(stem + suffix)]
    return sorted((p for p in found if "quoter" not in p.relative_to(path).parts), key=_path_order)


def _path_order(path: Path) -> list[tuple[int, int, str]]:
    """Numeric parts (days, hours) compare as numbers, so hour 10 comes after hour 9."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in path.parts]


def leader_files(path: str | Path, coin: str, leader: str) -> list[Path]:
    """A leader's files for a replay of ``coin`` from ``path``: the siblings of each of the coin's files (same
    source, day and hour), or the leader's files under a directory; empty when the raw zone has none."""
    path = Path(path)
    if path.is_dir():
        return replay_files(path, leader)
    stem = coin_file_name(leader)
    siblings = (path.parent / f"{stem}{suffix}" for suffix in (".jsonl", ".jsonl.lz4"))
    return [p for p in siblings if p.is_file()]


def _file_frames(path: Path, coin: str, channels: frozenset[str] = REPLAY_CHANNELS) -> Iterator[Received]:
    for line in read_lines(path):
        try:
            env = json.loads(line)
            frame = env["raw"]
            if frame["channel"] in channels and frame_coin(frame) == coin:
                yield Received(parse_iso_ns(env["time"]), frame)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue


class ReplayFeed:
    """Raw-zone captures of one coin (and its leaders' books), merged across files by receive time."""

    def __init__(self, path: str | Path, coin: str, speed: float | None = None, leaders: Sequence[str] = ()) -> None:
        self.files = replay_files(path, coin)
        if not self.files:
            raise FileNotFoundError(f"no raw-zone files of {coin} under {path}")
        self.leader_files = {leader: leader_files(path, coin, leader) for leader in leaders if leader != coin}
        self.coin = coin
        self.speed = speed
        self.connections = 1
        self.frames = 0
        self._now_ns = 0
        self._items: Iterator[Received] = iter(())

    def now_ns(self) -> int:
        """Receive time of the frame being replayed (of the first frame before the replay starts)."""
        return self._now_ns

    async def start(self) -> None:
        """Open the files and set the clock to the first frame's receive time."""
        streams = [_file_frames(p, self.coin) for p in self.files] + [
            _file_frames(p, leader, LEADER_CHANNELS) for leader, files in self.leader_files.items() for p in files
        ]
        merged = heapq.merge(*streams, key=lambda r: r.recv_ns)
        first = next(merged, None)
        if first is None:
            raise ValueError(f"no l2Book, bbo or trades frames of {self.coin} in {self.files}")
        self._now_ns = first.recv_ns
        self._items = itertools.chain([first], merged)

    async def batches(self, stop: asyncio.Event) -> AsyncIterator[list[Received]]:
        loop = asyncio.get_running_loop()
        started, first_ns = loop.time(), self._now_ns
        for item in self._items:
            if stop.is_set():
                return
            if self.speed:
                delay = started + (item.recv_ns - first_ns) / 1e9 / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif self.frames % 256 == 0:
                await asyncio.sleep(0)
            self._now_ns = max(self._now_ns, item.recv_ns)
            self.frames += 1
            yield [item]

    async def close(self) -> None:
        """Nothing to close."""


class WsFeed:
    """A Hyperliquid WebSocket session with ``subscriptions``, reconnecting until closed."""

    def __init__(
        self,
        ws_url: str,
        subscriptions: list[dict[str, Any]],
        *,
        tick_s: float = 0.1,
        ping_interval_s: float = 30.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
    ) -> None:
        self.ws_url = ws_url
        self.subscriptions = subscriptions
        self.tick_s = tick_s
        self.ping_interval_s = ping_interval_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.connections = 0
        self.frames = 0
        self._queue: asyncio.Queue[Received] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    @staticmethod
    def now_ns() -> int:
        return time.time_ns()

    async def start(self, timeout_s: float = 10.0) -> None:
        """Connect and subscribe (waits up to ``timeout_s`` for the first subscription, then goes on anyway)."""
        self._task = asyncio.create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout_s)

    async def batches(self, stop: asyncio.Event) -> AsyncIterator[list[Received]]:
        while not stop.is_set():
            try:
                first = await asyncio.wait_for(self._queue.get(), self.tick_s)
            except TimeoutError:
                yield []
                continue
            batch = [first]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            yield batch

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = self.backoff_initial_s
        while True:
            try:
                async with connect(self.ws_url, max_size=MAX_FRAME_BYTES, close_timeout=2.0) as ws:
                    await self._session(ws)
                    delay = self.backoff_initial_s
            except NETWORK_ERRORS as exc:
                log.warning(
                    "feed %s: connection ended (%s: %s); reconnecting in %.1f s",
                    self.ws_url,
                    type(exc).__name__,
                    exc,
                    delay,
                )
            await asyncio.sleep(delay)
            delay = min(2 * delay, self.backoff_max_s)

    async def _session(self, ws: ClientConnection) -> None:
        for sub in self.subscriptions:
            await ws.send(json.dumps({"method": "subscribe", "subscription": sub}))
        self.connections += 1
        self._subscribed.set()
        pinger = asyncio.create_task(self._ping(ws))
        try:
            async for message in ws:
                recv_ns = time.time_ns()
                try:
                    frame = json.loads(message)
                except ValueError:
                    continue
                self.frames += 1
                self._queue.put_nowait(Received(recv_ns, frame))
        finally:
            pinger.cancel()

    async def _ping(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.ping_interval_s)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps({"method": "ping"}))
