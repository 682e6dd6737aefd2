"""Files outside the WS stream: the S3 ``asset_ctxs/YYYYMMDD.csv.lz4`` archive and Info-API snapshots.

S3 CSV (reference section 2.2): one row per coin per minute, header :data:`ASSET_CTXS_COLUMNS`, time
``%Y-%m-%dT%H:%M:%SZ`` (other separators and fractions accepted). Absent values are written as ``0.0``, so a zero
in :data:`ZERO_IS_MISSING` is read as missing (null); ``funding`` was an 8 h rate before
:data:`HOURLY_FUNDING_FROM_MS` and is divided by 8 there, so it is always the hourly rate. Each row becomes an
``activeAssetCtx`` frame carrying the original line under ``"csv"``, so the clean path reads it like a WS frame.

Info API (reference 3.1, 3.2): ``meta`` / ``allPerpMetas`` give the perp universe per dex, ``perpDexs`` the dex
list (index 0 is the validator dex, ``null``), ``metaAndAssetCtxs`` a meta plus index-aligned asset contexts.
HIP-3 coins are named ``dex:COIN``; asset id = index for the validator dex, else 100000 + 10000 * dex index + index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import polars as pl

from data_lake.parsers.decode import decimal
from data_lake.tables import UNIVERSE

ASSET_CTXS_COLUMNS = (
    "time",
    "coin",
    "funding",
    "open_interest",
    "prev_day_px",
    "day_ntl_vlm",
    "premium",
    "oracle_px",
    "mark_px",
    "mid_px",
    "impact_bid_px",
    "impact_ask_px",
)
ZERO_IS_MISSING = (
    "open_interest",
    "prev_day_px",
    "premium",
    "oracle_px",
    "mark_px",
    "mid_px",
    "impact_bid_px",
    "impact_ask_px",
)
HOURLY_FUNDING_FROM_MS = 1_686_182_700_000
"""2023-06-08T00:05:00Z: S3 ``funding`` values before this instant are 8 h rates."""

_CTX_KEYS = {
    "funding": "funding",
    "openInterest": "open_interest",
    "prevDayPx": "prev_day_px",
    "dayNtlVlm": "day_ntl_vlm",
    "premium": "premium",
    "oraclePx": "oracle_px",
    "markPx": "mark_px",
    "midPx": "mid_px",
}
_VALUES = ASSET_CTXS_COLUMNS[2:]
VALIDATOR_DEX = ""
"""The first (validator) perp dex: its coins carry no ``dex:`` prefix."""

UNIVERSE_COLUMNS: dict[str, pl.DataType] = {k: v for k, v in UNIVERSE.schema.items() if k != "date"}
SNAPSHOT_REQUESTS = ("meta", "allPerpMetas", "perpDexs", "metaAndAssetCtxs")


def dex_of(coin: str) -> str:
    """The perp dex of a coin name: ``xyz`` for ``xyz:NVDA``, ``""`` for validator-dex perps and spot names."""
    return coin.split(":", 1)[0] if ":" in coin else VALIDATOR_DEX


def coin_dex(coin: pl.Expr) -> pl.Expr:
    """:func:`dex_of` as a polars expression."""
    return (
        pl.when(coin.str.contains(":", literal=True))
        .then(coin.str.split(":").list.first())
        .otherwise(pl.lit(VALIDATOR_DEX))
    )


def _csv_time_ms(text: pl.Expr) -> pl.Expr:
    """Epoch ms of the CSV time (``2024-06-15T12:00:00Z``; a space separator, fractions or no ``Z`` also accepted)."""
    normal = text.str.strip_chars().str.strip_suffix("Z").str.strip_suffix("+00:00").str.replace("T", " ", literal=True)
    return normal.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="ms", strict=False).cast(pl.Int64)


def parse_asset_ctxs_csv(text: str) -> pl.DataFrame:
    """Rows of an S3 asset_ctxs CSV: ``_line`` (1-based, header = 1), ``time`` (epoch ms), ``coin``, the value
    columns as decimal text (null when missing), the original ``text`` and a ``reason`` (null when the row is usable).
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header = [h.strip() for h in lines[0].strip().split(",")] if lines else []
    body = pl.DataFrame({"text": pl.Series(lines[1:], dtype=pl.String)}).with_columns(
        pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias("_line"),
        pl.col("text").str.strip_chars_end("\r").alias("text"),
    )
    if sorted(header) != sorted(ASSET_CTXS_COLUMNS):
        problem = f"unexpected asset_ctxs CSV header: {','.join(header)[:200]}"
        return _csv_rows(body.with_columns(pl.lit(None, pl.List(pl.String)).alias("_f")), {}, pl.lit(problem))
    fields = body.with_columns(pl.col("text").str.split(",").alias("_f"))
    position = {name: header.index(name) for name in ASSET_CTXS_COLUMNS}
    reason = (
        pl.when(pl.col("text").str.strip_chars() == "")
        .then(pl.lit("empty line"))
        .when(pl.col("_f").list.len() != len(ASSET_CTXS_COLUMNS))
        .then(pl.lit(f"expected {len(ASSET_CTXS_COLUMNS)} comma-separated fields"))
        .when(pl.col("coin").is_null() | (pl.col("coin") == ""))
        .then(pl.lit("no coin"))
        .when(pl.col("time").is_null())
        .then(pl.lit("no valid time"))
    )
    return _csv_rows(fields, position, reason)


def _csv_rows(fields: pl.DataFrame, position: dict[str, int], reason: pl.Expr) -> pl.DataFrame:
    """Typed rows from split CSV fields: zeros that mean "missing" nulled, pre-switch 8 h funding made hourly."""

    def field(name: str) -> pl.Expr:
        if name not in position:
            return pl.lit(None, pl.String)
        return pl.col("_f").list.get(position[name], null_on_oob=True).str.strip_chars()

    values = {name: field(name) for name in _VALUES}
    values = {
        name: pl.when(decimal(expr) == 0).then(pl.lit(None, pl.String)).otherwise(expr)
        if name in ZERO_IS_MISSING
        else expr
        for name, expr in values.items()
    }
    typed = fields.with_columns(
        field("coin").alias("coin"),
        _csv_time_ms(field("time")).alias("time"),
        *(expr.alias(name) for name, expr in values.items()),
    )
    eight_hour = pl.col("time") < HOURLY_FUNDING_FROM_MS
    funding = pl.when(eight_hour).then((decimal(pl.col("funding")) / 8).cast(pl.String)).otherwise(pl.col("funding"))
    return typed.with_columns(funding.alias("funding"), reason.alias("reason")).select(
        "_line", "time", "coin", *_VALUES, "text", "reason"
    )


def asset_ctx_frames(rows: pl.DataFrame) -> pl.Series:
    """``activeAssetCtx`` frame text for usable CSV rows (keys as on the wire, the original line under ``csv``)."""
    ctx = pl.struct(
        *(pl.col(column).alias(key) for key, column in _CTX_KEYS.items()),
        pl.when(pl.col("impact_bid_px").is_null() & pl.col("impact_ask_px").is_null())
        .then(pl.lit(None, pl.List(pl.String)))
        .otherwise(pl.concat_list(pl.col("impact_bid_px"), pl.col("impact_ask_px")))
        .alias("impactPxs"),
    )
    frame = pl.struct(
        pl.lit("activeAssetCtx").alias("channel"),
        pl.struct(pl.col("coin"), ctx.alias("ctx")).alias("data"),
        pl.col("text").alias("csv"),
    )
    return rows.select(frame.struct.json_encode()).to_series()


@dataclass(frozen=True)
class InfoSnapshot:
    """One Info-API response as stored in the raw zone: when it was taken (UTC epoch ns), the request, the payload."""

    time_ns: int
    request: dict[str, Any]
    payload: Any

    @property
    def kind(self) -> str:
        return str(self.request.get("type", ""))


def snapshot_problem(kind: str, payload: Any) -> str | None:
    """Why ``payload`` is not a ``kind`` response (null when it is one)."""

    def is_meta(x: Any) -> bool:
        return isinstance(x, dict) and isinstance(x.get("universe"), list)

    ok = {
        "meta": is_meta(payload),
        "allPerpMetas": isinstance(payload, list) and all(is_meta(m) for m in payload),
        "perpDexs": isinstance(payload, list)
        and all(d is None or (isinstance(d, dict) and "name" in d) for d in payload),
        "metaAndAssetCtxs": isinstance(payload, list)
        and len(payload) == 2
        and is_meta(payload[0])
        and isinstance(payload[1], list)
        and len(payload[1]) == len(payload[0]["universe"]),
    }
    if kind not in ok:
        return f"unsupported snapshot kind {kind!r}; expected one of {SNAPSHOT_REQUESTS}"
    return None if ok[kind] else f"not a {kind} response"


def _coin_name(name: str, dex: str) -> str:
    """A builder-dex perp is always ``dex:COIN``; a bare name under a named dex gets the prefix."""
    return name if ":" in name or not dex else f"{dex}:{name}"


def meta_universe(meta: dict[str, Any], dex: str = VALIDATOR_DEX, snapshot_time_ms: int | None = None) -> pl.DataFrame:
    """One row per perp of a ``meta`` response; ``dex`` from the request (else from the names); asset ids unresolved."""
    rows = []
    for index, asset in enumerate(meta["universe"]):
        coin = _coin_name(str(asset["name"]), dex)
        rows.append(
            {
                "coin": coin,
                "dex": dex_of(coin),
                "asset_index": index,
                "sz_decimals": asset.get("szDecimals"),
                "max_leverage": asset.get("maxLeverage"),
                "only_isolated": bool(asset.get("onlyIsolated", False)),
                "is_delisted": bool(asset.get("isDelisted", False)),
                "margin_mode": asset.get("marginMode"),
                "collateral_token": meta.get("collateralToken", 0),
                "snapshot_time": snapshot_time_ms,
            }
        )
    return pl.DataFrame(rows, schema={k: v for k, v in UNIVERSE_COLUMNS.items() if k not in ("dex_index", "asset_id")})


def perp_dexs(payload: list[Any]) -> pl.DataFrame:
    """The ``perpDexs`` list: dex index (position), name (``""`` for the validator dex), full name and deployer."""
    rows = [
        {
            "dex_index": i,
            "dex": (d or {}).get("name", VALIDATOR_DEX),
            "full_name": (d or {}).get("fullName"),
            "deployer": (d or {}).get("deployer"),
        }
        for i, d in enumerate(payload)
    ]
    return pl.DataFrame(
        rows, schema={"dex_index": pl.Int32, "dex": pl.String, "full_name": pl.String, "deployer": pl.String}
    )


def universe(snapshots: list[InfoSnapshot]) -> pl.DataFrame:
    """The perp universe from the latest meta of each dex and the latest ``perpDexs`` among ``snapshots``.

    ``dex_index`` and ``asset_id`` are null for a builder dex absent from ``perpDexs`` (its index is unknown).
    """
    metas: dict[str, pl.DataFrame] = {}
    dexes = pl.DataFrame(schema={"dex_index": pl.Int32, "dex": pl.String})
    for snap in sorted(snapshots, key=lambda s: s.time_ns):
        time_ms = snap.time_ns // 1_000_000
        if snapshot_problem(snap.kind, snap.payload) is not None:
            continue
        if snap.kind == "perpDexs":
            dexes = perp_dexs(snap.payload).select("dex_index", "dex")
            continue
        docs = (
            snap.payload
            if snap.kind == "allPerpMetas"
            else [snap.payload[0] if snap.kind == "metaAndAssetCtxs" else snap.payload]
        )
        for doc in docs:
            frame = meta_universe(doc, str(snap.request.get("dex") or VALIDATOR_DEX), time_ms)
            for (dex,), part in frame.group_by("dex", maintain_order=True):
                metas[str(dex)] = part
    if not metas:
        return pl.DataFrame(schema=UNIVERSE_COLUMNS)
    rows = pl.concat(list(metas.values()))
    known = pl.concat([pl.DataFrame({"dex_index": [0], "dex": [VALIDATOR_DEX]}, schema=dexes.schema), dexes]).unique(
        "dex", keep="last"
    )
    joined = rows.join(known, on="dex", how="left")
    asset_id = (
        pl.when(pl.col("dex_index") == 0)
        .then(pl.col("asset_index").cast(pl.Int64))
        .otherwise(100_000 + 10_000 * pl.col("dex_index").cast(pl.Int64) + pl.col("asset_index"))
    )
    return (
        joined.with_columns(asset_id.alias("asset_id"))
        .select(pl.col(c).cast(t) for c, t in UNIVERSE_COLUMNS.items())
        .sort("dex", "asset_index")
    )


def meta_and_asset_ctxs_frames(payload: list[Any], dex: str = VALIDATOR_DEX) -> list[tuple[str, str]]:
    """``(coin, activeAssetCtx frame text)`` per asset of a ``metaAndAssetCtxs`` response (index-aligned ctxs)."""
    meta, ctxs = payload
    return [
        (coin, json.dumps({"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": ctx}}, separators=(",", ":")))
        for coin, ctx in zip(meta_universe(meta, dex)["coin"].to_list(), ctxs, strict=True)
        if isinstance(ctx, dict)
    ]
