"""Typed reads of polars' scalar results (``Series.max()``, ``.mean()``, ``.median()``, ``.quantile()``).

polars types those results as any Python literal or None: the column could hold dates, strings or nothing at all.
A caller that knows its column is numeric says so with these helpers, which fail with a clear message (naming what
was read) when the value is missing (an empty or all-null column) or not a number, instead of a bare
``float(None)`` error. Every package may import this module (it imports only the standard library).
"""

from __future__ import annotations

import numbers
from decimal import Decimal


def as_float(value: object, what: str = "value", *, missing: float | None = None) -> float:
    """``value`` (a number) as a float, ``missing`` when it is None and a fallback was given (the result of an
    empty column); a TypeError naming ``what`` when it is None without a fallback, or not a number."""
    if isinstance(value, numbers.Real | Decimal):
        return float(value)
    if value is None and missing is not None:
        return missing
    raise TypeError(f"{what}: expected a number, got {value!r} (an empty or all-null column?)")


def as_int(value: object, what: str = "value") -> int:
    """``value`` (a number) as an int, truncated toward zero like ``int()``; a TypeError naming ``what`` when it is
    None or not a number."""
    if isinstance(value, numbers.Integral | float | Decimal):  # numbers.Integral: int, bool and numpy's integers
        return int(value)
    raise TypeError(f"{what}: expected a number, got {value!r} (an empty or all-null column?)")
