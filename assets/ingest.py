"""Raw -> clean assets, partitioned by (coin, day): thin wrappers over data_lake.cleaning."""

import time
from collections import Counter

import dagster as dg
import polars as pl

from assets.catalogue_specs import SOURCES_BY_GROUP
from assets.metadata import table_metadata
from assets.partitions import COIN_DAY, coin_and_date
from assets.resources import DataLakeResource
from calibration.fit_result import code_version
from data_lake import raw_zone
from data_lake.cleaning import CLEAN_TABLES, clean_partition
from data_lake.tables import RAW_CAPTURES

GROUP = "clean"


@dg.asset(partitions_def=COIN_DAY, group_name=GROUP, kinds={"delta", "polars"})
def raw_captures(context: dg.AssetExecutionContext, data_lake: DataLakeResource) -> dg.MaterializeResult:
    """Inventory of the raw-zone files of this (coin, day): path, source, bytes and line count."""
    coin, date = coin_and_date(context)
    files = raw_zone.discover(data_lake.raw(), coin=coin, date=date)
    rows = [
        {
            "coin": coin,
            "date": date,
            "source": f.source,
            "file": str(f.path),
            **dict(zip(("bytes", "lines", "modified_ns"), raw_zone.inventory(f), strict=True)),
        }
        for f in files
    ]
    inventory = RAW_CAPTURES.conform(pl.DataFrame(rows, schema=RAW_CAPTURES.polars_schema))
    lake = data_lake.lake()
    version = lake.write_partition("raw_captures", inventory, coin, date)
    by_source = Counter(f.source for f in files)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": inventory.height,
            "files": inventory.height,
            "lines": int(inventory["lines"].sum()) if inventory.height else 0,
            "bytes": int(inventory["bytes"].sum()) if inventory.height else 0,
            "files_by_source": dict(by_source),
            "raw_root": dg.MetadataValue.path(data_lake.raw()),
            "delta_version": version,
        }
    )


@dg.multi_asset(
    specs=[
        *(
            dg.AssetSpec(
                name, deps=[raw_captures], partitions_def=COIN_DAY, group_name=GROUP, kinds={"delta", "polars"}
            )
            for name in (*CLEAN_TABLES, "quarantine")
        ),
        dg.AssetSpec(
            "ingest_accounting",
            deps=[raw_captures],
            partitions_def=COIN_DAY,
            group_name=GROUP,
            kinds={"delta"},
            description="The (coin, day)'s record accounting: records_in + spilled_in = clean_rows + quarantined + "
            "duplicates + spilled_out; the reconciliation check and the promotion gate read it.",
        ),
    ],
    partitions_def=COIN_DAY,
    can_subset=False,
)
def clean_tables(context: dg.AssetExecutionContext, data_lake: DataLakeResource):
    """Parse and clean one (coin, day) of raw captures into the clean tables and the quarantine.

    Every partition write replaces that partition atomically, so re-materialising never duplicates rows.
    The record accounting is the ``ingest_accounting`` asset, verified by the reconciliation check.
    """
    coin, date = coin_and_date(context)
    result = clean_partition(data_lake.raw(), coin, date)
    lake = data_lake.lake()
    for name in CLEAN_TABLES:
        df = result.tables[name]
        version = lake.write_partition(name, df, coin, date)
        yield dg.MaterializeResult(asset_key=name, metadata=table_metadata(df, lake.uri(name), version))

    accounting = result.accounting.as_dict()
    accounting_row = pl.DataFrame(  # stamped with the code the cleaning runs, not the fits' packages
        [
            {
                "coin": coin,
                "date": date,
                **accounting,
                "code_version": code_version(SOURCES_BY_GROUP[GROUP]),
                "ingested_at_ms": int(time.time() * 1000),
            }
        ]
    )
    version = lake.write_partition("ingest_accounting", accounting_row, coin, date)
    yield dg.MaterializeResult(
        asset_key="ingest_accounting",
        metadata={
            "dagster/row_count": 1,
            "delta_version": version,
            "balanced": result.accounting.balanced,
            **{f"accounting/{k}": v for k, v in accounting.items()},
        },
    )
    quarantine = result.quarantine
    version = lake.write_partition("quarantine", quarantine, coin, date)
    reasons = quarantine.group_by("reason").len().sort("len", descending=True)
    yield dg.MaterializeResult(
        asset_key="quarantine",
        metadata={
            **table_metadata(quarantine, lake.uri("quarantine"), version),
            **{f"accounting/{k}": v for k, v in accounting.items()},
            "balanced": result.accounting.balanced,
            "reasons": dict(zip(reasons["reason"].to_list(), reasons["len"].to_list(), strict=True)),
        },
    )
