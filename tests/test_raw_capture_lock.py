"""The recorder's hourly compression and ``smallfish import`` rewrite the same ``.jsonl.lz4`` under one lock, so
neither drops the other's lines."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

from data_lake import raw_zone
from quoting.capture.raw_capture import HourlyRawWriter, compress_plain

DAY, HOUR = dt.date(2025, 6, 1), 10
RECV_NS = int(dt.datetime(2025, 6, 1, 10, 30, tzinfo=dt.UTC).timestamp() * 1e9)


def _recorded_hour(raw: Path, lines: list[str]) -> Path:
    """A finished plain hour file of the ``node`` source, as the recorder leaves it for compression."""
    writer = HourlyRawWriter(raw, source="node")
    for line in lines:
        writer.write(RECV_NS, "BTC", line)
    (plain,) = writer.detach_all()
    return plain


def test_compression_waits_for_an_import_merging_into_the_same_file(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    packed = raw_zone.raw_path(raw, "node", DAY, HOUR, "BTC")
    raw_zone.write_lines(packed, ["imported 1"])
    plain = _recorded_hour(raw, ["recorded 1", "recorded 2"])
    compression = threading.Thread(target=compress_plain, args=(plain,))

    with raw_zone.locked(packed):  # an import in the middle of its read-modify-write (importers._merge)
        compression.start()
        time.sleep(0.3)
        assert compression.is_alive() and plain.exists(), "compression rewrote the file under an import's lock"
        raw_zone.write_lines(packed, [*raw_zone.read_lines(packed), "imported 2"])
    compression.join(10)

    assert raw_zone.read_lines(packed) == ["imported 1", "imported 2", "recorded 1", "recorded 2"]
    assert not plain.exists()
