"""Hyperliquid price/size rules against the documented examples and, by property, against a Decimal oracle."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quoting.core.exchange_rules import (
    AssetRules,
    as_decimal,
    is_valid_price,
    is_valid_size,
    meets_min_notional,
    price_strictly_inside,
    price_to_wire,
    round_price,
    round_size,
    size_to_wire,
    to_wire,
)

PERP0 = AssetRules(sz_decimals=0)
PERP1 = AssetRules(sz_decimals=1)


@pytest.mark.parametrize(
    ("px", "rules", "valid"),
    [
        (1234.5, PERP0, True),  # the docs' examples, verbatim
        (1234.56, PERP0, False),
        (0.001234, PERP0, True),
        (0.0012345, PERP0, False),
        (0.01234, PERP1, True),
        (0.012345, PERP1, False),
        (123456, PERP0, True),  # integers always valid
        (12345.6, PERP0, False),
        (0.00000123, AssetRules(sz_decimals=0, is_spot=True), True),  # spot: 8 - szDecimals decimals
        (0.00000123, PERP0, False),
        (-1.0, PERP0, False),
    ],
)
def test_documented_price_examples(px: float, rules: AssetRules, valid: bool) -> None:
    assert is_valid_price(px, rules) is valid


def test_rounding_is_passive_on_documented_cases() -> None:
    assert round_price(1234.56, True, 0, False) == 1234.5
    assert round_price(1234.56, False, 0, False) == 1234.6
    assert round_price(0.0012345, True, 0, False) == 0.001234
    assert round_price(0.0012345, False, 0, False) == 0.001235
    assert round_price(12345.6, True, 0, False) == 12345.0
    assert round_price(12345.6, False, 0, False) == 12346.0
    assert round_price(9999.95, False, 0, False) == 10000.0  # crosses into the next decade, still valid
    assert round_price(0.3, True, 0, False) == 0.3  # already valid: unchanged despite 0.3 being inexact


def test_next_price_inside_respects_the_finer_grid_below_a_decade() -> None:
    assert price_strictly_inside(1000.0, True, 0, False) == 999.99
    assert price_strictly_inside(1000.0, False, 0, False) == 1000.1
    assert price_strictly_inside(2000.3, True, 2, False) == 2000.2


def test_sizes_round_down_to_sz_decimals() -> None:
    assert round_size(1.0019, 3) == 1.001
    assert round_size(0.3, 1) == 0.3
    assert round_size(0.04, 1) == 0.0
    assert is_valid_size(1.001, AssetRules(3)) and not is_valid_size(1.0001, AssetRules(3))


def test_min_notional_is_exact_at_the_boundary() -> None:
    assert meets_min_notional(100.0, 0.1, 1, False, 10.0)  # 100 * 0.1 = 10.000 exactly
    assert not meets_min_notional(99.999, 0.1, 1, False, 10.0)
    assert meets_min_notional(3.3333, 3.0, 1, False, 10.0) is False  # 9.9999
    assert meets_min_notional(3.3334, 3.0, 1, False, 10.0)


def test_wire_strings_have_no_trailing_zeros() -> None:
    assert to_wire(Decimal("1900.50")) == "1900.5"
    assert to_wire(1900.5) == "1900.5"
    assert to_wire(100000.0) == "100000"
    assert to_wire(0.000001) == "0.000001"
    assert price_to_wire(0.001234, PERP0) == "0.001234"
    assert size_to_wire(0.0123, AssetRules(4)) == "0.0123"
    with pytest.raises(ValueError):
        price_to_wire(1234.56, PERP0)
    with pytest.raises(ValueError):
        size_to_wire(1.0001, AssetRules(3))


def _oracle_round(px: float, is_bid: bool, rules: AssetRules) -> Decimal:
    """Independent Decimal rounding: the passive neighbour among the 5-sig-fig grid and the integers."""
    value = as_decimal(px)
    mode = ROUND_FLOOR if is_bid else ROUND_CEILING
    decimals = min(rules.max_price_decimals, 4 - value.adjusted())
    return value.quantize(Decimal(1).scaleb(-max(decimals, 0)), rounding=mode)


prices = st.floats(min_value=1e-6, max_value=5e6, allow_nan=False, allow_infinity=False)
sz_decimals = st.integers(min_value=0, max_value=5)


@given(px=prices, szd=sz_decimals, is_bid=st.booleans(), is_spot=st.booleans())
def test_rounded_price_is_valid_passive_and_matches_decimal_oracle(
    px: float, szd: int, is_bid: bool, is_spot: bool
) -> None:
    rules = AssetRules(szd, is_spot)
    rounded = round_price(px, is_bid, szd, is_spot)
    expected = _oracle_round(px, is_bid, rules)
    if expected == 0:  # below the finest grid a bid has no valid price
        assert rounded != rounded
        return
    assert is_valid_price(rounded, rules)
    assert as_decimal(rounded) == expected
    assert (rounded <= px) if is_bid else (rounded >= px)


@given(px=prices, szd=sz_decimals, is_bid=st.booleans())
def test_price_inside_is_the_adjacent_valid_price(px: float, szd: int, is_bid: bool) -> None:
    rules = AssetRules(szd)
    touch = round_price(px, not is_bid, szd, False)  # a valid opposite touch
    inside = price_strictly_inside(touch, is_bid, szd, False)
    if inside != inside:
        return
    assert is_valid_price(inside, rules)
    assert (inside < touch) if is_bid else (inside > touch)
    midway = (inside + touch) / 2  # nothing valid strictly between: rounding the midpoint passively lands on one end
    assert round_price(midway, is_bid, szd, False) == inside


@given(sz=st.floats(min_value=0, max_value=1e7, allow_nan=False), szd=sz_decimals)
def test_rounded_size_is_valid_and_never_larger(sz: float, szd: int) -> None:
    rounded = round_size(sz, szd)
    assert rounded <= sz
    assert rounded == 0.0 or is_valid_size(rounded, AssetRules(szd))
    assert sz - rounded < 10.0**-szd * (1 + 1e-9)
