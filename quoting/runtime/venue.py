"""What the quoter needs from an execution venue; :mod:`quoting.runtime.paper` simulates one,
:mod:`quoting.runtime.live` trades.

Fills and order updates reach the quoter as Hyperliquid ``userFills`` / ``orderUpdates`` frames in both modes:
live ones from the WebSocket, paper ones returned by :meth:`Venue.on_market`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from quoting.runtime.feed import Received
from quoting.runtime.orders import OrderAction, OrderResult, Side
from quoting.runtime.params import QuotingParams


@dataclass(frozen=True)
class VenueStart:
    """The account when quoting starts: position (base units) at ``as_of_ms``, P&L booked earlier today."""

    position: float = 0.0
    avg_px: float = 0.0
    as_of_ms: int = 0
    """Fills stamped at or before this exchange time are already in ``position``."""
    booked_today: float = 0.0
    """Closed P&L net of fees of this coin's fills since 00:00 UTC, quote currency."""
    cancelled: Sequence[int] = field(default_factory=tuple)
    """Open orders left by an earlier run and cancelled before quoting."""


class Venue(Protocol):
    """One coin's execution: :class:`quoting.runtime.paper.PaperVenue` or :class:`quoting.runtime.live.LiveVenue`."""

    async def start(self, now_ms: int) -> VenueStart: ...

    def use_params(self, params: QuotingParams) -> str | None:
        """Adopt a parameter set's exchange rules and fee; returns why the venue cannot trade with it, if so."""
        ...

    async def execute(self, actions: Sequence[OrderAction], now_ms: int) -> list[OrderResult]: ...

    async def cancel_all(self, reason: str, now_ms: int) -> list[int]: ...

    def on_market(self, item: Received) -> list[dict[str, Any]]: ...

    def busy(self) -> set[Side]: ...

    def blocked_reason(self, now_ms: int) -> str | None: ...

    async def housekeeping(self, now_ms: int) -> None: ...

    def on_order_update(self, status: str, now_ms: int) -> None: ...

    async def close(self, now_ms: int) -> None: ...
