"""What each backfilled partition's walk-forward did, read from its materialisation: the report it wrote, or why it
had no fold (in covered hours, with what one fold needs) and what it kept. The CLI prints only report URLs a run
reported writing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import dagster as dg

from assets.partitions import partition_key
from pipelines.backfill import FITS, Outcome


def materialisation_metadata(
    instance: dg.DagsterInstance, asset: str, coin: str, date: dt.date, run_id: str
) -> dict | None:
    """Metadata values of the ``asset`` materialisation of (coin, date) made by run ``run_id``, if any."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition_key(coin, date)]), limit=20
    ).records
    for record in records:
        if record.run_id == run_id and record.asset_materialization is not None:
            return {k: v.value for k, v in record.asset_materialization.metadata.items()}
    return None


def walk_forward_lines(instance: dg.DagsterInstance, outcomes: Iterable[Outcome]) -> list[str]:
    """One line per (coin, day) whose fits stage ran: the walk-forward report's URL, or why there was none."""
    lines = []
    for o in sorted((o for o in outcomes if o.stage == FITS and o.run_id), key=lambda o: (o.coin, o.date)):
        metadata = materialisation_metadata(instance, "walk_forward", o.coin, o.date, o.run_id)
        if metadata is None:
            said = f"not materialised (run {o.run_id[:8]} failed)"
        elif "skipped" in metadata:
            kept = metadata.get("kept_earlier_result")
            said = metadata["skipped"] + (f"; kept {kept}" if kept else "")
        else:
            said = f"report {metadata['report']}"
        lines.append(f"  {o.coin} {o.date} walk-forward: {said}")
    return lines
