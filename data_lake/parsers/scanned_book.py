"""``book`` candidate rows straight from the compiled scanner's arrays (:mod:`data_lake.parsers.book_scan`).

Two ways in: :func:`scan_lines` takes a batch of lines (``decode.LINE_COLUMNS``) and splits off the lines in the fast
path's layout; :func:`scan_bytes` cuts a decoded raw file into lines itself and returns the other lines' bytes for the
general path. Either way each column is one Arrow buffer the scanner filled (nulls as a validity bitmap), strings are
Arrow string views into the scanned bytes (coin, the raw line; no copy), and the frame is in the candidate schema and
in line order: one polars import per batch instead of an expression per column over level lists.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit

from data_lake.parsers import book_scan
from data_lake.parsers.book_scan import BOOK_LEVELS, DERIVED, LEVEL_VALUES, META, BookColumns
from data_lake.parsers.records import CANDIDATE_SCHEMAS, empty_candidate

_VIEW_OFFSET_LIMIT = 2**31
"""Arrow string views address their buffer with a signed 32-bit offset: larger buffers take the line-batch path."""
_INLINE = 12
"""Strings up to this many bytes live inside their Arrow view."""
_TRANSPOSE_BLOCK = 64
_SOURCES = np.frombuffer(b"l2Bookbbo", dtype=np.uint8)
_SOURCE_RANGES = np.array([[0, 6], [6, 3]]).T
"""(start, length) in :data:`_SOURCES` of each channel code's name: the ``source`` column."""
_LIST_COLUMNS = tuple(
    LEVEL_VALUES + DERIVED.index(name) for name in ("bid_depth_10bps", "ask_depth_10bps", "imbalance_5")
)
"""Figures over a side's level list: l2Book rows have them (0 depth without a mid), bbo rows not; the other derived
figures are null when a side is empty."""
_INT32_MIN, _INT32_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max
_BID_LEVELS, _CHANNEL = META.index("bid_levels"), META.index("channel")


@njit(cache=True)
def _columns(values, order_counts, meta):
    """The scanner's rows as columns (a block of rows at a time, each column's values for the block written together:
    the scanner writes a row at a time, Arrow wants a column at a time): the float columns and whether each value is
    present, the order counts as Int32 and whether each is present (absent level, or beyond Int32 as the general
    path's cast)."""
    count, width = values.shape
    floats, floats_present = np.empty((width, count)), np.empty((width, count), dtype=np.bool_)
    ints, ints_present = (
        np.empty((2 * BOOK_LEVELS, count), dtype=np.int32),
        np.empty((2 * BOOK_LEVELS, count), dtype=np.bool_),
    )
    bid_levels, ask_levels, channel = _BID_LEVELS, _BID_LEVELS + 1, _CHANNEL
    for first in range(0, count, _TRANSPOSE_BLOCK):
        last = min(first + _TRANSPOSE_BLOCK, count)
        for column in range(width):
            for row in range(first, last):
                floats[column, row] = values[row, column]
            if column < LEVEL_VALUES:
                side, depth = divmod(column // 2, BOOK_LEVELS)
                for row in range(first, last):
                    floats_present[column, row] = meta[row, bid_levels + side] > depth
            elif column in _LIST_COLUMNS:
                for row in range(first, last):
                    floats_present[column, row] = meta[row, channel] == book_scan.L2BOOK
            else:
                for row in range(first, last):
                    floats_present[column, row] = meta[row, bid_levels] > 0 and meta[row, ask_levels] > 0
        for level in range(2 * BOOK_LEVELS):
            for row in range(first, last):
                n = order_counts[row, level]
                fits = floats_present[2 * level, row] and _INT32_MIN <= n <= _INT32_MAX
                ints[level, row], ints_present[level, row] = n if fits else 0, fits
    return floats, floats_present, ints, ints_present


@njit(cache=True)
def _views(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Arrow string views (16 bytes each: length, then the string itself when short, else its first 4 bytes, buffer
    0 and ``offsets[i]``) of the ranges [starts[i], starts[i] + lengths[i]) of ``buf``."""
    views = np.zeros((starts.size, 16), dtype=np.uint8)
    as_ints = views.view(np.int32)
    for i in range(starts.size):
        length = lengths[i]
        as_ints[i, 0] = length
        for k in range(length if length <= _INLINE else 4):
            views[i, 4 + k] = buf[starts[i] + k]
        if length > _INLINE:
            as_ints[i, 3] = offsets[i]
    return views


def _string_views(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, data: pa.Buffer | None) -> pa.Array:
    """A ``string_view`` array of the byte ranges [start, start + length) of ``buf``, printable ASCII (scanner-checked):
    short strings inside their view, longer ones pointing into ``data`` (``buf``'s Arrow buffer, shared without a
    copy) or, when ``data`` is None, into a compact copy of just those strings (so the column does not keep ``buf``
    alive)."""
    long = lengths > _INLINE
    offsets, buffers = starts, [data]
    if data is None:
        offsets = np.cumsum(np.where(long, lengths, 0)) - np.where(long, lengths, 0)
        buffers = [pa.py_buffer(_joined(buf, starts[long], starts[long] + lengths[long]))] if long.any() else []
    views = _views(buf, starts, lengths, offsets)
    return pa.Array.from_buffers(pa.string_view(), starts.size, [None, pa.py_buffer(views), *buffers])


def _column(dtype: pa.DataType, values: np.ndarray, bitmap: np.ndarray | None = None) -> pa.Array:
    """An Arrow array over contiguous ``values`` (no copy), with validity ``bitmap`` (None: no null)."""
    validity = None if bitmap is None else pa.py_buffer(bitmap)
    return pa.Array.from_buffers(dtype, values.size, [validity, pa.py_buffer(np.ascontiguousarray(values))])


def _booleans(values: np.ndarray) -> pa.Array:
    """A boolean Arrow array of ``values`` without nulls, bit-packed here: ``pa.array`` of a numpy array would first
    import pandas to check for pandas objects (0.04 GiB and 0.17 s in a fresh process that has no other use for it)."""
    return pa.Array.from_buffers(pa.bool_(), values.size, [None, pa.py_buffer(np.packbits(values, bitorder="little"))])


def _bitmaps(present: np.ndarray) -> list[np.ndarray | None]:
    """Arrow validity bitmaps of the rows of ``present`` (None for a row without a false)."""
    bitmaps = np.packbits(present, axis=1, bitorder="little")
    whole = np.asarray(present.all(axis=1))
    return [None if whole[k] else bitmaps[k] for k in range(present.shape[0])]


def book_frame(
    columns: BookColumns, rows: int, buf: np.ndarray, data: pa.Buffer, files: np.ndarray, lines: np.ndarray
) -> pl.DataFrame:
    """The candidate ``book`` frame of the first ``rows`` scanned rows; ``files`` and ``lines`` are their ``_file``
    and ``_line`` values. Nulls as the general path has them: levels beyond a side's count, order counts beyond Int32,
    the level-1 figures when a side is empty, depth and 5-level imbalance of bbo rows."""
    meta = {name: np.ascontiguousarray(columns.meta[:rows, k]) for k, name in enumerate(META)}  # one _views signature
    floats, floats_present, ints, ints_present = _columns(
        columns.values[:rows], columns.order_counts[:rows], columns.meta[:rows]
    )
    float_bitmaps, int_bitmaps = _bitmaps(floats_present), _bitmaps(ints_present)
    arrays: dict[str, pa.Array] = {
        "_file": _column(pa.int32(), files.astype(np.int32, copy=False)),
        "_line": _column(pa.int64(), lines.astype(np.int64, copy=False)),
        "_item": _column(pa.int32(), np.zeros(rows, dtype=np.int32)),
        "coin": _string_views(buf, meta["coin_start"], meta["coin_length"], None),
        "time": _column(pa.int64(), meta["time"]),
        "recv_time_ns": _column(pa.int64(), meta["recv_time_ns"]),
        "source": _string_views(_SOURCES, _SOURCE_RANGES[0, meta["channel"]], _SOURCE_RANGES[1, meta["channel"]], None),
    }
    for side_index, side in enumerate(("bid", "ask")):
        for i in range(BOOK_LEVELS):
            level = side_index * BOOK_LEVELS + i
            for k, field in enumerate(("px", "sz")):
                at = 2 * level + k
                arrays[f"{side}_{field}_{i + 1}"] = _column(pa.float64(), floats[at], float_bitmaps[at])
            arrays[f"{side}_n_{i + 1}"] = _column(pa.int32(), ints[level], int_bitmaps[level])
    for k, name in enumerate(DERIVED, start=LEVEL_VALUES):
        arrays[name] = _column(pa.float64(), floats[k], float_bitmaps[k])
    for k, name in enumerate(("_levels_ok", "_counts_ok")):
        arrays[name] = _booleans(columns.flags[:rows, k])
    arrays["_raw"] = _string_views(buf, meta["line_start"], meta["line_length"], data)
    names = list(CANDIDATE_SCHEMAS["book"])
    frame = pl.from_arrow(pa.Table.from_arrays([arrays[name] for name in names], names=names))
    assert isinstance(frame, pl.DataFrame)
    return frame


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


def _first_capacity(size: int) -> int:
    """Rows to allocate first for ``size`` bytes of lines, grown when full: a demo hour's l2Book/bbo/trades mix is
    ~800 bytes a book row (pages of rows never written are never touched: the arrays start as untouched zeros)."""
    return size // 640 + 64


def scan_lines(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a batch of raw-zone lines into the ``book`` candidate rows of those in the fast path's layout (an open
    last line excluded, as the general path reads it apart) and the other lines, unchanged."""
    buf, offsets = _text_buffer(lines["text"])
    if buf.size >= _VIEW_OFFSET_LIMIT:
        return empty_candidate("book"), lines
    eligible = ~lines["_open"].to_numpy()
    columns, line, rows, scratch = BookColumns(_first_capacity(buf.size)), 0, 0, book_scan.scratch()
    while line < lines.height:
        columns = columns.grown_if_full(rows)
        line, rows = book_scan.scan_lines(
            buf, offsets[:-1], offsets[1:], eligible, line, rows, *scratch, *columns.arrays()
        )
    accepted = columns.meta[:rows, META.index("line")]
    book = book_frame(
        columns, rows, buf, pa.py_buffer(buf), lines["_file"].to_numpy()[accepted], lines["_line"].to_numpy()[accepted]
    )
    rest = np.ones(lines.height, dtype=np.bool_)
    rest[accepted] = False
    return book, lines.filter(pl.Series(rest))


def scannable(data: bytes) -> bool:
    """Whether :func:`scan_bytes` can take ``data`` (its string views reach 2 GiB)."""
    return len(data) < _VIEW_OFFSET_LIMIT


def scan_bytes(data: bytes, file: int) -> tuple[pl.DataFrame, bytes, np.ndarray, int]:
    """Cut a decoded raw file (:func:`scannable`) into lines and scan them: the ``book`` candidate rows of the lines in
    the fast path's layout, the other lines' bytes (each newline-terminated as in ``data``, an open last line left
    open), their 1-based line numbers, and the file's line count."""
    buf = np.frombuffer(data, dtype=np.uint8)
    columns = BookColumns(_first_capacity(buf.size))
    bounds: np.ndarray = np.empty((buf.size // 4096 + 64, 3), dtype=np.int64)
    pos, lines, rows, others, scratch = 0, 0, 0, 0, book_scan.scratch()
    while pos < buf.size:
        columns = columns.grown_if_full(rows)
        if others == bounds.shape[0]:
            bounds = np.concatenate([bounds, np.empty_like(bounds)])
        pos, lines, rows, others = book_scan.scan_buffer(
            buf, pos, lines, rows, others, bounds, *scratch, *columns.arrays()
        )
    line_numbers = columns.meta[:rows, META.index("line")] + 1
    book = book_frame(columns, rows, buf, pa.py_buffer(data), np.full(rows, file, dtype=np.int32), line_numbers)
    rest = bounds[:others]
    ends = np.minimum(rest[:, 2] + 1, buf.size)  # an open last line stays open
    with_newlines = _joined(buf, np.ascontiguousarray(rest[:, 1]), ends)
    return book, with_newlines.tobytes(), rest[:, 0] + 1, lines


@njit(cache=True)
def _joined(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The ranges [starts[i], ends[i]) of ``buf`` one after the other."""
    out = np.empty(int(np.sum(ends - starts)), dtype=np.uint8)
    at = 0
    for i in range(starts.size):
        out[at : at + ends[i] - starts[i]] = buf[starts[i] : ends[i]]
        at += ends[i] - starts[i]
    return out
