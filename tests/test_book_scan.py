"""The compiled l2Book/bbo fast path gives exactly the tables of the general decoder: same rows (bit for bit, or by
content hash over sorted rows) and the same quarantine with the same reasons, on demo hours, real Hyperliquid frames, a
hand-built tape of lines that are almost, but not quite, the layout it accepts, and random books whose figures depend
on the order of every operation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from data_lake import raw_zone
from data_lake.cleaning import clean_partition
from data_lake.parsers import lines_frame, parse_bytes, parse_lines
from data_lake.parsers.book_scan import MAX_LEVELS
from data_lake.parsers.decode import INVALID_JSON, iso_to_ns
from data_lake.parsers.records import PROVENANCE_COLUMNS, Records
from data_lake.parsers.scanned_book import scan_lines
from tests.support import DEMO_COIN, DEMO_DAY

RECV = 1_767_225_600_123_456_789
LEVEL = '{{"px":"{px}","sz":"{sz}","n":{n}}}'


def _l2(bids: str, asks: str, coin: str = "DEMO", time: int = 1767225600100, recv: str = raw_zone.iso_ns(RECV)) -> str:
    head = f'{{"time":"{recv}","ver_num":1,"raw":{{"channel":"l2Book","data":'
    return f'{head}{{"coin":"{coin}","time":{time},"levels":[[{bids}],[{asks}]]}}}}}}'


def _bbo(bid: str, ask: str, recv: str = raw_zone.iso_ns(RECV)) -> str:
    head = f'{{"time":"{recv}","ver_num":1,"raw":{{"channel":"bbo","data":'
    return f'{head}{{"coin":"DEMO","time":1767225600200,"bbo":[{bid},{ask}]}}}}}}'


BID = LEVEL.format(px="24.999", sz="177.13", n=2) + "," + LEVEL.format(px="24.998", sz="0.1", n=1)
ASK = LEVEL.format(px="25.0", sz="287.66", n=3)
ACCEPTED = [
    _l2(BID, ASK),
    _l2("", ASK),  # an empty side is scanned; the "empty book side" rule quarantines it
    _l2(ASK, BID),  # crossed: scanned, quarantined by the rule
    _l2(LEVEL.format(px="1234.567890123456", sz="1", n=1), ASK),  # 16 digits, below 2^53: exact
    _bbo(LEVEL.format(px="24.999", sz="177.13", n=2), LEVEL.format(px="25.0", sz="287.66", n=3)),
    _bbo("null", LEVEL.format(px="25.0", sz="287.66", n=3)),
    _bbo(LEVEL.format(px="0", sz="1", n=1), LEVEL.format(px="25.0", sz="1", n=1)),  # zero price: rule quarantines
]
"""Lines in the scanner's layout."""
FALLBACK = [
    _l2(BID, ASK).replace('"coin":"DEMO"', '"coin": "DEMO"'),  # whitespace
    _l2(BID, ASK).replace('"DEMO"', '"DE\\u004dO"'),  # an escape
    _l2(BID, ASK, coin="DÉMO"),  # non-ASCII
    _l2(LEVEL.format(px="2.4999e1", sz="1", n=1), ASK),  # exponent
    _l2(LEVEL.format(px="0.30000000000000004", sz="1", n=1), ASK),  # 17 digits: beyond 2^53 as a mantissa
    _l2(LEVEL.format(px="-24.999", sz="1", n=1), ASK),  # negative: general path, rule quarantines
    _l2(LEVEL.format(px="abc", sz="1", n=1), ASK),  # unparseable decimal
    _l2(LEVEL.format(px=".5", sz="1", n=1), ASK),
    _l2(BID.replace('"n":2', '"n":2,"x":1'), ASK),  # an extra key
    _l2(BID.replace('"n":2', '"n":02'), ASK),  # leading zero: invalid JSON
    _l2(BID, ASK).replace('"levels":[[', '"levels":[[],['),  # three sides
    _l2(BID, ASK)[:-40],  # truncated
    _l2(BID, ASK) + "\r",
    _l2(BID, ASK).replace('"ver_num":1,', ""),
    _bbo("null", "null").replace("null]", "null,null]"),  # three entries
    _bbo(LEVEL.format(px="24.999", sz="1", n=1), "{}"),
    *(
        _l2(BID, ASK, recv=recv)  # receive times the scanner leaves to the general path (which nulls or parses them)
        for recv in (
            "2026-01-01T00:00:00.123456789Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.1234567891",
            "2026-13-01T00:00:00.5",
            "2026-02-29T00:00:00.5",
            "1969-12-31T23:59:59.5",
            "2026-01-01 00:00:00.5",
            "2026-01-01T24:00:00.5",
            "2026-01-01T00:00:00.-5",
        )
    ),
]
"""Lines just outside it: each goes down the general path, which quarantines or decodes it as before."""


def test_receive_times_are_the_general_decoders_to_the_nanosecond() -> None:
    rng = np.random.default_rng(11)
    stamps = rng.integers(0, 2**63 - 2 * 10**18, 3_000)  # 1970 to 2262, leap days and year ends included
    stamps[:4] = [0, 951_782_400 * 10**9, 4_107_542_399 * 10**9 + 999_999_999, 1_709_164_800 * 10**9 + 1]
    texts = []
    for stamp, digits in zip(stamps, rng.integers(1, 10, stamps.size), strict=True):
        texts.append(raw_zone.iso_ns(int(stamp))[: 20 + int(digits)])
    lines = [_bbo("null", "null", recv=text) for text in texts]
    accepted, rest = scan_lines(lines_frame("\n".join(lines) + "\n"))
    assert rest.height == 0
    expected = pl.select(iso_to_ns(pl.Series(texts))).to_series()
    assert accepted["recv_time_ns"].to_list() == expected.to_list()


def _bits(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with every float as its IEEE bits, so equality is bit for bit (0.0 is not -0.0, NaN equals NaN)."""
    return df.with_columns(pl.col(pl.Float64).reinterpret(signed=False))


def _same(fast: Records, exact: Records) -> None:
    for name in set(fast.tables) | set(exact.tables):
        a, b = fast.table(name).sort(PROVENANCE_COLUMNS), exact.table(name).sort(PROVENANCE_COLUMNS)
        assert _bits(a).equals(_bits(b), null_equal=True), name
    assert fast.quarantine.sort(PROVENANCE_COLUMNS).equals(exact.quarantine.sort(PROVENANCE_COLUMNS), null_equal=True)


def _parse_both(lines: list[str]) -> tuple[Records, Records]:
    """The fast path over a batch and over the file's bytes, each checked against the general decoder."""
    text = "\n".join(lines) + "\n"
    batch = lines_frame(text)
    exact = parse_lines(batch, scan=False)
    fast, line_count = parse_bytes(text.encode())
    assert line_count == batch.height
    _same(fast, exact)
    return parse_lines(batch), exact


def test_scanner_accepts_exactly_the_compact_layout() -> None:
    batch = lines_frame("\n".join(ACCEPTED + FALLBACK) + "\n")
    accepted, rest = scan_lines(batch)
    assert accepted["_line"].to_list() == [1, 2, 3, 4, 5, 6, 7]
    assert rest["_line"].to_list() == list(range(8, batch.height + 1))
    first = accepted.row(0, named=True)
    assert (first["coin"], first["time"], first["recv_time_ns"], first["source"]) == (
        "DEMO",
        1767225600100,
        RECV,
        "l2Book",
    )
    assert (first["bid_px_1"], first["bid_sz_1"], first["bid_n_1"], first["bid_px_2"], first["bid_sz_2"]) == (
        24.999,
        177.13,
        2,
        24.998,
        0.1,
    )
    assert (first["bid_px_3"], first["ask_px_1"], first["ask_px_2"], first["mid"]) == (
        None,
        25.0,
        None,
        (24.999 + 25.0) / 2,
    )
    assert accepted.row(1, named=True)["bid_px_1"] is None
    assert accepted.row(3, named=True)["bid_px_1"] == 1234.567890123456
    assert accepted.filter(pl.col("source") == "bbo").select(
        "bid_px_1", "bid_n_1", "ask_px_1", "imbalance_5"
    ).rows() == [
        (24.999, 2, 25.0, None),
        (None, None, 25.0, None),
        (0.0, 1, 25.0, None),
    ]


def test_tape_of_near_misses_parses_as_the_general_decoder() -> None:
    fast, exact = _parse_both(ACCEPTED + FALLBACK)
    _same(fast, exact)
    reasons = dict(fast.quarantine.select("_line", "reason").iter_rows())
    assert fast.table("book").height == len(ACCEPTED) + len(FALLBACK) - 3  # the rules judge the rest when cleaning
    assert reasons[len(ACCEPTED) + 10] == INVALID_JSON  # leading zero
    assert reasons[len(ACCEPTED) + 11] == "l2Book levels are not [bids, asks]"
    assert reasons[len(ACCEPTED) + 12] == INVALID_JSON  # truncated


def test_real_frames_in_envelopes(samples_dir: Path) -> None:
    frames = [json.loads(line) for line in (samples_dir / "ws/ws_messages_examples.jsonl").read_text().splitlines()]
    book_only = json.loads((samples_dir / "ws/http_l2_book_btc.json").read_text())  # levels lack n: general path
    frames.append({"channel": "l2Book", "data": book_only})
    lines = [raw_zone.envelope(RECV + i, frame) for i, frame in enumerate(frames)]
    batch = lines_frame("\n".join(lines) + "\n")
    assert scan_lines(batch)[0]["_line"].to_list() == [2]  # the real 20-level l2Book frame
    fast, exact = _parse_both(lines)
    _same(fast, exact)
    assert fast.table("book").height == 2
    assert fast.table("book").sort("_line").row(0, named=True)["bid_px_1"] == 106217.0


def _hours(demo: Path, target: Path, hours: tuple[int, ...]) -> Path:
    for f in raw_zone.discover(demo, coin=DEMO_COIN, date=DEMO_DAY):
        if f.hour in hours:
            dest = target / f.path.relative_to(demo)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f.path, dest)
    return target


@pytest.mark.slow  # cleans two simulated demo hours twice
def test_demo_hours_clean_to_identical_tables(demo_day: tuple[Path, Path], tmp_path: Path) -> None:
    raw = _hours(demo_day[0], tmp_path / "raw", (0, 13))
    fast, exact = clean_partition(raw, DEMO_COIN, DEMO_DAY), clean_partition(raw, DEMO_COIN, DEMO_DAY, scan=False)
    assert fast.tables["book"].height > 40_000
    assert fast.content_hashes() == exact.content_hashes()
    assert fast.accounting == exact.accounting and fast.accounting.balanced


def test_tape_cleans_to_the_same_tables_and_reasons(raw_root: Path) -> None:
    raw_zone.write_lines(raw_zone.raw_path(raw_root, "ws", DEMO_DAY, 0, DEMO_COIN), ACCEPTED + FALLBACK)
    fast, exact = (
        clean_partition(raw_root, DEMO_COIN, DEMO_DAY),
        clean_partition(raw_root, DEMO_COIN, DEMO_DAY, scan=False),
    )
    assert fast.content_hashes() == exact.content_hashes()
    reasons = dict(fast.quarantine.select("line", "reason").iter_rows())
    assert reasons[2] == "empty book side"
    assert reasons[3] == "crossed or locked book (bid >= ask)"
    assert reasons[7] == "non-positive, NaN or unparseable price or size in the book"
    assert reasons[4] == "crossed or locked book (bid >= ask)"  # 1234.57 bid over a 25.0 ask


def _random_level(rng: np.random.Generator) -> str:
    """A level whose price and size span many magnitudes (so sums depend on their order), at times zero, and whose
    order count is at times negative or beyond Int32."""
    digits, decimals = int(rng.integers(1, 16)), int(rng.integers(0, 8))
    mantissa = str(int(rng.integers(0, 10**digits)))
    px = mantissa if decimals == 0 else f"{mantissa[:-decimals] or '0'}.{mantissa[-decimals:].zfill(decimals)}"
    sz = f"{rng.integers(0, 10**6)}.{rng.integers(0, 100):02d}"
    n = int(rng.choice([rng.integers(0, 50), -1, 2**31 - 1, 2**31, -(2**31) - 1]))
    return LEVEL.format(px=px, sz=sz, n=n)


def _random_side(rng: np.random.Generator, mid: float) -> str:
    count = int(rng.choice([0, 1, 5, 20, 37, MAX_LEVELS, MAX_LEVELS + 1]))
    levels = []
    for _ in range(count):
        if rng.random() < 0.7:  # near the mid: inside or just outside the 10 bps depth band
            px = f"{mid * (1 + rng.normal(0, 0.002)):.4f}"
            levels.append(LEVEL.format(px=px, sz=f"{rng.integers(1, 10**5)}.{rng.integers(0, 1000):03d}", n=1))
        else:
            levels.append(_random_level(rng))
    return ",".join(levels)


def test_random_books_are_the_general_decoders_bit_for_bit() -> None:
    rng = np.random.default_rng(19)
    lines = []
    for _ in range(400):
        mid = float(10 ** rng.uniform(-3, 5))
        if rng.random() < 0.3:
            lines.append(_bbo(*(_random_level(rng) if rng.random() < 0.8 else "null" for _ in range(2))))
        else:
            lines.append(_l2(_random_side(rng, mid), _random_side(rng, mid)))
    fast, exact = _parse_both(lines)
    _same(fast, exact)
    assert scan_lines(lines_frame("\n".join(lines)))[0].height > 300  # all but the sides beyond MAX_LEVELS
    book = fast.table("book")
    assert book.height == len(lines)
    assert book["bid_depth_10bps"].drop_nulls().gt(0).sum() > 50  # the depth band was exercised


def test_file_bytes_split_as_the_line_batch() -> None:
    """Blank lines, a CRLF line, invalid UTF-8 beside book lines and an open last book line: the same records and line
    numbers from the bytes as from the decoded text."""
    book = [_l2(BID, ASK), _bbo(LEVEL.format(px="24.999", sz="1", n=1), "null")]
    for tail in (b"", b"\n"):
        data = (book[0] + "\n\n" + book[1] + "\r\n").encode() + b"ok\xff\n" + (book[1] + "\n" + book[0]).encode() + tail
        batch = lines_frame(data.decode("utf-8", errors="replace"))
        fast, line_count = parse_bytes(data)
        assert line_count == batch.height
        _same(fast, parse_lines(batch, scan=False))
        assert sorted(fast.table("book")["_line"].to_list()) == [1, 3, 5, 6]
