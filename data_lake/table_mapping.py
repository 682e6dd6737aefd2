"""How a foreign trades or book table maps onto the lake's columns: time, coin, side convention, levels.

A mapping names input columns; it is read from a small JSON or TOML file (:func:`load_mapping`, keys = the
fields of :class:`TableMapping`) and/or command-line flags, which override the file. :meth:`TableMapping.resolve`
checks it against the input's header before anything is written, so a wrong mapping is a clear error
(:class:`InputError`), never a half-imported file.

Side conventions (the value names the aggressor's side, as the ``trades`` table's ``side`` does, +1 buy / -1 sell;
values are matched case-insensitively after trimming):

- ``buy/sell``: ``buy`` = the taker bought, ``sell`` = the taker sold.
- ``B/A``: Hyperliquid's notation, ``B`` (bid) = buy, ``A`` (ask) = sell.
- ``bid/ask``: ``bid`` = buy, ``ask`` = sell (Hyperliquid's long names for B/A).
- ``+1/-1``: ``1`` / ``+1`` = buy, ``-1`` = sell.
- ``buyer-maker``: a boolean "is the buyer the maker" (Binance's ``is_buyer_maker``, Tardis' flag): ``true`` means
  the resting order was the bid, so the taker sold (-1); ``false`` means the taker bought (+1).

Book levels are column templates holding ``{i}`` (``bid_px_{i}``, Tardis' ``bids[{i}].price``); the first level
is ``{i}`` = 0 or 1, whichever the header has, and is the best; levels run while the header has them.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

TIME_UNITS = ("s", "ms", "us", "ns", "iso")
"""Epoch seconds, milliseconds, microseconds, nanoseconds (integer or decimal text), or ISO 8601 text (UTC unless
it carries an offset). A parquet timestamp column needs no unit."""

SIDE_CONVENTIONS: dict[str, dict[str, int]] = {
    "buy/sell": {"buy": 1, "sell": -1},
    "B/A": {"b": 1, "a": -1},
    "bid/ask": {"bid": 1, "ask": -1},
    "+1/-1": {"1": 1, "+1": 1, "1.0": 1, "-1": -1, "-1.0": -1},
    "buyer-maker": {"true": -1, "false": 1, "t": -1, "f": 1, "1": -1, "0": 1},
}
"""Aggressor side (+1 buy, -1 sell) of each lower-cased, trimmed side value, per convention."""

TABLE_KINDS = ("trades-table", "book-table")
_LEVEL_FIELDS = ("bid_px", "bid_sz", "ask_px", "ask_sz")
_MAX_LEVELS = 1_000


class InputError(ValueError):
    """The input cannot be read as its kind, or the mapping cannot be applied to it (unknown key, missing column,
    bad template or value): said before anything is written."""


@dataclass(frozen=True)
class TableMapping:
    """Input column names (and units) for a trades or book table. Book level fields are ``{i}`` templates; ``coin``
    is one coin for every row, ``coin_column`` a column naming each row's coin."""

    time: str = "time"
    time_unit: str = "ms"
    coin_column: str | None = None
    coin: str | None = None
    recv_time: str | None = None
    recv_time_unit: str | None = None
    price: str = "px"
    size: str = "sz"
    side: str = "side"
    side_convention: str | None = None
    trade_id: str | None = None
    bid_px: str = "bid_px_{i}"
    bid_sz: str = "bid_sz_{i}"
    ask_px: str = "ask_px_{i}"
    ask_sz: str = "ask_sz_{i}"
    bid_n: str | None = None
    ask_n: str | None = None

    def resolve(self, kind: str, columns: list[str]) -> ResolvedMapping:
        """Check the mapping against the input's ``columns`` for ``kind``; returns the columns to read."""
        if kind not in TABLE_KINDS:
            raise InputError(f"mapping applies to {TABLE_KINDS}, not {kind!r}")
        for unit in (self.time_unit, self.recv_time_unit):
            if unit is not None and unit not in TIME_UNITS:
                raise InputError(f"time unit {unit!r} is not one of {TIME_UNITS}")
        if (self.coin_column is None) == (self.coin is None):
            raise InputError(
                "give the coin as a column (coin_column) or one value for every row (coin), exactly one of them"
            )
        named = [self.time, self.coin_column, self.recv_time]
        levels: dict[str, list[str]] = {}
        if kind == "trades-table":
            if self.side_convention not in SIDE_CONVENTIONS:
                raise InputError(f"side_convention {self.side_convention!r} is not one of {tuple(SIDE_CONVENTIONS)}")
            named += [self.price, self.size, self.side, self.trade_id]
        else:
            levels = {name: level_columns(getattr(self, name), columns) for name in _LEVEL_FIELDS}
            for side in ("bid", "ask"):
                template = getattr(self, f"{side}_n")
                if template is not None:
                    levels[f"{side}_n"] = level_columns(template, columns)
                counts = {k: len(v) for k, v in levels.items() if k.startswith(side)}
                if len(set(counts.values())) != 1:
                    raise InputError(f"{side} templates give different level counts: {counts}")
        missing = [name for name in named if name is not None and name not in columns]
        if missing:
            raise InputError(f"column(s) {missing} not in the input; it has {columns}")
        return ResolvedMapping(self, levels)


@dataclass(frozen=True)
class ResolvedMapping:
    """A mapping checked against one input: ``levels`` holds each level field's columns, best level first."""

    mapping: TableMapping
    levels: dict[str, list[str]]


def level_columns(template: str, columns: list[str]) -> list[str]:
    """The columns a ``{i}`` template names, from level 0 or 1 (whichever exists) while present in ``columns``."""
    if template.count("{i}") != 1:
        raise InputError(f"level template {template!r} must contain {{i}} once")
    present = set(columns)
    start = 0 if template.replace("{i}", "0") in present else 1
    found = []
    for i in range(start, start + _MAX_LEVELS):
        name = template.replace("{i}", str(i))
        if name not in present:
            break
        found.append(name)
    if not found:
        raise InputError(
            f"no column matches level template {template!r} "
            f"(tried {template.replace('{i}', '0')!r} and {template.replace('{i}', '1')!r})"
        )
    return found


def load_mapping(path: str | Path | None = None, **overrides: Any) -> TableMapping:
    """A mapping from a ``.json`` or ``.toml`` file (if given) with non-None ``overrides`` applied on top."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        text = path.read_text()
        try:
            values = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise InputError(
                f"mapping file {path} is not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'}: {exc}"
            ) from None
        if not isinstance(values, dict):
            raise InputError(f"mapping file {path} must hold one object of column names")
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(TableMapping)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"unknown mapping key(s) {unknown}; expected some of {sorted(known)}")
    wrong = [k for k, v in values.items() if not isinstance(v, str)]
    if wrong:
        raise InputError(f"mapping value(s) of {wrong} must be text (column names, units or a convention)")
    return replace(TableMapping(), **values)
