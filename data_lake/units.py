"""Time units, in one place: the lake's times are UTC epoch milliseconds, so durations are integer ms; the raw
zone's receive times are epoch nanoseconds; the Hawkes fits work in (float) seconds.

Every package may import this module (it imports only the standard library); a module that needs one of these durations
imports it from here rather than restating the number.
"""

from __future__ import annotations

import datetime as dt

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

NS_PER_MS = 1_000_000
"""Nanoseconds per millisecond: raw-zone receive times (ns) to lake times (ms)."""
HOUR_NS = HOUR_MS * NS_PER_MS

HOUR_S = HOUR_MS / SECOND_MS
"""An hour in seconds, as a float: the Hawkes fits' time unit is the second."""
DAY_S = DAY_MS / SECOND_MS


def day_bounds_ms(date: dt.date) -> tuple[int, int]:
    """[start, end) of a UTC day in epoch milliseconds."""
    start = int(dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC).timestamp() * 1000)
    return start, start + DAY_MS


def utc_day(ms: int) -> dt.date:
    """The UTC calendar day of an epoch-ms instant."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).date()


def utc_days(start_ms: int, end_ms: int) -> tuple[dt.date, dt.date]:
    """The first and last UTC day touching [start_ms, end_ms)."""
    return utc_day(start_ms), utc_day(end_ms - 1)
