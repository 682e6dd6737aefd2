"""Compiled fast path for the two channels that are most of a day's bytes: ``l2Book`` and ``bbo`` envelopes.

A line takes the fast path only when it is, byte for byte, the compact layout the recorder and the archive write:

    {"time":"<t>","ver_num":1,"raw":{"channel":"l2Book","data":{"coin":"<c>","time":<ms>,"levels":[[L,...],[L,...]]}}}
    {"time":"<t>","ver_num":1,"raw":{"channel":"bbo","data":{"coin":"<c>","time":<ms>,"bbo":[L|null,L|null]}}}

with ``L`` = ``{"px":"<d>","sz":"<d>","n":<int>}``, strings of printable ASCII without escapes, integers of at most
18 digits, decimals ``digits[.digits]`` whose digits form an integer below 2^53 with at most 22 decimals, and at most
:data:`MAX_LEVELS` levels a side. That grammar is a strict subset of JSON with one meaning per line, so a line it
accepts decodes to exactly what ``str.json_decode`` would give; every other line (other key order, whitespace,
escapes, odd numbers, damage) is left to the general path (:mod:`data_lake.parsers.frames`), which names its problem.

Decimals are converted as mantissa / 10^k: both are exact doubles, so the one IEEE division is the correctly rounded
value (Clinger 1990, "How to read floating point numbers accurately", the fast path), the same double polars' string
cast gives. The scanner then computes each accepted line's ``book`` row itself -- the 20 levels a side, mid,
microprice, spread, imbalances, depth and the validity flags -- with the operations, in the order, of the general
path's polars expressions (:func:`data_lake.parsers.book._book_from_sides`, :func:`data_lake.parsers.book.bbo`):
IEEE arithmetic without fused multiply-adds and sums from the first level on, which is how polars sums a list
shorter than its 128-value pairwise block. It is compiled with numba and reads the raw bytes in place: no Python
object or polars call per line, level or column.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from data_lake.parsers.book import DEPTH_BPS, IMBALANCE_LEVELS, N_MAX
from data_lake.tables import BOOK_LEVELS

_ENVELOPE_HEAD = np.frombuffer(b'{"time":"', dtype=np.uint8)
_CHANNEL_KEY = np.frombuffer(b'","ver_num":1,"raw":{"channel":"', dtype=np.uint8)
_L2_CHANNEL = np.frombuffer(b'l2Book","data":{"coin":"', dtype=np.uint8)
_BBO_CHANNEL = np.frombuffer(b'bbo","data":{"coin":"', dtype=np.uint8)
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
_OPEN, _CLOSE, _COMMA = (np.uint8(c) for c in b"[],")
_BIDS, _ASKS = np.bool_(True), np.bool_(False)
"""Constant arguments of the helpers, as numpy scalars: numba would compile a helper once per Python int or bool
constant it is called with."""

_helper = njit(cache=True, error_model="numpy", _nrt=False)  # type: ignore[call-overload]  # numba-stubs omit _nrt
"""How each scanner helper is compiled: as its own function (LLVM then inlines all but :func:`_level` into the two
entry points), so numba types it once rather than once per call site as ``inline="always"`` did (~80 CPU s into an
empty cache, now ~8); without the runtime's reference counting (numba's ``_nrt=False``, as its own string helpers):
a helper only reads and writes arrays its caller holds, and each array argument would otherwise cost an atomic
increment and decrement per call, per line (half the scan's time); with numpy's error model, as the entry points (a
zero division gives inf or nan, not an exception)."""


@_helper
def _literal(buf: np.ndarray, pos: int, end: int, lit: np.ndarray) -> int:
    """Position after ``lit`` if it is at ``pos``, else -1."""
    if pos < 0 or pos + lit.size > end:
        return -1
    for k in range(lit.size):
        if buf[pos + k] != lit[k]:
            return -1
    return pos + lit.size


@_helper
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


@_helper
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


@_helper
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


@_helper
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


@_helper
def _digits(buf: np.ndarray, start: int, end: int) -> int:
    """The value of the ASCII digits in [start, end), or -1 if one of them is not a digit."""
    value = 0
    for k in range(start, end):
        c = buf[k]
        if c < 48 or c > 57:
            return -1
        value = value * 10 + (int(c) - 48)
    return value


@_helper
def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Hinnant, "chrono-Compatible Low-Level Date Algorithms")."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


@_helper
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
    year, month, day = _digits(buf, pos, pos + 4), _digits(buf, pos + 5, pos + 7), _digits(buf, pos + 8, pos + 10)
    hour, minute = _digits(buf, pos + 11, pos + 13), _digits(buf, pos + 14, pos + 16)
    second, fraction = _digits(buf, pos + 17, pos + 19), _digits(buf, pos + 20, end)
    if year < 1970 or year > 2261 or month < 1 or month > 12 or day < 1 or fraction < 0:
        return -1
    if hour < 0 or hour > 23 or minute < 0 or minute > 59 or second < 0 or second > 59:
        return -1
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day > _MONTH_DAYS[month - 1] + (leap and month == 2):
        return -1
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return seconds * 1_000_000_000 + fraction * _NS_SCALE[digits]


@_helper
def _byte(buf: np.ndarray, pos: int, end: int, byte: np.uint8) -> int:
    """Position after ``byte`` if it is at ``pos``, else -1."""
    return pos + 1 if 0 <= pos < end and buf[pos] == byte else -1


MAX_LEVELS = 100
"""Most levels a side the fast path takes (l2Book sends 20); a longer side goes down the general path. Below 128, so
polars sums the general path's level lists from the first value on, as the scanner does."""
L2BOOK, BBO = 0, 1
"""Channel codes in :data:`META` column ``channel``."""
META = (
    "line",
    "recv_time_ns",
    "time",
    "coin_start",
    "coin_length",
    "channel",
    "line_start",
    "line_length",
    "bid_levels",
    "ask_levels",
)
"""Integer columns of each accepted line (one row of ``meta``): ``line`` indexes the scanned lines, starts and lengths
are byte offsets in the scanned buffer, ``*_levels`` count the levels of each side."""
_LINE, _RECV, _TIME, _COIN_START, _COIN_LENGTH, _CHANNEL, _LINE_START, _LINE_LENGTH, _BID_LEVELS = range(9)
DERIVED = ("bid_depth_10bps", "ask_depth_10bps", "mid", "microprice", "spread_bps", "imbalance_1", "imbalance_5")
"""Computed columns, after the level prices and sizes in ``values``."""
LEVEL_VALUES = 2 * 2 * BOOK_LEVELS
"""Price and size columns: side-major (bids, then asks), then level, then (px, sz)."""
_BID_DEPTH, _ASK_DEPTH, _MID, _MICRO, _SPREAD, _IMBALANCE_1, _IMBALANCE_5 = range(LEVEL_VALUES, LEVEL_VALUES + 7)
_BAND = DEPTH_BPS * 1e-4
_BELOW, _ABOVE = 1 - _BAND, 1 + _BAND
"""Depth bounds as multiples of the mid, the same doubles as the general path's."""


@_helper
def _head(buf: np.ndarray, start: int, end: int, meta: np.ndarray, row: int) -> int:
    """The envelope up to the frame's ``time`` value: stores the receive time (epoch ns), frame time, coin string
    (offset, length), channel and line start in ``meta[row]``; returns the position after the time, or -1."""
    pos = _literal(buf, start, end, _ENVELOPE_HEAD)
    recv_end = _string_end(buf, pos, end)
    recv_ns = _iso_ns(buf, pos, recv_end)
    if recv_ns < 0:
        return -1
    pos = _literal(buf, recv_end, end, _CHANNEL_KEY)
    channel, coin_start = L2BOOK, _literal(buf, pos, end, _L2_CHANNEL)
    if coin_start < 0:
        channel, coin_start = BBO, _literal(buf, pos, end, _BBO_CHANNEL)
    coin_end = _string_end(buf, coin_start, end)
    pos, time = _integer(buf, _literal(buf, coin_end, end, _TIME_KEY), end)
    if pos < 0:
        return -1
    meta[row, _RECV], meta[row, _TIME], meta[row, _CHANNEL] = recv_ns, time, channel
    meta[row, _COIN_START], meta[row, _COIN_LENGTH], meta[row, _LINE_START] = coin_start, coin_end - coin_start, start
    return pos


@_helper
def _side(buf: np.ndarray, pos: int, end: int, px: np.ndarray, sz: np.ndarray, n: np.ndarray) -> tuple[int, int]:
    """(position after, level count) of one side ``[L,...]`` or ``[]``, its levels stored in ``px``, ``sz``, ``n``;
    position -1 if it is not one or has more levels than they hold."""
    pos = _byte(buf, pos, end, _OPEN)
    if pos < 0:
        return -1, 0
    if pos < end and buf[pos] == 93:
        return pos + 1, 0
    count = 0
    while count < px.size:
        pos, px[count], sz[count], n[count] = _level(buf, pos, end)
        if pos < 0:
            return -1, 0
        count += 1
        if pos < end and buf[pos] == 44:
            pos += 1
        else:
            return _byte(buf, pos, end, _CLOSE), count
    return -1, 0


@_helper
def _store_side(side: int, count: int, px, sz, n, row: int, meta, values, orders) -> tuple[bool, bool]:
    """Store one side's level count and first ``BOOK_LEVELS`` levels in row ``row``; returns whether every level's
    price and size are positive and whether every order count is within [0, N_MAX]."""
    levels_ok, counts_ok = True, True
    for i in range(count):
        levels_ok = levels_ok and px[i] > 0 and sz[i] > 0
        counts_ok = counts_ok and 0 <= n[i] <= N_MAX
    meta[row, _BID_LEVELS + side] = count
    for i in range(min(count, BOOK_LEVELS)):
        level = side * BOOK_LEVELS + i
        values[row, 2 * level], values[row, 2 * level + 1], orders[row, level] = px[i], sz[i], n[i]
    return levels_ok, counts_ok


@_helper
def _top_of_book(row: int, values) -> None:
    """mid, microprice, spread (bps) and level-1 imbalance (the general path's ``_top_of_book``, operation for
    operation; null when a side is empty, see :func:`data_lake.parsers.scanned_book.book_frame`)."""
    bid_px, bid_sz = values[row, 0], values[row, 1]
    ask_px, ask_sz = values[row, 2 * BOOK_LEVELS], values[row, 2 * BOOK_LEVELS + 1]
    mid = (bid_px + ask_px) / 2
    values[row, _MID] = mid
    values[row, _MICRO] = (bid_px * ask_sz + ask_px * bid_sz) / (bid_sz + ask_sz)
    values[row, _SPREAD] = (ask_px - bid_px) / mid * 1e4
    values[row, _IMBALANCE_1] = (bid_sz - ask_sz) / (bid_sz + ask_sz)


@_helper
def _side_sums(
    px: np.ndarray, sz: np.ndarray, count: int, bound: float, bid: bool, mid_known: bool
) -> tuple[float, float]:
    """(quote notional of the levels at or inside ``bound``, 0 without a mid; size of the first ``IMBALANCE_LEVELS``
    levels), each summed from the first level on as the general path's list expressions do."""
    depth, top = 0.0, 0.0
    for i in range(count):
        if i < IMBALANCE_LEVELS:
            top += sz[i]
        if mid_known:
            inside = (px[i] - bound >= 0) if bid else (px[i] - bound <= 0)
            depth += px[i] * sz[i] * (1.0 if inside else 0.0)
    return depth, top


@_helper
def _depth_and_imbalance(row: int, levels, counts, values) -> None:
    """Quote notional within ``DEPTH_BPS`` of the mid per side (0 when there is no mid) and the imbalance of the first
    ``IMBALANCE_LEVELS`` sizes, as the general path's list expressions compute them."""
    mid_known, mid = counts[0] > 0 and counts[1] > 0, values[row, _MID]
    bid_depth, bid_top = _side_sums(levels[0, 0], levels[0, 1], counts[0], mid * _BELOW, _BIDS, mid_known)
    ask_depth, ask_top = _side_sums(levels[1, 0], levels[1, 1], counts[1], mid * _ABOVE, _ASKS, mid_known)
    values[row, _BID_DEPTH], values[row, _ASK_DEPTH] = bid_depth, ask_depth
    values[row, _IMBALANCE_5] = (bid_top - ask_top) / (bid_top + ask_top)


@_helper
def _store_sides(row, levels, orders, side_counts, meta, values, order_counts, flags) -> None:
    """Both sides' scanned levels stored in row ``row``, its two validity flags, and its top-of-book columns."""
    levels_ok, counts_ok = True, True
    for side in range(2):
        side_levels, side_orders = _store_side(
            side,
            side_counts[side],
            levels[side, 0],
            levels[side, 1],
            orders[side],
            row,
            meta,
            values,
            order_counts,
        )
        levels_ok, counts_ok = levels_ok and side_levels, counts_ok and side_orders
    flags[row, 0], flags[row, 1] = levels_ok, counts_ok
    _top_of_book(row, values)


@_helper
def _l2_body(buf, pos, end, row, levels, orders, side_counts, meta, values, order_counts, flags) -> int:
    """An l2Book frame from its ``levels`` key to the envelope's end, stored in row ``row``; position after, or -1."""
    pos = _literal(buf, pos, end, _LEVELS_KEY)
    pos, side_counts[0] = _side(buf, pos, end, levels[0, 0], levels[0, 1], orders[0])
    pos, side_counts[1] = _side(buf, _byte(buf, pos, end, _COMMA), end, levels[1, 0], levels[1, 1], orders[1])
    pos = _literal(buf, _byte(buf, pos, end, _CLOSE), end, _TAIL)
    if pos < 0:
        return -1
    _store_sides(row, levels, orders, side_counts, meta, values, order_counts, flags)
    _depth_and_imbalance(row, levels, side_counts, values)
    return pos


@_helper
def _bbo_body(buf, pos, end, row, levels, orders, side_counts, meta, values, order_counts, flags) -> int:
    """A bbo frame from its ``bbo`` key to the envelope's end, stored in row ``row`` (level 1 only, depth and
    5-level imbalance null); position after, or -1."""
    pos = _literal(buf, pos, end, _BBO_KEY)
    for side in range(2):
        after_null = _literal(buf, pos, end, _NULL)
        side_counts[side] = 0
        if after_null >= 0:
            pos = after_null
        else:
            pos, levels[side, 0, 0], levels[side, 1, 0], orders[side, 0] = _level(buf, pos, end)
            side_counts[side] = 1
        pos = _byte(buf, pos, end, _COMMA if side == 0 else _CLOSE)
    pos = _literal(buf, pos, end, _TAIL)
    if pos < 0:
        return -1
    _store_sides(row, levels, orders, side_counts, meta, values, order_counts, flags)
    return pos


@_helper
def _book_line(buf, start, end, row, levels, orders, side_counts, meta, values, order_counts, flags) -> int:
    """Scan the line at ``start`` (bounded by ``end``) into ``book`` row ``row``: the position after its frame, or -1
    when it is not in the fast path's layout (the row is then overwritten by the next line)."""
    pos = _head(buf, start, end, meta, row)
    if pos < 0:
        return -1
    if meta[row, _CHANNEL] == L2BOOK:
        return _l2_body(buf, pos, end, row, levels, orders, side_counts, meta, values, order_counts, flags)
    return _bbo_body(buf, pos, end, row, levels, orders, side_counts, meta, values, order_counts, flags)


class BookColumns:
    """The ``book`` rows of the accepted lines, a row per line, filled by :func:`scan_lines` or :func:`scan_buffer`:
    ``meta`` (:data:`META`), ``values`` (level prices and sizes, then :data:`DERIVED`), ``order_counts`` (the levels'
    ``n``) and ``flags`` (``_levels_ok``, ``_counts_ok``). Levels beyond a side's count stay 0; which values are null
    follows from the level counts and the channel (:func:`data_lake.parsers.scanned_book.book_frame`)."""

    def __init__(self, capacity: int):
        self.meta = np.empty((capacity, len(META)), dtype=np.int64)
        self.values = np.zeros((capacity, LEVEL_VALUES + len(DERIVED)))
        self.order_counts = np.zeros((capacity, 2 * BOOK_LEVELS), dtype=np.int64)
        self.flags = np.empty((capacity, 2), dtype=np.bool_)

    @property
    def capacity(self) -> int:
        return self.meta.shape[0]

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.meta, self.values, self.order_counts, self.flags

    def grown_if_full(self, rows: int) -> BookColumns:
        """Itself while ``rows`` < capacity, else a copy with twice the capacity holding its rows."""
        if rows < self.capacity:
            return self
        bigger = BookColumns(2 * self.capacity)
        for old, new in zip(self.arrays(), bigger.arrays(), strict=True):
            new[:rows] = old[:rows]
        return bigger


def scratch() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-line level buffers: prices and sizes (side, px|sz, level), order counts (side, level), counts per side."""
    return np.empty((2, 2, MAX_LEVELS)), np.empty((2, MAX_LEVELS), dtype=np.int64), np.zeros(2, dtype=np.int64)


@njit(cache=True, error_model="numpy")
def scan_lines(buf, starts, ends, eligible, line, rows, levels, orders, side_counts, meta, values, order_counts, flags):
    """Scan the eligible lines [starts[i], ends[i]) of ``buf`` from line ``line`` on, appending accepted lines' rows
    after row ``rows`` (``meta`` column ``line`` = i); stops at the last line or when the rows are full. Returns
    (next line, rows)."""
    while line < starts.size and rows < meta.shape[0]:
        start, end = starts[line], ends[line]
        if (
            eligible[line]
            and _book_line(buf, start, end, rows, levels, orders, side_counts, meta, values, order_counts, flags) == end
        ):
            meta[rows, _LINE], meta[rows, _LINE_LENGTH] = line, end - start
            rows += 1
        line += 1
    return line, rows


@njit(cache=True, error_model="numpy")
def scan_buffer(buf, pos, lines, rows, others, bounds, levels, orders, side_counts, meta, values, order_counts, flags):
    """Cut ``buf`` into newline-terminated lines from ``pos`` on (line number ``lines``) and scan each: an accepted
    line is a book row, any other (an unterminated last line included) is stored in ``bounds`` as (line, start, end).
    Stops at the end or when ``bounds`` or the rows are full; returns (position reached, lines, rows, others)."""
    size = buf.size
    while pos < size and others < bounds.shape[0] and rows < meta.shape[0]:
        after = _book_line(buf, pos, size, rows, levels, orders, side_counts, meta, values, order_counts, flags)
        if 0 <= after < size and buf[after] == 10:
            meta[rows, _LINE], meta[rows, _LINE_LENGTH] = lines, after - pos
            rows += 1
            end = after
        else:
            end = pos
            while end < size and buf[end] != 10:
                end += 1
            bounds[others, 0], bounds[others, 1], bounds[others, 2] = lines, pos, end
            others += 1
        lines += 1
        pos = end + 1
    return pos, lines, rows, others
