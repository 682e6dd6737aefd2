"""Niche selection: the perp universe, the daily market screen and the time structure (hour, weekend, funding).

All three are partitioned by UTC day only (``DAILY``), not by (coin, day): a screen ranks every coin of a day
against the others, so one partition must see them all and a user asks "what should I make a market in on day D";
the time structure likewise compares coins over a trailing window ending on D. They depend on the (coin, day)
clean tables and markouts of the same day, all coins (Dagster infers ``MultiToSingleDimensionPartitionMapping``
on the shared ``date`` dimension).
"""

import datetime as dt
from typing import Any

import dagster as dg
import polars as pl

from assets.metadata import plot_url
from assets.partitions import DAILY
from assets.resources import DataLakeResource
from data_lake.lake import Lake
from data_lake.table_preview import preview_md
from data_lake.tables import MARKET_SCREEN, TIME_OF_DAY
from data_lake.units import day_bounds_ms
from data_lake.universe import universe_for_day
from validation.screening.market_screen import ScreenThresholds, coin_figures, screen, with_universe
from validation.screening.screen_figures import plot_heatmaps, plot_screen
from validation.screening.time_structure import (
    TimeStructureSettings,
    cell_sums,
    lowest_buckets,
    time_structure,
)

GROUP = "niche"
SCREEN_INPUTS = ("trades", "book", "asset_ctx", "markouts")
COLUMNS = {
    "trades": ["coin", "time", "px", "sz", "side", "buyer", "seller"],
    "book": ["coin", "time", "recv_time_ns", "bid_px_1", "ask_px_1", "bid_depth_10bps", "ask_depth_10bps"],
    "markouts": ["coin", "time", "is_market_trade", "spread_capture_bps", "markout_5000ms_bps"],
    "asset_ctx": None,
}


def _day(context: dg.AssetExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)


def partitions_present(lake: Lake, tables: tuple[str, ...], start: dt.date, end: dt.date) -> pl.DataFrame:
    """The (coin, date) partitions with rows in any of ``tables`` between ``start`` and ``end`` (inclusive), from
    the Delta logs' file lists (no data is read)."""
    found = [pl.DataFrame(schema={"coin": pl.String, "date": pl.Date})]
    for name in (t for t in tables if lake.exists(t)):
        files = pl.DataFrame(lake.delta_table(name).get_add_actions(flatten=True))
        found.append(files.filter(pl.col("num_records") > 0).select(coin="partition.coin", date="partition.date"))
    return pl.concat(found).filter(pl.col("date").is_between(start, end)).unique().sort("date", "coin")


def _read(lake: Lake, name: str, coin: str, date: dt.date) -> pl.DataFrame:
    return lake.read_partition(name, coin, date, columns=COLUMNS[name])


@dg.asset(partitions_def=DAILY, group_name=GROUP, kinds={"delta", "polars"})
def universe(context: dg.AssetExecutionContext, data_lake: DataLakeResource) -> dg.MaterializeResult:
    """The perp universe (all dexes, HIP-3 ``dex:COIN`` included) as of the day's end, from the Info-API
    ``meta`` / ``perpDexs`` snapshots stored in the raw zone (the latest of the last 31 days)."""
    date = _day(context)
    table = universe_for_day(data_lake.raw(), date).with_columns(date=pl.lit(date))
    lake = data_lake.lake()
    version = lake.replace("universe", table, {"date": date})
    by_dex = table.group_by("dex").agg(pl.len(), pl.col("is_delisted").sum()).sort("dex")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "delta_version": version,
            "coins_by_dex": dg.MetadataValue.md(preview_md(by_dex, rows=50)),
        }
    )


class MarketScreenConfig(dg.Config):
    """The seed's criteria: daily volume in [min, max] (quote currency), median spread above a floor (bps), at most
    so many effective makers, maker edge after the fee above a floor (bps)."""

    min_volume_quote: float = ScreenThresholds.min_volume_quote
    max_volume_quote: float = ScreenThresholds.max_volume_quote
    min_spread_bps: float = ScreenThresholds.min_spread_bps
    max_effective_makers: float = ScreenThresholds.max_effective_makers
    maker_fee_bps: float = ScreenThresholds.maker_fee_bps
    min_edge_bps: float = ScreenThresholds.min_edge_bps


@dg.asset(
    partitions_def=DAILY,
    group_name=GROUP,
    deps=[universe, *SCREEN_INPUTS],
    kinds={"delta", "polars"},
)
def market_screen(
    context: dg.AssetExecutionContext, config: MarketScreenConfig, data_lake: DataLakeResource
) -> dg.MaterializeResult:
    """Every coin with data on the day: volume per day (the exchange's, else the captured trades' scaled by the hours
    covered, both shown), open interest, spread, depth, makers (placeholder addresses are unknown, not makers), maker
    markout and edge, funding and volatility, each of the seed's criteria pass/fail with its figure, a score and a
    rank (1 = best)."""
    date = _day(context)
    lake = data_lake.lake()
    thresholds = ScreenThresholds(**config.model_dump())
    _, end_ms = day_bounds_ms(date)
    coins = partitions_present(lake, ("trades", "book", "asset_ctx"), date, date)["coin"].to_list()
    figures = []
    for coin in coins:
        trades, book, asset_ctx, markouts = (_read(lake, name, coin, date) for name in SCREEN_INPUTS)
        figures.append(coin_figures(trades, book, asset_ctx, markouts, end_ms, thresholds.maker_fee_bps))
    screened = (
        with_universe(screen(pl.concat(figures, how="diagonal_relaxed"), thresholds), lake.read("universe", end=date))
        if figures
        else MARKET_SCREEN.empty()
    )
    table = screened.with_columns(date=pl.lit(date))
    version = lake.replace("market_screen", table, {"date": date})
    shown = table.select(
        "rank",
        "coin",
        "score",
        "volume_quote",
        "volume_source",
        "coverage_hours",
        "spread_median_bps",
        "effective_makers",
        "edge_bps",
        "pass_volume",
        "pass_spread",
        "pass_makers",
        "pass_edge",
    )
    metadata: dict[str, Any] = {
        "dagster/row_count": table.height,
        "delta_version": version,
        "thresholds": thresholds.to_json(),
        "passing_all": int((table["score"] == 4).sum()) if table.height else 0,
        "ranking": dg.MetadataValue.md(preview_md(shown, rows=25)),
    }
    if table.height:
        plot = plot_screen(table, thresholds, f"market screen {date}")
        metadata["screen_plot"] = plot_url(lake, plot, "market_screen", str(date), "screen")
    return dg.MaterializeResult(metadata=metadata)


class TimeOfDayConfig(dg.Config):
    """Trailing window in days (ending on the partition day), bucket width of the funding window in minutes,
    permutations of the significance test and its seed
    (:class:`validation.screening.time_structure.TimeStructureSettings`); ``coins`` None = every coin with data."""

    lookback_days: int = TimeStructureSettings.lookback_days
    bucket_minutes: int = TimeStructureSettings.bucket_minutes
    n_permutations: int = TimeStructureSettings.n_permutations
    seed: int = TimeStructureSettings.seed
    coins: list[str] | None = None


@dg.asset(
    partitions_def=DAILY,
    group_name=GROUP,
    deps=["trades", "book", "markouts"],
    kinds={"delta", "polars"},
)
def time_of_day(
    context: dg.AssetExecutionContext, config: TimeOfDayConfig, data_lake: DataLakeResource
) -> dg.MaterializeResult:
    """Per coin over the trailing window: spread, fill intensity, adverse selection and volatility by UTC hour,
    weekday vs weekend and minutes to the hourly funding payment, with CIs, n and permutation tests; heatmaps."""
    date = _day(context)
    lake = data_lake.lake()
    first = date - dt.timedelta(days=config.lookback_days - 1)
    present = partitions_present(lake, ("trades", "book", "markouts"), first, date)
    if config.coins is not None:
        present = present.filter(pl.col("coin").is_in(config.coins))
    cells = []
    for coin, day in present.select("coin", "date").iter_rows():
        trades, book, markouts = (_read(lake, name, coin, day) for name in ("trades", "book", "markouts"))
        cells.append(cell_sums(trades, book, markouts, day_bounds_ms(day)[1], config.bucket_minutes))
    table = (
        time_structure(pl.concat(cells), config.bucket_minutes, config.n_permutations, config.seed) if cells else None
    )
    window = {"window_start_ms": day_bounds_ms(first)[0], "window_end_ms": day_bounds_ms(date)[1]}
    rows = (table if table is not None else TIME_OF_DAY.empty()).with_columns(
        date=pl.lit(date), **{k: pl.lit(v) for k, v in window.items()}
    )
    version = lake.replace("time_of_day", rows, {"date": date})
    metadata: dict[str, Any] = {
        "dagster/row_count": rows.height,
        "delta_version": version,
        "days_in_window": present["date"].n_unique(),
    }
    if table is not None and table.height:
        for dimension in ("hour_of_day", "minutes_to_funding"):
            answer = lowest_buckets(table, "adverse_selection_5s_bps", dimension).with_columns(
                pl.col("significantly_lower").list.join(" ")
            )
            metadata[f"lowest_adverse_selection_{dimension}"] = dg.MetadataValue.md(preview_md(answer, rows=50))
            metadata[f"heatmap_{dimension}"] = plot_url(
                lake,
                plot_heatmaps(table, dimension, f"{dimension}, window ending {date}"),
                "time_of_day",
                str(date),
                dimension,
            )
        day_type = table.filter(pl.col("dimension") == "day_type").select(
            "coin", "metric", "bucket", "value", "ci_low", "ci_high", "n", "p_value"
        )
        metadata["weekday_vs_weekend"] = dg.MetadataValue.md(preview_md(day_type, rows=200))
    return dg.MaterializeResult(metadata=metadata)
