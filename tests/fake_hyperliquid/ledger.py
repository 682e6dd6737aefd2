"""One account of the fake: USDC, positions per coin and its fills, in Hyperliquid's wire shapes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .wire import wire

MAKER_FEE = Decimal("0.00015")
TAKER_FEE = Decimal("0.00045")
LEVERAGE = 20
_USD = Decimal("0.000001")
_ZERO = Decimal(0)


@dataclass
class Position:
    """Signed size and average entry price of one coin."""

    szi: Decimal = _ZERO
    entry_px: Decimal = _ZERO


def _direction(start: Decimal, is_buy: bool, sz: Decimal) -> str:
    if start == 0 or (start > 0) == is_buy:
        return "Open Long" if is_buy else "Open Short"
    if sz > abs(start):
        return "Short > Long" if is_buy else "Long > Short"
    return "Close Short" if is_buy else "Close Long"


def fill_ids(oid: int, seq: int) -> tuple[int, str]:
    """A 50-bit trade id and a 32-byte hash for the ``seq``-th fill of order ``oid``."""
    digest = hashlib.sha256(f"{oid}:{seq}".encode()).hexdigest()
    return int(digest[:16], 16) & ((1 << 50) - 1), "0x" + digest


@dataclass
class Ledger:
    """Cash, realized PnL, fees and positions of one user."""

    usdc: Decimal
    realized: Decimal = _ZERO
    fees: Decimal = _ZERO
    positions: dict[str, Position] = field(default_factory=dict)
    fills: list[dict[str, Any]] = field(default_factory=list)

    def fill(
        self,
        coin: str,
        is_buy: bool,
        px: Decimal,
        sz: Decimal,
        time_ms: int,
        oid: int,
        cloid: str | None,
        crossed: bool,
    ) -> dict[str, Any]:
        """Book one fill and return it as a ``WsFill``."""
        pos = self.positions.setdefault(coin, Position())
        start, signed = pos.szi, sz if is_buy else -sz
        direction = _direction(start, is_buy, sz)
        closed = _ZERO
        if direction.startswith("Open"):
            pos.entry_px = (abs(start) * pos.entry_px + sz * px) / (abs(start) + sz)
        else:
            closing = min(sz, abs(start))
            closed = (px - pos.entry_px) * closing if start > 0 else (pos.entry_px - px) * closing
            if sz > abs(start):
                pos.entry_px = px
        pos.szi = start + signed
        if pos.szi == 0:
            pos.entry_px = _ZERO
        fee = (px * sz * (TAKER_FEE if crossed else MAKER_FEE)).quantize(_USD)
        self.realized += closed
        self.fees += fee
        tid, tx_hash = fill_ids(oid, len(self.fills))
        item: dict[str, Any] = {
            "coin": coin,
            "px": wire(px),
            "sz": wire(sz),
            "side": "B" if is_buy else "A",
            "time": time_ms,
            "startPosition": wire(start),
            "dir": direction,
            "closedPnl": wire(closed.quantize(_USD)),
            "hash": tx_hash,
            "oid": oid,
            "crossed": crossed,
            "fee": wire(fee),
            "tid": tid,
            "feeToken": "USDC",
            "twapId": None,
        }
        if cloid is not None:
            item["cloid"] = cloid
        self.fills.append(item)
        return item

    def state(self, marks: dict[str, Decimal], now_ms: int) -> dict[str, Any]:
        """The ``clearinghouseState`` response: margin summaries and one-way positions at ``marks``."""
        positions, notional, unrealized = [], _ZERO, _ZERO
        for coin, pos in self.positions.items():
            if pos.szi == 0:
                continue
            mark = marks.get(coin, pos.entry_px)
            value, upnl = abs(pos.szi) * mark, (mark - pos.entry_px) * pos.szi
            notional, unrealized = notional + value, unrealized + upnl
            margin = value / LEVERAGE
            positions.append(
                {
                    "type": "oneWay",
                    "position": {
                        "coin": coin,
                        "szi": wire(pos.szi),
                        "leverage": {"type": "cross", "value": LEVERAGE},
                        "entryPx": wire(pos.entry_px),
                        "positionValue": wire(value.quantize(_USD)),
                        "unrealizedPnl": wire(upnl.quantize(_USD)),
                        "returnOnEquity": wire((upnl / margin).quantize(Decimal("0.00000001")) if margin else _ZERO),
                        "liquidationPx": None,
                        "marginUsed": wire(margin.quantize(_USD)),
                        "maxLeverage": LEVERAGE,
                        "cumFunding": {"allTime": "0.0", "sinceOpen": "0.0", "sinceChange": "0.0"},
                    },
                }
            )
        account = self.usdc + self.realized - self.fees + unrealized
        margin_used = notional / LEVERAGE
        summary = {
            "accountValue": wire(account.quantize(_USD)),
            "totalNtlPos": wire(notional.quantize(_USD)),
            "totalRawUsd": wire((account - unrealized).quantize(_USD)),
            "totalMarginUsed": wire(margin_used.quantize(_USD)),
        }
        return {
            "marginSummary": summary,
            "crossMarginSummary": dict(summary),
            "crossMaintenanceMarginUsed": wire(_ZERO),
            "withdrawable": wire((account - margin_used).quantize(_USD)),
            "assetPositions": positions,
            "time": now_ms,
        }
