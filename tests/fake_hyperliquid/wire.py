"""Hyperliquid decimal text and the price/size rules, checked independently of ``quoting.core.exchange_rules``."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MAX_SIG_FIGS = 5
PERP_MAX_DECIMALS = 6


def dec(text: object) -> Decimal:
    """A wire decimal (string or number) as ``Decimal``; ``ValueError`` when it is not a finite number."""
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise ValueError(f"not a decimal: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {text!r}")
    return value


def wire(value: Decimal) -> str:
    """Hyperliquid's text for a decimal: trailing zeros stripped, at least one decimal (``25.0``, ``0.0``)."""
    text = format(value.normalize(), "f")
    if text in ("-0", "-0.0"):
        text = "0"
    return text if "." in text else text + ".0"


def canonical(text: str) -> str:
    """The form a price or size string is hashed in when signed: trailing zeros stripped (``1900.50`` -> ``1900.5``)."""
    text = format(dec(text).normalize(), "f")
    return "0" if text == "-0" else text


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def price_ok(px: Decimal, sz_decimals: int) -> bool:
    """Perp price rule: integers always; else <= 5 significant figures and <= 6 - szDecimals decimals."""
    if px <= 0:
        return False
    if px == px.to_integral_value():
        return True
    return _decimals(px) <= PERP_MAX_DECIMALS - sz_decimals and len(px.normalize().as_tuple().digits) <= MAX_SIG_FIGS


def size_ok(sz: Decimal, sz_decimals: int) -> bool:
    """Sizes are positive with at most szDecimals decimals."""
    return sz > 0 and _decimals(sz) <= sz_decimals
