"""The validation assets materialised on a demo-market day written straight into a lake, with hour-scale folds."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from assets.partitions import COINS, partition_key
from assets.promotion import param_sets
from assets.resources import DataLakeResource
from assets.validation import VALIDATION_ASSETS, VALIDATION_CHECKS, WALK_FORWARD_TABLES
from calibration.fill_log import enrich_fill_log
from calibration.toxicity import book_signals
from data_lake.lake import Lake
from pipelines.backfill import FITS, Outcome
from pipelines.walk_forward_summary import walk_forward_lines
from tests.test_variants import DEMO
from validation.experiments.candidate import CANDIDATE
from validation.experiments.lead_lag_variant import LEAD_LAG
from validation.experiments.regime_pull_variant import REGIME_PULL
from validation.experiments.variant_registry import VARIANTS
from validation.experiments.walk_forward_run import POOLED

DAY = DEMO.start
RUN_CONFIG = {
    "ops": {
        "walk_forward_assets": {
            "config": {
                "train_hours": 3.0,
                "test_hours": 1.0,
                "n_folds": 3,
                "vpin_buckets_per_day": 2000,
                "vpin_window": 20,
            }
        },
        "signal_quality": {"config": {"lookback_days": 1, "window_hours": 6.0, "n_permutations": 99}},
    }
}
OWN_FILLS = 300


@pytest.fixture(scope="module")
def materialised(
    tmp_path_factory: pytest.TempPathFactory, demo_frames: dict[str, pl.DataFrame]
) -> tuple[dg.ExecuteInProcessResult, Lake, dg.DagsterInstance]:
    """The demo day's trades, book, features and markouts (plus a few own fills carrying the quoter's predicted
    adverse selection) written into a fresh lake, then every validation asset and check materialised."""
    root = tmp_path_factory.mktemp("lake")
    lake = Lake(root, storage_options={})
    frames = demo_frames
    marked = enrich_fill_log(
        frames["markouts"], frames["features"].filter(pl.col("bar_ms") == 1000), book_signals(frames["book"])
    )
    own = marked.head(OWN_FILLS).with_columns(
        is_market_trade=pl.lit(False), oid=pl.lit(7), pred_adverse_bps=pl.lit(0.5)
    )
    tables = {**frames, "markouts": pl.concat([marked, own], how="diagonal_relaxed")}
    for name, frame in tables.items():
        lake.write_partition(name, frame.with_columns(date=pl.lit(DAY)), DEMO.coin, DAY)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(COINS.name, [DEMO.coin])
    result = dg.materialize(
        [*VALIDATION_ASSETS, *VALIDATION_CHECKS],
        partition_key=partition_key(DEMO.coin, DAY),
        instance=instance,
        resources={"data_lake": DataLakeResource(lake_root=str(root))},
        run_config=RUN_CONFIG,
    )
    return result, lake, instance


@pytest.mark.slow  # Dagster run of every validation asset (the module's materialised fixture)
def test_walk_forward_writes_every_fold_and_variant_and_a_self_contained_report(materialised) -> None:
    result, lake, _ = materialised
    assert result.success
    rows = lake.read_partition("walk_forward", DEMO.coin, DAY)
    per_fold = rows.filter(pl.col("fold") != POOLED)
    assert (
        per_fold.select("fold", "variant")
        .sort("fold", "variant")
        .equals(
            pl.DataFrame({"fold": [0, 1, 2]}, schema={"fold": pl.Int32})
            .join(pl.DataFrame({"variant": list(VARIANTS)}), how="cross")
            .sort("fold", "variant")
        )
    )
    compared = per_fold.filter(pl.col("variant") != LEAD_LAG)  # DEMO has no leader in this lake: refused, why
    assert (compared["status"] == "ok").all()
    refused = rows.filter(pl.col("variant") == LEAD_LAG)
    assert (
        set(refused["status"]) == {"insufficient_samples"} and refused["warnings"].str.contains("no leader mids").all()
    )
    standing_aside = pl.col("variant").is_in([CANDIDATE, REGIME_PULL])  # these quote only where train edge says
    assert (compared.filter(~standing_aside)["n_fills"] > 0).all()
    assert per_fold["test_end_ms"].max() == DEMO.start_ms + 24 * 3_600_000
    pooled = rows.filter(pl.col("fold") == POOLED)
    assert pooled.height == len(VARIANTS) and pooled.filter(pl.col("variant") != LEAD_LAG)["pbo"].null_count() == 0
    assert set(pooled["verdict"].drop_nulls()) <= {"keep", "remove", "insufficient evidence"}

    metadata = result.asset_materializations_for_node("walk_forward_assets")[0].metadata
    assert isinstance(metadata["report"], dg.UrlMetadataValue)
    report = Path(lake.root) / "reports" / DEMO.coin / f"{DAY.isoformat()}.html"
    assert metadata["report"].value == report.as_uri() and metadata["evidence_run_id"].value == result.run_id
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") and "Component verdicts" in html
    assert "Promotion decision: pending" in html and result.run_id in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) >= 3
    assert not re.search(r'(src|href)="(?!data:|#)', html)  # nothing fetched from anywhere when opened
    assert "+hmm_blending" in metadata["verdicts"].value and metadata["complete_folds"].value == 3


@pytest.mark.slow  # reads the Dagster run of the materialised fixture
def test_the_cli_line_names_the_report_its_run_wrote(materialised) -> None:
    result, lake, instance = materialised
    report = Path(lake.root) / "reports" / DEMO.coin / f"{DAY.isoformat()}.html"
    assert walk_forward_lines(instance, [Outcome(DEMO.coin, DAY, FITS, True, result.run_id)]) == [
        f"  {DEMO.coin} {DAY} walk-forward: report {report.as_uri()}"
    ]
    assert report.is_file()
    other_run = Outcome(DEMO.coin, DAY, FITS, False, "0" * 32)
    assert walk_forward_lines(instance, [other_run]) == [
        f"  {DEMO.coin} {DAY} walk-forward: not materialised (run 00000000 failed)"
    ]


@pytest.mark.slow  # reads the Dagster run of the materialised fixture
def test_calibration_signal_quality_and_alerts_tables_and_checks(materialised) -> None:
    result, lake, _ = materialised
    calibration = lake.read_partition("calibration_metrics", DEMO.coin, DAY)
    candidate = (
        lake.read_partition("walk_forward", DEMO.coin, DAY)
        .filter((pl.col("fold") == POOLED) & (pl.col("variant") == CANDIDATE))
        .row(0, named=True)
    )
    scored = {("live", "adverse_selection")}
    if candidate["n_quotes"]:  # the gate's evidence: the candidate's own predictions
        scored.add(("walk_forward:candidate", "fill_probability"))
        fill = calibration.filter(pl.col("model") == "fill_probability").row(0, named=True)
        assert fill["n"] == candidate["n_quotes"] and 0.0 < fill["brier"] < 0.1
        assert fill["brier"] == pytest.approx(fill["reliability"] - fill["resolution"] + fill["uncertainty"])
    if candidate["n_fills"] >= 3:
        scored.add(("walk_forward:candidate", "adverse_selection"))
    assert set(zip(calibration["source"], calibration["model"])) == scored
    live = calibration.filter(pl.col("source") == "live").row(0, named=True)
    assert live["n"] == OWN_FILLS

    signals = lake.read_partition("signal_quality", DEMO.coin, DAY)
    assert signals["signal"].to_list() == ["imbalance_1 x maker side", "imbalance_5 x maker side", "vpin"]
    imbalance = signals.row(0, named=True)
    assert imbalance["n"] > 100_000 and len(imbalance["window_mi"]) == 4  # four 6 h windows
    assert signals.filter(pl.col("signal") == "vpin")["mutual_information"].null_count() == 1  # VPIN needs a day

    alerts = lake.read_partition("alerts", DEMO.coin, DAY)
    kinds = set(alerts["kind"])
    # the demo book shows equal sizes on both sides: imbalance carries no information
    assert "SignalDecaying" in kinds and "InsufficientSamples" in kinds
    assert (alerts.filter(pl.col("subject").str.starts_with("imbalance_1"))["severity"] == "critical").all()
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == {"predictions_calibrated", "information_ratio_at_least_one", "signals_informative"}
    assert not checks["signals_informative"].passed
    assert checks["signals_informative"].severity == dg.AssetCheckSeverity.ERROR
    miscalibrated = alerts.filter(pl.col("kind") == "ModelMiscalibrated")
    assert checks["predictions_calibrated"].passed == (miscalibrated.height == 0)
    below_one = alerts.filter(pl.col("kind") == "InformationRatioBelowOne")
    assert checks["information_ratio_at_least_one"].passed == (below_one.height == 0)


@pytest.mark.slow  # reads the Dagster run of the materialised fixture
def test_component_verdicts_come_from_the_same_walk_forward_run(materialised) -> None:
    """The third asset of the walk-forward: one row per diagnosis, largest weakness first, its (b) the walk_forward
    table's verdict p-values, the lead-lag row without a leader (the lake holds no BTC), the report's section."""
    result, lake, _ = materialised
    verdicts = lake.read_partition("diagnosis", DEMO.coin, DAY).sort("rank")
    assert verdicts["rank"].to_list() == [1, 2, 3, 4, 5]
    assert set(verdicts["component"]) == {"bipower", "hawkes", "hmm_blending", "vpin_widening", "lead_lag"}
    assert set(verdicts["verdict"]) <= {"add", "keep simple", "no fix", "untested"}
    pooled = lake.read_partition("walk_forward", DEMO.coin, DAY).filter(pl.col("fold") == POOLED)
    for row in verdicts.filter(pl.col("addition_p").is_not_null()).iter_rows(named=True):
        walk = pooled.filter(pl.col("variant") == row["addition_variant"]).row(0, named=True)
        assert row["addition_p"] == pytest.approx(walk["p_value"]) and row["adjusted_p"] >= row["addition_p"]
        assert row["test_start_ms"] == pooled["test_start_ms"][0] and row["test_end_ms"] == pooled["test_end_ms"][0]
    lead_lag = verdicts.filter(pl.col("component") == "lead_lag").row(0, named=True)
    assert lead_lag["verdict"] == "untested" and "no leader data (BTC" in lead_lag["reason"]
    metadata = next(
        m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey("diagnosis")
    ).materialization.metadata
    assert metadata["largest_weakness"].value == verdicts["prediction"][0]
    assert metadata["action"].value in metadata["diagnosis"].value
    html = (Path(lake.root) / "reports" / DEMO.coin / f"{DAY.isoformat()}.html").read_text()
    assert "Diagnosis: the largest weakness first" in html and lead_lag["reason"] in html


def test_no_fold_clears_the_component_verdicts(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake", storage_options={})
    stale = pl.DataFrame({"coin": [DEMO.coin], "date": [DAY], "component": ["bipower"], "verdict": ["add"]})
    lake.write_partition("diagnosis", stale, DEMO.coin, DAY)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(COINS.name, [DEMO.coin])
    result = dg.materialize(
        [VALIDATION_ASSETS[0]],
        partition_key=partition_key(DEMO.coin, DAY),
        instance=instance,
        resources={"data_lake": DataLakeResource(lake_root=lake.root)},
    )
    assert result.success
    event = next(
        m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey("diagnosis")
    ).materialization
    assert "no fold" in event.metadata["skipped"].value
    assert lake.read_partition("diagnosis", DEMO.coin, DAY).height == 0


def test_too_little_history_for_one_fold_skips_and_clears_the_partition(tmp_path: Path) -> None:
    """Default 60 d / 7 d folds on a lake without that much history: nothing to validate yet, not a failure."""
    lake = Lake(tmp_path / "lake", storage_options={})
    lake.write_partition(
        "walk_forward", pl.DataFrame({"coin": [DEMO.coin], "date": [DAY], "fold": [0]}), DEMO.coin, DAY
    )
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(COINS.name, [DEMO.coin])
    result = dg.materialize(
        [VALIDATION_ASSETS[0], *VALIDATION_CHECKS[:2]],
        partition_key=partition_key(DEMO.coin, DAY),
        instance=instance,
        resources={"data_lake": DataLakeResource(lake_root=lake.root)},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("walk_forward_assets")[0].metadata
    assert "needs 1608 h" in metadata["skipped"].value and "kept_earlier_result" not in metadata
    assert lake.read_partition("walk_forward", DEMO.coin, DAY).height == 0
    assert lake.read_partition("calibration_metrics", DEMO.coin, DAY).height == 0
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == {"predictions_calibrated", "information_ratio_at_least_one"}
    for check in checks.values():  # nothing validated is not green
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        assert "needs 1608 h" in check.metadata["no_evidence"].value


def test_too_little_covered_book_is_reported_in_covered_hours_with_what_one_fold_needs(tmp_path: Path) -> None:
    """The review's case: 44 one-minute bursts of 0.5 s book snapshots over 35 h (two days) are 0.73 h of book, not
    35 h. The calendar span would hold a fold of 24 h train and 6 h test (set in the run config); the book does not."""
    lake = Lake(tmp_path / "lake", storage_options={})
    end_ms = DEMO.start_ms + 24 * 3_600_000
    starts = end_ms - 35 * 3_600_000 + 48 * 60_000 * np.arange(44)
    times = (starts[:, None] + np.arange(0, 60_000, 500)[None, :]).ravel()
    book = pl.DataFrame({"time": times, "mid": 100.0, "source": "l2Book"}).with_columns(
        coin=pl.lit(DEMO.coin), date=pl.from_epoch("time", time_unit="ms").dt.date()
    )
    for (day,), part in book.partition_by("date", as_dict=True).items():
        lake.write_partition("book", part, DEMO.coin, day)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(COINS.name, [DEMO.coin])
    result = dg.materialize(
        [VALIDATION_ASSETS[0]],
        partition_key=partition_key(DEMO.coin, DAY),
        instance=instance,
        resources={"data_lake": DataLakeResource(lake_root=lake.root)},
        run_config={"ops": {"walk_forward_assets": {"config": {"train_hours": 24.0, "test_hours": 6.0, "n_folds": 2}}}},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("walk_forward_assets")[0].metadata
    assert metadata["book_covered_hours"].value == pytest.approx(44 * (60_000 - 500) / 3_600_000)
    skipped = metadata["skipped"].value
    assert "the book covers 0.73 h of the 36 h up to the end of 2026-01-01" in skipped
    assert "one fold needs 30 h covered (train_hours 24 + test_hours 6), 2 folds 36 h" in skipped
    assert "35.0" not in skipped  # the calendar span from the first snapshot, which the old message reported
    assert "report" not in metadata
    assert lake.read_partition("walk_forward", DEMO.coin, DAY).height == 0


def test_fold_lengths_must_be_positive(tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(COINS.name, [DEMO.coin])
    result = dg.materialize(
        [VALIDATION_ASSETS[0]],
        partition_key=partition_key(DEMO.coin, DAY),
        instance=instance,
        resources={"data_lake": DataLakeResource(lake_root=str(tmp_path / "lake"))},
        run_config={"ops": {"walk_forward_assets": {"config": {"test_hours": 0.0}}}},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "greater than 0" in str(failure.event_specific_data.error.to_string())


@pytest.mark.slow  # a relaunch Dagster run over the materialised fixture's lake
def test_a_relaunch_that_cannot_compute_keeps_the_evidence_fails_its_checks_and_the_gate_fills_the_report(
    materialised,
) -> None:
    """The review's case: a relaunch with the default 60 d / 7 d folds on hours of demo data wrote empty partitions
    over the day's validation and turned its checks green. Now it keeps the evidence and says so; the gate's
    decision, its param_set_id and the runs land in the report."""
    result, lake, instance = materialised
    before = {name: lake.read_partition(name, DEMO.coin, DAY) for name in WALK_FORWARD_TABLES}
    resources = {"data_lake": DataLakeResource(lake_root=lake.root)}
    relaunch = dg.materialize(
        [VALIDATION_ASSETS[0], *VALIDATION_CHECKS[:2]],
        partition_key=partition_key(DEMO.coin, DAY),
        instance=instance,
        resources=resources,
    )
    assert relaunch.success
    for name, frame in before.items():
        assert lake.read_partition(name, DEMO.coin, DAY).equals(frame), name
    written = {
        m.asset_key.path[-1]: m.metadata for m in relaunch.asset_materializations_for_node("walk_forward_assets")
    }
    assert set(written) == set(before)
    for metadata in written.values():
        assert "needs 1608 h" in metadata["skipped"].value and result.run_id in metadata["kept_earlier_result"].value
    assert written["walk_forward"]["dagster/row_count"].value == before["walk_forward"].height
    for check in relaunch.get_asset_check_evaluations():
        assert not check.passed, check.check_name
        said = check.metadata["no_evidence"].value
        assert "could not compute it" in said and "needs 1608 h" in said and result.run_id in said

    gate = dg.materialize(
        [param_sets], partition_key=partition_key(DEMO.coin, DAY), instance=instance, resources=resources
    )
    assert gate.success
    decided = gate.asset_materializations_for_node("param_sets")[0].metadata
    report = Path(lake.root) / "reports" / DEMO.coin / f"{DAY.isoformat()}.html"
    assert decided["report"].value == report.as_uri()
    html = report.read_text()
    assert f"Promotion decision: {decided['decision'].value}" in html and "Promotion decision: pending" not in html
    assert decided["param_set_id"].value in html and gate.run_id in html and result.run_id in html
    assert html.count("promotion-decision -->") == 2  # one section, replaced in place


@pytest.mark.slow  # a second Dagster run over the materialised fixture's lake
def test_a_relaunch_reads_every_fold_from_the_cache_and_writes_the_same_evidence(materialised) -> None:
    """The walk-forward's second run on the same lake and folds evaluates nothing: every (fold, variant) comes from
    the fold cache in the lake's files, and the tables it writes equal the first run's."""
    result, lake, instance = materialised
    first = result.asset_materializations_for_node("walk_forward_assets")[0].metadata["fold_cache"].value
    before = {name: lake.read_partition(name, DEMO.coin, DAY) for name in ("walk_forward", "walk_forward_pnl")}
    relaunch = dg.materialize(
        [VALIDATION_ASSETS[0]],
        partition_key=partition_key(DEMO.coin, DAY),
        instance=instance,
        resources={"data_lake": DataLakeResource(lake_root=lake.root)},
        run_config={"ops": {"walk_forward_assets": RUN_CONFIG["ops"]["walk_forward_assets"]}},
    )
    assert relaunch.success
    entries = 3 * len(VARIANTS)
    assert first.startswith(f"0 of {entries} ")
    second = relaunch.asset_materializations_for_node("walk_forward_assets")[0].metadata["fold_cache"].value
    assert second == f"{entries} of {entries} (fold, variant) outcomes from the cache, 0 rejected"
    pruned = [
        run.asset_materializations_for_node("walk_forward_assets")[0].metadata["fold_cache_pruned"].value
        for run in (result, relaunch)
    ]
    assert pruned == ["0 entries kept; deleted: none (0 files)", f"{entries} entries kept; deleted: none (0 files)"]
    after = {name: lake.read_partition(name, DEMO.coin, DAY) for name in before}
    assert after["walk_forward"].drop("run_at_ms").equals(before["walk_forward"].drop("run_at_ms"))
    assert after["walk_forward_pnl"].equals(before["walk_forward_pnl"])
