"""The recorder against the fake Hyperliquid: exact frames, hourly files, reconnects, SIGTERM and kill -9."""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from hyperliquid.exchange import Exchange

from data_lake.cleaning import clean_partition
from data_lake.raw_zone import discover, read_bytes, read_lines
from quoting.capture.frame_routing import route
from quoting.capture.raw_capture import HOUR_NS, CaptureWriteError, HourlyRawWriter
from quoting.capture.recorder import MARKET_FEEDS, Recorder, RecorderConfig, RecorderStats, raw_line, record_main
from tests.fake_hyperliquid import FakeHyperliquid
from tests.fake_hyperliquid.replay import load_raw

ROOT = Path(__file__).resolve().parents[1]
ENVELOPE = re.compile(r'^\{"time":"([^"]+)","ver_num":1,"raw":(.*)\}$')
DATA = {"trades", "l2Book", "bbo", "activeAssetCtx", "userFills", "orderUpdates"}
MASTER = Account.from_key("0x" + "d4" * 32)
TRADE = {"coin": "DEMO", "time": 5, "hash": "0x" + "0" * 64, "tid": 9, "users": ["0x" + "1" * 40, "0x" + "2" * 40]}
Demo = tuple[Path, Path]


class RecorderThread:
    """A recorder running on its own event loop in a thread, stopped like SIGTERM stops the CLI."""

    def __init__(self, config: RecorderConfig, clock: Callable[[], int] = time.time_ns) -> None:
        self.recorder = Recorder(config, clock)
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._result: list[RecorderStats] = []
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        self._result.append(self._loop.run_until_complete(self.recorder.run(self._stop)))

    def __enter__(self) -> RecorderThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> RecorderStats:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=30)
        assert not self._thread.is_alive() and self._result, "recorder did not stop"
        return self._result[0]


def _config(fake: FakeHyperliquid, out: Path, **kwargs: Any) -> RecorderConfig:
    timing = {"ping_interval_s": 0.5, "backoff_initial_s": 0.05, "backoff_max_s": 0.5, "fsync_interval_s": 0.1}
    return RecorderConfig(("DEMO",), out, fake.ws_url, **{**timing, **kwargs})


def _wait_subscribed(fake: FakeHyperliquid, address: str | None = None) -> None:
    for feed in MARKET_FEEDS:
        fake.wait_for_subscription({"type": feed, "coin": "DEMO"})
    if address is not None:
        for feed in ("userFills", "orderUpdates"):
            fake.wait_for_subscription({"type": feed, "user": address})


def _wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _sent_data(fake: FakeHyperliquid) -> list[str]:
    return fake.sent_frames(DATA)


def _all_files(raw_root: Path) -> list[Path]:
    """Every file the recorder wrote, in (day, hour, name) order."""
    files = (raw_root / "ws").glob("*/*/*.jsonl*")
    return sorted(files, key=lambda p: (p.parent.parent.name, int(p.parent.name), p.name))


def _raw(line: str) -> str:
    """The frame text inside an envelope line."""
    match = ENVELOPE.match(line)
    assert match, f"not an envelope line: {line[:80]}"
    return match.group(2)


def _recorded(raw_root: Path) -> list[str]:
    """The raw frame text of every recorded line (coin files and _unattributed), in receive order."""
    lines = [line for path in _all_files(raw_root) for line in read_lines(path)]
    return [_raw(line) for line in sorted(lines, key=lambda line: json.loads(line)["time"])]


def _span_s(fake: FakeHyperliquid) -> float:
    return (fake.frames[-1].recv_ns - fake.frames[0].recv_ns) / 1e9


@pytest.fixture
def fake() -> Iterator[FakeHyperliquid]:
    with FakeHyperliquid(universe=[("DEMO", 2)], idle_timeout_s=60.0) as server:
        yield server


@pytest.mark.slow  # replays the simulated demo day through the fake exchange
def test_replayed_frames_land_in_their_receive_hour_files_byte_for_byte(
    fake: FakeHyperliquid, demo_day: Demo, tmp_path: Path
) -> None:
    fake.load_raw(demo_day[0], coins=["DEMO"], limit=3_000)
    boundary = dt.datetime(2026, 3, 1, 13, tzinfo=dt.UTC)
    offset = int(boundary.timestamp() * 1e9) - time.time_ns() - 1_500_000_000
    out = tmp_path / "raw"
    with RecorderThread(_config(fake, out), clock=lambda: time.time_ns() + offset) as running:
        _wait_subscribed(fake)
        fake.start_replay(speed=_span_s(fake) / 2.5)
        first_hour = out / "ws" / "20260301" / "12" / "DEMO.jsonl"
        _wait_until(lambda: first_hour.with_name("DEMO.jsonl.lz4").exists() and not first_hour.exists())
        fake.wait_replay()
        sent = _sent_data(fake)
        _wait_until(lambda: running.recorder.stats.frames == len(sent))
        stats = running.stop()
    files = _all_files(out)
    assert [p.relative_to(out / "ws" / "20260301").as_posix() for p in files] == [
        "12/DEMO.jsonl.lz4",
        "13/DEMO.jsonl.lz4",
    ]
    for path in files:
        times = [json.loads(line)["time"] for line in read_lines(path)]
        assert times and all(t.startswith(f"2026-03-01T{path.parent.name}:") for t in times)
    assert _recorded(out) == sent
    assert len(sent) == 3_000 and stats.lines == 3_000 and stats.control >= 4


@pytest.mark.slow  # replays the simulated demo day through the fake exchange
def test_a_disconnect_loses_no_frame_and_user_frames_go_to_their_coin(
    fake: FakeHyperliquid, demo_day: Demo, tmp_path: Path
) -> None:
    fake.add_account(MASTER.address)
    exchange = Exchange(MASTER, fake.base_url, meta=fake.meta(), spot_meta=fake.spot_meta())
    [placed] = exchange.order("DEMO", True, 1.0, 20.0, {"limit": {"tif": "Alo"}})["response"]["data"]["statuses"]
    assert "resting" in placed
    fake.load_raw(demo_day[0], coins=["DEMO"], limit=4_000)
    out = tmp_path / "raw"
    with RecorderThread(_config(fake, out, address=MASTER.address)) as running:
        _wait_subscribed(fake, MASTER.address)
        fake.start_replay(speed=_span_s(fake) / 2.0)
        time.sleep(0.7)
        assert fake.disconnect_all() == 1
        before = len(_sent_data(fake))
        _wait_subscribed(fake, MASTER.address)
        fake.wait_replay()
        fake.publish({"channel": "trades", "data": [{**TRADE, "side": "A", "px": "19.9", "sz": "3.0"}]})
        _wait_until(lambda: any('"channel":"orderUpdates"' in text for text in _sent_data(fake)))
        sent = _sent_data(fake)
        _wait_until(lambda: running.recorder.stats.frames == len(sent))
        stats = running.stop()
    assert 0 < before < len(sent) and stats.connections == 2 and fake.client_count() == 0
    assert _recorded(out) == sent
    demo = [json.loads(line)["raw"] for f in discover(out, coin="DEMO") for line in read_lines(f.path)]
    assert [f["data"]["fills"][0]["px"] for f in demo if f["channel"] == "userFills"] == ["20.0"]
    assert [u["data"][0]["status"] for u in demo if u["channel"] == "orderUpdates"] == ["filled"]
    unattributed = [json.loads(line)["raw"] for p in out.glob("ws/*/*/_unattributed.*") for line in read_lines(p)]
    assert [u["data"]["isSnapshot"] for u in unattributed] == [True, True]


def _spawn_recorder(fake: FakeHyperliquid, out: Path, log: Path) -> subprocess.Popen[bytes]:
    code = (
        "import sys; from quoting.capture.recorder import record_main; "
        f"sys.exit(record_main(['DEMO'], {str(out)!r}, None, {fake.ws_url!r}, ping_interval_s=1.0))"
    )
    with open(log, "wb") as stderr:
        return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)


def _replay_into_subprocess(
    fake: FakeHyperliquid, demo_day: Demo, out: Path, sig: signal.Signals
) -> tuple[int, list[str]]:
    """Run the recorder CLI function as a process, replay into it, signal it mid-replay; (exit code, frames sent)."""
    fake.load_raw(demo_day[0], coins=["DEMO"], limit=20_000)
    process = _spawn_recorder(fake, out, out.parent / "recorder.log")
    try:
        _wait_subscribed(fake)
        fake.start_replay(speed=_span_s(fake) / 8.0)
        time.sleep(1.5)
        process.send_signal(sig)
        returncode = process.wait(timeout=30)
    finally:
        process.kill()
        process.wait()
    fake.pause_replay()
    return returncode, _sent_data(fake)


@pytest.mark.slow  # the record CLI in a subprocess against the fake exchange
def test_record_with_leaders_also_captures_the_configured_leaders(fake: FakeHyperliquid, tmp_path: Path) -> None:
    """``smallfish record --coins FOLLOW --with-leaders`` with FOLLOW led by DEMO subscribes to DEMO's market feeds
    as to FOLLOW's: the leader's data reaches the raw zone like any coin's."""
    env = {**os.environ, "SMALLFISH_LEADERS": "FOLLOW=DEMO"}
    command = [
        sys.executable,
        "-m",
        "quoting.cli",
        "record",
        "--coins",
        "FOLLOW",
        "--with-leaders",
        "--out",
        str(tmp_path / "raw"),
        "--ws-url",
        fake.ws_url,
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for coin in ("FOLLOW", "DEMO"):
            for feed in MARKET_FEEDS:
                fake.wait_for_subscription({"type": feed, "coin": coin}, timeout=30.0)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert b"recording FOLLOW, DEMO (with the leaders of FOLLOW)" in stderr


@pytest.mark.slow  # a recorder subprocess fed the simulated demo day
def test_sigterm_flushes_compresses_and_keeps_every_received_frame(
    fake: FakeHyperliquid, demo_day: Demo, tmp_path: Path
) -> None:
    out = tmp_path / "raw"
    returncode, sent = _replay_into_subprocess(fake, demo_day, out, signal.SIGTERM)
    assert returncode == 0
    files = _all_files(out)
    assert files and all(p.name.endswith(".jsonl.lz4") for p in files)
    recorded = _recorded(out)
    assert len(recorded) > 500 and recorded == sent[: len(recorded)]


@pytest.mark.slow  # a recorder subprocess fed the simulated demo day
def test_kill_9_leaves_every_complete_line_readable(fake: FakeHyperliquid, demo_day: Demo, tmp_path: Path) -> None:
    out = tmp_path / "raw"
    returncode, sent = _replay_into_subprocess(fake, demo_day, out, signal.SIGKILL)
    assert returncode == -signal.SIGKILL
    files = _all_files(out)
    assert files[-1].name == "DEMO.jsonl"
    lines = [line for path in files for line in read_lines(path)]
    truncated = not read_bytes(files[-1]).endswith(b"\n")
    complete = [_raw(line) for line in (lines[:-1] if truncated else lines)]
    assert len(complete) > 500 and complete == sent[: len(complete)]
    if truncated:
        assert '{"time":"'.startswith(lines[-1][:9]) and ENVELOPE.match(lines[-1]) is None


@pytest.mark.slow  # reads the simulated demo day (a session fixture only slow tests share)
def test_restart_after_a_torn_line_starts_a_fresh_line_and_cleaning_quarantines_only_it(
    fake: FakeHyperliquid, demo_day: Demo, tmp_path: Path
) -> None:
    frames = load_raw(demo_day[0], coins=["DEMO"], limit=1_000)
    before, after = frames[:300], frames[300:]
    start_ns = int(dt.datetime(2026, 1, 1, 0, 30, tzinfo=dt.UTC).timestamp() * 1e9)
    out = tmp_path / "raw"
    crashed = HourlyRawWriter(out)
    for i, frame in enumerate(before):
        crashed.write(start_ns + i * 1_000, "DEMO", raw_line(start_ns + i * 1_000, frame.text, frame.frame, True))
    torn = raw_line(start_ns + 400_000, after[0].text, after[0].frame, True)[:57]
    with open(crashed.path(start_ns // HOUR_NS, "DEMO"), "ab") as plain:
        plain.write(torn.encode())
    crashed.detach_all()
    fake.load_frames([(f.recv_ns, f.frame) for f in after])
    t0 = time.time_ns()
    with RecorderThread(_config(fake, out), clock=lambda: start_ns + 1_000_000_000 + time.time_ns() - t0) as running:
        _wait_subscribed(fake)
        fake.start_replay(speed=None)
        fake.wait_replay()
        _wait_until(lambda: running.recorder.stats.frames == 700)
    lines = read_lines(out / "ws" / "20260101" / "0" / "DEMO.jsonl.lz4")
    assert len(lines) == 1_001 and lines[300] == torn
    assert [_raw(line) for line in lines[:300] + lines[301:]] == [f.text for f in before + after]
    cleaned = clean_partition(out, "DEMO", dt.date(2026, 1, 1))
    assert cleaned.quarantine.height == 1 and cleaned.accounting.balanced
    assert torn in cleaned.quarantine.row(0)


@pytest.mark.slow  # 2 s of real-time pings
def test_pings_keep_the_connection_within_the_idle_limit(tmp_path: Path) -> None:
    with FakeHyperliquid(idle_timeout_s=0.6) as fake:
        with RecorderThread(_config(fake, tmp_path / "raw", ping_interval_s=0.2)) as running:
            _wait_subscribed(fake)
            time.sleep(2.0)
            stats = running.stop()
    assert stats.connections == 1 and not stats.errors


def test_reconnects_with_backoff_until_stopped(tmp_path: Path) -> None:
    with FakeHyperliquid() as fake:
        url = fake.ws_url
    timing = {"backoff_initial_s": 0.05, "backoff_max_s": 0.2, "ping_interval_s": 1.0}
    with RecorderThread(RecorderConfig(("DEMO",), tmp_path / "raw", url, **timing)) as running:
        time.sleep(1.0)
        started = time.monotonic()
        stats = running.stop()
    assert time.monotonic() - started < 1.0
    assert 4 <= len(stats.errors) <= 12 and stats.connections == 0


def test_stop_during_a_hanging_handshake_is_prompt(tmp_path: Path) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"ws://127.0.0.1:{silent.getsockname()[1]}/ws"
        with RecorderThread(RecorderConfig(("DEMO",), tmp_path / "raw", url, close_timeout_s=0.3)) as running:
            time.sleep(0.5)
            started = time.monotonic()
            stats = running.stop()
    assert time.monotonic() - started < 1.5 and stats.connections == 0


def test_non_json_and_coinless_frames_are_kept_unattributed(tmp_path: Path) -> None:
    recorder = Recorder(RecorderConfig(("DEMO",), tmp_path / "raw"), clock=lambda: 1_767_225_600_000_000_000)

    async def feed() -> None:
        recorder.on_message("Websocket connection established.")
        recorder.on_message('{"channel":"pong"}')
        recorder.on_message('{"channel":"trades","data":[]}')
        recorder.writer.detach_all()

    asyncio.run(feed())
    [path] = (tmp_path / "raw" / "ws" / "20260101" / "0").glob("_unattributed.jsonl")
    raws = [json.loads(line)["raw"] for line in read_lines(path)]
    assert raws == ["Websocket connection established.", {"channel": "trades", "data": []}]
    assert recorder.stats.control == 1 and recorder.stats.frames == 2


def _fills(*coins: str, snapshot: bool = True) -> dict[str, Any]:
    fill = {"px": "1.0", "sz": "2.0", "side": "B", "time": 1}
    fills = [{"coin": coin, **fill, "oid": i, "tid": i} for i, coin in enumerate(coins)]
    return {"channel": "userFills", "data": {"isSnapshot": snapshot, "user": "0xabc", "fills": fills}}


def test_user_frames_are_split_by_coin_and_single_coin_frames_kept_verbatim() -> None:
    [a_part, b_part] = route(_fills("A", "B", "A"))
    assert a_part[0] == "A" and a_part[1] is not None and [f["oid"] for f in a_part[1]["data"]["fills"]] == [0, 2]
    assert b_part[0] == "B" and b_part[1] is not None and [f["oid"] for f in b_part[1]["data"]["fills"]] == [1]
    assert a_part[1]["data"]["isSnapshot"] is True and a_part[1]["data"]["user"] == "0xabc"
    assert route(_fills("A", "A")) == [("A", None)]
    orders = [
        {"order": {"coin": "xyz:NVDA", "oid": 1}, "status": "open"},
        {"order": {"coin": "@107", "oid": 2}, "status": "filled"},
    ]
    assert [(coin, part and part["data"]) for coin, part in route({"channel": "orderUpdates", "data": orders})] == [
        ("xyz:NVDA", orders[:1]),
        ("@107", orders[1:]),
    ]
    cancels = [{"coin": "A", "oid": 1}, {"coin": "B", "oid": 2}]
    assert [coin for coin, _ in route({"channel": "user", "data": {"nonUserCancel": cancels}})] == ["A", "B"]
    assert route({"channel": "user", "data": {"funding": {"coin": "A", "usdc": "1"}}}) == [("A", None)]
    assert route({"channel": "user", "data": {"liquidation": {"lid": 1}}}) == [(None, None)]
    assert route({"channel": "error", "data": "Already subscribed"}) == [(None, None)]
    assert route({"channel": "bbo", "data": {"coin": "PURR/USDC"}}) == [("PURR/USDC", None)]


def _bbo_frame() -> dict[str, Any]:
    levels = [{"px": "24.999", "sz": "80.0", "n": 2}, {"px": "25.0", "sz": "80.0", "n": 3}]
    return {"channel": "bbo", "data": {"coin": "DEMO", "time": 1, "bbo": levels}}


def test_a_full_disk_stops_the_recorder_instead_of_reconnecting(fake: FakeHyperliquid, tmp_path: Path) -> None:
    out = tmp_path / "raw"
    recorder = Recorder(_config(fake, out))
    attempts: list[int] = []

    def disk_full(fd: int, data: bytes) -> int:  # what write(2) does on a full filesystem
        attempts.append(len(data))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    recorder.writer = HourlyRawWriter(out, "ws", write=disk_full)

    async def scenario() -> None:
        running = asyncio.create_task(recorder.run(asyncio.Event()))
        await asyncio.to_thread(_wait_subscribed, fake)
        for _ in range(3):
            await asyncio.to_thread(fake.publish, _bbo_frame())
        with pytest.raises(CaptureWriteError, match=r"cannot append to .*DEMO\.jsonl: No space left on device"):
            await asyncio.wait_for(running, 10)

    asyncio.run(scenario())
    assert len(attempts) == 1  # stopped at the first failed write: no reconnect, no frame silently dropped after it
    assert recorder.stats.connections == 1 and not recorder.stats.errors


def test_an_unwritable_output_path_stops_the_recorder_with_one_line_and_exit_1(
    fake: FakeHyperliquid, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with caplog.at_level(logging.INFO, logger="quoting.capture.recorder"):
        code = record_main(["DEMO"], str(blocker / "raw"), ws_url=fake.ws_url)
    assert code == 1
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.startswith(f"recorder stopped: cannot write in {blocker / 'raw' / 'ws'}: Not a directory")
    assert "Traceback" not in caplog.text and fake.client_count() == 0
