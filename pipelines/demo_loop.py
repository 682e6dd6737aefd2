"""The end of ``make demo``: each coin's gate decision, then the paper quoter on a held-out demo hour and the next
night's view of its own fills.

``make demo`` simulates one day more than it backfills. The gate decides on the backfilled days; a coin with a
promoted set then quotes one hour of the held-out day (out of sample: after every training window) with the paper
quoter on a replayed feed; that day is ingested (raw captures including the quoter's log -> clean tables, features,
markouts), so ``quoter_log`` holds the quoter's decisions and ``markouts`` its own fills with the predictions it
logged for them.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl

from assets.measurement import markouts_asset
from assets.partitions import partition_key
from data_lake import param_registry, raw_zone
from data_lake.lake import Lake
from data_lake.raw_zone import raw_path
from pipelines.backfill import FEATURES, INGEST, STAGE_ASSETS, Outcome
from pipelines.code_location import run_partition
from pipelines.definitions import defs, nightly_job
from pipelines.process_life import arm_parent_death_signal
from quoting.cli.quote import EXIT_OK

REPLAY_MAX_PARAM_AGE_S = 10 * 365 * 86_400.0
"""The quoter ages its set against the wall clock, and demo days lie in the past: the replay allows ten years."""

HELD_OUT_STAGES = dg.AssetSelection.assets(markouts_asset) | STAGE_ASSETS[INGEST] | STAGE_ASSETS[FEATURES]
"""What the held-out day needs for the quoter's fills to be marked: clean tables, features, markouts."""


@dataclass(frozen=True)
class GateOutcome:
    """A coin's gate decision on a partition: ``promoted`` with the set's id, or not with the reasons."""

    coin: str
    promoted: bool
    param_set_id: str | None
    reasons: tuple[str, ...]

    def line(self) -> str:
        """``COIN: promoted <id>`` or ``COIN: rejected (<reasons>)``."""
        if self.promoted:
            return f"{self.coin}: promoted {self.param_set_id}"
        return f"{self.coin}: rejected ({'; '.join(self.reasons)})"


def failed_checks(reason: str) -> tuple[str, ...]:
    """The ``fail: ...`` items of a gate reason text (``gate: ok: ...; fail: ...; skip: ...``), without the prefix.

    Items are split only where ``; `` starts a new ``ok:`` / ``fail:`` / ``skip:`` item, since an item's own text
    may hold ``; ``."""
    items = re.split(r";\s+(?=(?:ok|fail|skip):)", reason.removeprefix("gate: "))
    return tuple(item.removeprefix("fail:").strip() for item in items if item.startswith("fail:"))


def gate_outcome(
    instance: dg.DagsterInstance, lake_root: str, coin: str, date: dt.date, outcomes: list[Outcome]
) -> GateOutcome:
    """The decision of ``param_sets`` on (coin, date) in this backfill: the set its run built (materialisation
    metadata of the ``fits`` stage's run) and that set's last decision in the registry; without a candidate, why."""
    stages = {o.stage: o for o in outcomes if (o.coin, o.date) == (coin, date)}
    fits = stages.get("fits")
    metadata = _param_sets_metadata(instance, coin, date, fits.run_id) if fits and fits.run_id else None
    if metadata is None:
        failed = [s for s in (INGEST, FEATURES, "fits") if s in stages and stages[s].success is False]
        why = f"stage {failed[0]} failed" if failed else "param_sets was not materialised"
        return GateOutcome(coin, False, None, (f"no candidate: {why}",))
    set_id = metadata.get("param_set_id")
    if set_id is None:
        return GateOutcome(coin, False, None, (f"no candidate: {metadata.get('reason', metadata.get('decision'))}",))
    decided = param_registry.list_sets(lake_root, coin).filter(pl.col("param_set_id") == set_id)
    if not decided.height:
        return GateOutcome(coin, False, set_id, (f"set {set_id} has no decision in the registry",))
    status, reason = decided["status"][0], decided["reason"][0] or ""
    if status == "promoted":
        return GateOutcome(coin, True, set_id, ())
    return GateOutcome(coin, False, set_id, failed_checks(reason) or (f"{status}: {reason}",))


def _param_sets_metadata(instance: dg.DagsterInstance, coin: str, date: dt.date, run_id: str) -> dict | None:
    """Metadata values of the ``param_sets`` materialisation of (coin, date) made by run ``run_id``, if any."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("param_sets"), asset_partitions=[partition_key(coin, date)]),
        limit=20,
    ).records
    for record in records:
        if record.run_id == run_id and record.asset_materialization is not None:
            return {k: v.value for k, v in record.asset_materialization.metadata.items()}
    return None


@dataclass(frozen=True)
class QuoterReplay:
    """One paper-quoter replay and the ingest of its day: the hour replayed, exit code, the held-out day's
    ``quoter_log``, ``markouts`` and market ``trades`` (empty when the ingest failed) and the ingest's success."""

    coin: str
    hour_file: Path
    exit_code: int
    quoter_said: str
    ingested: bool
    quote_log: pl.DataFrame
    markouts: pl.DataFrame
    trades: pl.DataFrame


def hold_out_hour(raw_root: str, coin: str, date: dt.date, hour: int) -> None:
    """Keep only ``hour`` of the held-out ``date`` of ``coin`` in the raw zone's ``ws`` source: the replay needs
    one hour, and ingesting one hour instead of a day keeps ``make demo`` short."""
    for file in raw_zone.discover(raw_root, coin=coin, date=date):
        if file.source == "ws" and file.hour != hour:
            file.path.unlink()


def replay_and_ingest(
    instance: dg.DagsterInstance,
    lake_root: str,
    raw_root: str,
    coin: str,
    date: dt.date,
    hour: int,
    log_file: Path | None = None,
) -> QuoterReplay:
    """Run the paper quoter (``smallfish quote``, in its own process, which dies with this one: it configures logging
    and signals) on the promoted set over the replayed ``ws`` hour (``date``, ``hour``) as fast as it reads (feed
    clock = the replayed receive times), then ingest ``date``: its raw captures with the quoter's log, features and
    markouts, as a run of the code location (its console output appended to ``log_file`` when given).
    ``quoter_said`` is the last line the quoter logged."""
    hour_file = raw_path(raw_root, "ws", date, hour, coin)
    quoter = subprocess.run(
        [
            sys.executable,
            "-m",
            "quoting.cli",
            "quote",
            "--coin",
            coin,
            "--mode",
            "paper",
            "--feed",
            f"replay:{hour_file}",
            "--lake",
            lake_root,
            "--raw",
            raw_root,
            "--max-param-age-s",
            str(REPLAY_MAX_PARAM_AGE_S),
        ],
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=arm_parent_death_signal,
    )
    said = (quoter.stderr.strip().splitlines() or [""])[-1]
    run = run_partition(
        instance,
        nightly_job.name,
        str(partition_key(coin, date)),
        asset_selection=sorted(HELD_OUT_STAGES.resolve(defs.resolve_asset_graph())),
        tags={"smallfish/demo": "quoter replay ingest"},
        log_file=log_file,
    )
    success = run.status == dg.DagsterRunStatus.SUCCESS
    lake = Lake(lake_root)
    read = (lambda name: lake.read_partition(name, coin, date)) if success else (lambda name: pl.DataFrame())
    return QuoterReplay(
        coin, hour_file, quoter.returncode, said, success, read("quoter_log"), read("markouts"), read("trades")
    )


def quoter_ran(replay: QuoterReplay) -> bool:
    """The quoter ended normally and the day holds its decisions."""
    return replay.exit_code == EXIT_OK and replay.ingested and replay.quote_log.height > 0
