"""Route raw lines to their channel's decoder: every line becomes candidate rows or quarantined records.

Lines are raw-zone envelopes ``{"time", "ver_num", "raw": <frame>}``; bare WS frames and bare node lines
are wrapped into one first (``wrap``), so a single path reads them all. The channel is found by regex
over the whole batch, each channel group is decoded with one vectorised call and an explicit dtype, and
the decoded channel is checked against the regex's. Lines that do not end in ``}`` and unterminated last
lines (likely truncated writes) are decoded apart, so they cannot push a whole group onto the slow path.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import polars as pl

from data_lake.parsers import book, node, quoter, ws
from data_lake.parsers.decode import (
    INVALID_JSON,
    channel_of,
    decode,
    iso_to_ns,
    lines_frame,
    lines_of_bytes,
    pairs_to_objects,
)
from data_lake.parsers.records import Records, quarantined
from data_lake.parsers.scanned_book import scan_bytes, scan_lines, scannable
from data_lake.parsers.schemas import CHANNEL_DATA, CONTROL_CHANNELS, NODE_CHANNELS, QUOTER_CHANNELS, envelope

MAPPERS: dict[str, Callable[[pl.DataFrame], Records]] = {
    "trades": ws.trades,
    "l2Book": book.l2book,
    "bbo": book.bbo,
    "activeAssetCtx": ws.asset_ctx,
    "activeSpotAssetCtx": ws.asset_ctx,
    "userFills": ws.fills,
    "user": ws.fills,
    "orderUpdates": ws.order_updates,
    "node_trades": node.trades,
    "node_fills": node.fills,
    "node_fills_by_block": node.block_fills,
    **dict.fromkeys(QUOTER_CHANNELS, quoter.quoter_frames),
}
WRAPS = ("ws", *NODE_CHANNELS)
_TRUNCATED = "truncated last line (invalid JSON, no final newline)"


def _wrapped(text: pl.Expr, wrap: str | None) -> pl.Expr:
    if wrap is None:
        return text
    if wrap == "ws":
        return pl.concat_str(pl.lit('{"raw":'), text, pl.lit("}"))
    if wrap in NODE_CHANNELS:
        return pl.concat_str(pl.lit(f'{{"raw":{{"channel":"{wrap}","data":'), text, pl.lit("}}"))
    raise ValueError(f"unknown wrap {wrap!r}; expected one of {WRAPS}")


def parse_lines(lines: pl.DataFrame, wrap: str | None = None, scan: bool = True) -> Records:
    """Parse a batch of lines (``decode.LINE_COLUMNS``): raw-zone envelopes, or bare lines with ``wrap``
    = ``"ws"`` (WS frames) or a node channel name (hl-node output lines).

    ``scan`` sends l2Book and bbo envelopes through their compiled fast path (:mod:`data_lake.parsers.scanned_book`)
    first; ``False`` decodes every line with the general decoder, the reference the fast path is tested against.
    """
    parts = []
    if scan and wrap is None:
        book_rows, lines = scan_lines(lines)
        parts.append(Records(tables={"book": book_rows}))
    batch = lines.with_columns(_wrapped(pl.col("text"), wrap).alias("_json")).with_columns(
        channel_of(pl.col("_json")).alias("_channel"), (pl.col("text").str.strip_chars() == "").alias("_blank")
    )
    blank = batch.filter(pl.col("_blank"))
    routed = batch.filter(~pl.col("_blank") & pl.col("_channel").is_in(list(MAPPERS)))
    control = batch.filter(~pl.col("_blank") & pl.col("_channel").is_in(list(CONTROL_CHANNELS)))
    other = batch.filter(~pl.col("_blank") & ~pl.col("_channel").is_in([*MAPPERS, *CONTROL_CHANNELS]))
    unrouted = batch.filter(~pl.col("_blank") & pl.col("_channel").is_null())
    unrouted = unrouted.with_columns(unrouted["_json"].map_elements(_classify, return_dtype=pl.String).alias("_reason"))
    parts += [
        _quarantine_whole(blank, pl.lit("empty line")),
        _quarantine_whole(control, pl.concat_str(pl.lit("control frame: "), pl.col("_channel"))),
        _quarantine_whole(other, pl.concat_str(pl.lit("unsupported channel: "), pl.col("_channel"))),
        _quarantine_whole(unrouted, _truncation_aware(pl.col("_reason"))),
    ]
    shaped = pl.col("_json").str.ends_with("}") & ~pl.col("_open")
    for (channel,), group in routed.group_by("_channel", maintain_order=True):
        parts += [_parse_channel(group.filter(shaped), channel), _parse_channel(group.filter(~shaped), channel)]
    return Records.concat(parts)


def parse_bytes(data: bytes, file: int = 0, source: str = "ws", scan: bool = True) -> tuple[Records, int]:
    """Parse one decoded raw-zone file (``_file`` = ``file``): its records and its line count.

    With ``scan`` the compiled scanner cuts the bytes into lines and reads the l2Book and bbo envelopes in its layout in
    place (:func:`data_lake.parsers.scanned_book.scan_bytes`); only the other lines become a line batch for
    :func:`parse_lines`. Without, every line goes to :func:`parse_lines` (``scan=False``), the reference.
    """
    if not (scan and scannable(data)):
        lines = lines_of_bytes(data, file, source)
        return parse_lines(lines, scan=scan), lines.height
    book_rows, rest, line_numbers, line_count = scan_bytes(data, file)
    others = lines_of_bytes(rest, file, source).with_columns(pl.Series("_line", line_numbers))
    return Records.concat([Records(tables={"book": book_rows}), parse_lines(others, scan=False)]), line_count


def parse_text(text: str, wrap: str | None = None, source: str = "ws") -> Records:
    """Parse one file's decoded text: raw-zone envelopes, or bare WS frames / node lines with ``wrap``."""
    return parse_lines(lines_frame(text, 0, source), wrap)


def _quarantine_whole(lines: pl.DataFrame, reason: pl.Expr) -> Records:
    df = lines.with_columns(pl.lit(0, pl.Int32).alias("_item"), pl.col("text").alias("_raw"))
    return Records(quarantine=quarantined(df, reason))


def _classify(text: str) -> str:
    """Why a line with no recognisable channel key cannot be parsed (slow path, rare lines only)."""
    try:
        line = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return INVALID_JSON
    if not isinstance(line, dict) or "raw" not in line:
        return "not a raw-zone envelope"
    if isinstance(line["raw"], str):
        return "non-JSON text frame"
    return "frame without a channel"


def _truncation_aware(reason: pl.Expr) -> pl.Expr:
    """An invalid last line without a final newline is reported as a truncated write."""
    return pl.when(pl.col("_open") & (reason == INVALID_JSON)).then(pl.lit(_TRUNCATED)).otherwise(reason)


def _parse_channel(group: pl.DataFrame, channel: str) -> Records:
    """Decode one channel's lines with its explicit dtype, quarantine what fails, map the rest."""
    if group.height == 0:
        return Records()
    texts = group["_json"]
    if channel in ("node_fills", "node_fills_by_block"):
        texts = group.select(pairs_to_objects(pl.col("_json"))).to_series()
    values, reasons = decode(texts, envelope(CHANNEL_DATA[channel]), f"'{channel}' frame")
    env = pl.col("_env").struct
    decoded = group.with_columns(_env=values, _reason=reasons).with_columns(
        _truncation_aware(pl.col("_reason")).alias("_reason")
    )
    failed = decoded.filter(pl.col("_reason").is_not_null())
    frames = decoded.filter(pl.col("_reason").is_null()).select(
        "_file",
        "_line",
        "_source",
        "text",
        iso_to_ns(env.field("time")).alias("recv_time_ns"),
        env.field("raw").is_null().alias("_bare"),
        (env.field("raw").struct.field("channel") != channel).fill_null(True).alias("_mismatch"),
        env.field("raw").struct.field("data").alias("data"),
    )
    problem = (
        pl.when(pl.col("_bare"))
        .then(pl.lit("not a raw-zone envelope (bare frame)"))
        .when(pl.col("_mismatch"))
        .then(pl.lit("ambiguous channel key"))
        .when(pl.col("data").is_null())
        .then(pl.lit(f"'{channel}' frame without data"))
    )
    judged = frames.with_columns(problem.alias("_reason"))
    good = judged.filter(pl.col("_reason").is_null())
    return Records.concat(
        [
            _quarantine_whole(failed, pl.col("_reason")),
            _quarantine_whole(judged.filter(pl.col("_reason").is_not_null()), pl.col("_reason")),
            MAPPERS[channel](good),
        ]
    )
