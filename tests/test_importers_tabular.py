"""Bring-your-own tapes: trades and book tables (CSV, parquet) and Hyperliquid's historical trade CSV go through the
raw zone and the cleaning to exactly the values written in them; what cannot be read is set aside with its reason."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import lz4.frame
import polars as pl
import pytest

from data_lake import raw_zone
from data_lake.cleaning import CleanPartition, clean_partition
from data_lake.importers import import_file
from data_lake.table_mapping import InputError, TableMapping, load_mapping
from data_lake.tabular_import import epoch_ns
from quoting.cli.main import main

DAY = dt.date(2026, 1, 1)
T0_MS = 1_767_225_600_000
"""2026-01-01T00:00:00Z in epoch ms."""
T0_US = T0_MS * 1_000


def _clean(raw_root: Path, coin: str) -> CleanPartition:
    result = clean_partition(raw_root, coin, DAY)
    assert result.accounting.balanced, result.accounting
    return result


def _unattributed(raw_root: Path, source: str) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted(raw_root.glob(f"{source}/*/*/_unattributed.jsonl"))
        for line in raw_zone.read_lines(path)
    ]


TRADES_CSV = f"""timestamp,symbol,side,price,amount,id
{T0_US + 250_000},BTC,buy,100.5,0.1,11
{T0_US + 1_000_000},BTC,sell,100.4,0.2,
{T0_US + 1_000_000},BTC,sell,100.4,0.2,
{T0_US + 2_000_000},BTC,Sell,100.3,0.3,a1b2-c3d4
{T0_US + 2_000_999},ETH,BUY,2000.5,1.5,12

{T0_US + 3_000_000},BTC,hold,100.4,0.2,13
{T0_US + 3_000_000},BTC,buy,100.4
{T0_MS + 3_000},BTC,buy,100.4,0.2,14
{T0_US + 4_000_000},BTC,buy,abc,0.2,15
{T0_US + 5_000_000},BTC,sell,100.2,-1,16
"""
TRADES_MAPPING = TableMapping(
    time="timestamp",
    time_unit="us",
    coin_column="symbol",
    side="side",
    side_convention="buy/sell",
    price="price",
    size="amount",
    trade_id="id",
)


def test_trades_csv_lands_in_the_trades_table_with_its_values(tmp_path: Path, raw_root: Path) -> None:
    source = tmp_path / "trades.csv"
    source.write_text(TRADES_CSV)
    report = import_file(source, "trades-table", raw_root, TRADES_MAPPING)
    assert (report.items, report.attributed, report.unattributed) == (11, 7, 4)
    assert report.reasons == {
        "empty line": 1,
        "side not in convention buy/sell": 1,
        "expected 6 comma-separated fields": 1,
        "time outside 2009-2100 for unit us (check the time unit)": 1,
    }
    aside = _unattributed(raw_root, "tabular")
    assert [(r["line"], r["text"]) for r in aside] == [
        (7, ""),
        (8, f"{T0_US + 3_000_000},BTC,hold,100.4,0.2,13"),
        (9, f"{T0_US + 3_000_000},BTC,buy,100.4"),
        (10, f"{T0_MS + 3_000},BTC,buy,100.4,0.2,14"),
    ]

    btc = _clean(raw_root, "BTC")
    trades = btc.tables["trades"]
    assert trades["time"].to_list() == [T0_MS + 250, T0_MS + 1_000, T0_MS + 1_000, T0_MS + 2_000]
    assert trades["px"].to_list() == [100.5, 100.4, 100.4, 100.3]
    assert trades["sz"].to_list() == [0.1, 0.2, 0.2, 0.3]
    assert trades["side"].to_list() == [1, -1, -1, -1]
    assert trades["tid"][0] == 11 and trades["tid"].n_unique() == 4  # two identical prints stay two trades
    assert (trades["source"] == "tabular").all()
    assert sorted(btc.quarantine["reason"].to_list()) == ["missing or unparseable px or sz", "non-positive px or sz"]
    assert btc.accounting.as_dict() == {
        "records_in": 6,
        "spilled_in": 0,
        "clean_rows": 4,
        "quarantined": 2,
        "duplicates": 0,
        "spilled_out": 0,
    }
    eth = _clean(raw_root, "ETH").tables["trades"]
    assert eth.select("time", "tid", "px", "sz", "side").rows() == [
        (T0_MS + 2_000, 12, 2000.5, 1.5, 1)
    ]  # 2000.999 ms floored

    written = {path: raw_zone.read_lines(path) for path in report.written}
    again = import_file(source, "trades-table", raw_root, TRADES_MAPPING)
    assert {path: raw_zone.read_lines(path) for path in again.written} == written  # importing twice changes nothing
    assert _clean(raw_root, "BTC").tables["trades"].equals(trades)


@pytest.mark.parametrize(
    ("convention", "buy", "sell"),
    [
        ("buy/sell", "BUY", "sell"),
        ("B/A", "B", "a"),
        ("bid/ask", "Bid", "ASK"),
        ("+1/-1", "1", "-1"),
        ("buyer-maker", "false", "True"),
    ],
)
def test_each_side_convention_names_the_aggressor(
    tmp_path: Path, raw_root: Path, convention: str, buy: str, sell: str
) -> None:
    source = tmp_path / "trades.csv"
    source.write_text(f"time,side,px,sz\n{T0_MS},{buy},10.0,1\n{T0_MS + 1},{sell},10.1,2\n")
    mapping = TableMapping(coin="SOL", side_convention=convention)
    assert import_file(source, "trades-table", raw_root, mapping).attributed == 2
    assert _clean(raw_root, "SOL").tables["trades"]["side"].to_list() == [1, -1]


def test_parquet_trades_with_a_zoned_timestamp_a_receive_time_and_a_toml_mapping(
    tmp_path: Path, raw_root: Path
) -> None:
    paris = [dt.datetime(2026, 1, 1, 1, 0, 0, 123456), dt.datetime(2026, 1, 1, 1, 0, 1)]  # 00:00:00.123456Z, 00:00:01Z
    recv_ns = [T0_MS * 1_000_000 + 123_456_000 + 35_123_456, T0_MS * 1_000_000 + 1_000_000_000 + 40_000_001]
    table = pl.DataFrame(
        {
            "ts": paris,
            "local_ns": recv_ns,
            "price": [25.5, 25.501],
            "qty": [3.0, 0.5],
            "is_buyer_maker": [True, False],
            "trade_id": [7, 8],
        },
        schema_overrides={"local_ns": pl.Int64, "trade_id": pl.UInt64},
    ).with_columns(pl.col("ts").dt.replace_time_zone("Europe/Paris"))
    source = tmp_path / "trades.parquet"
    table.write_parquet(source)
    mapping_file = tmp_path / "mapping.toml"
    mapping_file.write_text(
        'time = "ts"\nrecv_time = "local_ns"\nrecv_time_unit = "ns"\ncoin = "xyz:NVDA"\nprice = "price"\nsize = "qty"\n'
        'side = "is_buyer_maker"\nside_convention = "buyer-maker"\ntrade_id = "trade_id"\n'
    )
    report = import_file(source, "trades-table", raw_root, load_mapping(mapping_file))
    assert (report.attributed, report.unattributed) == (2, 0)
    assert report.written == [raw_zone.raw_path(raw_root, "tabular", DAY, 0, "xyz:NVDA")]
    line = json.loads(raw_zone.read_lines(report.written[0])[0])
    assert line["time"] == "2026-01-01T00:00:00.158579456" and line["raw"]["row"]["trade_id"] == 7
    trades = _clean(raw_root, "xyz:NVDA").tables["trades"]
    assert trades.select("time", "tid", "px", "sz", "side", "recv_time_ns").rows() == [
        (T0_MS + 123, 7, 25.5, 3.0, -1, recv_ns[0]),
        (T0_MS + 1_000, 8, 25.501, 0.5, 1, recv_ns[1]),
    ]


BOOK_CSV = (
    "exchange,symbol,timestamp,bids[0].price,bids[0].amount,bids[0].count,bids[1].price,bids[1].amount,bids[1].count,"
    "asks[0].price,asks[0].amount,asks[0].count,asks[1].price,asks[1].amount,asks[1].count"
    """
hl,ETH,2026-01-01T00:00:00.5Z,3000.1,1.5,2,3000.0,4,1,3000.3,2,3,3000.5,0.5,1
hl,ETH,2026-01-01 00:00:01,3000.1,1.5,2,,,,3000.3,2,3,3000.5,0.5,1
hl,ETH,2026-01-01T01:00:02+01:00,3000.1,1.5,2,3000.0,4,1,3000.5,2,3,3000.3,0.5,1
hl,ETH,2026-01-01T00:00:03Z,3000.4,1.5,2,3000.0,4,1,3000.3,2,3,3000.5,0.5,1
hl,ETH,2026-01-01T00:00:04Z,3000.1,1.5,2,3000.0,x,1,3000.3,2,3,3000.5,0.5,1
hl,ETH,,3000.1,1.5,2,3000.0,4,1,3000.3,2,3,3000.5,0.5,1
"""
)


def test_book_csv_with_tardis_columns_lands_in_the_book_table(tmp_path: Path, raw_root: Path) -> None:
    source = tmp_path / "book.csv"
    source.write_text(BOOK_CSV)
    mapping_file = tmp_path / "mapping.json"
    mapping_file.write_text(
        json.dumps(
            {
                "time": "timestamp",
                "time_unit": "iso",
                "coin_column": "symbol",
                "bid_px": "bids[{i}].price",
                "bid_sz": "bids[{i}].amount",
                "bid_n": "bids[{i}].count",
                "ask_px": "asks[{i}].price",
                "ask_sz": "asks[{i}].amount",
                "ask_n": "asks[{i}].count",
            }
        )
    )
    report = import_file(source, "book-table", raw_root, load_mapping(mapping_file))
    assert (report.attributed, report.unattributed) == (4, 2)
    assert report.reasons == {
        "ask prices do not rise from level 1 (check the level columns)": 1,
        "no valid time (unit iso)": 1,
    }
    result = _clean(raw_root, "ETH")
    book = result.tables["book"]
    assert book["time"].to_list() == [T0_MS + 500, T0_MS + 1_000]
    assert book.select(
        "bid_px_1", "bid_sz_1", "bid_n_1", "bid_px_2", "bid_sz_2", "ask_px_1", "ask_n_1", "ask_px_2", "ask_sz_2"
    ).rows() == [
        (3000.1, 1.5, 2, 3000.0, 4.0, 3000.3, 3, 3000.5, 0.5),
        (3000.1, 1.5, 2, None, None, 3000.3, 3, 3000.5, 0.5),  # the empty level 2 is absent, not zero
    ]
    assert book["mid"].to_list() == pytest.approx([3000.2, 3000.2])
    assert (book["source"] == "l2Book").all()
    assert sorted(result.quarantine["reason"].to_list()) == [
        "crossed or locked book (bid >= ask)",
        "non-positive, NaN or unparseable price or size in the book",
    ]


HISTORICAL_CSV = """time,user,coin,side,px,sz,crossed
2026-01-01T00:00:05Z,0xaaa,ATOM,Bid,12.1137,29.21,true
2026-01-01T00:00:05Z,0xbbb,ATOM,Ask,12.1137,29.21,false
2026-01-01T00:00:05Z,0xccc,ATOM,Ask,12.1,1.5,true
2026-01-01T00:00:05Z,0xccc,ATOM,Ask,12.10,1.5,true
2026-01-01T00:00:06Z,0xddd,ATOM,Bid,12.2,1,false
2026-01-01T00:00:06Z,0xeee,ETH,Ask,1655.5,0.0452,true
2026-01-01T00:00:07Z,0xfff,ATOM,Buy,12.2,1,true
2026-01-01T00:00:07Z,0xfff,ATOM,Bid,12.2,1,maybe
2026-01-01T00:00:08Z,0xbbb,ATOM,Ask,12.3,2,false
2026-01-01T00:00:08Z,0xaaa,ATOM,Bid,12.3,2,true
"""


def test_historical_trade_csv_pairs_fill_sides_into_trades_at_whole_seconds(tmp_path: Path, raw_root: Path) -> None:
    source = tmp_path / "non_mm_trades.csv"
    source.write_text(HISTORICAL_CSV)
    report = import_file(source, "hl-historical-trades", raw_root)
    assert (report.items, report.attributed, report.unattributed) == (10, 8, 2)
    assert report.reasons == {"side is not Bid or Ask": 1, "crossed is not true or false": 1}
    result = _clean(raw_root, "ATOM")
    trades = result.tables["trades"]
    assert trades.select("time", "px", "sz", "side", "buyer", "seller").rows() == [
        (T0_MS + 5_000, 12.1137, 29.21, 1, "0xaaa", "0xbbb"),  # taker bid + its maker: one trade
        (T0_MS + 5_000, 12.1, 1.5, -1, None, "0xccc"),  # a lone taker side
        (T0_MS + 5_000, 12.1, 1.5, -1, None, "0xccc"),  # the same print again is a second trade
        (T0_MS + 6_000, 12.2, 1.0, -1, "0xddd", None),  # a lone maker bid: the taker sold
        (T0_MS + 8_000, 12.3, 2.0, 1, "0xaaa", "0xbbb"),  # maker listed first: paired all the same
    ]
    assert (trades["source"] == "hl_historical").all() and trades["tid"].n_unique() == 5
    assert result.accounting.as_dict() == {
        "records_in": 7,
        "spilled_in": 0,
        "clean_rows": 5,
        "quarantined": 0,
        "duplicates": 2,
        "spilled_out": 0,
    }
    assert _clean(raw_root, "ETH").tables["trades"].select("time", "side", "seller").rows() == [
        (T0_MS + 6_000, -1, "0xeee")
    ]


def test_historical_import_refuses_another_csv(tmp_path: Path, raw_root: Path) -> None:
    source = tmp_path / "trades.csv"
    source.write_text("time,coin,side,px,sz\n")
    with pytest.raises(InputError, match="not a Hyperliquid historical trades CSV"):
        import_file(source, "hl-historical-trades", raw_root)


@pytest.mark.parametrize(
    ("values", "unit", "expected"),
    [
        (["1767225600.123456789", "1767225600"], "s", [T0_MS * 1_000_000 + 123_456_789, T0_MS * 1_000_000]),
        (
            ["1767225600123.5", " 1767225600123 "],
            "ms",
            [(T0_MS + 123) * 1_000_000 + 500_000, (T0_MS + 123) * 1_000_000],
        ),
        ([1767225600123456789], "ns", [1767225600123456789]),
        ([1767225600.25], "s", [T0_MS * 1_000_000 + 250_000_000]),
        (
            ["2026-01-01T02:00:00.5+02:00", "2026-01-01 00:00:00", "2026-01-01T00:00:00.000001Z"],
            "iso",
            [T0_MS * 1_000_000 + 500_000_000, T0_MS * 1_000_000, T0_MS * 1_000_000 + 1_000],
        ),
        (["1767225600", "", "x", "1767225600000"], "ms", [None, None, None, T0_MS * 1_000_000]),
    ],
)
def test_times_convert_exactly_and_a_wrong_unit_is_refused(values: list, unit: str, expected: list) -> None:
    ns, why = epoch_ns(pl.Series(values), unit)
    assert ns.to_list() == expected
    assert [w is None for w in why.to_list()] == [e is not None for e in expected]


def test_mapping_problems_are_clear_errors(tmp_path: Path) -> None:
    columns = ["time", "px", "sz", "side"]
    with pytest.raises(InputError, match="side_convention"):
        TableMapping(coin="BTC").resolve("trades-table", columns)
    with pytest.raises(InputError, match="exactly one of them"):
        TableMapping(coin="BTC", coin_column="px", side_convention="B/A").resolve("trades-table", columns)
    with pytest.raises(InputError, match=r"\['trade_id'\] not in the input"):
        TableMapping(coin="BTC", side_convention="B/A", trade_id="trade_id").resolve("trades-table", columns)
    with pytest.raises(InputError, match="must contain"):
        TableMapping(coin="BTC", bid_px="bid_px").resolve("book-table", columns)
    with pytest.raises(InputError, match="no column matches"):
        TableMapping(coin="BTC").resolve("book-table", columns)
    with pytest.raises(InputError, match="unknown mapping key"):
        load_mapping(None, price_column="px")
    bad = tmp_path / "m.toml"
    bad.write_text("time = [")
    with pytest.raises(InputError, match="not valid TOML"):
        load_mapping(bad)


def test_cli_import_choices_and_mapping_errors(
    tmp_path: Path, raw_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "trades.csv.gz"
    source.write_bytes(gzip.compress(f"t,s,p,q\n{T0_MS},b,10.0,1\n".encode()))
    assert main(["import", "binance-trades", str(source), "--raw", str(raw_root)]) == 2
    assert "invalid choice: 'binance-trades'" in capsys.readouterr().err
    assert (
        main(
            [
                "import",
                "trades-table",
                str(source),
                "--raw",
                str(raw_root),
                "--time",
                "t",
                "--price",
                "p",
                "--size",
                "q",
                "--side",
                "missing",
                "--side-convention",
                "B/A",
                "--coin",
                "BTC",
            ]
        )
        == 2
    )
    assert "['missing'] not in the input" in capsys.readouterr().err
    assert main(["import", "node-trades", str(source), "--raw", str(raw_root), "--coin", "BTC"]) == 2
    assert "apply to trades-table, book-table only" in capsys.readouterr().err
    assert not any(raw_root.iterdir())
    assert (
        main(
            [
                "import",
                "trades-table",
                str(source),
                "--raw",
                str(raw_root),
                "--time",
                "t",
                "--price",
                "p",
                "--size",
                "q",
                "--side",
                "s",
                "--side-convention",
                "B/A",
                "--coin",
                "BTC",
            ]
        )
        == 0
    )
    assert "1 items, 1 to coin files, 0 unattributed" in capsys.readouterr().out
    assert _clean(raw_root, "BTC").tables["trades"].select("px", "side").rows() == [(10.0, 1)]


def test_a_damaged_lz4_table_keeps_the_rows_before_the_damage_and_says_what_was_lost(
    tmp_path: Path, raw_root: Path
) -> None:
    text = "time,side,px,sz\n" + "".join(f"{T0_MS + i},B,10.0,1\n" for i in range(20_000))
    frame = lz4.frame.compress(text.encode(), block_size=lz4.frame.BLOCKSIZE_MAX64KB)
    source = tmp_path / "trades.csv.lz4"
    source.write_bytes(frame[: len(frame) // 2])
    report = import_file(source, "trades-table", raw_root, TableMapping(coin="BTC", side_convention="B/A"))
    damage = [reason for reason in report.reasons if reason.startswith("damaged lz4 (block truncated)")]
    assert len(damage) == 1 and report.reasons[damage[0]] == 1
    trades = _clean(raw_root, "BTC").tables["trades"]
    assert 0 < trades.height < 20_000 and trades["time"].to_list() == [T0_MS + i for i in range(trades.height)]
    assert trades.height + report.unattributed == report.items
