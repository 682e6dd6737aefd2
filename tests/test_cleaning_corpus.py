"""A corrupted raw zone, built line by line with hand-counted outcomes: the clean step must account for
every record exactly (clean, quarantined with a reason, duplicate, or spilled to a neighbour day)."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import lz4.frame
import polars as pl
import pytest

from data_lake import raw_zone
from data_lake.cleaning import CLEAN_TABLES, clean_partition
from data_lake.tables import table

DAY = dt.date(2026, 1, 10)
COIN = "BTC"
START = int(dt.datetime(2026, 1, 10, tzinfo=dt.UTC).timestamp() * 1000)
H = 3_600_000
DAY_MS = 24 * H
USER_A, USER_B = "0x" + "a" * 40, "0x" + "b" * 40


def env(time_ms: int, frame: object, delay_ms: int = 20) -> str:
    return raw_zone.envelope((time_ms + delay_ms) * 1_000_000, frame)


def book(time_ms: int, bid: float = 100.0, ask: float = 100.1, coin: str = COIN, levels: int = 6) -> dict:
    bids = [{"px": f"{bid - 0.1 * i:.1f}", "sz": f"{1 + i}.5", "n": 1 + i} for i in range(levels)]
    asks = [{"px": f"{ask + 0.1 * i:.1f}", "sz": f"{2 + i}.25", "n": 2 + i} for i in range(levels)]
    return {"channel": "l2Book", "data": {"coin": coin, "time": time_ms, "levels": [bids, asks]}}


def trade(time_ms: int, tid: int, px: str = "100.05", sz: str = "0.5", side: str = "B", coin: str = COIN) -> dict:
    return {
        "coin": coin,
        "side": side,
        "px": px,
        "sz": sz,
        "time": time_ms,
        "hash": "0x" + "1" * 64,
        "tid": tid,
        "users": [USER_A, USER_B],
    }


def trades(*items: dict) -> dict:
    return {"channel": "trades", "data": list(items)}


def fill(time_ms: int, tid: int, side: str, crossed: bool, user_oid: int, coin: str = COIN, px: str = "100.05") -> dict:
    return {
        "coin": coin,
        "px": px,
        "sz": "0.5",
        "side": side,
        "time": time_ms,
        "startPosition": "0.0",
        "dir": "Open Long",
        "closedPnl": "0.0",
        "hash": "0x" + "2" * 64,
        "oid": user_oid,
        "crossed": crossed,
        "fee": "0.01",
        "tid": tid,
        "feeToken": "USDC",
        "twapId": None,
    }


def resting_order(time_ms: int, oid: int = 11) -> dict:
    """The ``order`` of an ``orderUpdates`` item: a 0.5 bid at 100.0 placed at ``time_ms``."""
    return {
        "coin": COIN,
        "side": "B",
        "limitPx": "100.0",
        "sz": "0.5",
        "oid": oid,
        "timestamp": time_ms,
        "origSz": "0.5",
        "cloid": None,
    }


def asset_ctx() -> dict:
    """An ``activeAssetCtx`` frame with every field the cleaning reads."""
    ctx = {
        "funding": "0.0000125",
        "openInterest": "100.5",
        "prevDayPx": "99.0",
        "dayNtlVlm": "1000.0",
        "premium": "0.0001",
        "oraclePx": "100.0",
        "markPx": "100.05",
        "midPx": "100.05",
        "impactPxs": ["100.0", "100.1"],
        "dayBaseVlm": "10.0",
    }
    return {"channel": "activeAssetCtx", "data": {"coin": COIN, "ctx": ctx}}


def bbo(time_ms: int) -> dict:
    """A ``bbo`` frame: 1.5 bid at 100.0, 2.25 offered at 100.1."""
    return {
        "channel": "bbo",
        "data": {
            "coin": COIN,
            "time": time_ms,
            "bbo": [{"px": "100.0", "sz": "1.5", "n": 1}, {"px": "100.1", "sz": "2.25", "n": 2}],
        },
    }


def quoter_quote(time_ms: int) -> dict:
    """A ``quoterQuote`` log frame of the paper quoter (set ``abc``): both sides with their predictions."""
    quote = {
        "coin": COIN,
        "time": time_ms,
        "mode": "paper",
        "param_set_id": "abc",
        "mid": 100.05,
        "pred_adverse_bps": 0.8,
        "belief_calm": 0.9,
        "belief_volatile": 0.1,
        "belief_cascade": 0.0,
        "bid": {"px": 100.0, "sz": 0.5, "pred_fill_prob": 0.2},
        "ask": {"px": 100.1, "sz": 0.5, "pred_fill_prob": 0.25},
    }
    return {"channel": "quoterQuote", "data": quote}


def write_text(path: Path, text: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)
    return path


def ws_path(root: Path, date: dt.date, hour: int, compressed: bool = False) -> Path:
    return raw_zone.raw_path(root, "ws", date, hour, COIN, compressed=compressed)


def hour_ten_lines() -> list[str]:
    """53 records: 27 clean, 7 duplicates, 19 quarantined (see the comments)."""
    t = START + 10 * H
    books = [env(t + 500 * i, book(t + 500 * i, bid=100.0 + 0.1 * i, ask=100.1 + 0.1 * i)) for i in range(10)]
    trade_lines = [
        env(
            t + 100 + 1000 * i,
            trades(trade(t + 100 + 1000 * i, 2 * i + 1), trade(t + 100 + 1000 * i, 2 * i + 2, side="A")),
        )
        for i in range(5)
    ]
    fills_frame = {
        "channel": "userFills",
        "data": {"user": USER_A, "fills": [fill(t + 7000, 900, "B", True, 11), fill(t + 8000, 901, "A", False, 12)]},
    }
    snapshot = {
        "channel": "userFills",
        "data": {"isSnapshot": True, "user": USER_A, "fills": fills_frame["data"]["fills"]},
    }
    order = resting_order(t + 6000)
    updates = {
        "channel": "orderUpdates",
        "data": [
            {"order": order, "status": "open", "statusTimestamp": t + 6000},
            {"order": {**order, "sz": "0.0"}, "status": "filled", "statusTimestamp": t + 7000},
        ],
    }
    ctx = asset_ctx()
    empty_ask = book(t + 9100)
    empty_ask["data"]["levels"][1] = []
    nan_deep = book(t + 9200)
    nan_deep["data"]["levels"][0][5]["px"] = "NaN"
    unparseable = book(t + 9300)
    unparseable["data"]["levels"][0][0]["px"] = "abc"
    bad_time = trades(trade(t + 9400, 16))
    bad_time["data"][0]["time"] = "abc"
    return [
        env(
            t,
            {
                "channel": "subscriptionResponse",
                "data": {"method": "subscribe", "subscription": {"type": "l2Book", "coin": COIN}},
            },
        ),  # Q
        env(t, {"channel": "pong"}),  # Q
        *books,  # 10 book
        books[2],  # 1 duplicate (identical line)
        *trade_lines,  # 10 trades
        trade_lines[0],  # 2 duplicates (identical line)
        env(t + 1100 + 5000, json.loads(trade_lines[1])["raw"]),  # 2 duplicates (same trades received again later)
        env(t + 250, bbo(t + 250)),  # 1 book (bbo)
        env(t + 300, ctx),  # 1 asset_ctx
        env(t + 8000, fills_frame),  # 2 fills
        env(t + 9000, snapshot),  # 2 duplicates (snapshot repeats the fills)
        env(t + 7000, updates),  # 2 order updates
        env(t + 9050, book(t + 9050, bid=101.0, ask=100.5)),  # Q crossed
        env(t + 9060, book(t + 9060, bid=100.5, ask=100.5)),  # Q locked
        env(t + 9100, empty_ask),  # Q empty side
        env(t + 9200, nan_deep),  # Q NaN in level 6 (not a kept level)
        env(t + 9250, trades(trade(t + 9250, 11), trade(t + 9250, 12, px="0"))),  # 1 trade + Q non-positive
        env(t + 9260, trades(trade(t + 9260, 13, sz="NaN"))),  # Q NaN
        env(t + 9270, trades(trade(t + 9270, 14, coin="ETH"))),  # Q wrong coin
        env(t + 9280, trades(trade(START + 3 * DAY_MS, 15))),  # Q outside the day
        "\x00\ufffd garbage {{{",  # Q invalid JSON
        env(t + 9290, trades()),  # Q empty frame
        env(t + 9295, {"channel": "candle", "data": {"s": COIN}}),  # Q unsupported channel
        json.dumps(
            {"time": raw_zone.iso_ns((t + 9296) * 1_000_000), "ver_num": 1, "raw": "Websocket connection established."}
        ),  # Q text frame
        env(t + 9297, trades(trade(t + 9297, 17, side="X"))),  # Q unknown side
        json.dumps(trades(trade(t + 9298, 18))),  # Q bare frame, no envelope
        env(t + 9300, unparseable),  # Q unparseable price
        env(
            t + 9310,
            {
                "channel": "user",
                "data": {"funding": {"time": t, "coin": COIN, "usdc": "1.0", "szi": "1.0", "fundingRate": "0.0001"}},
            },
        ),  # Q
        env(t + 9400, bad_time),  # Q schema mismatch
    ]


def node_lines() -> list[str]:
    """A paired node fill (1 trade + 1 duplicate), a dust fill (Q) and a node_trades line (1 trade)."""
    t = START + 10 * H + 20_000
    block = {
        "local_time": raw_zone.iso_ns((t + 5) * 1_000_000),
        "block_time": raw_zone.iso_ns(t * 1_000_000),
        "block_number": 7,
        "events": [[USER_A, fill(t, 500, "B", True, 21)], [USER_B, fill(t, 500, "A", False, 22)]],
    }
    dust = {**fill(t + 1, 0, "A", True, 23), "hash": "0x" + "0" * 64, "dir": "Spot Dust Conversion"}
    dust_block = {**block, "block_number": 8, "events": [[USER_A, dust]]}
    node_trade = {
        "coin": COIN,
        "side": "A",
        "time": raw_zone.iso_ns((t + 2) * 1_000_000),
        "px": "100.0",
        "sz": "1.0",
        "hash": "0x" + "3" * 64,
        "trade_dir_override": "Na",
        "side_info": [
            {"user": USER_A, "start_pos": "0", "oid": 31, "twap_id": None, "cloid": None},
            {"user": USER_B, "start_pos": "0", "oid": 32, "twap_id": None, "cloid": None},
        ],
    }
    return [
        env(t, {"channel": "node_fills_by_block", "data": block}, 5),
        env(t, {"channel": "node_fills_by_block", "data": dust_block}, 5),
        env(t, {"channel": "node_trades", "data": node_trade}, 5),
    ]


@pytest.fixture
def corpus(raw_root: Path) -> dict[str, int]:
    """Write the corpus; returns the facts the test needs about the damaged LZ4 file."""
    lines = hour_ten_lines()
    random.Random(7).shuffle(lines)
    raw_zone.write_lines(ws_path(raw_root, DAY, 10, compressed=True), lines)
    t11 = START + 11 * H
    truncated = [env(t11, book(t11)), env(t11 + 500, book(t11 + 500)), env(t11 + 1000, book(t11 + 1000))[:150]]
    write_text(ws_path(raw_root, DAY, 11), "\n".join(truncated).encode())
    t12 = START + 12 * H
    payload = ("\n".join(env(t12 + 10 * i, book(t12 + 10 * i)) for i in range(600)) + "\n").encode()
    compressed = lz4.frame.compress(payload)
    cut = compressed[: len(compressed) // 2]
    decodable = lz4.frame.LZ4FrameDecompressor().decompress(cut)
    assert payload.startswith(decodable) and not decodable.endswith(b"\n")
    write_text(ws_path(raw_root, DAY, 12, compressed=True), cut)
    write_text(ws_path(raw_root, DAY, 13), b"")
    write_text(ws_path(raw_root, DAY, 14, compressed=True), bytes(random.Random(3).randrange(256) for _ in range(100)))
    t10 = START + 10 * H
    raw_zone.write_lines(
        raw_zone.raw_path(raw_root, "archive", DAY, 10, COIN),
        [env(t10, book(t10), 35), env(t10 + 500, book(t10 + 500, 100.1, 100.2), 35)],
    )
    raw_zone.write_lines(raw_zone.raw_path(raw_root, "node", DAY, 10, COIN), node_lines())
    midnight(raw_root)
    return {"decoded_book_lines": decodable.count(b"\n"), "cut_bytes": len(cut)}


def midnight(root: Path) -> None:
    """Edge-hour files on both sides of DAY's two midnights."""
    prev, nxt = DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=1)
    p4 = env(START + 300, trades(trade(START + 300, 102)))
    raw_zone.write_lines(
        ws_path(root, prev, 23),
        [
            env(START - 100, trades(trade(START - 100, 100))),  # DAY-1's own trade
            env(START + 50, trades(trade(START + 50, 101)), -100),  # spilled into DAY
            env(START + 100, book(START + 100), -100),  # spilled into DAY
            p4,  # spilled into DAY, and also in DAY's hour-0 file
            "garbage",  # DAY-1's quarantine
        ],
    )
    raw_zone.write_lines(
        ws_path(root, DAY, 0),
        [
            env(START - 50, trades(trade(START - 50, 103)), 100),  # spilled out to DAY-1
            env(START + 200, trades(trade(START + 200, 104))),  # clean
            env(
                START - DAY_MS - 12 * H, trades(trade(START - DAY_MS - 12 * H, 105)), DAY_MS + 12 * H + 10
            ),  # Q outside the day
            p4,  # duplicate of the spilled-in copy
        ],
    )
    end = START + DAY_MS
    raw_zone.write_lines(
        ws_path(root, DAY, 23),
        [
            env(end + 10, trades(trade(end + 10, 106)), -20),  # spilled out to DAY+1
            env(end - 1, trades(trade(end - 1, 107)), -10),  # clean
        ],
    )
    raw_zone.write_lines(
        ws_path(root, nxt, 0),
        [
            env(end - 20, trades(trade(end - 20, 108)), 40),  # spilled into DAY
            env(end + 1000, trades(trade(end + 1000, 109))),  # DAY+1's own trade
            "{truncated",  # DAY+1's quarantine
        ],
    )
    raw_zone.write_lines(ws_path(root, nxt, 1), [env(end - 5, trades(trade(end - 5, 110)), H)])  # DAY+1 quarantines it


EXPECTED_REASONS = {
    "control frame: subscriptionResponse": 1,
    "control frame: pong": 1,
    "crossed or locked book (bid >= ask)": 2,
    "empty book side": 1,
    "non-positive, NaN or unparseable price or size in the book": 2,
    "non-positive px or sz": 1,
    "NaN or infinite value": 1,
    "missing or wrong coin for this file": 1,
    "time outside the partition day": 2,
    "invalid JSON (corrupt line)": 1,
    "empty trades frame": 1,
    "unsupported channel: candle": 1,
    "non-JSON text frame": 1,
    "unknown side (not A or B)": 1,
    "not a raw-zone envelope (bare frame)": 1,
    "user event without fills (funding, liquidation or cancel: no clean table)": 1,
    "'trades' frame does not match the expected schema": 1,
    "truncated last line (invalid JSON, no final newline)": 2,
    "system fill, not a trade (tid 0): Spot Dust Conversion": 1,
}


def test_corpus_accounting_is_exact(raw_root: Path, corpus: dict[str, int]) -> None:
    k = corpus["decoded_book_lines"]
    result = clean_partition(raw_root, COIN, DAY)
    acc = result.accounting
    assert acc.as_dict() == {
        "records_in": 53 + 3 + (k + 2) + 0 + 1 + 2 + 4 + 4 + 2,
        "spilled_in": 4,
        "clean_rows": 27 + 2 + k + 2 + 3 + 1 + 1 + 1,
        "quarantined": 19 + 1 + 2 + 1 + 1 + 1,
        "duplicates": 7 + 2 + 1 + 1,
        "spilled_out": 2,
    }
    assert acc.balanced
    assert {name: df.height for name, df in result.tables.items()} == {
        "trades": 11 + 2 + 5,
        "book": 11 + 2 + k + 1,
        "asset_ctx": 1,
        "fills": 2,
        "order_updates": 2,
        "quoter_log": 0,
    }


def test_every_bad_record_has_its_reason(raw_root: Path, corpus: dict[str, int]) -> None:
    quarantine = clean_partition(raw_root, COIN, DAY).quarantine
    reasons = dict(quarantine.group_by("reason").len().iter_rows())
    damaged = {r: n for r, n in reasons.items() if r.startswith("damaged lz4")}
    assert {r: n for r, n in reasons.items() if r not in damaged} == EXPECTED_REASONS
    assert len(damaged) == 2 and sum(damaged.values()) == 2
    garbage = [r for r in damaged if "no complete lz4 frame header" in r]
    assert garbage == [
        "damaged lz4 (no complete lz4 frame header): 100 of 100 stored bytes from byte 0 could not be decoded"
    ]
    truncated_lz4 = next(r for r in damaged if r not in garbage)
    assert "block truncated" in truncated_lz4 and f" of {corpus['cut_bytes']} stored bytes" in truncated_lz4
    assert quarantine.select(pl.struct("source", "file", "line", "item").n_unique()).item() == quarantine.height
    assert quarantine["reason"].null_count() == 0
    assert (quarantine["coin"] == COIN).all() and (quarantine["date"] == DAY).all()
    crossed = quarantine.filter(pl.col("reason") == "crossed or locked book (bid >= ask)")["raw"].map_elements(
        lambda raw: json.loads(raw)["raw"]["data"]["levels"][0][0]["px"], return_dtype=pl.String
    )
    assert sorted(crossed) == ["100.5", "101.0"]
    wrong_coin = quarantine.filter(pl.col("reason") == "missing or wrong coin for this file").row(0, named=True)
    assert json.loads(wrong_coin["raw"])["coin"] == "ETH" and wrong_coin["item"] == 0


def test_clean_tables_are_ordered_unique_and_inside_the_day(raw_root: Path, corpus: dict[str, int]) -> None:
    result = clean_partition(raw_root, COIN, DAY)
    for name in CLEAN_TABLES:
        df = result.tables[name]
        assert df.schema == table(name).polars_schema, name
        assert df["time"].is_sorted(), name
        assert df["time"].is_between(START, START + DAY_MS - 1).all(), name
        assert (df["coin"] == COIN).all() and (df["date"] == DAY).all()
    trades_df = result.tables["trades"]
    assert trades_df.select(pl.struct("coin", "time", "tid").is_unique().all()).item()
    assert sorted(trades_df["tid"])[:11] == list(range(1, 12))
    assert {101, 102, 104, 107, 108, 500} <= set(trades_df["tid"])
    assert not {100, 103, 105, 106, 109, 110, 12, 13, 14, 15} & set(trades_df["tid"])
    node_pair = trades_df.filter(pl.col("tid") == 500).row(0, named=True)
    assert (node_pair["buyer"], node_pair["seller"], node_pair["side"], node_pair["source"]) == (
        USER_A,
        USER_B,
        1,
        "node",
    )
    book_df = result.tables["book"]
    assert (book_df["ask_px_1"] > book_df["bid_px_1"]).all()
    assert book_df.filter(pl.col("source") == "bbo").height == 1
    assert result.tables["fills"]["tid"].to_list() == [900, 901]
    assert result.tables["order_updates"]["status"].to_list() == ["open", "filled"]


def test_file_inventory(raw_root: Path, corpus: dict[str, int]) -> None:
    files = clean_partition(raw_root, COIN, DAY).files
    assert files.height == 9
    by_name = {(row["source"], Path(row["file"]).parent.name): row for row in files.iter_rows(named=True)}
    assert by_name[("ws", "13")]["lines"] == 0 and by_name[("ws", "13")]["bytes"] == 0
    assert by_name[("ws", "14")]["lines"] == 0 and by_name[("ws", "14")]["bytes"] == 100
    assert by_name[("ws", "11")]["lines"] == 3
    assert by_name[("ws", "12")]["lines"] == corpus["decoded_book_lines"] + 1
    assert by_name[("ws", "10")]["lines"] == 42
    assert [raw_zone.count_lines(path) for path in files["file"]] == files["lines"].to_list()


def test_midnight_spill_matches_the_neighbours(raw_root: Path, corpus: dict[str, int]) -> None:
    today = clean_partition(raw_root, COIN, DAY)
    before = clean_partition(raw_root, COIN, DAY - dt.timedelta(days=1))
    after = clean_partition(raw_root, COIN, DAY + dt.timedelta(days=1))
    assert before.accounting.as_dict() == {
        "records_in": 5,
        "spilled_in": 1,
        "clean_rows": 2,
        "quarantined": 1,
        "duplicates": 0,
        "spilled_out": 3,
    }
    assert after.accounting.as_dict() == {
        "records_in": 4,
        "spilled_in": 1,
        "clean_rows": 2,
        "quarantined": 2,
        "duplicates": 0,
        "spilled_out": 1,
    }
    assert before.accounting.balanced and after.accounting.balanced
    assert today.accounting.spilled_out == before.accounting.spilled_in + after.accounting.spilled_in
    assert today.accounting.spilled_in == before.accounting.spilled_out + after.accounting.spilled_out
    assert before.tables["trades"]["tid"].to_list() == [100, 103]
    assert after.tables["trades"]["tid"].to_list() == [106, 109]
    assert after.quarantine.filter(pl.col("reason") == "time outside the partition day").height == 1


def test_duplicates_and_node_pairs_across_hour_files_beside_a_damaged_file(raw_root: Path) -> None:
    """Files are cleaned one by one, but dedupe and node-fill pairing still see the whole day."""
    t3, t7 = START + 3 * H, START + 7 * H
    repeated = trades(trade(t3 + 100, 1), trade(t3 + 100, 2))
    raw_zone.write_lines(ws_path(raw_root, DAY, 3, compressed=True), [env(t3, book(t3)), env(t3 + 100, repeated)])
    raw_zone.write_lines(
        ws_path(raw_root, DAY, 7, compressed=True),
        [
            env(t3, book(t3), 4 * H),  # duplicate: the same snapshot received 4 h later
            env(t3 + 100, repeated, 4 * H),  # 2 duplicates
            env(t7, trades(trade(t7, 3))),  # clean
        ],
    )
    t5 = START + 5 * H
    payload = ("\n".join(env(t5 + 10 * i, book(t5 + 10 * i)) for i in range(600)) + "\n").encode()
    compressed = lz4.frame.compress(payload)
    cut = compressed[: len(compressed) // 2]
    decodable = lz4.frame.LZ4FrameDecompressor().decompress(cut)
    assert decodable and not decodable.endswith(b"\n")
    write_text(ws_path(raw_root, DAY, 5, compressed=True), cut)
    k = decodable.count(b"\n")
    for hour, user, side, crossed in ((3, USER_A, "B", True), (4, USER_B, "A", False)):
        block = {
            "local_time": raw_zone.iso_ns(t3 * 1_000_000),
            "block_time": raw_zone.iso_ns(t3 * 1_000_000),
            "block_number": hour,
            "events": [[user, fill(t3, 500, side, crossed, hour)]],
        }
        raw_zone.write_lines(
            raw_zone.raw_path(raw_root, "node", DAY, hour, COIN),
            [env(t3, {"channel": "node_fills_by_block", "data": block})],
        )
    result = clean_partition(raw_root, COIN, DAY)
    assert result.accounting.as_dict() == {
        "records_in": 3 + (k + 2) + 4 + 2,
        "spilled_in": 0,
        "clean_rows": 1 + k + 3 + 1,
        "quarantined": 2,
        "duplicates": 3 + 1,
        "spilled_out": 0,
    }
    assert result.accounting.balanced
    assert result.tables["trades"]["tid"].to_list() == [500, 1, 2, 3]
    pair = result.tables["trades"].row(0, named=True)
    assert (pair["buyer"], pair["seller"], pair["side"]) == (USER_A, USER_B, 1)
    assert result.tables["book"].height == 1 + k
    assert sorted(r.split(" (")[0] for r in result.quarantine["reason"]) == ["damaged lz4", "truncated last line"]


def test_an_empty_partition_balances_with_empty_tables(raw_root: Path) -> None:
    result = clean_partition(raw_root, COIN, DAY)
    assert result.accounting.as_dict() == dict.fromkeys(result.accounting.as_dict(), 0)
    assert result.accounting.balanced
    assert (
        all(df.height == 0 for df in result.tables.values())
        and result.quarantine.height == 0
        and result.files.height == 0
    )


def test_coin_names_with_slash_and_dex_prefix(raw_root: Path) -> None:
    t = START + 5 * H
    for coin in ("PURR/USDC", "xyz:NVDA"):
        raw_zone.write_lines(
            raw_zone.raw_path(raw_root, "ws", DAY, 5, coin),
            [env(t, trades(trade(t, 1, coin=coin), trade(t, 2, coin=coin)))],
        )
    for coin in ("PURR/USDC", "xyz:NVDA"):
        result = clean_partition(raw_root, coin, DAY)
        assert result.tables["trades"]["coin"].to_list() == [coin, coin]
        assert result.accounting.as_dict()["records_in"] == 2 and result.accounting.balanced


def test_quoter_logs_become_quoter_log_rows_and_their_predictions_reach_own_fills(raw_root: Path) -> None:
    t = START + 7 * H
    logged_fill = {
        "coin": COIN,
        "time": t + 500,
        "oid": 77,
        "tid": 9001,
        "side": "B",
        "px": 100.05,
        "sz": 0.5,
        "fee": 0.01,
        "pred_fill_prob": 0.2,
        "pred_adverse_bps": 0.8,
        "belief_calm": 0.9,
        "belief_volatile": 0.1,
        "belief_cascade": 0.0,
        "param_set_id": "abc",
        "quote_time": t,
    }
    lines = [
        env(t, quoter_quote(t)),
        env(t + 500, {"channel": "quoterFill", "data": logged_fill}),
        env(
            t + 500, {"channel": "userFills", "data": {"user": "paper", "fills": [fill(t + 500, 9001, "B", False, 77)]}}
        ),
    ]
    raw_zone.write_lines(raw_zone.raw_path(raw_root, "quoter", DAY, 7, COIN), lines)
    result = clean_partition(raw_root, COIN, DAY)
    assert result.accounting.balanced and result.quarantine.height == 0
    log = result.tables["quoter_log"]
    assert log["channel"].to_list() == ["quoterQuote", "quoterFill"]
    assert log["param_set_id"].to_list() == ["abc", "abc"]
    own = result.tables["fills"].row(0, named=True)
    assert (own["pred_fill_prob"], own["pred_adverse_bps"], own["belief_calm"]) == (0.2, 0.8, 0.9)


@pytest.mark.slow  # Great Expectations suites over every cleaned table
def test_the_corpus_passes_every_ingest_suite(raw_root: Path, corpus: dict[str, int]) -> None:
    """The blocking Great Expectations suites accept what the cleaning writes from real wire formats (own fills,
    order updates, quoter logs, a quarantine of every kind of damage): a suite that failed here would stop every
    real ingest."""
    from assets.quality import run_suite, table_suite

    t = START + 7 * H
    raw_zone.write_lines(raw_zone.raw_path(raw_root, "quoter", DAY, 7, COIN), [env(t, quoter_quote(t))])
    result = clean_partition(raw_root, COIN, DAY)
    tables = {**result.tables, "quarantine": result.quarantine}
    assert all(tables[name].height for name in ("order_updates", "quoter_log", "quarantine", "fills"))
    for name, df in tables.items():
        outcome = run_suite(table_suite(name, DAY), df)
        assert outcome.success, (name, outcome.failures)
