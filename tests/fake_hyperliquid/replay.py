"""Market frames to replay: read from raw-zone captures (the envelope's ``raw``) and paced by receive time."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_lake.raw_zone import discover, read_lines

MARKET_CHANNELS = {
    "trades": "trades",
    "l2Book": "l2Book",
    "bbo": "bbo",
    "activeAssetCtx": "activeAssetCtx",
    "activeSpotAssetCtx": "activeAssetCtx",
}
"""Replayable channel -> the subscription type that receives it."""
HIGH_WATER = 256


@dataclass(frozen=True)
class ReplayFrame:
    """One market frame, its original receive time and the subscription key it goes to."""

    recv_ns: int
    frame: dict[str, Any]

    @property
    def channel(self) -> str:
        return self.frame["channel"]

    @property
    def coin(self) -> str | None:
        data = self.frame["data"]
        if self.channel == "trades":
            return data[0]["coin"] if data else None
        return data["coin"]

    @property
    def text(self) -> str:
        return json.dumps(self.frame, separators=(",", ":"))


def parse_iso_ns(text: str) -> int:
    """The envelope's ISO receive time (UTC, 9 decimals, no zone) as epoch ns."""
    whole, _, frac = text.partition(".")
    seconds = dt.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC).timestamp()
    return int(seconds) * 1_000_000_000 + int(frac.ljust(9, "0")[:9] or 0)


def market_frames(items: Iterable[tuple[int, Any]]) -> list[ReplayFrame]:
    """(receive ns, frame) pairs reduced to replayable market frames, in receive order."""
    frames = [
        ReplayFrame(recv_ns, frame)
        for recv_ns, frame in items
        if isinstance(frame, dict) and frame.get("channel") in MARKET_CHANNELS and frame.get("data")
    ]
    return sorted(frames, key=lambda f: f.recv_ns)


def load_raw(
    raw_root: str | Path, coins: Iterable[str] | None = None, source: str = "ws", limit: int | None = None
) -> list[ReplayFrame]:
    """The first ``limit`` market frames (by receive time) of raw-zone captures; each file is in receive order."""
    wanted = set(coins) if coins is not None else None
    files = [f for f in discover(raw_root) if f.source == source and (wanted is None or f.coin in wanted)]
    items: list[tuple[int, Any]] = []
    for hour in sorted({(f.date, f.hour) for f in files}):
        if limit is not None and len(items) >= limit:
            break
        wanted_lines = None if limit is None else limit - len(items)
        for raw_file in (f for f in files if (f.date, f.hour) == hour):
            for line in read_lines(raw_file.path)[:wanted_lines]:
                try:
                    envelope = json.loads(line)
                    items.append((parse_iso_ns(envelope["time"]), envelope["raw"]))
                except (ValueError, KeyError, TypeError):
                    continue
    frames = market_frames(items)
    return frames if limit is None else frames[:limit]


async def replay(
    frames: list[ReplayFrame],
    speed: float | None,
    emit: Callable[[ReplayFrame], None],
    backlog: Callable[[], int],
    gate: asyncio.Event,
) -> int:
    """Emit ``frames`` paced by receive time divided by ``speed`` (None: as fast as the slowest client reads).

    The replay waits while ``gate`` is cleared (paused); pacing resumes from where it paused.
    """
    loop = asyncio.get_running_loop()
    start, base = loop.time(), frames[0].recv_ns if frames else 0
    for item in frames:
        if not gate.is_set():
            paused = loop.time()
            await gate.wait()
            start += loop.time() - paused
        if speed:
            delay = start + (item.recv_ns - base) / 1e9 / speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        emit(item)
        while backlog() > HIGH_WATER:
            await asyncio.sleep(0.001)
        if not speed:
            await asyncio.sleep(0)
    return len(frames)
