"""Working orders, the actions that change them, and when a desired quote is worth an action.

At most one working order per side. A side is re-quoted only when the desired price is more than the threshold
away from the working price (``requote_ticks`` ticks of the price grid at the working price *and*
``requote_bps`` bps of the mid) or the desired size differs from the placed size; a side the quote pulls is
cancelled at once. A price move is a ``modify`` (one action, new oid); the order being replaced can still fill
until the modify lands, so a replacement that could take the position past the limit with it is re-sized by the
caller (as the backtest does). Prices in quote currency, sizes in base units, times epoch ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from quoting.exchange_rules import AssetRules, price_strictly_inside

Side = Literal["B", "A"]
SIDES: tuple[Side, Side] = ("B", "A")
REL_TOL = 1e-6
"""Thresholds are raised by this relative margin, so a move of exactly N ticks never counts as more than N."""


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


def price_tick(px: float, rules: AssetRules) -> float:
    """Spacing of the valid-price grid just below the valid price ``px``."""
    return px - price_strictly_inside(px, True, rules.sz_decimals, rules.is_spot)


def moved_beyond(
    working_px: float, desired_px: float, mid: float, rules: AssetRules, requote_ticks: float, requote_bps: float
) -> bool:
    """Whether the desired price is more than both thresholds away from the working price."""
    move = abs(desired_px - working_px)
    ticks = requote_ticks * price_tick(working_px, rules) * (1.0 + REL_TOL)
    return move > ticks and move > requote_bps * 1e-4 * mid * (1.0 + REL_TOL)


def plan_side(
    working: WorkingOrder | None,
    side: Side,
    px: float | None,
    sz: float,
    mid: float,
    rules: AssetRules,
    requote_ticks: float,
    requote_bps: float,
) -> OrderAction | None:
    """The action that brings one side to the desired ``px``/``sz`` (``px`` None = pulled), or None to keep it."""
    if working is None:
        return None if px is None else OrderAction("place", side, px, sz)
    if px is None:
        return OrderAction("cancel", side, oid=working.oid)
    if sz == working.sz and (px == working.px or not moved_beyond(working.px, px, mid, rules, requote_ticks,
                                                                  requote_bps)):
        return None
    return OrderAction("modify", side, px, sz, oid=working.oid)
