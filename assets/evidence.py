"""What the Dagster instance knows about a partition's validation evidence: whether the latest materialisation of
an asset computed anything (``skipped``) and which run's walk-forward evidence the partition holds. Shared by the
validation checks and the promotion, which must say why a day has no evidence rather than pass it green."""

import datetime as dt

import dagster as dg
import polars as pl

from assets.metadata import SKIPPED
from data_lake.lake import Lake
from validation.experiments.walk_forward_run import POOLED

EVIDENCE_RUN = "evidence_run_id"
"""Metadata key: the run whose walk-forward evidence the partition holds (this run's, or the one a skip kept)."""
KEPT = "kept_earlier_result"
"""Metadata key of a skipped run that kept the partition's earlier evidence: whose it is."""


def _materialisations(instance: dg.DagsterInstance, asset: str, partition: str, limit: int = 50) -> list[dict]:
    """Metadata values of the partition's latest materialisations of ``asset``, newest first."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=limit
    ).records
    return [
        {k: v.value for k, v in r.asset_materialization.metadata.items()}
        for r in records
        if r.asset_materialization is not None
    ]


def not_computed(instance: dg.DagsterInstance, asset: str, partition: str) -> str | None:
    """Why the latest materialisation of ``asset``'s partition computed nothing (and what it kept), or None."""
    latest = _materialisations(instance, asset, partition, limit=1)
    if not latest or SKIPPED not in latest[0]:
        return None
    kept = latest[0].get(KEPT)
    kept_note = f"; the partition keeps {kept}" if kept else ""
    return f"the latest run could not compute it: {latest[0][SKIPPED]}{kept_note}"


def evidence_run(instance: dg.DagsterInstance, partition: str) -> str | None:
    """The run whose evidence the partition's ``walk_forward`` holds (recorded as ``evidence_run_id``)."""
    return next(
        (m[EVIDENCE_RUN] for m in _materialisations(instance, "walk_forward", partition) if EVIDENCE_RUN in m), None
    )


def earlier_evidence(instance: dg.DagsterInstance, partition: str, lake: Lake, coin: str, date: dt.date) -> str | None:
    """What the partition's ``walk_forward`` holds from an earlier run with evidence (a pooled row), or None."""
    pooled = lake.read_partition("walk_forward", coin, date, columns=["fold", "run_at_ms", "code_version"]).filter(
        pl.col("fold") == POOLED
    )
    if not pooled.height:
        return None
    run_id = evidence_run(instance, partition) or "unknown"
    written = dt.datetime.fromtimestamp(pooled["run_at_ms"][0] / 1000, dt.UTC).isoformat(timespec="seconds")
    return f"the evidence of run {run_id}, written {written} by code {pooled['code_version'][0]}"
