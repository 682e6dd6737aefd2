"""data_lake.scalars: polars' scalar results read as numbers, with a clear error when the column was empty."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

from data_lake.scalars import as_float, as_int


def test_numeric_results_read_exactly() -> None:
    prices = pl.Series("px", [100.5, 101.0, 99.5])
    assert as_float(prices.mean()) == pytest.approx(100.333333333)
    assert as_float(prices.median()) == 100.5
    assert as_float(Decimal("1.25")) == 1.25
    assert as_int(np.int64(7)) == 7
    assert as_int(True) == 1


def test_int_keeps_nanosecond_precision() -> None:
    """Epoch nanoseconds exceed a float's 53-bit mantissa: the int path must not go through float."""
    times_ns = pl.Series("time_ns", [1_700_000_000_123_456_789, 1_700_000_000_123_456_791], dtype=pl.Int64)
    assert as_int(times_ns.max()) == 1_700_000_000_123_456_791


def test_int_truncates_like_int() -> None:
    assert as_int(2.9) == 2
    assert as_int(-2.9) == -2


@pytest.mark.parametrize("reader", [as_float, as_int])
def test_empty_column_names_what_was_read(reader: Callable[[object, str], float]) -> None:
    empty = pl.Series("px", [], dtype=pl.Float64)
    with pytest.raises(TypeError, match="median px: expected a number, got None"):
        reader(empty.median(), "median px")


@pytest.mark.parametrize("value", ["1.5", [1.0], pl.Series([1.0]).to_numpy()])
def test_non_numbers_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="expected a number"):
        as_float(value)
