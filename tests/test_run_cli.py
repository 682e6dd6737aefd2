"""``python -m pipelines.run ingest`` on a raw zone holding files no partition can hold beside valid days: each is
named and skipped, the valid days run, the summary is printed, and each walk-forward says what it wrote or, in
covered hours, why it had no fold."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from assets.partitions import utc_today
from data_lake import raw_zone
from pipelines.definitions import defs, nightly_job
from pipelines.run import DEMO_RUN_CONFIG, main, with_walk_forward_folds

VALID_DAY = dt.date(2026, 1, 1)


def capture_lines(coin: str, start_ms: int, minutes: int) -> list[str]:
    """Raw-zone lines of a hand-built market: 0.5 s l2Book snapshots of a mid stepping by 0.1 around 100 and a taker
    trade at the touch every 2 s, from ``start_ms`` for ``minutes``."""
    lines = []
    for i in range(minutes * 120):
        t = start_ms + 500 * i
        mid = 100 + [0, 1, 2, 1, 3, 2, 0, -1][i % 8] * 0.1 + (i // 97 % 3) * 0.1
        bid, ask = f"{mid - 0.1:.1f}", f"{mid + 0.1:.1f}"
        levels = [[{"px": bid, "sz": "1.0", "n": 1}], [{"px": ask, "sz": "1.0", "n": 1}]]
        book = {"coin": coin, "time": t, "levels": levels}
        lines.append(raw_zone.envelope(t * 1_000_000 + 1_000, {"channel": "l2Book", "data": book}))
        if i % 4 == 2:
            side = "B" if i % 8 == 2 else "A"
            trade = {
                "coin": coin,
                "side": side,
                "px": ask if side == "B" else bid,
                "sz": "0.5",
                "time": t + 100,
                "hash": f"0x{i:064x}",
                "tid": 17 + i,
                "users": ["0x" + "1" * 40, "0x" + "2" * 40],
            }
            lines.append(raw_zone.envelope((t + 100) * 1_000_000 + 2_000, {"channel": "trades", "data": [trade]}))
    return lines


@pytest.mark.slow
def test_ingest_skips_each_non_partition_by_name_runs_the_valid_day_and_prints_only_written_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each capture holds the last 10 minutes of its day: too few for a fold of 1 h train and 0.5 h test."""
    raw = tmp_path / "raw"
    today = utc_today()
    for coin, day in (
        ("BTC", VALID_DAY),
        ("BTC", dt.date(1970, 1, 1)),
        ("BTC", dt.date(2023, 1, 31)),
        ("BTC", today),
        ("BAD|COIN", VALID_DAY),
    ):
        start_ms = int(dt.datetime.combine(day, dt.time(23, 50), tzinfo=dt.UTC).timestamp() * 1000)
        raw_zone.write_lines(raw_zone.raw_path(raw, "ws", day, 23, coin), capture_lines(coin, start_ms, 10))
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("SMALLFISH_RAW", str(raw))
    monkeypatch.setenv("SMALLFISH_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))

    code = main(["ingest", "--workers", "1", "--train-hours", "1", "--test-hours", "0.5", "--folds", "2"])
    out = capsys.readouterr().out

    assert code == 0
    assert "BAD|COIN 2026-01-01: skipped, coin 'BAD|COIN' cannot be a partition key: it contains '|'" in out
    assert "BTC 1970-01-01: skipped, 1970-01-01 is before Hyperliquid's first data (2023-02-01" in out
    assert "BTC 2023-01-31: skipped, 2023-01-31 is before Hyperliquid's first data (2023-02-01" in out
    assert f"BTC {today}: skipped, {today} is today (UTC) and not over" in out
    for stage in ("ingest  ", "features", "fits    "):
        assert f"BTC 2026-01-01 {stage}: ok" in out
    assert "1/1 partitions materialised" in out
    assert (
        "BTC 2026-01-01 walk-forward: no fold: the book covers 0.17 h of the 2 h up to the end of 2026-01-01 "
        "(gaps over 60 s left out); one fold needs 1.5 h covered (train_hours 1 + test_hours 0.5), 2 folds 2 h"
    ) in out
    assert "reports" not in out  # no report was written, so no path to one is printed


def test_fold_flags_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["ingest", "--test-hours", "0"])
    assert exited.value.code == 2
    assert "argument --test-hours: must be greater than 0, got 0" in capsys.readouterr().err


def test_fold_flags_set_the_walk_forward_config_over_the_demo_one_and_the_defaults() -> None:
    job = defs.resolve_job_def(nightly_job.name)
    demo = with_walk_forward_folds(DEMO_RUN_CONFIG, train_hours=12.0, n_folds=2)
    assert (
        demo["ops"]["walk_forward_assets"]["config"] | {"train_hours": 6, "n_folds": 4}
        == (DEMO_RUN_CONFIG["ops"]["walk_forward_assets"]["config"])
    )  # the rest is the demo's, which is left unchanged
    assert demo["ops"]["walk_forward_assets"]["config"]["train_hours"] == 12.0
    assert demo["ops"]["signal_quality"] == DEMO_RUN_CONFIG["ops"]["signal_quality"]
    production = with_walk_forward_folds(None, test_hours=24.0)
    assert production == {"ops": {"walk_forward_assets": {"config": {"test_hours": 24.0}}}}
    assert with_walk_forward_folds(None) is None
    for config in (demo, production):
        assert dg.validate_run_config(job, config)["ops"]["walk_forward_assets"]["config"]
