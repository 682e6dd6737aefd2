"""The data contract's sanity bounds (data_lake.contract), enforced by the cleaning's quarantine and by the GX
suites from one definition: hand-built raw days with known bad records, each with the reason it must get."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from assets.quality import run_suite, table_suite
from data_lake import contract, raw_zone
from data_lake.cleaning import CleanPartition, clean_partition
from tests.test_cleaning_corpus import COIN, DAY, START, book, env, trade, trades

T = START + 10 * 3_600_000


def _clean(root: Path, lines: list[str]) -> CleanPartition:
    raw_zone.write_lines(raw_zone.raw_path(root, "ws", DAY, 10, COIN), lines)
    result = clean_partition(root, COIN, DAY)
    assert result.accounting.balanced, result.accounting
    return result


def _normal_trades(n: int = 20) -> list[str]:
    return [env(T + 1000 * i, trades(trade(T + 1000 * i, i + 1, px=f"{100 + 0.01 * i:.2f}"))) for i in range(n)]


def _reasons(result: CleanPartition) -> dict[int | None, str]:
    """Quarantine reason per quarantined trade, keyed by the tid its row text shows."""
    rows = result.quarantine.select("raw", "reason").to_dicts()
    return {int(json.loads(r["raw"])["tid"]): r["reason"] for r in rows}


def test_prices_and_sizes_beyond_the_day_bounds_are_quarantined_and_fail_the_suite(tmp_path: Path) -> None:
    bad = [
        env(T + 100, trades(trade(T + 100, 901, px="1e300"))),
        env(T + 200, trades(trade(T + 200, 902, sz="1e300"))),
        env(T + 300, trades(trade(T + 300, 903, px="5.0"))),  # 20x below the median of ~100
    ]
    result = _clean(tmp_path, _normal_trades() + bad)

    clean = result.tables["trades"]
    assert sorted(clean["tid"].to_list()) == list(range(1, 21))
    reasons = _reasons(result)
    assert reasons[901].startswith("price outside 10x of the day's median price 100.")
    assert reasons[903].startswith("price outside 10x")
    assert reasons[902].startswith("size above 9.99")  # 1e9 notional at the median price 100.095
    assert run_suite(table_suite("trades", DAY), clean).success
    rejected = {
        str(f["column"])
        for f in run_suite(
            table_suite("trades", DAY), pl.concat([clean, clean.head(1).with_columns(px=pl.lit(1e300))]).sort("time")
        ).failures
    }
    assert {"_px_low", "_px_high"} <= rejected


def test_a_book_level_of_1e300_is_quarantined_and_fails_the_suite(tmp_path: Path) -> None:
    books = [book(T + 500 * i) for i in range(10)]
    books[3]["data"]["levels"][0][4]["sz"] = "1e300"  # a deep bid level, not the top
    result = _clean(tmp_path, [env(b["data"]["time"], b) for b in books])

    assert result.tables["book"].height == 9
    [reason] = result.quarantine["reason"].to_list()
    assert reason.startswith("size above")
    assert run_suite(table_suite("book", DAY), result.tables["book"]).success
    whole = result.tables["book"].with_columns(
        bid_sz_5=pl.when(pl.col("time") == T + 500).then(1e300).otherwise(pl.col("bid_sz_5"))
    )
    assert "_sz_high" in {str(f["column"]) for f in run_suite(table_suite("book", DAY), whole).failures}


def test_negative_and_beyond_int64_tids_are_quarantined_not_replaced(tmp_path: Path) -> None:
    beyond = 2**64
    result = _clean(
        tmp_path,
        [*_normal_trades(), env(T + 100, trades(trade(T + 100, -7))), env(T + 200, trades(trade(T + 200, beyond)))],
    )

    assert sorted(result.tables["trades"]["tid"].to_list()) == list(range(1, 21))
    assert _reasons(result) == {-7: "negative tid", beyond: "tid not an integer within Int64"}
    assert contract.expected_ranges("trades", None) == {"tid": (0, 2**63 - 1)}
    negative = result.tables["trades"].with_columns(tid=pl.when(pl.col("tid") == 1).then(-7).otherwise(pl.col("tid")))
    assert "tid" in {str(f["column"]) for f in run_suite(table_suite("trades", DAY), negative).failures}


def test_conflicting_duplicates_are_quarantined_both_and_identical_ones_counted(tmp_path: Path) -> None:
    conflict = [
        env(T + 100, trades(trade(T + 100, 700, px="100.05"))),
        env(T + 150, trades(trade(T + 100, 700, px="100.07"))),
    ]
    identical = [env(T + 300, trades(trade(T + 300, 800))), env(T + 350, trades(trade(T + 300, 800)))]
    result = _clean(tmp_path, _normal_trades() + conflict + identical)

    assert sorted(result.tables["trades"]["tid"].to_list()) == [*range(1, 21), 800]
    assert result.accounting.duplicates == 1
    kept = result.quarantine.to_dicts()
    assert all(row["reason"].startswith(contract.CONFLICTING_DUPLICATE) for row in kept)
    assert sorted(json.loads(row["raw"])["px"] for row in kept) == [
        100.05,
        100.07,
    ]  # both versions, and their raw lines
    assert sorted(row["line"] for row in kept) == [21, 22]


def test_bounds_follow_the_day_median() -> None:
    rows = pl.DataFrame({"px": [0.5, 0.51, 0.49, float("nan"), 1e300]})
    bounds = contract.day_bounds("trades", rows)
    assert bounds is not None
    assert (bounds.median_px, bounds.px_min, bounds.px_max, bounds.sz_max) == (0.505, 0.0505, 5.05, 1e9 / 0.505)
    assert contract.day_bounds("trades", rows.head(0)) is None
