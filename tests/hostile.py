"""Hostile raw input for fuzzing the parsers, the cleaning and the importers (hypothesis strategies), and the data
contract a clean table must meet, checked without Great Expectations so hundreds of cases run in seconds.

The strategies start from the valid Hyperliquid frames of :mod:`tests.test_cleaning_corpus` and replace, delete or
retype their fields with hostile values (1e300, negative, NaN, infinities, integers beyond Int64, NUL bytes,
unicode, path fragments, wrong JSON types), next to lines of random JSON and of random text. :func:`contract_breaches`
mirrors the suites of :mod:`assets.quality` (same rules, bounds from :mod:`data_lake.contract` computed on the
clean partition as the suites do).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import strategies as st

from assets.quality import day_bounds_ms
from data_lake import contract, raw_zone
from data_lake.cleaning import CleanPartition, clean_partition
from data_lake.importers import import_file
from data_lake.tables import table
from tests.test_cleaning_corpus import COIN, DAY, START, asset_ctx, bbo, book, env, fill, resting_order, trade, trades

H = 3_600_000
HOUR = 10
T0 = START + HOUR * H

HOSTILE_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(
        [
            "1e300",
            "-1e300",
            "1e309",
            "NaN",
            "nan",
            "inf",
            "-Infinity",
            "-0",
            "0",
            "",
            "1e-320",
            "0x10",
            " 1",
            "1_000",
            "9223372036854775808",
            "-7",
            "100.05",
        ]
    ),
)
ODD_STRINGS = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    st.sampled_from(["", "\x00", "B\x00", "../../x", "|", f"{COIN}|x", "_x", "\U0001d518", "A" * 300, "A", "B"]),
)
HOSTILE_VALUES = st.one_of(
    HOSTILE_NUMBERS,
    ODD_STRINGS,
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.integers(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12,
)
LINE_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n"), max_size=60)


def _frames(t: int, tid: int) -> list[dict]:
    """One valid frame of each channel the cleaning reads, at ``t`` ms."""
    return [
        book(t),
        trades(trade(t, tid), trade(t, tid + 1, side="A")),
        {"channel": "userFills", "data": {"user": "0x" + "a" * 40, "fills": [fill(t, tid, "B", True, 11)]}},
        {"channel": "orderUpdates", "data": [{"order": resting_order(t), "status": "open", "statusTimestamp": t}]},
        asset_ctx(),
        bbo(t),
    ]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside nested dicts and lists (the root excluded)."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    found = []
    for key, child in children:
        found += [(*prefix, key), *_paths(child, (*prefix, key))]
    return found


def _mutate(frame: dict, path: tuple, how: str, value: Any) -> dict:
    out = copy.deepcopy(frame)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    if how == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return out


@st.composite
def mutated_line(draw: st.DrawFn) -> str:
    """A valid envelope whose frame has one to three fields replaced, deleted or retyped."""
    t = T0 + draw(st.integers(0, H - 1))
    frame = draw(st.sampled_from(_frames(t, draw(st.integers(0, 2**40)))))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(frame)
        if not paths:
            break
        frame = _mutate(
            frame, draw(st.sampled_from(paths)), draw(st.sampled_from(["replace", "delete"])), draw(HOSTILE_VALUES)
        )
    if draw(st.integers(0, 9)) == 0:  # a hostile envelope time too
        return json.dumps({"time": draw(st.one_of(st.just(None), HOSTILE_VALUES)), "ver_num": 1, "raw": frame})
    return env(t, frame)


def valid_line(i: int) -> str:
    """Clean baseline lines (books and trades near 100), so the day has the medians the bounds need."""
    t = T0 + 1000 * i
    return env(t, book(t) if i % 2 else trades(trade(t, 10**9 + i)))


def found_by_fuzzing() -> list[str]:
    """Lines the fuzzing found breaking the cleaning: blank lines (polars decoded an all-blank batch to no value), a
    book level's order count beyond Int32 (the write raised), a funding rate of 100% an hour (passed cleaning,
    failed the suite), and trade prices whose median moves once the outliers are removed (10 passed the bounds of
    the median 1, not those of the clean rows' median 0.1)."""
    huge_count, mad_funding = book(T0 + 1), _frames(T0 + 2, 1)[4]
    huge_count["data"]["levels"][1][0]["n"] = 2**31
    mad_funding["data"]["ctx"]["funding"] = 1.0
    drifting = [
        env(T0 + 10 + i, trades(trade(T0 + 10 + i, 7_000 + i, px=px)))
        for i, px in enumerate(("0.1", "0.1", "0.1", "1", "10", "1000", "1000"))
    ]
    return ["", "   ", env(T0, ""), env(T0 + 1, huge_count), env(T0 + 2, mad_funding), *drifting]


HOSTILE_LINES = st.one_of(
    mutated_line(),
    mutated_line(),
    JSON_VALUES.map(lambda raw: env(T0 + 5, raw)),
    JSON_VALUES.map(json.dumps),
    LINE_TEXT,
)


def contract_breaches(result: CleanPartition, date: dt.date = DAY) -> list[str]:
    """What in the clean tables breaks the data contract (the GX suites' rules and the contract's bounds)."""
    start, end = day_bounds_ms(date)
    breaches = []
    for name, df in result.tables.items():
        if df.schema != pl.Schema(table(name).polars_schema):
            breaches.append(f"{name}: schema {df.schema} is not the catalogue's")
        if df.height == 0:
            continue
        if not df["time"].is_between(start, end - 1).all() or df["time"].null_count():
            breaches.append(f"{name}: time outside the day or null")
        if not df["time"].is_sorted():
            breaches.append(f"{name}: time not increasing")
        checked = _with_extremes(name, df)
        for column, (low, high) in _ranges(name, checked).items():
            values = _as_pandas_sees(checked[column]).drop_nulls()
            if not values.is_between(low, high).all():
                breaches.append(f"{name}: {column} outside [{low}, {high}]")
        for column in NOT_NULL.get(name, ()):
            if _as_pandas_sees(df[column]).null_count():
                breaches.append(f"{name}: {column} null or NaN")
        if "side" in df.columns and name != "quoter_log" and not df["side"].is_in([-1, 1]).all():
            breaches.append(f"{name}: side not -1 or 1")
        if name == "book" and not (df["ask_px_1"] > df["bid_px_1"]).all():
            breaches.append("book: crossed")
        key = {
            "trades": ["coin", "time", "tid"],
            "fills": ["coin", "time", "tid", "oid"],
            "order_updates": ["coin", "time", "oid", "status"],
        }.get(name)
        if key and df.select(pl.struct(key).is_duplicated().any()).item():
            breaches.append(f"{name}: duplicate key {key}")
    quarantine = result.quarantine
    if quarantine["reason"].null_count() or (quarantine["reason"] == "").any():
        breaches.append("quarantine: a row without a reason")
    return breaches


NOT_NULL = {
    "trades": ("time", "tid", "px", "sz", "side"),
    "book": ("time", "bid_px_1", "ask_px_1", "mid"),
    "asset_ctx": ("time",),
    "fills": ("time", "oid", "px", "sz", "side"),
    "order_updates": ("time", "oid", "side", "status"),
    "quoter_log": ("time", "channel", "payload"),
}
"""Columns each suite expects non-null (GX reads a float NaN, through pandas, as null too)."""


def _as_pandas_sees(values: pl.Series) -> pl.Series:
    return values.fill_nan(None) if values.dtype.is_float() else values


def _ranges(name: str, df: pl.DataFrame) -> dict[str, tuple[float, float]]:
    """Columns of ``df`` (with the contract's extremes) and the closed range each must lie in."""
    positive = (5e-324, float("inf"))
    ranges = {
        "trades": {"px": positive, "sz": positive, "side": (-1, 1)},
        "fills": {"px": positive, "sz": positive, "side": (-1, 1)},
        "book": {"spread_bps": positive, "bid_sz_1": positive, "ask_sz_1": positive, "imbalance_1": (-1, 1)},
        "asset_ctx": {"funding": (-contract.FUNDING_CAP, contract.FUNDING_CAP)},
        "order_updates": {"limit_px": positive, "sz": (0, float("inf")), "side": (-1, 1)},
    }.get(name, {})
    if name in contract.BOUNDED_TABLES:
        ranges |= contract.expected_ranges(name, contract.day_bounds(name, df))
    return ranges


def _with_extremes(name: str, df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(**contract.extremes(name, df.columns)) if name in contract.BOUNDED_TABLES else df


NODE_TRADE = st.fixed_dictionaries(
    {
        "coin": st.one_of(
            st.sampled_from(["BTC", "@107", "xyz:NVDA", "PURR/USDC", "_x", "", "A" * 300, "a|b"]), st.text(max_size=6)
        ),
        "side": st.sampled_from(["B", "A"]),
        "time": st.one_of(st.just("2025-06-01T10:00:00.000000001"), st.text(max_size=30)),
        "px": st.one_of(HOSTILE_NUMBERS, st.text(max_size=8)),
        "sz": st.one_of(HOSTILE_NUMBERS, st.text(max_size=8)),
    }
)
NODE_LINES = st.one_of(NODE_TRADE.map(json.dumps), JSON_VALUES.map(json.dumps), LINE_TEXT)


def check_cleaning(hostile: list[str], baseline: int) -> None:
    """Clean one hour of ``baseline`` valid lines then ``hostile``; raises AssertionError naming what was lost or
    let through (any other exception is itself the finding)."""
    lines = [valid_line(i) for i in range(baseline)] + hostile
    with tempfile.TemporaryDirectory() as root:
        path = raw_zone.raw_path(root, "ws", DAY, HOUR, COIN, compressed=False)
        path.parent.mkdir(parents=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

        result = clean_partition(root, COIN, DAY)

    accounting = result.accounting
    assert accounting.balanced, accounting
    assert accounting.records_in >= len(lines)  # each line is at least one record: none vanished unseen
    assert set(result.quarantine["line"].to_list()) <= set(range(1, len(lines) + 1))
    breaches = contract_breaches(result)
    assert breaches == [], breaches


def check_node_import(lines: list[str]) -> None:
    """Import ``lines`` as an hl-node trades file into a fresh raw zone; raises AssertionError naming what was lost."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "node_trades" / "20250601" / "10"
        source.parent.mkdir(parents=True)
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        raw = Path(tmp) / "raw"

        report = import_file(source, "node-trades", raw)

        assert report.items == len(lines) and report.attributed + report.unattributed == report.items
        assert sum(report.reasons.values()) == report.unattributed and None not in report.reasons
        written = {path: raw_zone.read_lines(path) for path in raw.rglob("*.jsonl*")}
        assert sum(len(v) for p, v in written.items() if not p.name.startswith("_")) == report.attributed
        assert sum(len(v) for p, v in written.items() if p.name.startswith("_")) == report.unattributed
        discovered = sum(raw_zone.count_lines(f.path) for f in raw_zone.discover(raw))
        assert discovered == report.attributed  # every coin file it wrote is one the pipeline reads
