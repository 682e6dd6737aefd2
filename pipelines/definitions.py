"""The smallfish code location: assets, checks, jobs, schedules, sensors and resources. No I/O at import."""

import dagster as dg

from assets import fits, ingest, ingest_checks, lead_lag, measurement, niche, promotion, validation
from assets.catalogue_specs import catalogued
from assets.resources import data_lake_from_env
from pipelines.executors import executor_from_env
from pipelines.maintenance import lake_maintenance, lake_maintenance_schedule
from pipelines.run_config import NIGHTLY_CONFIG
from pipelines.sensors import raw_arrival_sensor, run_failure_alert

ingest_job = dg.define_asset_job(
    "ingest",
    selection=dg.AssetSelection.assets(ingest.raw_captures, ingest.clean_tables),
    description="Raw captures -> clean tables and quarantine for one (coin, day), with their blocking checks.",
)

NIGHTLY_SELECTION = dg.AssetSelection.all() - dg.AssetSelection.groups("niche")

nightly_job = dg.define_asset_job(
    "nightly_recalibration",
    selection=NIGHTLY_SELECTION,
    config=NIGHTLY_CONFIG,
    description="Yesterday's (coin, day): clean, measure, fit over the training window, walk-forward, candidate, gate. "
    "A partition's default config is the demo's hour-scale folds for the demo coins (DEMO, NICHE), the assets' "
    "production defaults for every other coin (pipelines/run_config.py).",
)

nightly_schedule = dg.build_schedule_from_partitioned_job(
    nightly_job,
    hour_of_day=0,
    minute_of_hour=30,
    name="nightly_recalibration_schedule",
    description=(
        "00:30 UTC: one `nightly_recalibration` run per known coin for yesterday (UTC), the day that just ended. "
        "Starts STOPPED: turn it on in the UI (Automation) once the raw zone is fed."
    ),
)

niche_job = dg.define_asset_job(
    "niche_selection",
    selection=dg.AssetSelection.groups("niche"),
    description="Every coin of one day: universe, market screen and time-of-day structure.",
)

niche_schedule = dg.build_schedule_from_partitioned_job(
    niche_job,
    hour_of_day=3,
    minute_of_hour=0,
    name="niche_selection_schedule",
    description=(
        "03:00 UTC: one `niche_selection` run for yesterday (UTC) over every coin, after the nightly runs "
        "have cleaned and marked it. Starts STOPPED."
    ),
)

defs = dg.Definitions(
    assets=catalogued(
        [
            ingest.raw_captures,
            ingest.clean_tables,
            measurement.features,
            measurement.markouts_asset,
            measurement.baseline_metrics,
            fits.regime_fit,
            fits.vol_fit,
            fits.kappa_fit,
            fits.hawkes_fit,
            lead_lag.lead_lag_fit,
            *validation.VALIDATION_ASSETS,
            promotion.param_sets,
            niche.universe,
            niche.market_screen,
            niche.time_of_day,
        ]
    ),
    asset_checks=[ingest_checks.reconciliation, *ingest_checks.gx_checks, *validation.VALIDATION_CHECKS],
    jobs=[ingest_job, nightly_job, niche_job, lake_maintenance],
    schedules=[nightly_schedule, niche_schedule, lake_maintenance_schedule],
    sensors=[raw_arrival_sensor, run_failure_alert],
    resources={"data_lake": data_lake_from_env()},
    executor=executor_from_env(),
)
