"""Every real Hyperliquid payload in ../shared/hyperliquid-samples parses to exact, known values, and the
importers carry the node and API samples through the raw zone to the same records."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import polars as pl
import pytest

from data_lake import raw_zone
from data_lake.cleaning import clean_partition
from data_lake.importers import import_file
from data_lake.parsers import parse_info_json, parse_text, resolve_node_fills
from data_lake.parsers.ids import DERIVED_TID_OFFSET
from data_lake.parsers.records import PROVENANCE_COLUMNS

pytestmark = pytest.mark.needs_samples

INFO_API_DIR = Path(__file__).resolve().parents[2] / "shared" / "hyperliquid-samples" / "info-api"

INFO_API_TABLES = {
    "test_get_user_fills__0.json": ("fills", 500),
    "test_get_user_fills_by_time__0.json": ("fills", 500),
    "test_get_l2_snapshot__1.json": ("book", 1),
    "test_historical_orders__0.json": ("order_updates", 5),
}
"""Info-API responses with a clean table; every other response is one quarantined record."""


def _data_columns(df: pl.DataFrame) -> pl.DataFrame:
    return df.drop(*PROVENANCE_COLUMNS, "_raw")


def test_every_sample_file_is_covered(samples_dir: Path) -> None:
    files = sorted(
        p.relative_to(samples_dir).as_posix() for p in samples_dir.rglob("*") if p.is_file() and p.name != "README.md"
    )
    assert len(files) == 27 + 4 + 2
    assert {f for f in files if not f.startswith("info-api/")} == {
        "ws/ws_messages_examples.jsonl",
        "ws/ws_user_fill_liquidation.json",
        "ws/http_l2_book_btc.json",
        "ws/http_all_perp_metas_non_usdc_collateral.json",
        "node/node_trades_2025-06-24T02.jsonl",
        "node/node_fills_by_block_sample.jsonl",
    }


@pytest.mark.parametrize("name", sorted(p.name for p in INFO_API_DIR.glob("*.json")))
def test_info_api_response(samples_dir: Path, name: str) -> None:
    text = (samples_dir / "info-api" / name).read_text()
    records = parse_info_json(text)
    request_type = json.loads(text)["request"]["type"]
    if name in INFO_API_TABLES:
        table, rows = INFO_API_TABLES[name]
        assert {k: v.height for k, v in records.tables.items()} == {table: rows}
        assert records.quarantine.height == 0
    else:
        assert sum(df.height for df in records.tables.values()) == 0
        assert records.quarantine["reason"].to_list() == [f"unsupported info request: {request_type} (no clean table)"]
        assert records.quarantine["raw"].to_list() == [text]


def test_cassette_user_fills_equal_user_fills_by_time(samples_dir: Path) -> None:
    by_recent = parse_info_json((samples_dir / "info-api/test_get_user_fills__0.json").read_text()).table("fills")
    by_time = parse_info_json((samples_dir / "info-api/test_get_user_fills_by_time__0.json").read_text()).table("fills")
    assert by_recent.height == by_time.height == 500
    assert _data_columns(by_recent).equals(_data_columns(by_time))
    assert by_recent["coin"].n_unique() == 15
    first = by_recent.row(0, named=True)
    assert first["coin"] == "SUI" and first["time"] == 1683245884863 and first["oid"] == 189324432
    assert (first["px"], first["sz"], first["side"], first["closed_pnl"], first["start_position"]) == (
        1.3189,
        142.7,
        -1,
        -0.25686,
        4623.5,
    )
    assert first["dir"] == "Close Long" and first["is_maker"] is False and first["fee_token"] is None
    assert first["user"] == "0xb7b6f3cea3f66bf525f5d8f965f6dbf6d9b017b2"
    # 2023 fills carry no tid: every derived tid is distinct and outside the exchange's 50-bit range
    assert by_recent["tid"].n_unique() == 500
    assert by_recent["tid"].min() >= DERIVED_TID_OFFSET


def test_info_api_l2_book_and_historical_orders(samples_dir: Path) -> None:
    book = (
        parse_info_json((samples_dir / "info-api/test_get_l2_snapshot__1.json").read_text())
        .table("book")
        .row(0, named=True)
    )
    assert (book["coin"], book["time"], book["bid_px_1"], book["bid_sz_1"], book["ask_px_1"], book["ask_sz_1"]) == (
        "DYDX",
        1689630203930,
        2.111,
        134.4,
        2.1124,
        352.3,
    )
    assert (book["bid_n_1"], book["ask_n_1"], book["bid_px_2"]) == (1, 2, 2.1105)
    orders = parse_info_json((samples_dir / "info-api/test_historical_orders__0.json").read_text()).table(
        "order_updates"
    )
    first = orders.row(0, named=True)
    assert (first["coin"], first["oid"], first["side"], first["limit_px"], first["orig_sz"]) == (
        "TON",
        141682155424,
        1,
        3.2502,
        81.7,
    )
    assert (first["status"], first["time"], first["order_time"]) == ("iocCancelRejected", 1755863118217, 1755863118217)


def test_ws_examples_book_trade_and_control_frame(samples_dir: Path) -> None:
    text = (samples_dir / "ws/ws_messages_examples.jsonl").read_text()
    records = parse_text(text, wrap="ws")
    assert records.quarantine.select("_line", "reason").rows() == [(1, "control frame: subscriptionResponse")]
    frame = json.loads(text.splitlines()[1])["data"]
    bids, asks = ([(float(level["px"]), float(level["sz"])) for level in side] for side in frame["levels"])
    assert len(bids) == len(asks) == 20
    book = records.table("book").row(0, named=True)
    assert (book["coin"], book["time"], book["source"]) == ("BTC", 1751427259657, "l2Book")
    assert [book[f"bid_px_{i}"] for i in range(1, 21)] == [px for px, _ in bids]  # all 20 levels kept
    assert [book[f"ask_sz_{i}"] for i in range(1, 21)] == [sz for _, sz in asks]
    assert (book["bid_px_1"], book["ask_px_1"], book["ask_n_1"]) == (106217.0, 106233.0, 3)
    mid = (106217.0 + 106233.0) / 2
    assert book["mid"] == mid
    assert book["spread_bps"] == pytest.approx(16.0 / mid * 1e4, rel=1e-12)
    assert book["microprice"] == pytest.approx((106217.0 * 0.26739 + 106233.0 * 0.001) / (0.001 + 0.26739), rel=1e-12)
    bid5, ask5 = sum(sz for _, sz in bids[:5]), sum(sz for _, sz in asks[:5])
    assert book["imbalance_5"] == pytest.approx((bid5 - ask5) / (bid5 + ask5), rel=1e-12)
    # depth reads all 20 levels
    assert book["bid_depth_10bps"] == pytest.approx(sum(px * sz for px, sz in bids if px >= mid * 0.999), rel=1e-12)
    assert book["ask_depth_10bps"] == pytest.approx(sum(px * sz for px, sz in asks if px <= mid * 1.001), rel=1e-12)
    trade = records.table("trades").row(0, named=True)
    assert (trade["tid"], trade["time"], trade["px"], trade["sz"], trade["side"]) == (
        293353986402527,
        1751430933565,
        106296.0,
        0.00017,
        -1,
    )
    assert (trade["buyer"], trade["seller"]) == (
        "0xcc0a3b6e3267c84361e91d8230868eea53431e4b",
        "0xc64cc00b46101bd40aa1c3121195e85c0b0918d8",
    )


def test_user_channel_liquidation_fill(samples_dir: Path) -> None:
    records = parse_text((samples_dir / "ws/ws_user_fill_liquidation.json").read_text(), wrap="ws")
    assert records.quarantine.height == 0
    fill = records.table("fills").row(0, named=True)
    assert fill["is_liquidation"] is True and fill["is_maker"] is True
    assert (fill["coin"], fill["tid"], fill["oid"], fill["side"], fill["px"], fill["sz"]) == (
        "BTC",
        745210434703679,
        55030848197,
        -1,
        66653.0,
        0.001,
    )
    assert (fill["fee"], fill["fee_token"], fill["start_position"], fill["dir"]) == (
        0.009997,
        "USDC",
        -0.0213,
        "Open Short",
    )
    assert fill["cloid"] == "0xe8d5fd7ebbb4c3cff4d1803472a11463"


def test_http_book_without_order_counts(samples_dir: Path) -> None:
    book = parse_info_json((samples_dir / "ws/http_l2_book_btc.json").read_text()).table("book").row(0, named=True)
    assert (book["bid_px_1"], book["ask_px_1"], book["bid_px_5"], book["ask_sz_5"]) == (
        110427.0,
        110428.0,
        110423.0,
        1.27191,
    )
    assert book["bid_n_1"] is None and book["time"] == 1761786491067


def test_perp_metas_have_no_table_and_keep_hip3_names_verbatim(samples_dir: Path) -> None:
    text = (samples_dir / "ws/http_all_perp_metas_non_usdc_collateral.json").read_text()
    records = parse_info_json(text)
    assert records.quarantine["reason"].to_list() == ["unsupported info request: unknown (no clean table)"]
    assert "km:US500" in records.quarantine["raw"][0] and "hyna:BTC" in records.quarantine["raw"][0]


def test_node_trades(samples_dir: Path) -> None:
    text = (samples_dir / "node/node_trades_2025-06-24T02.jsonl").read_text()
    records = parse_text(text, wrap="node_trades", source="node")
    trades = records.table("trades")
    assert records.quarantine.height == 0 and trades.height == 25
    assert trades["coin"].n_unique() == 13
    assert {"@151", "PURR/USDC", "HYPE", "ETH"} <= set(trades["coin"])
    first = trades.row(0, named=True)
    assert (first["coin"], first["time"], first["px"], first["sz"], first["side"]) == (
        "@151",
        1750733796172,
        2393.9,
        0.1539,
        -1,
    )
    assert (first["buyer"], first["seller"]) == (
        "0xecb63caa47c7c4e77f60f1ce858cf28dc2b82b00",
        "0xb65117c1e1006e7b2413fa90e96fcbe3fa83ed75",
    )
    assert trades["tid"].n_unique() == 25 and trades["tid"].min() >= DERIVED_TID_OFFSET
    again = parse_text(text, wrap="node_trades", source="node").table("trades")
    assert again["tid"].to_list() == trades["tid"].to_list()
    lines = [json.loads(line) for line in text.splitlines()]
    assert trades["buyer"].to_list() == [line["side_info"][0]["user"] for line in lines]


def test_node_fills_by_block_pairs_into_trades_and_quarantines_dust(samples_dir: Path) -> None:
    text = (samples_dir / "node/node_fills_by_block_sample.jsonl").read_text()
    parsed = parse_text(text, wrap="node_fills_by_block", source="node")
    assert parsed.table("node_fills").height == 1388
    records = resolve_node_fills(parsed)
    trades = records.table("trades")
    reasons = records.quarantine["reason"].value_counts().sort("reason").rows()
    assert trades.height == 45 and records.duplicates.height == 45
    assert reasons == [("empty block (no fills)", 4), ("system fill, not a trade (tid 0): Spot Dust Conversion", 1298)]
    assert records.record_count == 1388 + 4
    assert trades.select(pl.struct("coin", "time", "tid").n_unique()).item() == 45
    uni = trades.filter(pl.col("coin") == "UNI").row(0, named=True)
    assert (uni["tid"], uni["px"], uni["sz"], uni["side"], uni["time"]) == (
        868180814349127,
        3.9457,
        3.9,
        1,
        1773532799991,
    )
    assert (uni["buyer"], uni["seller"]) == (
        "0x010461c14e146ac35fe42271bdc1134ee31c703a",
        "0x727956612a8700627451204a3ae26268bd1a1525",
    )
    ustech = trades.filter(pl.col("coin") == "km:USTECH").row(0, named=True)
    assert ustech["side"] == -1  # the ask fill crossed
    assert (ustech["buyer"], ustech["seller"]) == (
        "0xfc667adba8d4837586078f4fdcdc29804337ca06",
        "0xc5ed4501500fcbfb2b88fb7f0aa52f834ed44346",
    )
    assert {"km:USTECH", "cash:NVDA"} <= set(trades["coin"])
    assert trades["buyer"].null_count() == trades["seller"].null_count() == 0


def test_decimals_are_exactly_rounded(samples_dir: Path) -> None:
    text = (samples_dir / "node/node_fills_by_block_sample.jsonl").read_text()
    strings = sorted(set(re.findall(r'"(?:px|sz|fee|startPosition|closedPnl)":"([^"]+)"', text)))
    assert len(strings) > 500
    parsed = pl.Series(strings).cast(pl.Float64).to_list()
    assert parsed == [float(s) for s in strings]
    fills = parse_text(text, wrap="node_fills_by_block", source="node").table("node_fills")
    for row in fills.head(200).iter_rows(named=True):
        fill = json.loads(row["_raw"])["fill"]
        assert (row["px"], row["sz"]) == (float(fill["px"]), float(fill["sz"]))


def _clean_everything(raw_root: Path) -> dict[str, int]:
    """Clean every (coin, day) that any raw file can reach; totals of clean rows, reasons and accounting."""
    totals: dict[str, int] = {}
    days = {d + dt.timedelta(days=k) for d in raw_zone.dates_in(raw_root) for k in (-1, 0)}
    for coin in raw_zone.coins_in(raw_root):
        for day in sorted(days):
            result = clean_partition(raw_root, coin, day)
            assert result.accounting.balanced, (coin, day, result.accounting)
            for name, df in result.tables.items():
                totals[name] = totals.get(name, 0) + df.height
            for key, value in result.accounting.as_dict().items():
                totals[key] = totals.get(key, 0) + value
    return totals


@pytest.mark.slow  # imports the real node and API samples, then cleans every (coin, day) they reach
def test_imported_node_and_api_samples_clean_to_the_same_records(samples_dir: Path, raw_root: Path) -> None:
    blocks = import_file(samples_dir / "node/node_fills_by_block_sample.jsonl", "node-fills-by-block", raw_root)
    assert (blocks.items, blocks.attributed, blocks.unattributed) == (44, 40, 4)
    assert blocks.reasons == {"empty block (no events)": 4}
    node_trades = import_file(samples_dir / "node/node_trades_2025-06-24T02.jsonl", "node-trades", raw_root)
    assert (node_trades.items, node_trades.attributed, node_trades.unattributed) == (25, 25, 0)
    fills = import_file(samples_dir / "info-api/test_get_user_fills__0.json", "user-fills", raw_root)
    assert (fills.items, fills.attributed) == (500, 500)
    meta = import_file(samples_dir / "info-api/test_get_info__0.json", "user-fills", raw_root)
    assert (meta.attributed, meta.unattributed, meta.reasons) == (0, 1, {"not a userFills response (meta)": 1})
    unattributed = [p for p in (*blocks.written, *meta.written) if p.name == "_unattributed.jsonl"]
    assert sum(len(raw_zone.read_lines(p)) for p in unattributed) == 5
    assert {"km:USTECH", "cash:NVDA", "PURR/USDC", "@107"} <= set(raw_zone.coins_in(raw_root))
    assert "_unattributed" not in raw_zone.coins_in(raw_root)
    again = import_file(samples_dir / "node/node_fills_by_block_sample.jsonl", "node-fills-by-block", raw_root)
    assert again.attributed == 40
    totals = _clean_everything(raw_root)
    assert totals["trades"] == 45 + 25 and totals["fills"] == 500
    assert totals["records_in"] == 1388 + 25 + 500
    assert totals["duplicates"] == 45 and totals["quarantined"] == 1298
    # the first block is stamped 00:00:00.196 (receive) but its fills 23:59:59.991: they spill to the day before
    assert totals["spilled_in"] == totals["spilled_out"] == 18


def test_archive_l2book_import_by_path_and_by_first_line(samples_dir: Path, raw_root: Path, tmp_path: Path) -> None:
    frame = json.loads((samples_dir / "ws/ws_messages_examples.jsonl").read_text().splitlines()[1])
    recv_ns = (frame["data"]["time"] + 150) * 1_000_000
    lines = [raw_zone.envelope(recv_ns + i, frame) for i in range(3)]
    by_path = raw_zone.write_lines(tmp_path / "market_data/20250702/3/l2Book/BTC.lz4", lines)
    report = import_file(by_path, "archive-l2book", raw_root)
    target = raw_zone.raw_path(raw_root, "archive", dt.date(2025, 7, 2), 3, "BTC")
    assert report.written == [target] and report.attributed == 3
    assert target.read_bytes() == by_path.read_bytes()
    target.unlink()
    by_line = raw_zone.write_lines(tmp_path / "download.lz4", lines)
    report = import_file(by_line, "archive-l2book", raw_root)
    assert dt.datetime.fromtimestamp(recv_ns / 1e9, tz=dt.UTC).hour == 3
    assert report.written == [target] and target.read_bytes() == by_line.read_bytes()
    result = clean_partition(raw_root, "BTC", dt.date(2025, 7, 2))
    assert result.tables["book"]["bid_px_1"].to_list() == [106217.0]
    assert result.accounting.as_dict() == {
        "records_in": 3,
        "spilled_in": 0,
        "clean_rows": 1,
        "quarantined": 0,
        "duplicates": 2,
        "spilled_out": 0,
    }


@pytest.mark.slow  # imports and cleans the 1,388 real node fills
def test_legacy_node_fills_lines_import_like_blocks(samples_dir: Path, raw_root: Path, tmp_path: Path) -> None:
    """The one-``[user, fill]``-per-line format, rebuilt from the real blocks' events, gives the same trades."""
    blocks = [
        json.loads(line) for line in (samples_dir / "node/node_fills_by_block_sample.jsonl").read_text().splitlines()
    ]
    events = [json.dumps(event) for block in blocks for event in block["events"]]
    source = raw_zone.write_lines(
        tmp_path / "node_fills/hourly/20260315/0.lz4", [*events, '["0xabc", {"px": "1"}]', "{oops"]
    )
    report = import_file(source, "node-fills", raw_root)
    assert (report.items, report.attributed, report.unattributed) == (1390, 1388, 2)
    assert report.reasons == {"no coin": 1, "invalid JSON (corrupt line)": 1}
    unattributed = raw_root / "node/20260315/0/_unattributed.jsonl"
    assert unattributed in report.written
    assert [json.loads(line)["text"] for line in raw_zone.read_lines(unattributed)] == [
        '["0xabc", {"px": "1"}]',
        "{oops",
    ]
    totals = _clean_everything(raw_root)
    assert totals["trades"] == 45 and totals["duplicates"] == 45 and totals["quarantined"] == 1298
    assert totals["records_in"] == 1388
