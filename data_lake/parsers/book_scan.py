"""Compiled fast path for the two channels that are most of a day's bytes: ``l2Book`` and ``bbo`` envelopes.

A line takes the fast path only when it is, byte for byte, the compact layout the recorder and the archive write:

    {"time":"<t>","ver_num":1,"raw":{"channel":"l2Book","data":{"coin":"<c>","time":<ms>,"levels":[[L,...],[L,...]]}}}
    {"time":"<t>","ver_num":1,"raw":{"channel":"bbo","data":{"coin":"<c>","time":<ms>,"bbo":[L|null,L|null]}}}

with ``L`` = ``{"px":"<d>","sz":"<d>","n":<int>}``, strings of printable ASCII without escapes, integers of at most
18 digits and decimals ``digits[.digits]`` whose digits form an integer below 2^53 with at most 22 decimals. That
grammar is a strict subset of JSON with one meaning per line, so a line it accepts decodes to exactly what
``str.json_decode`` would give; every other line (other key order, whitespace, escapes, odd numbers, damage)
returns ``False`` and goes down the general path (:mod:`data_lake.parsers.frames`), which names its problem.

Decimals are converted as mantissa / 10^k: both are exact doubles, so the one IEEE division is the correctly rounded
value (Clinger 1990, "How to read floating point numbers accurately", the fast path), the same double polars' string
cast gives. The scanner is compiled with numba and reads the batch's contiguous Arrow text buffer: no Python object
per line or level, which is where a generic JSON decoder spends its time (about 120 MB/s here with orjson).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit

_ENVELOPE_HEAD = np.frombuffer(b'{"time":"', dtype=np.uint8)
_L2_HEAD = np.frombuffer(b'","ver_num":1,"raw":{"channel":"l2Book","data":{"coin":"', dtype=np.uint8)
_BBO_HEAD = np.frombuffer(b'","ver_num":1,"raw":{"channel":"bbo","data":{"coin":"', dtype=np.uint8)
_TIME_KEY = np.frombuffer(b'","time":', dtype=np.uint8)
_LEVELS_KEY = np.frombuffer(b',"levels":[', dtype=np.uint8)
_BBO_KEY = np.frombuffer(b',"bbo":[', dtype=np.uint8)
_TAIL = np.frombuffer(b"}}}", dtype=np.uint8)
_PX = np.frombuffer(b'{"px":"', dtype=np.uint8)
_SZ = np.frombuffer(b'","sz":"', dtype=np.uint8)
_N = np.frombuffer(b'","n":', dtype=np.uint8)
_NULL = np.frombuffer(b"null", dtype=np.uint8)
_POW10 = np.array([10.0**k for k in range(23)])
_MAX_MANTISSA = 1 << 53
_MAX_INT_DIGITS = 18
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_NS_SCALE = np.array([10 ** (9 - k) for k in range(10)], dtype=np.int64)
"""Nanoseconds per unit of a fraction of k digits."""


@njit(cache=True, inline="always")
def _literal(buf: np.ndarray, pos: int, end: int, lit: np.ndarray) -> int:
    """Position after ``lit`` if it is at ``pos``, else -1."""
    if pos < 0 or pos + lit.size > end:
        return -1
    for k in range(lit.size):
        if buf[pos + k] != lit[k]:
            return -1
    return pos + lit.size


@njit(cache=True, inline="always")
def _string_end(buf: np.ndarray, pos: int, end: int) -> int:
    """Position of the closing quote of a string of printable ASCII without escapes starting at ``pos``, else -1."""
    if pos < 0:
        return -1
    while pos < end:
        c = buf[pos]
        if c == 34:
            return pos
        if c < 32 or c > 126 or c == 92:
            return -1
        pos += 1
    return -1


@njit(cache=True, inline="always")
def _integer(buf: np.ndarray, pos: int, end: int) -> tuple[int, int]:
    """(position after, value) of a JSON integer of at most 18 digits at ``pos``; position -1 if there is none."""
    if pos < 0:
        return -1, 0
    negative = pos < end and buf[pos] == 45
    if negative:
        pos += 1
    start, value = pos, 0
    while pos < end and 48 <= buf[pos] <= 57:
        value = value * 10 + (int(buf[pos]) - 48)
        pos += 1
    digits = pos - start
    if digits == 0 or digits > _MAX_INT_DIGITS or (digits > 1 and buf[start] == 48):
        return -1, 0
    return pos, -value if negative else value


@njit(cache=True, inline="always")
def _decimal(buf: np.ndarray, pos: int, end: int) -> tuple[int, float]:
    """(position of the closing quote, value) of ``digits[.digits]`` text at ``pos``; position -1 when the text is not
    that or its value would not be exact as mantissa / 10^k."""
    if pos < 0:
        return -1, 0.0
    mantissa, decimals, seen, dot = 0, 0, 0, False
    while pos < end:
        c = buf[pos]
        if 48 <= c <= 57:
            mantissa = mantissa * 10 + (int(c) - 48)
            if mantissa >= _MAX_MANTISSA:
                return -1, 0.0
            seen += 1
            if dot:
                decimals += 1
        elif c == 46 and not dot and seen > 0:
            dot, seen = True, 0
        elif c == 34:
            break
        else:
            return -1, 0.0
        pos += 1
    if pos >= end or seen == 0 or decimals >= _POW10.size:
        return -1, 0.0
    return pos, mantissa / _POW10[decimals]


@njit(cache=True, inline="always")
def _level(buf: np.ndarray, pos: int, end: int) -> tuple[int, float, float, int]:
    """(position after, px, sz, n) of one ``{"px":"..","sz":"..","n":..}`` level; position -1 if it is not one."""
    pos = _literal(buf, pos, end, _PX)
    if pos < 0:
        return -1, 0.0, 0.0, 0
    pos, px = _decimal(buf, pos, end)
    pos = _literal(buf, pos, end, _SZ)
    if pos < 0:
        return -1, 0.0, 0.0, 0
    pos, sz = _decimal(buf, pos, end)
    pos = _literal(buf, pos, end, _N)
    if pos < 0:
        return -1, 0.0, 0.0, 0
    pos, n = _integer(buf, pos, end)
    if pos < 0 or pos >= end or buf[pos] != 125:
        return -1, 0.0, 0.0, 0
    return pos + 1, px, sz, n


@njit(cache=True, inline="always")
def _digits(buf: np.ndarray, pos: int, count: int) -> int:
    """The value of ``count`` ASCII digits at ``pos``, or -1 if one of them is not a digit."""
    value = 0
    for k in range(count):
        c = buf[pos + k]
        if c < 48 or c > 57:
            return -1
        value = value * 10 + (int(c) - 48)
    return value


@njit(cache=True, inline="always")
def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Hinnant, "chrono-Compatible Low-Level Date Algorithms")."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


@njit(cache=True, inline="always")
def _iso_ns(buf: np.ndarray, pos: int, end: int) -> int:
    """UTC epoch nanoseconds of ``YYYY-MM-DDTHH:MM:SS.f`` (1 to 9 fractional digits, no zone) filling exactly
    [pos, end), the receive-time layout :func:`data_lake.parsers.decode.iso_to_ns` reads; -1 for anything else (a
    zone suffix, no fraction, an impossible date, a year outside 1970-2261), which the general path then judges."""
    digits = end - pos - 20
    if pos < 0 or digits < 1 or digits > 9:
        return -1
    for at, sep in ((4, 45), (7, 45), (10, 84), (13, 58), (16, 58), (19, 46)):
        if buf[pos + at] != sep:
            return -1
    year, month, day = _digits(buf, pos, 4), _digits(buf, pos + 5, 2), _digits(buf, pos + 8, 2)
    hour, minute, second = _digits(buf, pos + 11, 2), _digits(buf, pos + 14, 2), _digits(buf, pos + 17, 2)
    fraction = _digits(buf, pos + 20, digits)
    if year < 1970 or year > 2261 or month < 1 or month > 12 or day < 1 or fraction < 0:
        return -1
    if hour < 0 or hour > 23 or minute < 0 or minute > 59 or second < 0 or second > 59:
        return -1
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day > _MONTH_DAYS[month - 1] + (leap and month == 2):
        return -1
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return seconds * 1_000_000_000 + fraction * _NS_SCALE[digits]


@njit(cache=True, inline="always")
def _head(buf: np.ndarray, pos: int, end: int, channel_head: np.ndarray, out: np.ndarray, i: int) -> int:
    """The envelope up to the frame's ``time`` value: stores the receive time (epoch ns), the coin string's start
    (relative to the line start) and length and the frame time in ``out[i]``; returns the position after the time,
    or -1."""
    start = pos
    pos = _literal(buf, pos, end, _ENVELOPE_HEAD)
    if pos < 0:
        return -1
    recv_end = _string_end(buf, pos, end)
    recv_ns = _iso_ns(buf, pos, recv_end)
    if recv_ns < 0:
        return -1
    pos = _literal(buf, recv_end, end, channel_head)
    if pos < 0:
        return -1
    coin_start = pos
    coin_end = _string_end(buf, pos, end)
    pos = _literal(buf, coin_end, end, _TIME_KEY)
    if pos < 0:
        return -1
    pos, time = _integer(buf, pos, end)
    out[i, 0], out[i, 1], out[i, 2], out[i, 3] = recv_ns, coin_start - start, coin_end - coin_start, time
    return pos


@njit(cache=True, inline="always")
def _byte(buf: np.ndarray, pos: int, end: int, byte: int) -> int:
    """Position after ``byte`` if it is at ``pos``, else -1."""
    return pos + 1 if 0 <= pos < end and buf[pos] == byte else -1


@njit(cache=True)
def _scan_l2(buf, offsets, head, counts, px, sz, n):
    """Scan every line; per accepted line ``head`` and its bid and ask level counts, its levels appended to row 0
    (bids) and row 1 (asks) of ``px``/``sz``/``n``. Returns the accepted-line mask."""
    lines = offsets.size - 1
    ok = np.zeros(lines, dtype=np.bool_)
    cursor = np.zeros(2, dtype=np.int64)
    for i in range(lines):
        start, end = offsets[i], offsets[i + 1]
        pos = _literal(buf, _head(buf, start, end, _L2_HEAD, head, i), end, _LEVELS_KEY)
        for side in range(2):
            if side == 1:
                pos = _byte(buf, pos, end, 44)
            pos = _byte(buf, pos, end, 91)
            if pos < 0:
                break
            if pos < end and buf[pos] == 93:
                pos += 1
                continue
            while True:
                pos, level_px, level_sz, level_n = _level(buf, pos, end)
                if pos < 0:
                    break
                at = cursor[side] + counts[i, side]
                px[side, at], sz[side, at], n[side, at] = level_px, level_sz, level_n
                counts[i, side] += 1
                if pos < end and buf[pos] == 44:
                    pos += 1
                else:
                    pos = _byte(buf, pos, end, 93)
                    break
        pos = _literal(buf, _byte(buf, pos, end, 93), end, _TAIL)
        if pos == end:
            ok[i] = True
            cursor[0] += counts[i, 0]
            cursor[1] += counts[i, 1]
        else:
            counts[i, 0] = 0
            counts[i, 1] = 0
    return ok


@njit(cache=True)
def _scan_bbo(buf, offsets, head, present, px, sz, n):
    """Scan every line; per accepted line ``head``, and per side (0 bid, 1 ask) whether it is present and its level.
    Returns the accepted-line mask."""
    lines = offsets.size - 1
    ok = np.zeros(lines, dtype=np.bool_)
    for i in range(lines):
        start, end = offsets[i], offsets[i + 1]
        pos = _literal(buf, _head(buf, start, end, _BBO_HEAD, head, i), end, _BBO_KEY)
        for side in range(2):
            if pos < 0:
                break
            after_null = _literal(buf, pos, end, _NULL)
            if after_null >= 0:
                pos = after_null
            else:
                pos, px[i, side], sz[i, side], n[i, side] = _level(buf, pos, end)
                present[i, side] = pos >= 0
            if pos >= 0:
                separator = 44 if side == 0 else 93
                pos = pos + 1 if pos < end and buf[pos] == separator else -1
        pos = _literal(buf, pos, end, _TAIL)
        ok[i] = pos == end
    return ok


def _text_buffer(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes and line offsets of ``texts`` (one contiguous Arrow buffer, nulls as empty lines)."""
    array = texts.to_arrow().cast(pa.large_string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    _, offsets, data = array.buffers()
    start = array.offset
    offsets_np = np.frombuffer(offsets, dtype=np.int64)[start : start + len(array) + 1]
    data_np = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return data_np, np.ascontiguousarray(offsets_np)


def _head_columns(head: np.ndarray, text: str) -> list[pl.Series | pl.Expr]:
    """``recv_time_ns``, ``coin`` and ``time`` of accepted lines: the numbers from ``head``, the coin cut from the
    text at the offsets the scanner found."""
    return [
        pl.Series("recv_time_ns", head[:, 0]),
        pl.col(text).str.slice(pl.Series(head[:, 1]), pl.Series(head[:, 2])).alias("coin"),
        pl.Series("time", head[:, 3]),
    ]


def _lists(values: np.ndarray, counts: np.ndarray, dtype: pl.DataType) -> pl.Series:
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    array = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values[: offsets[-1]]))
    return pl.Series(pl.from_arrow(array)).cast(pl.List(dtype))


def scan_l2book(lines: pl.DataFrame, text: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``lines`` into the fast-path l2Book lines, as the level lists ``_bpx``, ``_bsz``, ``_bn``, ``_apx``,
    ``_asz``, ``_an`` with ``coin``, ``time`` and ``recv_time_ns``, and the other lines (unchanged)."""
    buf, offsets = _text_buffer(lines[text])
    count = lines.height
    capacity = buf.size // 25 + 1
    head, counts = np.zeros((count, 4), dtype=np.int64), np.zeros((count, 2), dtype=np.int64)
    px, sz, n = np.empty((2, capacity)), np.empty((2, capacity)), np.empty((2, capacity), dtype=np.int64)
    ok = _scan_l2(buf, offsets, head, counts, px, sz, n)
    sides = {}
    for index, prefix in enumerate(("_b", "_a")):
        per_line = counts[ok, index]
        for name, values, dtype in (("px", px, pl.Float64()), ("sz", sz, pl.Float64()), ("n", n, pl.Int64())):
            sides[f"{prefix}{name}"] = _lists(values[index], per_line, dtype)
    mask = pl.Series(ok)
    return lines.filter(mask).with_columns(*_head_columns(head[ok], text), **sides), lines.filter(~mask)


def scan_bbo(lines: pl.DataFrame, text: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``lines`` into the fast-path bbo lines, as ``{bid,ask}_{px,sz,n}_1`` columns (null for an absent side)
    with ``coin``, ``time`` and ``recv_time_ns``, and the other lines (unchanged)."""
    buf, offsets = _text_buffer(lines[text])
    count = lines.height
    head = np.zeros((count, 4), dtype=np.int64)
    present = np.zeros((count, 2), dtype=np.bool_)
    px, sz, n = np.zeros((count, 2)), np.zeros((count, 2)), np.zeros((count, 2), dtype=np.int64)
    ok = _scan_bbo(buf, offsets, head, present, px, sz, n)
    mask = pl.Series(ok)
    columns = {}
    for index, side in enumerate(("bid", "ask")):
        missing = ~present[ok, index]
        for field, values in (("px", px), ("sz", sz), ("n", n)):
            columns[f"{side}_{field}_1"] = pl.Series(pl.from_arrow(pa.array(values[ok, index], mask=missing)))
    return lines.filter(mask).with_columns(*_head_columns(head[ok], text), **columns), lines.filter(~mask)
