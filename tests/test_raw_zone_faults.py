"""Raw-zone files that cannot be read as they stand (a directory, a symlink loop, an I/O error, a second route
through a symlinked source directory): each is reported once as a quarantined record with its reason, read at
most once, and the rest of the day is still cleaned with balanced accounting."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_lake import raw_zone
from data_lake.cleaning import CleanPartition, clean_partition
from tests.test_cleaning_corpus import COIN, DAY, START, env, trade, trades

H = 3_600_000


def _good_hour(root: Path, hour: int, first_tid: int) -> Path:
    t = START + hour * H
    lines = [env(t + 1000 * i, trades(trade(t + 1000 * i, first_tid + i))) for i in range(5)]
    return raw_zone.write_lines(raw_zone.raw_path(root, "ws", DAY, hour, COIN), lines)


def _clean(root: Path) -> CleanPartition:
    result = clean_partition(root, COIN, DAY)
    assert result.accounting.balanced, result.accounting
    return result


def _reasons(result: CleanPartition) -> dict[str, str]:
    return dict(zip(result.quarantine["file"].to_list(), result.quarantine["reason"].to_list(), strict=True))


def test_a_directory_and_a_symlink_loop_are_quarantined_and_the_day_is_cleaned(tmp_path: Path) -> None:
    _good_hour(tmp_path, 10, 1)
    folder = raw_zone.raw_path(tmp_path, "ws", DAY, 11, COIN)
    folder.mkdir(parents=True)
    loop = raw_zone.raw_path(tmp_path, "ws", DAY, 12, COIN)
    loop.parent.mkdir(parents=True)
    loop.symlink_to(loop)

    result = _clean(tmp_path)

    assert result.tables["trades"]["tid"].to_list() == [1, 2, 3, 4, 5]
    assert _reasons(result) == {
        str(folder): "a directory where a raw file is expected",
        str(loop): "symlink loop, not a raw file",
    }
    assert sorted(result.files["lines"].to_list()) == [0, 0, 5]


def test_an_unreadable_file_is_quarantined_with_its_error_and_the_day_is_cleaned(tmp_path: Path) -> None:
    if not Path("/proc/self/mem").is_file():
        pytest.skip("needs Linux /proc/self/mem (a regular file whose read fails with EIO)")
    _good_hour(tmp_path, 10, 1)
    broken = raw_zone.raw_path(tmp_path, "ws", DAY, 13, COIN, compressed=False)
    broken.parent.mkdir(parents=True)
    broken.symlink_to("/proc/self/mem")

    result = _clean(tmp_path)

    assert result.tables["trades"]["tid"].to_list() == [1, 2, 3, 4, 5]
    assert _reasons(result) == {str(broken): "unreadable raw file: Input/output error"}


def test_a_symlinked_source_directory_is_read_once_and_its_route_reported(tmp_path: Path) -> None:
    real = _good_hour(tmp_path, 10, 1)
    (tmp_path / "aaa_mirror").symlink_to(tmp_path / "ws", target_is_directory=True)  # sorts before "ws"

    result = _clean(tmp_path)

    assert result.tables["trades"]["tid"].to_list() == [1, 2, 3, 4, 5]
    assert result.accounting.duplicates == 0
    alias = tmp_path / "aaa_mirror" / real.relative_to(tmp_path / "ws")
    assert _reasons(result) == {str(alias): f"same file as {real} (reached through a symlink), read once there"}


def test_day_and_hour_directories_outside_the_calendar_are_passed_over(tmp_path: Path) -> None:
    _good_hour(tmp_path, 10, 1)
    for odd in ("20251399/10", "20260110/99"):
        raw_zone.write_lines(tmp_path / "ws" / odd / f"{COIN}.jsonl", ["{}"])

    assert [(f.date, f.hour) for f in raw_zone.discover(tmp_path)] == [(DAY, 10)]
