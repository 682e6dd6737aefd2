"""Record validity rules per candidate table: the first problem of each row as a reason, or null.

Rules are polars expressions over the candidate columns, so a whole table is judged at once. Decimal
strings that could not be parsed are null by now, hence "missing or unparseable".
"""

from __future__ import annotations

import polars as pl
from polars.expr.whenthen import ChainedThen, Then

from data_lake.contract import funding_rule, tid_rules

Rule = tuple[pl.Expr, str]


def _any(exprs: list[pl.Expr]) -> pl.Expr:
    return pl.any_horizontal(e.fill_null(False) for e in exprs)


def _missing(*columns: str) -> pl.Expr:
    return _any([pl.col(c).is_null() for c in columns])


def _not_finite(*columns: str) -> pl.Expr:
    return _any([~pl.col(c).is_finite() for c in columns])


def _not_positive(*columns: str) -> pl.Expr:
    return _any([pl.col(c) <= 0 for c in columns])


def _print_rules(*numbers: str) -> list[Rule]:
    """Rules shared by trades and fills: time, price, size and side."""
    return [
        (_missing("time"), "missing or invalid time"),
        (_missing("px", "sz"), "missing or unparseable px or sz"),
        (_not_finite("px", "sz", *numbers), "NaN or infinite value"),
        (_not_positive("px", "sz"), "non-positive px or sz"),
        (_missing("side"), "unknown side (not A or B)"),
    ]


_CTX_NUMBERS = (
    "funding",
    "open_interest",
    "oracle_px",
    "mark_px",
    "mid_px",
    "premium",
    "impact_bid_px",
    "impact_ask_px",
    "day_ntl_vlm",
    "day_base_vlm",
    "prev_day_px",
)

RULES: dict[str, list[Rule]] = {
    "quoter_log": [(_missing("time"), "missing or invalid time"), (_not_finite("px", "sz"), "NaN or infinite value")],
    "trades": [*_print_rules(), *tid_rules(), (_missing("tid"), "missing tid")],
    "node_fills": [*_print_rules(), *tid_rules(), (_missing("tid"), "missing tid")],
    "fills": [
        *_print_rules("fee", "closed_pnl", "start_position"),
        *tid_rules(),
        (_missing("oid"), "missing oid"),
    ],
    "book": [
        (_missing("time"), "missing or invalid time"),
        (~pl.col("_levels_ok").fill_null(False), "non-positive, NaN or unparseable price or size in the book"),
        (~pl.col("_counts_ok").fill_null(True), "order count n of a book level negative or beyond Int32"),
        (_missing("bid_px_1", "ask_px_1", "bid_sz_1", "ask_sz_1"), "empty book side"),
        (pl.col("bid_px_1") >= pl.col("ask_px_1"), "crossed or locked book (bid >= ask)"),
    ],
    "asset_ctx": [
        (_missing("time"), "missing receive time (ctx frames carry no time of their own)"),
        (_not_finite(*_CTX_NUMBERS), "NaN or infinite value"),
        (_missing("mark_px") | _not_positive("mark_px"), "missing or non-positive mark_px"),
        (funding_rule()[0].fill_null(False), funding_rule()[1]),
    ],
    "order_updates": [
        (_missing("time"), "missing or invalid time"),
        (_missing("oid", "status"), "missing oid or status"),
        (_missing("side"), "unknown side (not A or B)"),
        (_not_finite("limit_px", "sz", "orig_sz"), "NaN or infinite value"),
        (_missing("limit_px") | _not_positive("limit_px"), "missing or non-positive limit_px"),
        ((pl.col("sz") < 0) | (pl.col("orig_sz") < 0), "negative size"),
    ],
}


def record_problem(table: str, expected_coin: pl.Expr | None = None) -> pl.Expr:
    """The first rule a row of candidate table ``table`` breaks (null when valid).

    ``expected_coin``, when given, is the coin of the file the record came from: a frame for another
    coin is rejected first.
    """
    rules = list(RULES[table])
    if expected_coin is not None:
        rules.insert(
            0, ((pl.col("coin") != expected_coin) | pl.col("coin").is_null(), "missing or wrong coin for this file")
        )
    condition, reason = rules[0]
    expr: Then | ChainedThen = pl.when(condition.fill_null(False)).then(pl.lit(reason))
    for condition, reason in rules[1:]:
        expr = expr.when(condition.fill_null(False)).then(pl.lit(reason))
    return expr.otherwise(pl.lit(None, dtype=pl.String))
