"""Info-API snapshots (``meta``, ``allPerpMetas``, ``perpDexs``, ``metaAndAssetCtxs``) in the raw zone, and the
perp universe built from them.

Each snapshot is one envelope line ``{"time": <taken at, ISO ns UTC>, "ver_num": 1, "raw": {"channel": "info",
"request": {...}, "data": <response>}}`` in ``{raw_root}/api/{YYYYMMDD}/{H}/_info_snapshots.jsonl`` (a ``_`` file, so
never read as a coin's capture). The universe of a day is the latest snapshot of each dex taken before the day ends.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl

from data_lake import raw_zone
from data_lake.parsers.decode import iso_to_ns
from data_lake.parsers.snapshots import InfoSnapshot, universe

SNAPSHOT_SOURCE = "api"
SNAPSHOT_FILE = "_info_snapshots.jsonl"
DEFAULT_LOOKBACK_DAYS = 31
"""How many days back a day's universe looks for snapshots (they are taken far less often than daily)."""


def snapshot_path(raw_root: str | Path, time_ns: int) -> Path:
    """Where a snapshot taken at ``time_ns`` (UTC epoch ns) is stored."""
    when = dt.datetime.fromtimestamp(time_ns / 1e9, tz=dt.UTC)
    return Path(raw_root) / SNAPSHOT_SOURCE / when.strftime("%Y%m%d") / str(when.hour) / SNAPSHOT_FILE


def snapshot_line(time_ns: int, request: dict[str, Any], payload: Any) -> str:
    """The raw-zone line of one snapshot (the response kept as received, re-encoded compactly)."""
    return raw_zone.envelope(time_ns, {"channel": "info", "request": request, "data": payload})


def read_snapshots(
    raw_root: str | Path, end: dt.date, lookback_days: int = DEFAULT_LOOKBACK_DAYS
) -> list[InfoSnapshot]:
    """Every stored snapshot taken on the days ``end - lookback_days + 1 .. end`` (UTC), oldest first."""
    found = []
    for offset in range(lookback_days):
        day_dir = Path(raw_root) / SNAPSHOT_SOURCE / (end - dt.timedelta(days=offset)).strftime("%Y%m%d")
        found += sorted(day_dir.glob(f"*/{SNAPSHOT_FILE}")) if day_dir.is_dir() else []
    snapshots = []
    for path in found:
        for line in raw_zone.read_lines(path):
            doc = json.loads(line)
            time_ns = pl.select(iso_to_ns(pl.lit(doc["time"]))).item()
            snapshots.append(InfoSnapshot(int(time_ns), doc["raw"].get("request") or {}, doc["raw"].get("data")))
    return sorted(snapshots, key=lambda s: s.time_ns)


def universe_for_day(raw_root: str | Path, date: dt.date, lookback_days: int = DEFAULT_LOOKBACK_DAYS) -> pl.DataFrame:
    """The perp universe (see :func:`data_lake.parsers.snapshots.universe`) as of the end of ``date``."""
    return universe(read_snapshots(raw_root, date, lookback_days))
