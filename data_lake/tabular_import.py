"""Bring-your-own tapes: a trades or book table (CSV or parquet) -> raw-zone lines the cleaning reads unchanged.

Each input row becomes one raw-zone envelope ``{"time", "ver_num": 1, "raw": <frame>}`` in
``raw/tabular/{date}/{H}/{coin}.jsonl.lz4``, its frame in Hyperliquid's own WS shape so the existing parsers
read it (as the asset_ctxs importer does):

- ``trades-table``: ``{"channel": "trades", "data": [{coin, side: "B"|"A" (aggressor), px, sz, time (ms), tid}]}``.
  A row without a trade id gets a derived one (:mod:`data_lake.parsers.ids`) from its time, price, size, side and
  its rank among identical prints of the file, so two identical prints are two trades, not a duplicate, and
  importing the file again derives the same ids. A non-integer id (a UUID) is hashed to a 50-bit id above 2^52.
- ``book-table``: ``{"channel": "l2Book", "data": {coin, time (ms), levels: [bids, asks]}}``, one snapshot per
  row, level 1 first; empty levels (no price and no size) are left out, so a thin side is shorter.

The frame also holds the input row as received: the CSV line under ``"csv"``, a parquet row under ``"row"``.
Prices and sizes keep their text; event time is floored to the ms (the tables' unit); the envelope time is the
receive-time column if mapped, else the event time (the input gives no receive time), to the ns.

What the importer sets aside (with its reason, in ``_unattributed.jsonl``, counted in the report): a line that is
not a row (blank, wrong number of fields), no coin, no valid time or one outside 2009-2100 (a wrong time unit),
a side value outside the convention, book prices out of order (bids must fall, asks rise, from level 1): what
its mapping cannot interpret. Values it passes on (unparseable or non-positive prices and sizes, crossed
books) are quarantined by the cleaning with the cleaning's reasons.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from data_lake import raw_zone
from data_lake.parsers.decode import decimal
from data_lake.parsers.ids import DERIVED_TID_OFFSET, derived_tid
from data_lake.table_mapping import SIDE_CONVENTIONS, InputError, ResolvedMapping
from data_lake.units import NS_PER_MS

_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_FRACTION_DIGITS = {"s": 9, "ms": 6, "us": 3, "ns": 0}
EARLIEST_NS = 1_230_768_000 * 1_000_000_000
"""2009-01-01T00:00Z: an earlier time means a wrong time unit (no tape of interest is older)."""
LATEST_NS = 4_102_444_800 * 1_000_000_000
"""2100-01-01T00:00Z."""
ITEM_COLUMNS = ("_line", "coin", "recv_ns", "line", "reason")


@dataclass(frozen=True)
class InputRows:
    """An input table: ``rows`` (its columns, ``_line`` and ``_original``: the CSV line or the parquet row as a
    struct), the frame key ``_original`` goes under, and the lines that are no row, with their reason."""

    rows: pl.DataFrame
    columns: list[str]
    original_key: str
    set_aside: pl.DataFrame


def read_input(path: str | Path) -> InputRows:
    """Read a ``.parquet`` file, or CSV text (optionally ``.gz`` or ``.lz4`` compressed) with a header line.

    An LZ4 file damaged at its end gives the rows before the damage plus one set-aside item saying how much was lost.
    """
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            table = pl.read_parquet(path)
        except pl.exceptions.PolarsError as exc:
            raise InputError(f"cannot read {path} as parquet: {exc}") from None
        columns = table.columns
        rows = table.with_columns(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("_line"), pl.struct(pl.col(columns)).alias("_original")
        )
        return InputRows(rows, columns, "row", _set_aside([]))
    try:
        decoded = (
            raw_zone.DecodedFile(gzip.decompress(path.read_bytes()), 0)
            if path.suffix.lower() == ".gz"
            else raw_zone.decode_file(path)
        )
    except (gzip.BadGzipFile, EOFError) as exc:
        raise InputError(f"cannot decompress {path}: {exc}") from None
    text_rows = _read_csv(decoded.data.decode("utf-8", errors="replace"))
    if decoded.problem is None:
        return text_rows
    lost = _set_aside([(text_rows.rows.height + text_rows.set_aside.height + 2, "", decoded.problem)])  # lz4 tail
    return InputRows(text_rows.rows, text_rows.columns, text_rows.original_key, pl.concat([text_rows.set_aside, lost]))


def _set_aside(rejected: list[tuple[int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rejected, schema={"_line": pl.Int64, "line": pl.String, "reason": pl.String}, orient="row")


def _read_csv(text: str) -> InputRows:
    """CSV rows as text columns; ``_line`` is the 1-based line a row starts on (the header is line 1)."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise InputError("the input is empty (no header line)")
    header = [name.strip() for name in next(csv.reader(lines[:1]))]
    if len(set(header)) != len(header):
        raise InputError(f"the header names a column twice: {header}")
    reader = csv.reader(lines[1:])
    good: list[list[str]] = []
    starts: list[int] = []
    originals: list[str] = []
    rejected: list[tuple[int, str, str]] = []
    done = 0
    problem: str | None
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            fields, problem = [], f"unreadable CSV line ({exc})"
        else:
            problem = None
        original, start = "\n".join(lines[1 + done : 1 + reader.line_num]), done + 2
        done = reader.line_num
        if problem is None and not any(f.strip() for f in fields):
            problem = "empty line"
        elif problem is None and len(fields) != len(header):
            problem = f"expected {len(header)} comma-separated fields"
        if problem is not None:
            rejected.append((start, original, problem))
            continue
        good.append(fields)
        starts.append(start)
        originals.append(original)
    rows = pl.DataFrame(good, schema=dict.fromkeys(header, pl.String), orient="row").with_columns(
        pl.Series("_line", starts, dtype=pl.Int64), pl.Series("_original", originals, dtype=pl.String)
    )
    return InputRows(rows, header, "csv", _set_aside(rejected))


def epoch_ns(values: pl.Series, unit: str) -> tuple[pl.Series, pl.Series]:
    """UTC epoch ns of a time column and, per row, why it has none (null when valid).

    ``unit``: s / ms / us / ns (integers or decimal text, converted exactly, not through floats) or ``iso``; a
    timestamp column (parquet) is used as is (naive = UTC). Times outside 2009-2100 are refused: that is what a
    wrong unit gives.
    """
    if values.dtype == pl.Datetime:
        zoned = values.dt.convert_time_zone("UTC") if values.dtype.time_zone else values  # type: ignore[attr-defined]
        ns = zoned.dt.cast_time_unit("ns").cast(pl.Int64)
    elif unit == "iso":
        ns = _iso_ns(values.cast(pl.String))
    elif values.dtype.is_integer():
        ns = _scaled(values.cast(pl.Int64), 0, unit)
    else:
        ns = _decimal_ns(values.cast(pl.String).str.strip_chars(), unit)
    valid = ((ns >= EARLIEST_NS) & (ns < LATEST_NS)).fill_null(False)
    why = (
        pl.DataFrame({"ns": ns})
        .select(
            pl.when(pl.col("ns").is_null())
            .then(pl.lit(f"no valid time (unit {unit})"))
            .when(~valid)
            .then(pl.lit(f"time outside 2009-2100 for unit {unit} (check the time unit)"))
        )
        .to_series()
    )
    return ns.set(~valid, None).rename("ns"), why.cast(pl.String)


def _scaled(whole: pl.Series, fraction_ns: pl.Series | int, unit: str) -> pl.Series:
    """``whole`` units plus ``fraction_ns`` ns, null where the product would leave int64's range."""
    factor = _NS_PER_UNIT[unit]
    fits = (whole.abs() < (2**62) // factor).fill_null(False)
    return whole.set(~fits, None) * factor + fraction_ns


def _decimal_ns(text: pl.Series, unit: str) -> pl.Series:
    """Decimal text (``1677510146.123``) exactly; scientific notation (a float column's ``1.5e+18``) via float."""
    parts = text.str.extract_groups(r"^(\d+)(?:\.(\d*))?$")
    digits = _FRACTION_DIGITS[unit]
    fraction_ns = (
        parts.struct.field("2").fill_null("").str.slice(0, digits).str.pad_end(digits, "0").cast(pl.Int64)
        if digits
        else 0
    )
    exact = _scaled(parts.struct.field("1").cast(pl.Int64, strict=False), fraction_ns, unit)
    floated = (text.cast(pl.Float64, strict=False) * _NS_PER_UNIT[unit]).round()
    in_range = (floated.abs() < 2.0**62).fill_null(False)
    return exact.fill_null(floated.set(~in_range, None).cast(pl.Int64))


def _iso_ns(text: pl.Series) -> pl.Series:
    """ISO 8601 (``T`` or space, optional fraction, ``Z`` or an offset; no offset = UTC) as epoch ns."""
    normal = text.str.strip_chars().str.replace("T", " ", literal=True).str.strip_suffix("Z")
    parsed = [
        normal.str.to_datetime(f"%Y-%m-%d %H:%M:%S%.f{zone}", time_unit="ns", strict=False)
        for zone in ("", "%:z", "%z")
    ]
    naive = parsed[0].cast(pl.Int64)
    return naive.fill_null(parsed[1].cast(pl.Int64)).fill_null(parsed[2].cast(pl.Int64))


def text_value(values: pl.Series | pl.Expr) -> pl.Expr:
    """A value as trimmed text, null when empty (so an absent value is ``null``, not ``""``)."""
    text = (pl.lit(values) if isinstance(values, pl.Series) else values).cast(pl.String).str.strip_chars()
    return pl.when(text == "").then(pl.lit(None, pl.String)).otherwise(text)


def envelope_line(recv_ns: pl.Expr, frame_json: pl.Expr) -> pl.Expr:
    """The raw-zone envelope line around a frame's JSON text, received at ``recv_ns`` (epoch ns)."""
    iso = pl.from_epoch(recv_ns, time_unit="ns").dt.strftime("%Y-%m-%dT%H:%M:%S%.9f")
    return pl.concat_str(pl.lit('{"time":"'), iso, pl.lit('","ver_num":1,"raw":'), frame_json, pl.lit("}"))


def _common(source: InputRows, resolved: ResolvedMapping) -> pl.DataFrame:
    """``_line``, coin, event and receive ns, the first reason found so far, and the original row."""
    m, rows = resolved.mapping, source.rows
    time_ns, time_why = epoch_ns(rows[m.time], m.time_unit)
    if m.recv_time is not None:
        recv_ns, recv_why = epoch_ns(rows[m.recv_time], m.recv_time_unit or m.time_unit)
        recv_why = recv_why.str.replace("no valid time", "no valid receive time").str.replace(
            "time outside", "receive time outside"
        )
    else:
        recv_ns, recv_why = time_ns, pl.repeat(None, rows.height, dtype=pl.String, eager=True)
    coin = text_value(rows[m.coin_column]) if m.coin_column is not None else pl.lit(m.coin, pl.String)
    return rows.select(
        "_line",
        coin.alias("coin"),
        pl.lit(time_ns).alias("time_ns"),
        pl.lit(recv_ns).alias("recv_ns"),
        pl.when(coin.is_null())
        .then(pl.lit("no coin"))
        .otherwise(pl.coalesce(pl.lit(time_why), pl.lit(recv_why)))
        .alias("reason"),
        "_original",
    )


def row_items(source: InputRows, judged: pl.DataFrame, frame: pl.Expr) -> pl.DataFrame:
    """Envelope lines for rows without a reason, the original text for the rest, plus the set-aside lines."""
    original = pl.col("_original") if source.original_key == "csv" else pl.col("_original").struct.json_encode()
    line = pl.when(pl.col("reason").is_null()).then(envelope_line(pl.col("recv_ns"), frame)).otherwise(original)
    rows = judged.select("_line", "coin", "recv_ns", line.alias("line"), "reason")
    aside = source.set_aside.select(
        "_line", pl.lit(None, pl.String).alias("coin"), pl.lit(None, pl.Int64).alias("recv_ns"), "line", "reason"
    )
    return pl.concat([rows, aside]).sort("_line").select(ITEM_COLUMNS)


def trade_items(source: InputRows, resolved: ResolvedMapping) -> pl.DataFrame:
    """One ``trades`` frame per row (see the module docstring); items in the importer's shape."""
    m, rows = resolved.mapping, source.rows
    conventions = SIDE_CONVENTIONS[m.side_convention or ""]
    side = text_value(rows[m.side]).str.to_lowercase().replace_strict(conventions, default=None, return_dtype=pl.Int8)
    work = _common(source, resolved).with_columns(
        (pl.col("time_ns") // NS_PER_MS).alias("time"),
        side.alias("side"),
        text_value(rows[m.price]).alias("px"),
        text_value(rows[m.size]).alias("sz"),
    )
    work = work.with_columns(
        pl.col("reason").fill_null(
            pl.when(pl.col("side").is_null()).then(pl.lit(f"side not in convention {m.side_convention}"))
        )
    )
    work = work.with_columns(trade_ids(work, rows[m.trade_id] if m.trade_id is not None else None).alias("tid"))
    trade = pl.struct(
        "coin",
        pl.when(pl.col("side") == 1).then(pl.lit("B")).otherwise(pl.lit("A")).alias("side"),
        "px",
        "sz",
        "time",
        "tid",
    )
    frame = pl.struct(
        pl.lit("trades").alias("channel"),
        pl.concat_list([trade]).alias("data"),
        pl.col("_original").alias(source.original_key),
    )
    return row_items(source, work, frame.struct.json_encode())


def trade_ids(work: pl.DataFrame, ids: pl.Series | None) -> pl.Series:
    """Trade ids: the input's integer ids, hashed text ids, else derived from (time, px, sz, side, rank among
    identical prints in file order)."""
    rank = work.select(pl.int_range(pl.len(), dtype=pl.Int64).over("time", "px", "sz", "side")).to_series()
    keys = work.select(
        "time", decimal(pl.col("px")), decimal(pl.col("sz")), pl.col("side").cast(pl.Int64)
    ).with_columns(rank.alias("rank"))
    derived = derived_tid(keys)
    if ids is None:
        return derived
    text = ids.cast(pl.String).str.strip_chars()
    integer = ids.cast(pl.Int64, strict=False) if ids.dtype.is_integer() else text.cast(pl.Int64, strict=False)
    hashed = pl.Series([None if t is None or t == "" else _text_tid(t) for t in text.to_list()], dtype=pl.Int64)
    return integer.fill_null(hashed).fill_null(derived).rename("tid")


def _text_tid(text: str) -> int:
    """A stable 50-bit id for a text trade id (BLAKE2b), offset by 2^52 like derived tids."""
    digest = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    return (digest & ((1 << 50) - 1)) + DERIVED_TID_OFFSET


def book_items(source: InputRows, resolved: ResolvedMapping) -> pl.DataFrame:
    """One ``l2Book`` frame per row (see the module docstring); items in the importer's shape."""
    levels, rows = resolved.levels, source.rows
    sides = {}
    for side in ("bid", "ask"):
        counts = levels.get(f"{side}_n")
        entries = [
            pl.struct(
                text_value(rows[px]).alias("px"),
                text_value(rows[sz]).alias("sz"),
                (text_value(rows[counts[i]]).cast(pl.Int64, strict=False) if counts else pl.lit(None, pl.Int64)).alias(
                    "n"
                ),
            )
            for i, (px, sz) in enumerate(zip(levels[f"{side}_px"], levels[f"{side}_sz"], strict=True))
        ]
        present = pl.element().struct.field("px").is_not_null() | pl.element().struct.field("sz").is_not_null()
        sides[side] = pl.concat_list(entries).list.eval(pl.element().filter(present))
    work = _common(source, resolved).with_columns(
        (pl.col("time_ns") // NS_PER_MS).alias("time"), sides["bid"].alias("_bids"), sides["ask"].alias("_asks")
    )

    def ordered(column: str, step: pl.Expr) -> pl.Expr:
        prices = pl.col(column).list.eval(pl.element().struct.field("px").cast(pl.Float64, strict=False))
        return prices.list.eval(step.drop_nulls()).list.all()

    out_of_order = (
        pl.when(~ordered("_bids", pl.element().diff() < 0))
        .then(pl.lit("bid prices do not fall from level 1 (check the level columns)"))
        .when(~ordered("_asks", pl.element().diff() > 0))
        .then(pl.lit("ask prices do not rise from level 1 (check the level columns)"))
    )
    work = work.with_columns(pl.col("reason").fill_null(out_of_order))
    frame = pl.concat_str(
        pl.lit('{"channel":"l2Book","data":{"coin":'),
        json_value(pl.col("coin")),
        pl.lit(',"time":'),
        pl.col("time").cast(pl.String),
        pl.lit(',"levels":['),
        json_value(pl.col("_bids")),
        pl.lit(","),
        json_value(pl.col("_asks")),
        pl.lit(f']}},"{source.original_key}":'),
        json_value(pl.col("_original")),
        pl.lit("}"),
    )
    return row_items(source, work, frame)


def json_value(value: pl.Expr) -> pl.Expr:
    """The JSON text of a value (string, number, list or struct), as ``struct.json_encode`` writes it."""
    return pl.struct(value.alias("v")).struct.json_encode().str.slice(len('{"v":')).str.strip_suffix("}")
