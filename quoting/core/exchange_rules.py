"""Hyperliquid price/size rules: rounding that never makes a quote more aggressive, checks and wire strings.

Rules (docs/for-developers/api/tick-and-lot-size.md): a price has at most 5 significant figures and at
most ``MAX_DECIMALS - szDecimals`` decimals (MAX_DECIMALS = 6 for perps, 8 for spot); integer prices are
always valid. Sizes have at most ``szDecimals`` decimals. An order must be worth at least $10 (perps) or 10
quote tokens (spot). Prices are in quote currency, sizes in base units.

Rounding runs inside compiled loops, so it works on floats, yet it is exact: a grid point is built as
``n / 10**d`` (both exact, division correctly rounded), which is the float nearest the decimal ``n·10^-d``,
and the chosen ``n`` is corrected by comparing that float with the input. Validity checks and wire strings
use ``Decimal`` on the shortest repr of the float, the decimal a human (and the exchange) reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from numba import njit

MAX_SIG_FIGS = 5
PERP_MAX_DECIMALS = 6
SPOT_MAX_DECIMALS = 8
MIN_NOTIONAL_QUOTE = 10.0
"""Minimum order value in quote currency ($10 perps, 10 quote tokens spot)."""


@dataclass(frozen=True)
class AssetRules:
    """Precision rules of one Hyperliquid asset, from ``meta`` (``szDecimals``) and the market type."""

    sz_decimals: int
    is_spot: bool = False
    min_notional: float = MIN_NOTIONAL_QUOTE

    def __post_init__(self) -> None:
        if not 0 <= self.sz_decimals <= self.max_decimals_base:
            raise ValueError(f"szDecimals {self.sz_decimals} outside [0, {self.max_decimals_base}]")

    @property
    def max_decimals_base(self) -> int:
        return SPOT_MAX_DECIMALS if self.is_spot else PERP_MAX_DECIMALS

    @property
    def max_price_decimals(self) -> int:
        return self.max_decimals_base - self.sz_decimals


@njit(cache=True)
def max_price_decimals(sz_decimals: int, is_spot: bool) -> int:
    """Most decimals a price may carry: 6 (perps) or 8 (spot) minus szDecimals."""
    return (SPOT_MAX_DECIMALS if is_spot else PERP_MAX_DECIMALS) - sz_decimals


_POW10_MIN_EXPONENT = -SPOT_MAX_DECIMALS
_POW10 = np.array([float(f"1e{k}") for k in range(_POW10_MIN_EXPONENT, 23)])
"""10^k as the float nearest the decimal, for k in [-8, 22] (exact for k >= 0); avoids pow in hot loops."""


@njit(cache=True)
def _pow10(k: int) -> float:
    return _POW10[k - _POW10_MIN_EXPONENT]


@njit(cache=True)
def _price_grid_decimals(px: float, max_decimals: int) -> int:
    """Decimals of the valid-price grid around ``px`` > 0: 5 significant figures, capped at ``max_decimals``.

    A price below 10^(4-d) still has room for d+1 decimals within 5 figures; at and above 10^4 the figures
    are all integer digits, and integers are always valid, so the grid is 1.
    """
    decimals = 0
    while decimals < max_decimals and px < _pow10(MAX_SIG_FIGS - 1 - decimals):
        decimals += 1
    return decimals


@njit(cache=True)
def _floor_to_decimals(x: float, decimals: int) -> float:
    """Largest float of the form n / 10**decimals that is <= x (x >= 0)."""
    scale = _pow10(decimals)
    n = float(math.floor(x * scale))
    if (n + 1.0) / scale <= x:
        n += 1.0
    elif n / scale > x:
        n -= 1.0
    return n / scale


@njit(cache=True)
def _ceil_to_decimals(x: float, decimals: int) -> float:
    """Smallest float of the form n / 10**decimals that is >= x (x >= 0)."""
    scale = _pow10(decimals)
    n = float(math.ceil(x * scale))
    if (n - 1.0) / scale >= x:
        n -= 1.0
    elif n / scale < x:
        n += 1.0
    return n / scale


@njit(cache=True)
def round_price(px: float, is_bid: bool, sz_decimals: int, is_spot: bool) -> float:
    """Nearest valid price on the passive side: bids round down, asks up. NaN when ``px`` <= 0 or NaN.

    A decade boundary cannot be crossed downwards (10^e is on the grid) and crossing it upwards lands on
    10^(e+1), which is valid on the coarser grid too.
    """
    if not px > 0.0:
        return math.nan
    decimals = _price_grid_decimals(px, max_price_decimals(sz_decimals, is_spot))
    rounded = _floor_to_decimals(px, decimals) if is_bid else _ceil_to_decimals(px, decimals)
    return rounded if rounded > 0.0 else math.nan


@njit(cache=True)
def price_strictly_inside(px: float, is_bid: bool, sz_decimals: int, is_spot: bool) -> float:
    """The best valid price strictly less aggressive than ``px``: below it for a bid, above it for an ask.

    Keeps a post-only (Alo) quote off the opposite touch. Rounding the adjacent float picks the grid of
    the right decade (below 10^e the grid is ten times finer).
    """
    adjacent = np.nextafter(px, 0.0) if is_bid else np.nextafter(px, np.inf)
    return round_price(adjacent, is_bid, sz_decimals, is_spot)


@njit(cache=True)
def round_size(sz: float, sz_decimals: int) -> float:
    """Size rounded down to ``szDecimals`` (never more than asked); 0 when ``sz`` <= 0 or NaN."""
    if not sz > 0.0:
        return 0.0
    return _floor_to_decimals(sz, sz_decimals)


@njit(cache=True)
def meets_min_notional(px: float, sz: float, sz_decimals: int, is_spot: bool, min_notional: float) -> bool:
    """Whether ``px * sz`` >= ``min_notional``, computed exactly on integer mantissas (px, sz valid)."""
    px_decimals = max_price_decimals(sz_decimals, is_spot)
    px_units = round(px * _pow10(px_decimals))
    sz_units = round(sz * _pow10(sz_decimals))
    threshold_units = round(min_notional * _pow10(px_decimals + sz_decimals))
    return px_units * sz_units >= threshold_units


def as_decimal(x: float | Decimal) -> Decimal:
    """The decimal a float stands for (its shortest repr), so 0.1 is Decimal('0.1'), not 0.1000000000000000055."""
    return x if isinstance(x, Decimal) else Decimal(repr(float(x)))


def is_valid_price(px: float | Decimal, rules: AssetRules) -> bool:
    """Whether the exchange accepts ``px``: positive and integer, or <= 5 sig figs and <= max decimals."""
    value = as_decimal(px)
    if not value.is_finite() or value <= 0:
        return False
    if value == value.to_integral_value():
        return True
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int), "a finite Decimal has an integer exponent"
    digits_after_point = -exponent
    significant = len(value.normalize().as_tuple().digits)
    return significant <= MAX_SIG_FIGS and digits_after_point <= rules.max_price_decimals


def is_valid_size(sz: float | Decimal, rules: AssetRules) -> bool:
    """Whether ``sz`` is positive with at most ``szDecimals`` decimals."""
    value = as_decimal(sz)
    return value.is_finite() and value > 0 and value == value.quantize(Decimal(1).scaleb(-rules.sz_decimals))


def to_wire(x: float | Decimal) -> str:
    """Decimal string for signing: no exponent, no trailing zeros ("1900.50" -> "1900.5", 1e5 -> "100000")."""
    value = as_decimal(x).normalize()
    return format(value, "f")


def price_to_wire(px: float | Decimal, rules: AssetRules) -> str:
    """Wire string of a price, refusing one the exchange would reject (``tickRejected``)."""
    if not is_valid_price(px, rules):
        raise ValueError(f"price {px!r} is not valid for szDecimals={rules.sz_decimals} (spot={rules.is_spot})")
    return to_wire(px)


def size_to_wire(sz: float | Decimal, rules: AssetRules) -> str:
    """Wire string of a size, refusing one with more than ``szDecimals`` decimals."""
    if not is_valid_size(sz, rules):
        raise ValueError(f"size {sz!r} is not a positive multiple of 10^-{rules.sz_decimals}")
    return to_wire(sz)
