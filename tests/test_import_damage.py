"""The importer never hides damage: concurrent imports keep every line, damaged lz4 inputs and impossible paths
are errors naming the file, and coin names the raw zone cannot hold are set aside with their reason."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

import lz4.frame
import pytest

from data_lake import raw_zone
from data_lake.importers import import_file
from quoting.cli.main import main

HOUR_DIR = ("20250601", "10")


def _node_trade_lines(coin: str, first: int, count: int) -> list[str]:
    """node_trades lines at 2025-06-01 10:00 UTC, one per nanosecond offset, distinct by price."""
    return [
        f'{{"coin":"{coin}","side":"B","time":"2025-06-01T10:00:00.{i:09d}","px":"{i}","sz":"1"}}'
        for i in range(first, first + count)
    ]


def _node_file(folder: Path, lines: list[str], compressed: bool = False) -> Path:
    """An hl-node hourly file at ``folder/20250601/10`` (the importer reads day and hour from the path)."""
    path = folder / HOUR_DIR[0] / (HOUR_DIR[1] + (".lz4" if compressed else ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(lz4.frame.compress(data, block_size=lz4.frame.BLOCKSIZE_MAX64KB) if compressed else data)
    return path


def _import(path: str, raw: str, barrier: Any, out: Any) -> None:
    barrier.wait()
    try:
        out.put(import_file(path, "node-trades", raw).attributed)
    except Exception as exc:  # noqa: BLE001 - the outcome is the finding
        out.put(repr(exc))


@pytest.mark.slow  # two spawned import processes, twice
def test_two_concurrent_imports_into_one_raw_file_keep_every_line(tmp_path: Path) -> None:
    per_import, ctx = 20_000, mp.get_context("spawn")
    for attempt in range(2):
        raw = tmp_path / f"raw{attempt}"
        inputs = [
            _node_file(tmp_path / f"in{attempt}_{i}", _node_trade_lines("BTC", i * per_import, per_import))
            for i in range(2)
        ]
        barrier, out = ctx.Barrier(2), ctx.Queue()
        workers = [ctx.Process(target=_import, args=(str(p), str(raw), barrier, out)) for p in inputs]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
        assert sorted(out.get(timeout=5) for _ in workers) == [per_import, per_import]
        target = raw_zone.raw_path(raw, "node", raw_zone.discover(raw)[0].date, 10, "BTC")
        assert len(set(raw_zone.read_lines(target))) == 2 * per_import
        assert [f.path.name for f in raw_zone.discover(raw)] == ["BTC.jsonl.lz4"]  # no temp file left behind


def test_truncated_lz4_imports_what_decodes_and_exits_1_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _node_trade_lines("BTC", 0, 20_000)
    path = _node_file(tmp_path / "in", lines, compressed=True)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    raw = tmp_path / "raw"

    assert main(["import", "node-trades", str(path), "--raw", str(raw)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "damaged lz4" in err[0]
    kept = raw_zone.read_lines(raw_zone.discover(raw)[0].path)
    assert 0 < len(kept) < len(lines)
    assert kept == [
        f'{{"time":"2025-06-01T10:00:00.{i:09d}","ver_num":1,"raw":{{"channel":"node_trades","data":{line}}}}}'
        for i, line in enumerate(lines[: len(kept)])
    ]
    unattributed = raw_zone.read_lines(raw / "node" / "20250601" / "10" / "_unattributed.jsonl")
    assert len(unattributed) == 2  # the line cut by the damage, then the lost tail
    assert "invalid JSON" in unattributed[0] and "damaged lz4" in unattributed[1]


def test_undecodable_lz4_is_an_error_not_zero_items(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "in" / "20250601" / "10.lz4"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not an lz4 frame at all\n" * 10)

    assert main(["import", "node-trades", str(path), "--raw", str(tmp_path / "raw")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "no complete lz4 frame header" in err[0]


def test_truncated_archive_file_is_copied_and_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "market_data" / "20250601" / "10" / "l2Book" / "BTC.lz4"
    path.parent.mkdir(parents=True)
    frame = '{"time":"2025-06-01T10:00:00.000000000","ver_num":1,"raw":{"channel":"l2Book","data":{"coin":"BTC"}}}'
    path.write_bytes(
        lz4.frame.compress(("\n".join([frame] * 5000) + "\n").encode(), block_size=lz4.frame.BLOCKSIZE_MAX64KB)[:-200]
    )

    assert main(["import", "archive-l2book", str(path), "--raw", str(tmp_path / "raw")]) == 1
    assert "damaged lz4" in capsys.readouterr().err


@pytest.mark.parametrize("coin", ["_HIDDEN", "X" * 250])
def test_coin_names_the_raw_zone_cannot_hold_are_set_aside_and_the_rest_imported(tmp_path: Path, coin: str) -> None:
    path = _node_file(tmp_path / "in", _node_trade_lines("BTC", 0, 3) + _node_trade_lines(coin, 3, 2))
    raw = tmp_path / "raw"

    report = import_file(path, "node-trades", raw)

    assert (report.attributed, report.unattributed) == (3, 2)
    [reason] = report.reasons
    assert ("starts with '_'" if coin.startswith("_") else "too long for a file name") in reason
    assert [f.coin for f in raw_zone.discover(raw)] == ["BTC"]  # import and discover agree: nothing hidden
    assert len(raw_zone.read_lines(raw / "node" / "20250601" / "10" / "_unattributed.jsonl")) == 2


@pytest.mark.parametrize(
    ("day", "hour", "why"), [("20251399", "10", "not a UTC day"), ("20250601", "99", "not a UTC hour")]
)
def test_impossible_day_or_hour_in_the_path_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], day: str, hour: str, why: str
) -> None:
    path = tmp_path / "in" / day / hour
    path.parent.mkdir(parents=True)
    path.write_text("not json\n")

    assert main(["import", "node-trades", str(path), "--raw", str(tmp_path / "raw")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and why in err[0] and str(path) in err[0]
    assert not (tmp_path / "raw").exists()
