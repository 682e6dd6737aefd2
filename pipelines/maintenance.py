"""Weekly lake maintenance: compact and vacuum every table (see :mod:`data_lake.vacuum`), so reruns do not grow the
lake."""

import dagster as dg

from assets.resources import DataLakeResource
from data_lake.vacuum import DEFAULT_RETENTION_HOURS, describe, vacuum_lake


class VacuumConfig(dg.Config):
    retention_hours: int = DEFAULT_RETENTION_HOURS
    """Files a version of the last ``retention_hours`` needs are kept (time travel over the last week's runs)."""


@dg.op(description="Compact every table's small files, then delete files no version within the retention needs.")
def vacuum_tables(context: dg.OpExecutionContext, config: VacuumConfig, data_lake: DataLakeResource) -> dg.Output[None]:
    results = vacuum_lake(data_lake.lake(), config.retention_hours)
    context.log.info(describe(results))
    failed = [r.table for r in results if r.error]
    if failed:
        raise dg.Failure(description=f"vacuum failed for {', '.join(failed)}", metadata={"report": describe(results)})
    return dg.Output(
        None,
        metadata={
            "bytes_before": sum(r.bytes_before or 0 for r in results),
            "bytes_after": sum(r.bytes_after or 0 for r in results),
            "report": dg.MetadataValue.md(f"```\n{describe(results)}\n```"),
        },
    )


@dg.job(description="Compact and vacuum every table of the lake (weekly).")
def lake_maintenance() -> None:
    vacuum_tables()


lake_maintenance_schedule = dg.ScheduleDefinition(
    name="lake_maintenance_schedule", job=lake_maintenance, cron_schedule="0 5 * * 0", execution_timezone="UTC"
)
"""Sundays 05:00 UTC: after the nightly run (00:30) and niche selection (03:00) have finished."""
