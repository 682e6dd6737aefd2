"""A day with trades but no book, and one with a book but no trades, through ``python -m pipelines.run ingest``: every
asset of the nightly job materialises, what cannot be computed says why, and the command prints every reason."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.partitions import COINS, partition_key
from assets.resources import DataLakeResource
from calibration.bars import FEATURES_SCHEMA
from data_lake import raw_zone
from data_lake.lake import Lake
from pipelines.definitions import NIGHTLY_SELECTION, defs
from pipelines.run import main
from pipelines.run_notes import AssetNote, run_notes
from tests.support import DEMO_COIN, DEMO_DAY

HOURS = 2
"""Hours of the simulated demo day kept: enough for every asset to have data, short enough to run in seconds."""
BOOK_CHANNELS = {"l2Book", "bbo"}


def _raw_without(source: Path, target: Path, dropped: set[str]) -> int:
    """Copy the first ``HOURS`` of the demo day's raw zone into ``target`` without the ``dropped`` WS channels;
    the number of trade prints kept."""
    prints = 0
    for file in raw_zone.discover(source, coin=DEMO_COIN, date=DEMO_DAY):
        if file.hour >= HOURS:
            continue
        kept = [line for line in raw_zone.read_lines(file.path) if json.loads(line)["raw"]["channel"] not in dropped]
        prints += sum(len(json.loads(line)["raw"]["data"]) for line in kept if '"channel":"trades"' in line)
        raw_zone.write_lines(raw_zone.raw_path(target, file.source, file.date, file.hour, DEMO_COIN), kept)
    return prints


def _ingest(tmp: Path, raw: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """``python -m pipelines.run ingest`` on ``raw`` with its own lake and Dagster home: exit code and its summary of
    skipped or failed assets (the walk-forward lines after it say the same per day)."""
    (tmp / "home").mkdir()
    for name, value in {"DAGSTER_HOME": tmp / "home", "SMALLFISH_RAW": raw, "SMALLFISH_LAKE": tmp / "lake"}.items():
        monkeypatch.setenv(name, str(value))
    code = main(["ingest", "--workers", "1"])
    out = capsys.readouterr().out
    return code, out[out.index("skipped or failed assets") : out.index("\nwalk-forward:")]


def _every_nightly_asset_materialised() -> None:
    instance = dg.DagsterInstance.get()
    keys = NIGHTLY_SELECTION.resolve(defs.resolve_asset_graph())
    missing = [k.to_user_string() for k in keys if instance.get_latest_materialization_event(k) is None]
    assert missing == []


def _summary_reasons(summary: str) -> dict[str, str]:
    """asset -> reason of the summary's ``skipped`` lines."""
    prefix = f"  {DEMO_COIN} {DEMO_DAY} "
    lines = [line.removeprefix(prefix) for line in summary.splitlines() if line.startswith(prefix)]
    assert all(": skipped: " in line for line in lines), lines
    return dict(line.split(": skipped: ", 1) for line in lines)


@pytest.mark.slow
def test_trades_only_day_runs_every_asset_and_says_what_it_skipped(
    tmp_path: Path, demo_day: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    prints = _raw_without(demo_day[0], tmp_path / "raw", BOOK_CHANNELS)
    code, summary = _ingest(tmp_path, tmp_path / "raw", monkeypatch, capsys)
    assert code == 0
    _every_nightly_asset_materialised()
    reasons = _summary_reasons(summary)
    no_bars = f"no bars: the book has no two-sided mid this day (0 book rows); {prints} trades are in no bar"
    assert reasons["features"] == no_bars
    assert reasons["markouts"].startswith(f"no book mid this day (0 book rows): {prints} market trades")
    assert reasons["kappa_fit"] == "no book mid in the window's 1 days: no taker order has a depth"
    no_evidence = {"regime_fit", "vol_fit", "baseline_metrics", "walk_forward", "calibration_metrics", "param_sets"}
    assert no_evidence <= set(reasons)
    assert "hawkes_fit" not in reasons  # arrivals need no book
    lake = Lake(tmp_path / "lake", storage_options={})
    assert lake.read_partition("trades", DEMO_COIN, DEMO_DAY).height == prints > 1000
    features = lake.read("features", coins=DEMO_COIN)
    assert features.height == 0 and {k: v for k, v in features.schema.items() if k != "date"} == FEATURES_SCHEMA
    assert lake.read_partition("markouts", DEMO_COIN, DEMO_DAY).height == 0
    hawkes = lake.read_partition("hawkes_fit", DEMO_COIN, DEMO_DAY)
    # fitted from the arrivals alone; the day's raw files hold two hours, so the fits say they cover 2 h of 24
    assert set(hawkes["status"]) == {"low_coverage"} and hawkes["value"].is_finite().all()
    assert hawkes["warnings"][0].startswith("low coverage: the data cover 2.00 h of the 24.00 h window")


@pytest.mark.slow
def test_book_only_day_runs_every_asset_and_says_what_it_skipped(
    tmp_path: Path, demo_day: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    assert _raw_without(demo_day[0], tmp_path / "raw", {"trades"}) == 0
    code, summary = _ingest(tmp_path, tmp_path / "raw", monkeypatch, capsys)
    assert code == 0
    _every_nightly_asset_materialised()
    reasons = _summary_reasons(summary)
    assert reasons["markouts"] == "no trades and no own fills this day: nothing to mark"
    assert reasons["kappa_fit"] == reasons["hawkes_fit"] == f"no trades on {DEMO_DAY}: the fit window is empty"
    assert {"baseline_metrics", "walk_forward", "calibration_metrics", "param_sets"} <= set(reasons)
    assert "features" not in reasons and "vol_fit" not in reasons
    lake = Lake(tmp_path / "lake", storage_options={})
    features = lake.read_partition("features", DEMO_COIN, DEMO_DAY)
    # The demo book never falls silent for 5 s: every second and minute of the two hours is a bar, none traded.
    assert features.group_by("bar_ms").len().sort("bar_ms").rows() == [(1000, HOURS * 3600), (60_000, HOURS * 60)]
    assert features.select(pl.col("n_buys", "n_sells").sum()).row(0) == (0, 0)
    assert features["vpin"].null_count() == features.height
    vol = lake.read_partition("vol_fit", DEMO_COIN, DEMO_DAY)
    assert "ok" in set(vol["status"])


@pytest.mark.slow
def test_a_failing_step_is_reported_with_its_error_and_what_it_held_back(
    tmp_path: Path, demo_day: tuple[Path, Path]
) -> None:
    _raw_without(demo_day[0], tmp_path / "raw", set())
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(COINS.name, [DEMO_COIN])
    result = defs.resolve_job_def("nightly_recalibration").execute_in_process(
        partition_key=partition_key(DEMO_COIN, DEMO_DAY),
        instance=instance,
        resources={"data_lake": DataLakeResource(lake_root=str(tmp_path / "lake"), raw_root=str(tmp_path / "raw"))},
        run_config={"ops": {"features": {"config": {"half_life_1s_bars": -1.0}}}},
        raise_on_error=False,
    )
    assert not result.success
    notes = run_notes(instance, result.run_id)
    assert AssetNote("features", "FAILED", "ValueError: require `half_life` > 0 (found -1.0)") in notes
    not_run = {n.name for n in notes if n.kind == "not run"}
    assert {"markouts", "regime_fit", "vol_fit", "walk_forward", "calibration_metrics", "param_sets"} <= not_run
    assert "hawkes_fit" not in not_run and "features" not in not_run  # hawkes reads trades only; features failed
