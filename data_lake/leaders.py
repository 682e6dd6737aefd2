"""Which leaders each coin's lead-lag uses: configuration shared by the recorder, the nightly fit and the walk-forward.

The mapping is text, ``COIN=LEADER,LEADER;COIN=LEADER;*=BTC,ETH`` (``*``: every coin not named), from the
``SMALLFISH_LEADERS`` environment variable or a Dagster resource's field; by default every coin is led by ``BTC``
and ``ETH``. A coin never leads itself. Where the lake holds no clean book of a leader for a day, that leader is
simply absent there (the fit says so; the walk-forward's ``+lead_lag`` variant is refused with the reason).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

ENV_VAR = "SMALLFISH_LEADERS"
EVERY_COIN = "*"
DEFAULT_LEADERS = ("BTC", "ETH")


def parse_leaders(text: str) -> dict[str, tuple[str, ...]]:
    """``{coin: leaders}`` from ``COIN=L1,L2;*=L3`` (spaces ignored; an empty list names no leader); raises
    ValueError on a malformed entry or a coin named twice."""
    mapping: dict[str, tuple[str, ...]] = {}
    for entry in (part.strip() for part in text.split(";")):
        if not entry:
            continue
        coin, sep, names = (piece.strip() for piece in entry.partition("="))
        if not sep or not coin:
            raise ValueError(f"leader mapping entry {entry!r} is not COIN=LEADER[,LEADER...]")
        if coin in mapping:
            raise ValueError(f"leader mapping names {coin!r} twice")
        mapping[coin] = tuple(name for name in (n.strip() for n in names.split(",")) if name)
    return mapping


def leader_mapping(text: str | None = None) -> dict[str, tuple[str, ...]]:
    """The configured mapping: ``text``, else ``$SMALLFISH_LEADERS``, over the default ``*=BTC,ETH``."""
    configured = text if text else os.environ.get(ENV_VAR, "")
    return {EVERY_COIN: DEFAULT_LEADERS} | parse_leaders(configured)


def leaders_of(coin: str, mapping: Mapping[str, tuple[str, ...]] | None = None) -> tuple[str, ...]:
    """The leaders of ``coin`` (its own entry, else the ``*`` entry), without the coin itself."""
    chosen = leader_mapping() if mapping is None else mapping
    names = chosen.get(coin, chosen.get(EVERY_COIN, ()))
    return tuple(dict.fromkeys(name for name in names if name != coin))


def with_leaders(coins: Iterable[str], mapping: Mapping[str, tuple[str, ...]] | None = None) -> tuple[str, ...]:
    """``coins`` followed by each one's leaders not already among them, in order (what a recorder must capture)."""
    out = dict.fromkeys(coins)
    for coin in list(out):
        out.update(dict.fromkeys(leaders_of(coin, mapping)))
    return tuple(out)
