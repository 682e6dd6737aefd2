"""Import files that are not per coin into the raw zone, one envelope line per item, nothing dropped.

Kinds:

- ``archive-l2book``: an S3 ``market_data/{date}/{H}/l2Book/{COIN}.lz4`` file, copied as is to
  ``raw/archive/{date}/{H}/{coin}.jsonl.lz4`` (date, hour and coin from the path, else its first line).
- ``node-trades`` / ``node-fills`` / ``node-fills-by-block``: hl-node hourly files, split per coin into
  ``raw/node/{date}/{H}/{coin}.jsonl.lz4``; each item is wrapped as ``{"time", "ver_num": 1, "raw":
  {"channel": "node_trades" | "node_fills" | "node_fills_by_block", "data": <original item>}}`` with its
  text untouched, so the raw-zone parser reads it. A block is split into one line per coin holding that
  coin's events (block header kept). Envelope time: the trade time, the fill time, the block's
  ``local_time``.
- ``user-fills``: an Info-API ``userFills`` / ``userFillsByTime`` response (bare or cassette) ->
  ``raw/api/{date}/{H}/{coin}.jsonl.lz4``, one ``userFills`` frame per fill; the API gives no receive
  time, so the envelope time is the fill time.
- ``asset-ctxs``: an S3 ``asset_ctxs/{date}.csv.lz4`` file -> ``raw/asset_ctxs/{date}/{H}/{coin}.jsonl.lz4``,
  one ``activeAssetCtx`` frame per CSV row holding the original line under ``"csv"`` (0.0 = missing, see
  :mod:`data_lake.parsers.snapshots`); envelope time = the row's snapshot time.
- ``hl-historical-trades``: Hyperliquid's ``historical_data`` trade CSV (``time,user,coin,side,px,sz,crossed``) ->
  ``raw/hl_historical/{date}/{H}/{coin}.jsonl.lz4``, one ``node_fills`` frame per row (:mod:`data_lake.hl_historical`).
- ``trades-table`` / ``book-table``: any trades or book table (CSV or parquet) under a column mapping ->
  ``raw/tabular/{date}/{H}/{coin}.jsonl.lz4``, one ``trades`` / ``l2Book`` frame per row
  (:mod:`data_lake.tabular_import`).
- ``meta`` / ``all-perp-metas`` / ``perp-dexs`` / ``meta-and-asset-ctxs``: an Info-API snapshot (bare or
  cassette) -> one line in ``raw/api/{date}/{H}/_info_snapshots.jsonl`` (:mod:`data_lake.universe`); a
  ``metaAndAssetCtxs`` response also gives one ``activeAssetCtx`` frame per coin in ``raw/api``. Time taken:
  the cassette's ``date``, else the file's modification time.

Items that cannot be given a coin (invalid JSON, no coin, empty block, a coin name the raw zone refuses, ...), and
table rows the mapping cannot interpret, are counted with their reason in the report and written to
``raw/{source}/{date}/{H}/_unattributed.jsonl``. Writing merges with an existing file under the lock of its
directory and skips lines it already holds, so importing twice changes nothing and two concurrent imports into
one file keep both's lines.

Damage is never hidden: a date or hour in the input's path that is no UTC day or hour is an :class:`InputError`;
a damaged or undecodable ``.lz4`` input imports the part that decodes, sets the lost tail aside as one
unattributed item, and names the damage in :attr:`ImportReport.damage` (the CLI then exits 1).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from data_lake import raw_zone
from data_lake.atomic_files import write_atomically
from data_lake.hl_historical import historical_trade_items
from data_lake.parsers.decode import decode, iso_to_ns, lines_frame, pairs_to_objects
from data_lake.parsers.schemas import FILL
from data_lake.parsers.snapshots import (
    asset_ctx_frames,
    meta_and_asset_ctxs_frames,
    parse_asset_ctxs_csv,
    snapshot_problem,
)
from data_lake.table_mapping import TABLE_KINDS, InputError, TableMapping
from data_lake.tabular_import import book_items, read_input, trade_items
from data_lake.universe import snapshot_line, snapshot_path

SNAPSHOT_KINDS = {
    "meta": "meta",
    "all-perp-metas": "allPerpMetas",
    "perp-dexs": "perpDexs",
    "meta-and-asset-ctxs": "metaAndAssetCtxs",
}
KINDS = (
    "archive-l2book",
    "node-trades",
    "node-fills",
    "node-fills-by-block",
    "user-fills",
    "asset-ctxs",
    *SNAPSHOT_KINDS,
    "hl-historical-trades",
    *TABLE_KINDS,
)
_ARCHIVE_PATH = re.compile(r"(\d{8})/(\d{1,2})/l2Book/(.+)\.lz4$")
_NODE_PATH = re.compile(r"(\d{8})/(\d{1,2})(?:\.lz4)?$")
_EVENT = r'\[\s*"(?:[^"\\]|\\.)*"\s*,\s*\{.*?\}\s*\]'
_COIN_TIME = pl.Struct({"coin": pl.String(), "time": pl.String()})
_NODE_FILL_KEY = pl.Struct({"user": pl.String(), "fill": pl.Struct({"coin": pl.String(), "time": pl.Int64()})})
_BLOCK_KEY = pl.Struct(
    {
        "local_time": pl.String(),
        "block_time": pl.String(),
        "block_number": pl.Int64(),
        "events": pl.List(_NODE_FILL_KEY),
    }
)
_ENVELOPE_KEY = pl.Struct({"time": pl.String(), "raw": pl.Struct({"data": pl.Struct({"coin": pl.String()})})})
_ITEMS = pl.Schema({"_line": pl.Int64, "coin": pl.String, "recv_ns": pl.Int64, "line": pl.String, "reason": pl.String})


@dataclass
class ImportReport:
    """What an import read, where each item went, and why any item could not be given a coin.

    ``items`` counts what was sorted: lines (archive, node trades, node fills), (block, coin) pieces plus
    blocks set aside (node fills by block), fills (user fills), rows and lines that are no row (tables, historical CSV).
    """

    kind: str
    input: Path
    source: str
    items: int = 0
    attributed: int = 0
    unattributed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    damage: str | None = None
    """What could not be decoded of the input (a damaged lz4), null when it was read whole."""


def import_file(path: str | Path, kind: str, raw_root: str | Path, mapping: TableMapping | None = None) -> ImportReport:
    """Import one downloaded file of ``kind`` (see :data:`KINDS`) into the raw zone at ``raw_root``.

    ``mapping`` (table kinds only) names the input's columns; a mapping that does not fit the input, or a file
    that is not the kind's format, raises :class:`InputError` before anything is written.
    """
    path = Path(path)
    if kind == "hl-historical-trades":
        return _write(
            ImportReport(kind, path, "hl_historical"), historical_trade_items(path).cast(_ITEMS), raw_root, path
        )
    if kind in TABLE_KINDS:
        return _import_table(path, kind, raw_root, mapping)
    if kind == "archive-l2book":
        return _import_archive(path, raw_root)
    if kind == "asset-ctxs":
        return _import_asset_ctxs(path, raw_root)
    if kind in SNAPSHOT_KINDS:
        return import_info_snapshot(path, kind, raw_root)
    if kind == "user-fills":
        return _write(ImportReport(kind, path, "api"), _user_fill_items(path), raw_root, path)
    channel = {
        "node-trades": "node_trades",
        "node-fills": "node_fills",
        "node-fills-by-block": "node_fills_by_block",
    }.get(kind)
    if channel is None:
        raise ValueError(f"unknown import kind {kind!r}; expected one of {KINDS}")
    text, damage = _read_text(path)
    lines = lines_frame(text, 0, "node")
    items = _block_items(lines) if channel == "node_fills_by_block" else _node_items(lines, channel)
    return _write(ImportReport(kind, path, "node"), pl.concat([items, damage]), raw_root, path)


def _read_text(path: Path) -> tuple[str, pl.DataFrame]:
    """The input's text and, if its lz4 is damaged, the lost tail as one unattributed item (else no item)."""
    decoded = raw_zone.decode_file(path)
    text = decoded.data.decode("utf-8", errors="replace")
    lost = (
        [{"_line": text.count("\n") + 2, "coin": None, "recv_ns": None, "line": "", "reason": decoded.problem}]
        if decoded.problem
        else []
    )
    return text, pl.DataFrame(lost, schema=_ITEMS)


def _import_table(path: Path, kind: str, raw_root: str | Path, mapping: TableMapping | None) -> ImportReport:
    """A trades or book table under ``mapping``: one frame per row in ``raw/tabular``."""
    if mapping is None:
        raise InputError(f"{kind} needs a column mapping (a mapping file or column flags)")
    source = read_input(path)
    resolved = mapping.resolve(kind, source.columns)
    items = trade_items(source, resolved) if kind == "trades-table" else book_items(source, resolved)
    return _write(ImportReport(kind, path, "tabular"), items.cast(_ITEMS), raw_root, path)


def _wrap(channel: str, recv_iso: pl.Expr, data: pl.Expr) -> pl.Expr:
    """The raw-zone envelope line around an item's original text."""
    return pl.concat_str(
        pl.lit('{"time":"'),
        recv_iso,
        pl.lit(f'","ver_num":1,"raw":{{"channel":"{channel}","data":'),
        data,
        pl.lit("}}"),
    )


def _iso_from_ms(ms: pl.Expr) -> pl.Expr:
    return pl.from_epoch(ms, time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.9f")


def _node_items(lines: pl.DataFrame, channel: str) -> pl.DataFrame:
    """node_trades / node_fills lines: coin and time of each, wrapped with its original text."""
    text = pl.col("text").str.strip_chars_end()
    if channel == "node_trades":
        values, reasons = decode(lines["text"], _COIN_TIME, "node_trades line")
        coin, recv_iso = pl.col("_v").struct.field("coin"), pl.col("_v").struct.field("time")
    else:
        values, reasons = decode(
            lines.select(pairs_to_objects(pl.col("text"))).to_series(), _NODE_FILL_KEY, "node_fills line"
        )
        coin = pl.col("_v").struct.field("fill").struct.field("coin")
        recv_iso = _iso_from_ms(pl.col("_v").struct.field("fill").struct.field("time"))
    items = lines.with_columns(_v=values, _why=reasons).select(
        "_line",
        coin.alias("coin"),
        iso_to_ns(recv_iso).alias("recv_ns"),
        _wrap(channel, recv_iso, text).alias("line"),
        pl.col("_why").alias("reason"),
        pl.col("text").alias("original"),
    )
    return _finished(items)


def _finished(items: pl.DataFrame) -> pl.DataFrame:
    """Name why an item has no coin or time; such an item keeps its original text instead of an envelope."""
    reason = (
        pl.when(pl.col("reason").is_not_null())
        .then(pl.col("reason"))
        .when(pl.col("coin").is_null())
        .then(pl.lit("no coin"))
        .when(pl.col("recv_ns").is_null())
        .then(pl.lit("no valid time"))
    )
    named = items.with_columns(reason.alias("reason"))
    line = pl.when(pl.col("reason").is_null()).then(pl.col("line")).otherwise(pl.col("original"))
    return named.with_columns(line.alias("line")).select(_ITEMS.keys()).cast(_ITEMS)


def _block_items(lines: pl.DataFrame) -> pl.DataFrame:
    """node_fills_by_block lines: one item per (block, coin) holding that coin's events, text untouched."""
    values, reasons = decode(
        lines.select(pairs_to_objects(pl.col("text"))).to_series(), _BLOCK_KEY, "node_fills_by_block line"
    )
    block = pl.col("_v").struct
    decoded = lines.with_columns(_v=values, _why=reasons).with_columns(
        pl.col("text").str.extract_all(_EVENT).alias("_events"),
        block.field("events").list.eval(pl.element().struct.field("fill").struct.field("coin")).alias("_coins"),
    )
    split_ok = (pl.col("_events").list.len() == pl.col("_coins").list.len()).fill_null(False)
    reason = (
        pl.when(pl.col("_why").is_not_null())
        .then(pl.col("_why"))
        .when(block.field("local_time").is_null() | iso_to_ns(block.field("local_time")).is_null())
        .then(pl.lit("no valid local_time"))
        .when(pl.col("_coins").list.len() == 0)
        .then(pl.lit("empty block (no events)"))
        .when(~split_ok)
        .then(pl.lit("events could not be split by coin"))
    )
    judged = decoded.with_columns(reason.alias("reason"))
    failed = judged.filter(pl.col("reason").is_not_null()).select(
        "_line",
        pl.lit(None, pl.String).alias("coin"),
        pl.lit(None, pl.Int64).alias("recv_ns"),
        pl.col("text").alias("line"),
        "reason",
    )
    events = (
        judged.filter(pl.col("reason").is_null())
        .select(
            "_line",
            block.field("local_time").alias("local_time"),
            block.field("block_time").alias("block_time"),
            block.field("block_number").alias("block_number"),
            "_events",
            "_coins",
        )
        .explode("_events", "_coins")
    )
    per_coin = events.group_by("_line", "_coins", maintain_order=True).agg(
        pl.col("local_time", "block_time", "block_number").first(), pl.col("_events").str.join(",")
    )
    header = pl.concat_str(
        pl.lit('{"local_time":'),
        _json_string(pl.col("local_time")),
        pl.lit(',"block_time":'),
        _json_string(pl.col("block_time")),
        pl.lit(',"block_number":'),
        pl.col("block_number").cast(pl.String).fill_null("null"),
        pl.lit(',"events":['),
        pl.col("_events"),
        pl.lit("]}"),
    )
    items = per_coin.select(
        "_line",
        pl.col("_coins").alias("coin"),
        iso_to_ns(pl.col("local_time")).alias("recv_ns"),
        _wrap("node_fills_by_block", pl.col("local_time"), header).alias("line"),
        pl.lit(None, pl.String).alias("reason"),
    )
    return pl.concat([items.cast(_ITEMS), failed.cast(_ITEMS)]).sort("_line", maintain_order=True)


def _json_string(value: pl.Expr) -> pl.Expr:
    return pl.concat_str(pl.lit('"'), value, pl.lit('"')).fill_null("null")


def _user_fill_items(path: Path) -> pl.DataFrame:
    """An Info-API fills response: one ``userFills`` frame per fill (at most 2000 per response)."""
    text, damage = _read_text(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return pl.concat([_whole_document(text, "invalid JSON (corrupt document)"), damage])
    cassette = isinstance(document, dict) and "response" in document and "request" in document
    request = document["request"] if cassette and isinstance(document["request"], dict) else {}
    fills = document["response"] if cassette else document
    kind = request.get("type", "userFills")
    if kind not in ("userFills", "userFillsByTime") or not isinstance(fills, list):
        return _whole_document(text, f"not a userFills response ({kind})")
    user = json.dumps(str(request["user"]).lower() if request.get("user") else None)
    texts = pl.Series([json.dumps(fill) for fill in fills], dtype=pl.String)
    values, reasons = decode(texts, FILL, "fill")
    fill = pl.col("_v").struct
    data = pl.concat_str(pl.lit(f'{{"user":{user},"fills":['), pl.col("text"), pl.lit("]}"))
    items = pl.DataFrame({"text": texts, "_v": values, "reason": reasons}).select(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("_line"),
        fill.field("coin").alias("coin"),
        (fill.field("time") * 1_000_000).alias("recv_ns"),
        _wrap("userFills", _iso_from_ms(fill.field("time")), data).alias("line"),
        "reason",
        pl.col("text").alias("original"),
    )
    return _finished(items)


def _whole_document(text: str, reason: str) -> pl.DataFrame:
    return pl.DataFrame(
        {"_line": [1], "coin": [None], "recv_ns": [None], "line": [text], "reason": [reason]}, schema=_ITEMS
    )


def _archive_key(path: Path, lines: list[str]) -> tuple[dt.date, int, str] | None:
    """(date, hour, coin) of an S3 l2Book file: from ``…/{date}/{H}/l2Book/{COIN}.lz4``, else its first line."""
    where = _ARCHIVE_PATH.search(path.as_posix())
    if where:
        return (*_day_hour(path, where[1], where[2]), where[3])
    if not lines:
        return None
    first = (
        pl.DataFrame({"text": lines[:1]})
        .select(pl.col("text").str.json_decode(dtype=_ENVELOPE_KEY).alias("_v"))
        .select(
            iso_to_ns(pl.col("_v").struct.field("time")).alias("recv_ns"),
            pl.col("_v").struct.field("raw").struct.field("data").struct.field("coin").alias("coin"),
        )
        .row(0)
    )
    if None in first:
        return None
    when = dt.datetime.fromtimestamp(first[0] / 1e9, tz=dt.UTC)
    return when.date(), when.hour, first[1]


def _import_archive(path: Path, raw_root: str | Path) -> ImportReport:
    """Copy an S3 l2Book file, unchanged, to ``raw/archive/{date}/{H}/{coin}.jsonl.lz4``."""
    report = ImportReport("archive-l2book", path, "archive")
    decoded = raw_zone.decode_file(path)
    report.damage = decoded.problem
    text = decoded.data.decode("utf-8", errors="replace")
    lines = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n") if text else []
    try:
        key = _archive_key(path, lines)
    except pl.exceptions.PolarsError:
        key = None
    if key is None:
        items = pl.DataFrame(
            {"_line": range(1, len(lines) + 1), "line": lines}, schema={"_line": pl.Int64, "line": pl.String}
        )
        unknown = items.with_columns(
            pl.lit(None, pl.String).alias("coin"),
            pl.lit(None, pl.Int64).alias("recv_ns"),
            pl.lit("no date, hour or coin in path or first line").alias("reason"),
        )
        return _write(report, unknown.select(_ITEMS.keys()), raw_root, path)
    date, hour, coin = key
    problem = raw_zone.coin_name_problem(coin)
    if problem:
        refused = pl.DataFrame(
            {"_line": [1], "coin": [None], "recv_ns": [None], "line": [path.name], "reason": [problem]}, schema=_ITEMS
        )
        return _write(report, refused, raw_root, path)
    target = raw_zone.raw_path(raw_root, "archive", date, hour, coin)
    with raw_zone.locked(target):
        write_atomically(target, path.read_bytes())
    report.items = report.attributed = len(lines)
    report.written = [target]
    return report


def _write(report: ImportReport, items: pl.DataFrame, raw_root: str | Path, source_path: Path) -> ImportReport:
    """Write attributed items to their coin files and the rest to ``_unattributed.jsonl``; fill the report."""
    refused = {
        coin: problem for coin in items["coin"].drop_nulls().unique() if (problem := raw_zone.coin_name_problem(coin))
    }
    items = items.with_columns(
        pl.col("reason").fill_null(pl.col("coin").replace_strict(refused, default=None, return_dtype=pl.String)),
        pl.from_epoch("recv_ns", time_unit="ns").dt.date().alias("_date"),
        pl.from_epoch("recv_ns", time_unit="ns").dt.hour().alias("_hour"),
    )
    fallback_date, fallback_hour = _fallback_hour(source_path)  # an impossible path fails before anything is written
    good = items.filter(pl.col("reason").is_null())
    for (date, hour, coin), group in good.group_by("_date", "_hour", "coin", maintain_order=True):
        target = raw_zone.raw_path(raw_root, report.source, date, int(hour), coin)
        report.written.append(_merge(target, group["line"]))
    bad = items.filter(pl.col("reason").is_not_null())
    if bad.height:
        records = bad.select(
            pl.struct(
                pl.col("reason"),
                pl.lit(str(source_path)).alias("input"),
                pl.col("_line").alias("line"),
                pl.col("line").alias("text"),
            ).struct.json_encode()
        ).to_series()
        target = (
            Path(raw_root)
            / report.source
            / fallback_date.strftime("%Y%m%d")
            / str(fallback_hour)
            / "_unattributed.jsonl"
        )
        report.written.append(_merge(target, records))
    report.items += items.height
    report.attributed += good.height
    report.unattributed += bad.height
    report.reasons = dict(Counter(bad["reason"].to_list()))
    damaged = [reason for reason in report.reasons if reason.startswith(raw_zone.DAMAGED_LZ4)]
    report.damage = report.damage or (damaged[0] if damaged else None)
    return report


def _fallback_hour(path: Path) -> tuple[dt.date, int]:
    """The (date, hour) an input file names (``…/{YYYYMMDD}/{H}[.lz4]``), else the current UTC hour."""
    where = _NODE_PATH.search(path.as_posix())
    if where:
        return _day_hour(path, where[1], where[2])
    now = dt.datetime.now(dt.UTC)
    return now.date(), now.hour


def _day_hour(path: Path, day: str, hour: str) -> tuple[dt.date, int]:
    """The UTC (day, hour) an input's path names; an impossible one (``20251399``, hour ``99``) is an input error."""
    try:
        date = dt.datetime.strptime(day, "%Y%m%d").date()
    except ValueError:
        raise InputError(f"{path}: {day!r} in the path is not a UTC day (YYYYMMDD)") from None
    if not 0 <= int(hour) <= 23:
        raise InputError(f"{path}: hour {hour!r} in the path is not a UTC hour (0-23)")
    return date, int(hour)


def _merge(target: Path, lines: pl.Series) -> Path:
    """Write ``lines`` to ``target`` after the lines it already holds, skipping lines already there.

    Read, append and rewrite happen under the directory's lock, so a concurrent import cannot lose lines."""
    with raw_zone.locked(target):
        if target.exists():
            existing = pl.Series(raw_zone.read_lines(target), dtype=pl.String)
            lines = existing.append(lines.filter(~lines.is_in(existing.implode())))
        return raw_zone.write_lines(target, lines.to_list())


def _import_asset_ctxs(path: Path, raw_root: str | Path) -> ImportReport:
    """An S3 asset_ctxs CSV: one ``activeAssetCtx`` frame per usable row, per (day, hour, coin) file."""
    text, damage = _read_text(path)
    rows = parse_asset_ctxs_csv(text)
    good = rows.filter(pl.col("reason").is_null())
    recv_ns = pl.col("time") * 1_000_000
    envelope = pl.concat_str(
        pl.lit('{"time":"'), _iso_from_ms(pl.col("time")), pl.lit('","ver_num":1,"raw":'), pl.col("frame"), pl.lit("}")
    )
    items = pl.concat(
        [
            good.with_columns(frame=asset_ctx_frames(good)).select(
                "_line", "coin", recv_ns.alias("recv_ns"), envelope.alias("line"), "reason"
            ),
            rows.filter(pl.col("reason").is_not_null()).select(
                "_line", "coin", recv_ns.alias("recv_ns"), pl.col("text").alias("line"), "reason"
            ),
            damage,
        ]
    ).cast(_ITEMS)
    return _write(ImportReport("asset-ctxs", path, "asset_ctxs"), items.sort("_line"), raw_root, path)


def _snapshot_time_ns(document: dict, path: Path) -> int:
    """When a snapshot was taken: the cassette's HTTP ``date``, else the file's modification time."""
    stamp = document.get("date")
    stamp = stamp[0] if isinstance(stamp, list) and stamp else stamp
    if isinstance(stamp, str):
        try:
            return int(email.utils.parsedate_to_datetime(stamp).timestamp()) * 1_000_000_000
        except (TypeError, ValueError):
            pass
    return path.stat().st_mtime_ns


def write_info_snapshot(raw_root: str | Path, time_ns: int, request: dict, payload: object) -> Path:
    """Store one Info-API snapshot taken at ``time_ns`` (UTC epoch ns); storing it twice changes nothing."""
    return _merge(
        snapshot_path(raw_root, time_ns), pl.Series([snapshot_line(time_ns, request, payload)], dtype=pl.String)
    )


def import_info_snapshot(path: str | Path, kind: str, raw_root: str | Path, time_ms: int | None = None) -> ImportReport:
    """Import a ``meta`` / ``all-perp-metas`` / ``perp-dexs`` / ``meta-and-asset-ctxs`` response (bare or cassette),
    taken at ``time_ms`` (default: the cassette's date, else the file's modification time)."""
    path = Path(path)
    report = ImportReport(kind, path, "api")
    text, damage = _read_text(path)
    if damage.height:
        return _write(
            report, pl.concat([_whole_document(text, "invalid JSON (corrupt document)"), damage]), raw_root, path
        )
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return _write(report, _whole_document(text, "invalid JSON (corrupt document)"), raw_root, path)
    cassette = isinstance(document, dict) and "response" in document and "request" in document
    request = (
        dict(document["request"])
        if cassette and isinstance(document["request"], dict)
        else {"type": SNAPSHOT_KINDS[kind]}
    )
    payload = document["response"] if cassette else document
    problem = snapshot_problem(SNAPSHOT_KINDS[kind], payload)
    if request.get("type") != SNAPSHOT_KINDS[kind]:
        problem = f"cassette holds a {request.get('type')!r} request, not {SNAPSHOT_KINDS[kind]!r}"
    if problem:
        return _write(report, _whole_document(text, problem), raw_root, path)
    time_ns = time_ms * 1_000_000 if time_ms is not None else _snapshot_time_ns(document if cassette else {}, path)
    report.written.append(write_info_snapshot(raw_root, time_ns, request, payload))
    report.items = report.attributed = 1
    if request["type"] == "metaAndAssetCtxs":
        frames = meta_and_asset_ctxs_frames(payload, str(request.get("dex") or ""))
        iso = raw_zone.iso_ns(time_ns)
        items = pl.DataFrame(
            {
                "_line": [1] * len(frames),
                "coin": [coin for coin, _ in frames],
                "recv_ns": [time_ns] * len(frames),
                "line": [f'{{"time":"{iso}","ver_num":1,"raw":{frame}}}' for _, frame in frames],
                "reason": [None] * len(frames),
            },
            schema=_ITEMS,
        )
        _write(report, items, raw_root, path)
    return report
