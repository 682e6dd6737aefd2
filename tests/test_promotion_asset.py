"""The nightly job on two demo days builds a candidate, runs the gate and records the decision with its reasons."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.measurement import markouts_asset
from assets.partitions import COINS, partition_key
from assets.promotion import param_sets
from assets.resources import DataLakeResource
from assets.validation import walk_forward_assets
from data_lake import param_registry
from data_lake.demo_market import demo_coin_configs, load_truth, simulate_to_raw, truth_path
from pipelines.definitions import defs
from pipelines.run import DEMO_RUN_CONFIG
from quoting.cli.quote import EXIT_OK, quote_main
from quoting.core.glft import quote
from quoting.runtime.params import load_for_quoting

DAYS = (dt.date(2026, 1, 1), dt.date(2026, 1, 2))
COIN = "NICHE"
NICHE_CONFIG = next(c for c in demo_coin_configs(2, 21, DAYS[0]) if c.coin == COIN)
"""The demo coin with a calm-regime edge: its candidate quotes, so the loop has fills to close on."""


def calmest_hour(raw: Path) -> int:
    """The hour of the second demo day with the most calm minutes in the truth's regime path."""
    path = load_truth(truth_path(raw, COIN))["regimes"]["path"][24 * 60 : 48 * 60]
    return max(range(24), key=lambda h: sum(state == 0 for state in path[h * 60 : (h + 1) * 60]))


@pytest.fixture(scope="module")
def nightly(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DataLakeResource, dg.DagsterInstance]:
    root = tmp_path_factory.mktemp("nightly")
    simulate_to_raw(NICHE_CONFIG, root / "raw")
    resource = DataLakeResource(lake_root=str(root / "lake"), raw_root=str(root / "raw"))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(COINS.name, [COIN])
    job = defs.resolve_job_def("nightly_recalibration")
    for day in DAYS:
        result = job.execute_in_process(
            partition_key=partition_key(COIN, day),
            instance=instance,
            run_config=DEMO_RUN_CONFIG,
            resources={"data_lake": resource},
        )
        assert result.success
    return root, resource, instance


@pytest.mark.slow
def test_gate_decision_is_recorded_with_reasons_and_nothing_unvalidated_is_promoted(nightly) -> None:
    root, resource, _ = nightly
    sets = param_registry.list_sets(resource.lake().root, COIN)
    assert sets.height == 2
    assert set(sets["status"]) <= {"rejected", "promoted"}
    for reason in sets["reason"]:
        assert reason.startswith("gate: ") and "out-of-sample fills" in reason and "data-quality" in reason
    rejected = sets.filter(sets["status"] == "rejected")
    if rejected.height:
        assert all("fail:" in r for r in rejected["reason"])


PERMISSIVE = {
    "ops": {
        "param_sets": {
            "config": {
                "require_positive_oos_pnl": False,
                "require_calibrated_fill_probability": False,
                "require_calibrated_adverse_selection": False,
                "min_oos_fills": 0,
                "alpha": 1e-12,
            }
        }
    }
}
"""A gate that only asks for clean data: lets the demo's candidate through whatever its out-of-sample results."""


def _promote_permissively(resource: DataLakeResource, instance: dg.DagsterInstance) -> None:
    result = dg.materialize(
        [param_sets],
        partition_key=partition_key(COIN, DAYS[1]),
        instance=instance,
        run_config=PERMISSIVE,
        resources={"data_lake": resource},
    )
    assert result.success


@pytest.mark.slow
def test_a_permissive_gate_promotes_and_the_quoter_can_load_and_quote(nightly) -> None:
    _, resource, instance = nightly
    _promote_permissively(resource, instance)
    promoted = param_registry.load_promoted(resource.lake().root, COIN)
    params = load_for_quoting(resource.lake().root, COIN, max_age_s=10 * 365 * 86_400)
    assert params.param_set_id == promoted.param_set.param_set_id
    assert 0.5 * NICHE_CONFIG.kappa_per_price < params.model.kappa < 1.5 * NICHE_CONFIG.kappa_per_price
    adverse = promoted.param_set.parameters.adverse_selection_bps_by_regime
    assert adverse is not None and all(a.value > 0 for a in adverse.values()) and adverse["calm"].n > 0
    assert promoted.param_set.parameters.to_dict() == _walk_forward_candidate(resource)  # what was validated
    mid = 25.0
    for k, state in enumerate(params.regime.state_names):
        belief = tuple(float(j == k) for j in range(len(params.policy.gamma_by_regime)))
        q = quote(mid, 0.0, belief, params.model, params.policy)
        if promoted.param_set.parameters.quote_by_regime[state]:
            assert q.bid_px is not None and q.ask_px is not None and q.bid_px < mid < q.ask_px
        else:
            assert q.bid_reason == q.ask_reason == "regime"


def _walk_forward_candidate(resource: DataLakeResource) -> dict:
    """The parameters validation.experiments.candidate built on the last training window of the day's walk-forward."""
    from validation.tables.candidate_set import stored_candidate

    return stored_candidate(resource.lake().read_partition("walk_forward", COIN, DAYS[1]), DAYS[1])[0]


@pytest.mark.slow
def test_paper_quoter_logs_of_a_replayed_hour_are_ingested_by_the_next_run(nightly) -> None:
    root, resource, instance = nightly
    _promote_permissively(resource, instance)
    hour = root / "raw" / "ws" / "20260102" / str(calmest_hour(root / "raw")) / f"{COIN}.jsonl.lz4"
    args = [
        "--coin",
        COIN,
        "--mode",
        "paper",
        "--feed",
        f"replay:{hour}",
        "--lake",
        resource.lake_root,
        "--raw",
        resource.raw_root,
        "--max-param-age-s",
        str(10 * 365 * 86_400),
    ]
    assert quote_main(args) == EXIT_OK
    rerun = defs.resolve_job_def("ingest").execute_in_process(
        partition_key=partition_key(COIN, DAYS[1]), instance=instance, resources={"data_lake": resource}
    )
    assert rerun.success
    lake = resource.lake()
    log = lake.read_partition("quoter_log", COIN, DAYS[1])
    assert log.filter(log["channel"] == "quoterQuote").height > 100
    fills = lake.read_partition("fills", COIN, DAYS[1])
    assert fills.height > 0 and fills["pred_fill_prob"].null_count() == 0
    assert fills["pred_adverse_bps"].null_count() == 0
    assert set(log.filter(log["channel"] == "quoterFill")["oid"]) == set(fills["oid"])

    # The next night scores those predictions against the fills' realised 5 s adverse selection.
    scored = dg.materialize(
        [markouts_asset, walk_forward_assets],
        partition_key=partition_key(COIN, DAYS[1]),
        instance=instance,
        resources={"data_lake": resource},
        run_config={"ops": {"walk_forward_assets": DEMO_RUN_CONFIG["ops"]["walk_forward_assets"]}},
    )
    assert scored.success
    own = lake.read_partition("markouts", COIN, DAYS[1]).filter(~pl.col("is_market_trade"))
    [live] = (
        lake.read_partition("calibration_metrics", COIN, DAYS[1])
        .filter((pl.col("source") == "live") & (pl.col("model") == "adverse_selection"))
        .iter_rows(named=True)
    )
    assert live["n"] == own.filter(pl.col("adverse_selection_bps").is_not_null()).height > 0
