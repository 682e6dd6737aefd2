"""Working orders, the actions that change them, and when a desired quote is worth an action.

At most one working order per side. A side is re-quoted when the desired price or size differs from the working
order's (the backtest's rule: :mod:`validation.backtest.engine`); a side the quote pulls is cancelled at once. How
often the quote is decided at all is the parameter set's requote interval (:mod:`quoting.runtime.decision`). A price
move is a ``modify`` (one action, new oid); the order being replaced can still fill until the modify lands, so a
replacement that could take the position past the limit with it is re-sized by the caller (as the backtest does). Prices
in quote currency, sizes in base units, times epoch ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Side = Literal["B", "A"]
SIDES: tuple[Side, Side] = ("B", "A")


@dataclass(frozen=True)
class Prediction:
    """What the quoter expected of an order when it sent it (joined onto its fills by oid)."""

    fill_prob: float
    """P(at least one fill within tau seconds) at the order's depth from the mid."""
    adverse_bps: float | None
    """Predicted adverse selection of a fill, bps of mid (> 0 = cost); None when the promoted set carries none."""
    belief: tuple[float, ...]
    """Regime belief, in the order of the promoted HMM's states."""
    param_set_id: str
    quote_time_ms: int


@dataclass
class WorkingOrder:
    """An order resting (or, in paper mode, on its way) at the exchange."""

    side: Side
    oid: int
    px: float
    sz: float
    """Placed size, base units."""
    remaining: float
    placed_ms: int
    prediction: Prediction


@dataclass(frozen=True)
class OrderAction:
    """``place`` (px, sz), ``modify`` (oid -> px, sz) or ``cancel`` (oid) of one side."""

    kind: Literal["place", "modify", "cancel"]
    side: Side
    px: float | None = None
    sz: float = 0.0
    oid: int | None = None
    prediction: Prediction | None = None


@dataclass(frozen=True)
class OrderResult:
    """The exchange's answer to one action: a resting (or immediately filled) order, a done cancel, or an error."""

    action: OrderAction
    status: Literal["resting", "filled", "cancelled", "error"]
    oid: int | None = None
    """The order working on the action's side afterwards (the new one, or the old one after a failed cancel or
    modify that left it resting); None when nothing is."""
    error: str | None = None


def plan_side(
    working: WorkingOrder | None,
    side: Side,
    px: float | None,
    sz: float,
) -> OrderAction | None:
    """The action that brings one side to the desired ``px``/``sz`` (``px`` None = pulled), or None to keep it."""
    if working is None:
        return None if px is None else OrderAction("place", side, px, sz)
    if px is None:
        return OrderAction("cancel", side, oid=working.oid)
    if sz == working.sz and px == working.px:
        return None
    return OrderAction("modify", side, px, sz, oid=working.oid)
