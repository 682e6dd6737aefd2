"""The smallfish code location: assets, checks, jobs and resources. Cheap to import: no I/O here."""

import dagster as dg

from assets import ingest, ingest_checks, measurement
from pipelines.resources import DataLakeResource

ingest_job = dg.define_asset_job(
    "ingest",
    selection=dg.AssetSelection.assets(ingest.raw_captures, ingest.clean_tables),
    description="Raw captures -> clean tables and quarantine for one (coin, day), with their blocking checks.",
)

daily_job = dg.define_asset_job(
    "daily",
    selection=dg.AssetSelection.all(),
    description="Every asset of one (coin, day): clean, measure, fit, validate.",
)

defs = dg.Definitions(
    assets=[ingest.raw_captures, ingest.clean_tables, measurement.features, measurement.markouts_asset, measurement.baseline_metrics],
    asset_checks=[ingest_checks.reconciliation, *ingest_checks.gx_checks],
    jobs=[ingest_job, daily_job],
    resources={"data_lake": DataLakeResource()},
    executor=dg.multiprocess_executor.configured({"max_concurrent": 2}),
)
