"""Inventory and P&L of one coin by average cost, in base units and quote currency, with the UTC day's P&L.

``realised`` is closed P&L before fees (Hyperliquid's ``closedPnl``), ``fees`` what was paid (negative =
rebate), ``unrealised(mid) = position * (mid - avg_px)``. The day's P&L is the change of
``realised - fees + unrealised`` since the day's first mark, plus whatever P&L was already booked that day before
this process started (``seed_day``).
"""

from __future__ import annotations

from dataclasses import dataclass

from data_lake.units import DAY_MS


@dataclass(frozen=True)
class FillEffect:
    """What one fill did to the account: the position before it, its closed P&L and Hyperliquid's ``dir`` text."""

    start_position: float
    closed_pnl: float
    direction: str


def _direction(start: float, is_buy: bool, sz: float) -> str:
    if start == 0.0 or (start > 0.0) == is_buy:
        return "Open Long" if is_buy else "Open Short"
    if sz > abs(start):
        return "Short > Long" if is_buy else "Long > Short"
    return "Close Short" if is_buy else "Close Long"


class Account:
    """Position, average entry price, closed P&L and fees; :meth:`day_pnl` marks to a mid."""

    def __init__(self, position: float = 0.0, avg_px: float = 0.0) -> None:
        self.position = position
        self.avg_px = avg_px
        self.realised = 0.0
        self.fees = 0.0
        self._day = -1
        self._day_start_total: float | None = None
        self._booked_today = 0.0

    def seed_day(self, booked_today: float, now_ms: int) -> None:
        """P&L (quote currency, net of fees) realised earlier today by previous runs, counted against the day."""
        self._day, self._booked_today, self._day_start_total = now_ms // DAY_MS, booked_today, None

    def apply_fill(self, is_buy: bool, px: float, sz: float, fee: float) -> FillEffect:
        start = self.position
        direction = _direction(start, is_buy, sz)
        closed = 0.0
        if direction.startswith("Open"):
            self.avg_px = (abs(start) * self.avg_px + sz * px) / (abs(start) + sz)
        else:
            closing = min(sz, abs(start))
            closed = (px - self.avg_px) * closing if start > 0.0 else (self.avg_px - px) * closing
            if sz > abs(start):
                self.avg_px = px
        self.position = start + (sz if is_buy else -sz)
        if abs(self.position) < 1e-12:
            self.position, self.avg_px = 0.0, 0.0
        self.realised += closed
        self.fees += fee
        return FillEffect(start, closed, direction)

    def unrealised(self, mid: float) -> float:
        return self.position * (mid - self.avg_px)

    def total(self, mid: float) -> float:
        """realised - fees + unrealised at ``mid``, quote currency."""
        return self.realised - self.fees + self.unrealised(mid)

    def day_pnl(self, mid: float, now_ms: int) -> float:
        """P&L of the UTC day of ``now_ms`` marked at ``mid``; a new day starts from zero at its first mark."""
        total = self.total(mid)
        day = now_ms // DAY_MS
        if day != self._day:
            self._day, self._booked_today, self._day_start_total = day, 0.0, None
        if self._day_start_total is None:
            self._day_start_total = total
        return self._booked_today + total - self._day_start_total
