"""The nightly verdict per component: asset and table ``diagnosis`` (DESIGN.md), and the report's
diagnosis section (:mod:`validation.decisions.component_verdict`).

Wiring: the verdict is drawn from the baseline's out-of-sample quotes and fills and the causal HMM beliefs of the
walk-forward run, which are not persisted (the quotes alone are one row per side and tau interval of every test
window). Rather than store them or re-run the walk-forward, ``diagnosis`` is a third asset of the
``walk_forward_assets`` multi-asset, computed from the same
:class:`~validation.experiments.walk_forward_run.WalkForwardRun` object: its spec, computation and write live here, and
``assets/validation.py`` only lists the spec, passes the run and yields the result. It depends on ``walk_forward`` in
the lineage and is materialised with it every night.

The lead-lag row compares fills after large moves of a leader's mid (``leader``, BTC by default) with the other
fills; the leader's mids come from its ``book`` rows in the lake over the walk-forward's days.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl

from assets.partitions import COIN_DAY
from data_lake.lake import Lake
from data_lake.tables import COMPONENT_VERDICT
from validation.decisions.component_verdict import run_verdict_rows
from validation.decisions.verdict_text import action, morning_text
from validation.experiments.variant_types import Market, VariantConfig
from validation.experiments.walk_forward_run import WalkForwardRun

ASSET = "diagnosis"
TABLE = COMPONENT_VERDICT.name

COMPONENT_VERDICTS_SPEC = dg.AssetSpec(
    ASSET,
    deps=["walk_forward"],
    partitions_def=COIN_DAY,
    group_name="validation",
    kinds={"delta", "polars"},
    description=(
        "Per component of the method's diagnosis table (bipower, hawkes, hmm_blending, vpin_widening, lead_lag): "
        "does the baseline's prediction fail out of sample, does the walk-forward variant fix it (Holm over the "
        "distinct trials), and the verdict add / keep simple / no fix / untested, largest weakness first."
    ),
)


def leader_mids(lake: Lake, leader: str, days: tuple[dt.date, dt.date]) -> pl.DataFrame:
    """``time``, ``mid`` of the leader's book rows over the inclusive ``days`` (empty when the lake has none)."""
    book = lake.read("book", coins=leader, start=days[0], end=days[1], columns=["time", "mid"])
    return book.filter(pl.col("mid").is_not_null()).sort("time")


def component_verdict_rows(
    lake: Lake,
    run: WalkForwardRun,
    market: Market,
    config: VariantConfig,
    coin: str,
    leader: str,
    days: tuple[dt.date, dt.date],
) -> pl.DataFrame:
    """The verdict rows of ``run`` (:func:`validation.decisions.component_verdict.run_verdict_rows`) with the leader's
    mids from the lake. ``leader`` empty or the coin itself: the lead-lag row has no leader."""
    lead = leader if leader and leader != coin else None
    return run_verdict_rows(run, market, config, lead, leader_mids(lake, lead, days) if lead else None)


def _previous(lake: Lake, coin: str, date: dt.date) -> tuple[pl.DataFrame, dt.date | None]:
    """The coin's latest verdicts before ``date`` (empty when there are none)."""
    earlier = lake.scan(TABLE).filter((pl.col("coin") == coin) & (pl.col("date") < date))
    last = earlier.select(pl.col("date").max()).collect().item()
    return (earlier.filter(pl.col("date") == last).collect(), last) if last else (COMPONENT_VERDICT.empty(), None)


def materialise_component_verdicts(
    lake: Lake, rows: pl.DataFrame, coin: str, date: dt.date, stamp: dict
) -> dg.MaterializeResult:
    """Write the (coin, date) partition of ``component_verdict`` (``stamp``: coin, date, code_version, run_at_ms)
    and say in the metadata what to do this morning."""
    table = rows.with_columns(**{k: pl.lit(v) for k, v in stamp.items()})
    previous, previous_date = _previous(lake, coin, date)
    version = lake.write_partition(TABLE, table, coin, date)
    text = morning_text(table, coin, date, previous, previous_date)
    counts = table.group_by("verdict").len().sort("verdict")
    return dg.MaterializeResult(
        asset_key=ASSET,
        metadata={
            "dagster/row_count": table.height,
            "delta_version": version,
            "action": action(table),
            "largest_weakness": table.sort("rank")["prediction"][0],
            "verdicts": ", ".join(f"{r['verdict']} {r['len']}" for r in counts.iter_rows(named=True)),
            "diagnosis": dg.MetadataValue.md(f"```\n{text}\n```"),
        },
    )
