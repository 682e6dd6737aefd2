"""Measurement before modeling: features (1 s / 1 min bars), markouts (the FillLog) and the baseline report."""

import datetime as dt
from typing import Any

import dagster as dg
import polars as pl

from assets.metadata import plot_url, skipped, table_metadata
from assets.partitions import COIN_DAY, coin_and_date, days_dep
from assets.regime_state import day_regime_beliefs
from assets.resources import DataLakeResource
from calibration.bars import TRADE_COLUMNS, BarSettings, bar_coverage, features_1min, features_1s
from calibration.fill_log import enrich_fill_log
from calibration.markouts import maker_side_of_trades, markouts
from calibration.mids import MID_COLUMNS, MID_MAX_AGE_MS, mid_series
from calibration.toxicity import BOOK_SIGNAL_COLUMNS, book_signals
from data_lake.lake import Lake
from data_lake.table_preview import rounded_metadata
from data_lake.tables import MARKOUT_HORIZONS_MS, MARKOUTS
from data_lake.units import day_bounds_ms
from validation.reporting.measurement_figures import plot_markout_curve
from validation.statistics.baseline_table import baseline_metrics as baseline_table
from validation.statistics.baseline_table import markout_curve, mean_markout_lines

GROUP = "measurement"
NEXT_DAY_MARGIN_MS = 2 * max(MARKOUT_HORIZONS_MS)
BOOK_COLUMNS = list(dict.fromkeys([*MID_COLUMNS, *BOOK_SIGNAL_COLUMNS]))
"""The ``book`` columns the bars and the markouts read (mids and book signals): 18 of the table's 130."""


class FeaturesConfig(dg.Config):
    """EWMA half-lives in bars for the 1 s and 1 min bars (:class:`calibration.bars.BarSettings`)."""

    half_life_1s_bars: float = BarSettings.half_life_1s_bars
    half_life_1min_bars: float = BarSettings.half_life_1min_bars


def _book_with_next_day_head(data_lake: DataLakeResource, coin: str, date: dt.date) -> pl.DataFrame:
    """This day's book (the columns of mids and book signals) plus the first minute of the next day, so late markout
    horizons stay observable."""
    lake = data_lake.lake()
    book = lake.read_partition("book", coin, date, columns=BOOK_COLUMNS)
    _, end = day_bounds_ms(date)
    next_day = date + dt.timedelta(days=1)
    head = lake.read(
        "book",
        coins=coin,
        start=next_day,
        end=next_day,
        columns=BOOK_COLUMNS,
        where=pl.col("time") < end + NEXT_DAY_MARGIN_MS,
    )
    return pl.concat([book, head]) if head.height else book


@dg.asset(partitions_def=COIN_DAY, group_name=GROUP, deps=[days_dep("trades", -1), "book"], kinds={"delta", "polars"})
def features(
    context: dg.AssetExecutionContext, config: FeaturesConfig, data_lake: DataLakeResource
) -> dg.MaterializeResult:
    """1 s and 1 min bars: returns, EWMA variance, RV, bipower, jump ratio, imbalance, microprice, VPIN.

    The previous day's trades warm VPIN up (its buckets span many hours); bars cover this day only. Bars inside a
    capture gap do not exist (``calibration.bars``): the metadata counts them and the trades they held; a day
    without a book mid has no bars at all (skipped, empty partition).
    """
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    trades = lake.read("trades", coins=coin, start=date - dt.timedelta(days=1), end=date, columns=list(TRADE_COLUMNS))
    book = lake.read_partition("book", coin, date, columns=BOOK_COLUMNS)
    start, end = day_bounds_ms(date)
    bars = pl.concat(
        [features_1s(trades, book, config.half_life_1s_bars), features_1min(trades, book, config.half_life_1min_bars)]
    ).filter(pl.col("time").is_between(start, end - 1))
    version = lake.write_partition("features", bars.with_columns(date=pl.lit(date)), coin, date)
    day_trades = trades.filter(pl.col("time").is_between(start, end - 1)).height
    metadata = {
        **table_metadata(bars, lake.uri("features"), version),
        **rounded_metadata(bar_coverage(bars, day_trades)),
    }
    if bars.height == 0:
        metadata |= skipped(
            f"no bars: the book has no two-sided mid this day ({book.height} book rows); "
            f"{day_trades} trades are in no bar"
        )
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    name="markouts",
    partitions_def=COIN_DAY,
    group_name=GROUP,
    deps=["fills", "trades", days_dep("book", 0, 1), days_dep(features, -1), days_dep("regime_hmm", -1, -1)],
    kinds={"delta", "polars"},
)
def markouts_asset(context: dg.AssetExecutionContext, data_lake: DataLakeResource) -> dg.MaterializeResult:
    """Markouts at 200 ms / 1 s / 5 s / 30 s of own fills and of market trades seen from the maker side.

    Mids by ``calibration.mids``' rule: a fill without a mid before it, or a horizon without a fresh mid (a capture
    gap), stays null and is counted in the metadata. Regime beliefs come from the causal filter under the previous
    day's HMM (out of sample); without one they stay null. Nothing to mark (no fills) or nothing to mark against
    (no book mid) skips the day with an empty partition.
    """
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    book = _book_with_next_day_head(data_lake, coin, date)
    own = lake.read_partition("fills", coin, date).with_columns(is_market_trade=pl.lit(False))
    market = maker_side_of_trades(lake.read_partition("trades", coin, date))
    fills = pl.concat([own, market], how="diagonal_relaxed")
    mids = mid_series(book)
    reason = None
    if fills.height == 0:
        reason = "no trades and no own fills this day: nothing to mark"
    elif mids.height == 0:
        reason = (
            f"no book mid this day ({book.height} book rows): {market.height} market trades and {own.height} own "
            "fills left unmarked"
        )
    if reason is not None:
        empty = MARKOUTS.empty()
        version = lake.write_partition("markouts", empty, coin, date)
        metadata = table_metadata(empty, lake.uri("markouts"), version)
        return dg.MaterializeResult(metadata={**metadata, **skipped(reason)})
    marked = markouts(fills, mids, horizons_ms=MARKOUT_HORIZONS_MS)
    bars_1s = lake.read_partition("features", coin, date).filter(pl.col("bar_ms") == 1000)
    beliefs = day_regime_beliefs(lake, coin, date, params_date=date - dt.timedelta(days=1))
    fill_log = enrich_fill_log(marked, bars_1s, book_signals(book), beliefs)
    version = lake.write_partition("markouts", fill_log.with_columns(date=pl.lit(date)), coin, date)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(MARKOUTS.conform(fill_log.with_columns(date=pl.lit(date))), lake.uri("markouts"), version),
            "markout_curve": _markout_curve(lake, fill_log, coin, date),
            "own_fills": own.height,
            "market_trades": market.height,
            "without_mid_before_fill": fill_log["mid_at_fill"].null_count(),
            "without_fresh_mid_by_horizon_ms": {
                str(h): fill_log[f"mid_{h}ms"].null_count() for h in MARKOUT_HORIZONS_MS
            },
            "mid_max_age_ms": MID_MAX_AGE_MS,
            "mean_markout_5s_bps": dg.MetadataValue.md(mean_markout_lines(fill_log)),
        }
    )


def _markout_curve(lake: Lake, fill_log: pl.DataFrame, coin: str, date: dt.date) -> dg.MetadataValue | str:
    """The markout curve (mean markout by horizon, per population and side, with 95% CIs): a plot in the lake."""
    curve = markout_curve(fill_log, MARKOUT_HORIZONS_MS).filter(pl.col("mean_bps").is_finite())
    if not curve.height:
        return "not drawn: no fill has a markout at any horizon"
    png = plot_markout_curve(curve, f"{coin} {date}: mean markout by horizon")
    return plot_url(lake, png, "markouts", coin, str(date), "markout_curve")


@dg.asset(partitions_def=COIN_DAY, group_name=GROUP, deps=[markouts_asset], kinds={"delta", "polars"})
def baseline_metrics(context: dg.AssetExecutionContext, data_lake: DataLakeResource) -> dg.MaterializeResult:
    """The seed's Phase 2 table (adverse selection, spread capture, Sharpe, win rate, with CIs); the markout curve
    is drawn on ``markouts``."""
    coin, date = coin_and_date(context)
    lake = data_lake.lake()
    marked = lake.read_partition("markouts", coin, date)
    table = baseline_table(marked)
    version = lake.write_partition(
        "baseline_metrics", table.with_columns(coin=pl.lit(coin), date=pl.lit(date)), coin, date
    )
    metadata: dict[str, Any] = {
        "dagster/row_count": table.height,
        "delta_version": version,
        "table": dg.MetadataValue.md(
            "| population | metric | value | 95% CI | n |\n|---|---|---|---|---|\n"
            + "\n".join(
                f"| {r['population']} | {r['metric']} | {r['value']:.4f} "
                f"| [{r['ci_low']:.4f}, {r['ci_high']:.4f}] | {r['n']} |"
                for r in table.iter_rows(named=True)
            )
        ),
    }
    if marked.height == 0:
        return dg.MaterializeResult(metadata=metadata | skipped("no markouts this day (see the markouts asset)"))
    return dg.MaterializeResult(metadata=metadata)
