"""The Great Expectations suites behind the blocking gx_<table>_suite checks: clean partitions pass, each kind of
damage fails the expectation that names it (the suites see only the columns they check)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from assets.quality import columns_read, run_suite, table_suite
from data_lake.tables import BOOK
from data_lake.units import day_bounds_ms

DAY = dt.date(2026, 1, 1)
START, _ = day_bounds_ms(DAY)


def trades(n: int = 50) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "coin": ["DEMO"] * n,
            "time": [START + 1_000 * i for i in range(n)],
            "tid": list(range(n)),
            "px": [25.0 + 0.001 * i for i in range(n)],
            "sz": [1.0] * n,
            "side": [1, -1] * (n // 2),
        }
    )


def book(n: int = 50) -> pl.DataFrame:
    bid = [25.0 + 0.001 * i for i in range(n)]
    return pl.DataFrame(
        {
            "coin": ["DEMO"] * n,
            "time": [START + 500 * i for i in range(n)],
            "bid_px_1": bid,
            "ask_px_1": [b + 0.002 for b in bid],
            "mid": [b + 0.001 for b in bid],
            "spread_bps": [0.8] * n,
            "bid_sz_1": [3.0] * n,
            "ask_sz_1": [2.0] * n,
            "imbalance_1": [0.2] * n,
            "bid_px_2": [b - 0.001 for b in bid],
            "ask_px_2": [b + 0.003 for b in bid],
        }
    )


def failed(table: str, df: pl.DataFrame) -> set[tuple[str, str]]:
    result = run_suite(table_suite(table, DAY), df)
    assert result.success == (not result.failures)
    return {(f["expectation"], str(f["column"])) for f in result.failures}


def test_clean_partitions_pass() -> None:
    assert failed("trades", trades()) == set()
    assert failed("book", book()) == set()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            pl.when(pl.col("tid") == 7).then(0.0).otherwise(pl.col("px")).alias("px"),
            ("expect_column_values_to_be_between", "px"),
        ),
        (
            pl.when(pl.col("tid") == 7).then(3).otherwise(pl.col("side")).alias("side"),
            ("expect_column_values_to_be_in_set", "side"),
        ),
        (
            pl.when(pl.col("tid") == 7).then(START - 1).otherwise(pl.col("time")).alias("time"),
            ("expect_column_values_to_be_between", "time"),
        ),
    ],
    ids=["zero price", "unknown side", "time before the day"],
)
def test_damaged_trades_fail_the_expectation_that_names_the_damage(change: pl.Expr, expected: tuple[str, str]) -> None:
    assert expected in failed("trades", trades().with_columns(change))


def test_duplicate_trade_keys_and_missing_columns_fail() -> None:
    df = trades()
    assert ("expect_compound_columns_to_be_unique", "['coin', 'time', 'tid']") in failed(
        "trades", pl.concat([df, df[:1]]).sort("time")
    )
    assert ("expect_column_to_exist", "side") in failed("trades", df.drop("side"))


def test_a_crossed_book_fails() -> None:
    crossed = book().with_columns(pl.col("bid_px_1").alias("ask_px_1"), pl.col("ask_px_1").alias("bid_px_1"))
    assert ("expect_column_pair_values_a_to_be_greater_than_b", "") in failed("book", crossed)


def order_updates(n: int = 10) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "coin": ["DEMO"] * n,
            "time": [START + 1_000 * i for i in range(n)],
            "oid": list(range(n)),
            "side": [1, -1] * (n // 2),
            "status": ["open"] * n,
            "limit_px": [25.0] * n,
            "sz": [1.0] * n,
        }
    )


def quoter_log(n: int = 10) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "coin": ["DEMO"] * n,
            "time": [START + 1_000 * i for i in range(n)],
            "channel": ["quoterQuote"] * n,
            "payload": ["{}"] * n,
            "side": [1, None] * (n // 2),
            "pred_fill_prob": [0.3] * n,
            "belief_calm": [0.9] * n,
            "belief_volatile": [0.1] * n,
            "belief_cascade": [0.0] * n,
        }
    )


def quarantine(n: int = 4) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source": ["ws"] * n,
            "file": ["a.jsonl.lz4"] * n,
            "line": list(range(1, n + 1)),
            "item": [0] * n,
            "reason": ["unparseable JSON"] * n,
        }
    )


def raw_captures(n: int = 3) -> pl.DataFrame:
    return pl.DataFrame(
        {"source": ["ws"] * n, "file": [f"{h}/DEMO.jsonl.lz4" for h in range(n)], "bytes": [10] * n, "lines": [2] * n}
    )


def test_every_ingested_table_has_a_suite_that_passes_clean_data_and_fails_damage() -> None:
    """The four tables that had no suite (issue 16): each passes a clean partition and names the damage."""
    assert failed("order_updates", order_updates()) == set()
    assert failed("quoter_log", quoter_log()) == set()
    assert failed("quarantine", quarantine()) == set()
    assert failed("raw_captures", raw_captures()) == set()
    assert ("expect_column_values_to_be_in_set", "side") in failed(
        "order_updates", order_updates().with_columns(side=pl.lit(0))
    )
    assert ("expect_column_values_to_be_between", "pred_fill_prob") in failed(
        "quoter_log", quoter_log().with_columns(pred_fill_prob=pl.lit(1.5))
    )
    assert ("expect_column_values_to_be_between", "line") in failed(
        "quarantine", quarantine().with_columns(line=pl.lit(0))
    )
    assert ("expect_column_values_to_be_unique", "file") in failed(
        "raw_captures", raw_captures().with_columns(file=pl.lit("0/DEMO.jsonl.lz4"))
    )


def test_the_columns_read_judge_a_partition_as_all_its_columns_do() -> None:
    """The check reads only :func:`columns_read` of a table: a whole book partition and its columns read get the
    same result, clean and with a price out of bounds at the deepest level (which only the extremes see)."""
    whole = BOOK.conform(book())
    deep_outlier = whole.with_columns(pl.when(pl.col("time") == START).then(1e6).alias("ask_px_20"))
    for df in (whole, deep_outlier):
        suite = table_suite("book", DAY)  # one suite, as a check builds it, serves both runs
        assert run_suite(suite, df.select(columns_read(suite))) == run_suite(suite, df)
    assert ("expect_column_values_to_be_between", "_px_high") in failed(
        "book", deep_outlier.select(columns_read(table_suite("book", DAY)))
    )
    assert len(columns_read(table_suite("book", DAY))) == 84 < len(BOOK.schema)
