"""Materialisation metadata a reader can use: previews of the table's own columns with UTC times, durations left
as numbers, floats to a few significant figures (issue 16: the markouts preview showed raw epoch ms)."""

from __future__ import annotations

import polars as pl

from assets.metadata import table_metadata
from data_lake.table_preview import preview_md, rounded, rounded_metadata
from data_lake.tables import MARKOUTS

T0 = 1_767_225_600_123  # 2026-01-01 00:00:00.123 UTC


def test_preview_shows_utc_times_durations_and_rounded_floats() -> None:
    df = pl.DataFrame(
        {
            "time": [T0],
            "mid_age_ms": [40],
            "px": [25.123456789],
            "recv_time_ns": [T0 * 1_000_000 + 456],
            "note": ["a|b"],
        }
    )
    assert preview_md(df).splitlines() == [
        "| time | mid_age_ms | px | recv_time_ns | note |",
        "|---|---|---|---|---|",
        "| 2026-01-01 00:00:00.123 | 40 | 25.1235 | 2026-01-01 00:00:00.123 | a\\|b |",
    ]


def test_a_table_preview_shows_the_tables_columns_without_the_partition_key() -> None:
    fill_log = pl.DataFrame(
        {"coin": ["DEMO"], "time": [T0], "user": ["0xabc"], "fee": [0.01], "markout_5000ms_bps": [-1.5]}
    )
    preview = table_metadata(MARKOUTS.conform(fill_log), "lake/markouts", 3)["preview"].value
    header = preview.splitlines()[0]
    assert header.startswith("| time | tid | oid | is_market_trade |") and "user" not in header and "coin" not in header
    assert "2026-01-01 00:00:00.123" in preview


def test_metadata_floats_keep_four_significant_figures() -> None:
    assert rounded(1234.5678) == 1235.0 and rounded(1.23456e-5) == 1.235e-5
    meta = rounded_metadata({"kappa": 0.0123456, "by_state": {"calm": 2.71828}, "n": 7, "name": "x"})
    assert meta == {"kappa": 0.01235, "by_state": {"calm": 2.718}, "n": 7, "name": "x"}
    assert rounded_metadata({"nan": float("nan")})["nan"] != rounded_metadata({"nan": float("nan")})["nan"]
