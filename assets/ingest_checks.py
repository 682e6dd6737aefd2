"""Blocking checks on the clean tables: exact record reconciliation and Great Expectations suites."""

import dagster as dg

from assets.ingest import CLEAN_TABLES
from assets.partitions import COIN_DAY, coin_and_date
from assets.quality import columns_read, run_suite, table_suite
from assets.resources import DataLakeResource
from data_lake.contract import unaccounted_records


@dg.asset_check(asset="quarantine", partitions_def=COIN_DAY, blocking=True)
def reconciliation(context: dg.AssetCheckExecutionContext, data_lake: DataLakeResource) -> dg.AssetCheckResult:
    """Raw records in = clean rows + quarantined + duplicates (+ midnight spill-over), counted in the lake."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    accounting = lake.read_partition("ingest_accounting", coin, date)
    if accounting.height != 1:
        return dg.AssetCheckResult(
            passed=False, metadata={"error": f"{accounting.height} accounting rows for {coin} {date}"}
        )
    row = accounting.row(0, named=True)
    in_lake = {name: lake.read_partition(name, coin, date, columns=["coin"]).height for name in CLEAN_TABLES}
    quarantined = lake.read_partition("quarantine", coin, date, columns=["coin"]).height
    difference = unaccounted_records({**row, "clean_rows": sum(in_lake.values()), "quarantined": quarantined})
    passed = difference == 0 and row["clean_rows"] == sum(in_lake.values()) and row["quarantined"] == quarantined
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "records_in": row["records_in"],
            "spilled_in": row["spilled_in"],
            "clean_rows_in_lake": sum(in_lake.values()),
            **{f"rows/{k}": v for k, v in in_lake.items()},
            "quarantined_in_lake": quarantined,
            "duplicates": row["duplicates"],
            "spilled_out": row["spilled_out"],
            "difference": difference,
        },
    )


def _gx_check(table_name: str, blocking: bool = True) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=table_name,
        name=f"gx_{table_name}_suite",
        partitions_def=COIN_DAY,
        blocking=blocking,
        description=f"Great Expectations suite for `{table_name}`: non-null keys, ranges, uniqueness, monotonic time "
        "and partition bounds where the table has a time (assets/quality.py).",
    )
    def _check(context: dg.AssetCheckExecutionContext, data_lake: DataLakeResource) -> dg.AssetCheckResult:
        coin, date = coin_and_date(context)
        suite = table_suite(table_name, date)
        df = data_lake.lake().read_partition(table_name, coin, date, columns=columns_read(suite))
        result = run_suite(suite, df)
        return dg.AssetCheckResult(passed=result.success, metadata={"rows": df.height, **result.as_metadata()})

    return _check


gx_checks = [
    _gx_check("raw_captures", blocking=False),
    *(_gx_check(name) for name in (*CLEAN_TABLES, "quarantine")),
]
"""A suite on every table the ingest writes (``assets.quality``), blocking on the clean tables and the quarantine.
The raw-file inventory's suite does not block: the cleaning reads the raw zone, not the inventory, and a blocking
check there would hold every ingest back by a step. ``ingest_accounting`` is verified by ``reconciliation``."""
