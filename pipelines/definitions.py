"""The smallfish code location: assets, checks, jobs and resources. Cheap to import: no I/O here."""

from __future__ import annotations

import dagster as dg

from assets import ingest, ingest_checks
from pipelines.resources import DataLakeResource

ingest_job = dg.define_asset_job(
    "ingest",
    selection=dg.AssetSelection.assets(ingest.raw_captures, ingest.clean_tables),
    description="Raw captures -> clean tables and quarantine for one (coin, day), with their blocking checks.",
)

defs = dg.Definitions(
    assets=[ingest.raw_captures, ingest.clean_tables],
    asset_checks=[ingest_checks.reconciliation, *ingest_checks.gx_checks],
    jobs=[ingest_job],
    resources={"data_lake": DataLakeResource()},
    executor=dg.multiprocess_executor.configured({"max_concurrent": 2}),
)
