"""Niche selection: per coin and UTC day, the figures that say whether a market is worth making, and a ranking.

Figures (one row per coin): notional volume per day (quote currency; the exchange's 24 h volume, else the captured
trades' volume per covered day, :func:`per_covered_day`, with the hours covered beside it), open interest, quoted
spread in bps (time-weighted median and mean over book states), impact spread, depth within 10 bps, trade count,
distinct passive counterparties (the maker side of each trade's ``users``; a missing or all-zero placeholder address
such as ``0x000...0`` is an unknown maker, not a maker, and the share of volume with an unknown maker is reported), the
top-3 makers' share of maker volume and the effective number of makers 1 / sum(share^2), the mean 5 s maker markout of
market trades, the maker edge per fill ``spread_capture + markout_5s - maker fee`` (bps, HAC 95% CI), funding level and
volatility (hourly rate in bps), and price volatility (bps per sqrt(second)).

Criteria (the seed's, thresholds in :class:`ScreenThresholds`): volume within [min, max], median spread above a
floor, few makers (effective makers at most a cap), and positive expected edge after fees and adverse selection.
A criterion whose figure is missing is neither passed nor failed (null). Score = criteria passed; rank by score,
then edge, then volume (descending).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from data_lake.fees import MAKER_FEE_BPS
from data_lake.parsers.snapshots import coin_dex
from data_lake.scalars import as_float
from data_lake.units import DAY_MS, HOUR_MS, MINUTE_MS
from validation.statistics.significance import hac_mean_test

MAX_SPELL_MS = 60_000
"""A book state counts for at most this long: a longer silence is a capture gap, not a quiet book."""
EXCHANGE_VOLUME_WITHIN_MS = 600_000
"""The exchange's rolling 24 h volume (``day_ntl_vlm``) is the day's volume if read this close to the day's end."""
VOLATILITY_STEP_MS = 60_000
PLACEHOLDER_ADDRESS = r"(?i)^(0x)?0*$"
"""A missing, empty or all-zero address (``0x0000000000000000000000000000000000000000``) names nobody."""


@dataclass(frozen=True)
class ScreenThresholds:
    """The seed's criteria: daily volume in [min, max] (quote currency), median spread > ``min_spread_bps``, at most
    ``max_effective_makers`` effective makers, maker edge (bps, after ``maker_fee_bps``) > ``min_edge_bps``."""

    min_volume_quote: float = 100_000.0
    max_volume_quote: float = 5_000_000.0
    min_spread_bps: float = 5.0
    max_effective_makers: float = 10.0
    maker_fee_bps: float = MAKER_FEE_BPS
    min_edge_bps: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def book_spells(book: pl.DataFrame, end_ms: int, max_spell_ms: int = MAX_SPELL_MS) -> pl.DataFrame:
    """Each two-sided book state (``bbo`` and ``l2Book`` rows merged by time, last received wins at equal time):
    ``coin, time, mid`` (quote currency), ``spread_bps`` and ``duration_ms`` (until the next state, capped at
    ``max_spell_ms`` and at ``end_ms``)."""
    order = ["coin", "time", *(["recv_time_ns"] if "recv_time_ns" in book.columns else [])]
    bid, ask = pl.col("bid_px_1"), pl.col("ask_px_1")
    states = (
        book.filter(bid.is_not_null() & ask.is_not_null() & (bid < ask))
        .sort(order)
        .unique(["coin", "time"], keep="last", maintain_order=True)
        .with_columns(mid=(bid + ask) / 2)
    )
    following = pl.col("time").shift(-1).over("coin").fill_null(end_ms).clip(upper_bound=end_ms)
    return states.select(
        "coin",
        "time",
        "mid",
        ((ask - bid) / pl.col("mid") * 1e4).alias("spread_bps"),
        (following - pl.col("time")).clip(0, max_spell_ms).alias("duration_ms"),
    )


def weighted_median(values: pl.Expr, weights: pl.Expr) -> pl.Expr:
    """The smallest value whose cumulative weight reaches half the total (use inside ``group_by().agg``)."""
    sorted_values, sorted_weights = values.sort_by(values), weights.sort_by(values)
    reached = sorted_weights.cum_sum() >= sorted_weights.sum() / 2
    return sorted_values.filter(reached & (sorted_weights.sum() > 0)).first()


def grid_log_returns(prices: pl.DataFrame, step_ms: int, max_age_ms: int = MAX_SPELL_MS) -> pl.DataFrame:
    """Log returns of ``price`` sampled every ``step_ms`` per coin (``coin, time, price`` in; ``coin, time,
    log_return`` out); a sample older than ``max_age_ms`` is a gap and gives no return."""
    ordered = prices.drop_nulls("price").filter(pl.col("price") > 0).sort("coin", "time")
    if ordered.height == 0:
        return pl.DataFrame(schema={"coin": pl.String, "time": pl.Int64, "log_return": pl.Float64})
    spans = ordered.group_by("coin").agg(first=pl.col("time").min(), last=pl.col("time").max())
    grid = (
        spans.select(
            "coin", pl.int_ranges((pl.col("first") // step_ms + 1) * step_ms, pl.col("last") + 1, step_ms).alias("time")
        )
        .explode("time")
        .drop_nulls("time")
        .sort("coin", "time")
    )
    sampled = grid.join_asof(
        ordered.select("coin", "time", "price"),
        on="time",
        by="coin",
        strategy="backward",
        tolerance=max_age_ms,
        check_sortedness=False,
    )
    return sampled.select("coin", "time", pl.col("price").log().diff().over("coin").alias("log_return")).drop_nulls(
        "log_return"
    )


def volatility(prices: pl.DataFrame, step_ms: int = VOLATILITY_STEP_MS) -> pl.DataFrame:
    """Realised volatility per coin in bps per sqrt(second) from ``step_ms`` log returns: sqrt(sum r^2 / seconds)."""
    returns = grid_log_returns(prices, step_ms)
    return returns.group_by("coin").agg(
        ((pl.col("log_return") ** 2).sum() / (pl.len() * step_ms / 1000))
        .sqrt()
        .mul(1e4)
        .alias("volatility_bps_per_sqrt_s")
    )


def book_figures(book: pl.DataFrame, spells: pl.DataFrame) -> pl.DataFrame:
    """Per coin: time-weighted median and mean quoted spread (bps) over the book states ``spells``
    (:func:`book_spells`), median depth within 10 bps of mid (quote currency, both sides, ``l2Book`` rows) and price
    volatility from the mids."""
    spread = spells.group_by("coin").agg(
        weighted_median(pl.col("spread_bps"), pl.col("duration_ms")).alias("spread_median_bps"),
        ((pl.col("spread_bps") * pl.col("duration_ms")).sum() / pl.col("duration_ms").sum()).alias("spread_twa_bps"),
    )
    depth = book.group_by("coin").agg(
        (pl.col("bid_depth_10bps") + pl.col("ask_depth_10bps")).median().alias("depth_10bps_quote")
    )
    vol = volatility(spells.select("coin", "time", pl.col("mid").alias("price")))
    return spread.join(depth, on="coin", how="left").join(vol, on="coin", how="left")


def maker_of_trades(trades: pl.DataFrame) -> pl.Expr:
    """The passive counterparty of each trade: the seller of an aggressive buy, the buyer of an aggressive sell;
    null (unknown) when that address is missing or a placeholder (:data:`PLACEHOLDER_ADDRESS`)."""
    maker = pl.when(pl.col("side") > 0).then(pl.col("seller")).otherwise(pl.col("buyer"))
    return pl.when(maker.str.contains(PLACEHOLDER_ADDRESS)).then(None).otherwise(maker)


def trade_figures(trades: pl.DataFrame) -> pl.DataFrame:
    """Per coin: captured notional volume (quote currency), trade count, the share of that volume whose maker is
    unknown, and over the known makers: distinct passive counterparties, the top 3 makers' share of their volume
    and the effective number of makers 1 / sum(share^2)."""
    notional = trades.with_columns(notional=pl.col("px") * pl.col("sz"), maker=maker_of_trades(trades))
    totals = notional.group_by("coin").agg(
        pl.col("notional").sum().alias("trade_volume_quote"),
        pl.len().cast(pl.Int64).alias("trade_count"),
        (pl.col("notional").filter(pl.col("maker").is_null()).sum() / pl.col("notional").sum()).alias(
            "unknown_maker_share"
        ),
    )
    by_maker = (
        notional.drop_nulls("maker")
        .group_by("coin", "maker")
        .agg(pl.col("notional").sum())
        .with_columns(share=pl.col("notional") / pl.col("notional").sum().over("coin"))
    )
    makers = by_maker.group_by("coin").agg(
        pl.len().cast(pl.Int64).alias("n_passive_counterparties"),
        pl.col("share").sort(descending=True).head(3).sum().alias("top3_maker_share"),
        (1 / (pl.col("share") ** 2).sum()).alias("effective_makers"),
    )
    return totals.join(makers, on="coin", how="left")


def coverage(spells: pl.DataFrame, trades: pl.DataFrame) -> pl.DataFrame:
    """Per coin with book states: ``coverage_hours``, how long the capture was live that day, in hours.

    A capture is live in every minute a book state spans (each state lasts until the next, at most
    :data:`MAX_SPELL_MS`, so a longer silence is a gap; every capture route delivers an ``l2Book`` snapshot about
    every 0.5 s while it runs) or a trade falls in. Trades alone cannot tell a quiet hour from an hour not
    captured, so a coin without book states gets no row (coverage unknown)."""
    end = pl.col("time") + pl.col("duration_ms") - 1
    live = (
        spells.filter(pl.col("duration_ms") > 0)
        .select("coin", pl.int_ranges(pl.col("time") // MINUTE_MS, end // MINUTE_MS + 1).alias("minute"))
        .explode("minute")
    )
    traded = trades.select("coin", (pl.col("time") // MINUTE_MS).alias("minute")).join(
        live.select("coin").unique(), on="coin", how="semi"
    )
    minutes = pl.concat([live, traded]).unique()
    return minutes.group_by("coin").agg((pl.len() * MINUTE_MS / HOUR_MS).alias("coverage_hours"))


def per_covered_day(captured: str) -> pl.Expr:
    """A figure summed over what was captured, per day of capture: ``captured * 24 / coverage_hours`` (the hours of
    :func:`coverage`; a capture of 6 of 24 hours holds about a quarter of the day's volume). Null without coverage."""
    return pl.col(captured) * (DAY_MS / HOUR_MS) / pl.col("coverage_hours")


def ctx_figures(asset_ctx: pl.DataFrame, end_ms: int) -> pl.DataFrame:
    """Per coin from asset contexts: the exchange's day volume (``day_ntl_vlm`` near the day's end), last open
    interest (coins and quote currency), funding mean and volatility across hours (bps of the hourly rate),
    median impact spread (bps) and the mark price series' volatility."""
    ctx = asset_ctx.sort("coin", "time")
    mark = pl.coalesce(pl.col("mark_px"), pl.col("oracle_px"))
    mid = pl.coalesce(pl.col("mid_px"), mark)
    hourly = ctx.group_by("coin", pl.col("time") // HOUR_MS).agg(pl.col("funding").mean())
    funding_sd = hourly.group_by("coin").agg((pl.col("funding").std() * 1e4).alias("funding_sd_bps_per_hour"))
    figures = ctx.group_by("coin").agg(
        pl.col("day_ntl_vlm")
        .filter(pl.col("time") >= end_ms - EXCHANGE_VOLUME_WITHIN_MS)
        .last()
        .alias("exchange_volume_quote"),
        pl.col("open_interest").drop_nulls().last().alias("open_interest"),
        (pl.col("open_interest") * mark).drop_nulls().last().alias("open_interest_quote"),
        (pl.col("funding").mean() * 1e4).alias("funding_mean_bps_per_hour"),
        ((pl.col("impact_ask_px") - pl.col("impact_bid_px")) / mid * 1e4).median().alias("impact_spread_bps"),
    )
    vol = volatility(ctx.select("coin", "time", mark.alias("price"))).rename(
        {"volatility_bps_per_sqrt_s": "ctx_volatility"}
    )
    return figures.join(funding_sd, on="coin", how="left").join(vol, on="coin", how="left")


def markout_figures(markouts: pl.DataFrame, maker_fee_bps: float) -> pl.DataFrame:
    """Per coin from market trades seen by their maker: mean 5 s markout and spread capture (bps), and the maker
    edge per fill ``spread_capture + markout_5s - maker_fee_bps`` with its Newey-West 95% CI and n."""
    usable = markouts.filter(
        pl.col("is_market_trade")
        & pl.col("markout_5000ms_bps").is_not_null()
        & pl.col("spread_capture_bps").is_not_null()
    ).sort("coin", "time")
    rows = []
    for (coin,), frame in usable.group_by("coin", maintain_order=True):
        edge = (frame["spread_capture_bps"] + frame["markout_5000ms_bps"] - maker_fee_bps).to_numpy()
        ci = hac_mean_test(edge, alternative="two-sided").ci if edge.size >= 2 else (math.nan, math.nan)
        rows.append(
            {
                "coin": coin,
                "maker_markout_5s_bps": as_float(frame["markout_5000ms_bps"].mean(), "5 s markout"),
                "spread_capture_bps": as_float(frame["spread_capture_bps"].mean(), "spread capture"),
                "edge_bps": float(np.mean(edge)),
                "edge_ci_low": ci[0],
                "edge_ci_high": ci[1],
                "n_markouts": int(edge.size),
            }
        )
    schema = {
        "coin": pl.String,
        **dict.fromkeys(
            ("maker_markout_5s_bps", "spread_capture_bps", "edge_bps", "edge_ci_low", "edge_ci_high"), pl.Float64
        ),
        "n_markouts": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema).fill_nan(None)


def coin_figures(
    trades: pl.DataFrame,
    book: pl.DataFrame,
    asset_ctx: pl.DataFrame,
    markouts: pl.DataFrame,
    end_ms: int,
    maker_fee_bps: float = ScreenThresholds.maker_fee_bps,
) -> pl.DataFrame:
    """One row of figures per coin present in any input, for the day ending at ``end_ms`` (UTC epoch ms).

    ``volume_quote`` is a volume per day: the exchange's 24 h volume read near the day's end when available, else
    the captured trades' notional per covered day (:func:`per_covered_day`), else, with no book to measure coverage,
    the captured notional as is; ``volume_source`` says which (``exchange``, ``trades``, ``trades_unscaled``).
    Volatility comes from book mids, else from mark prices.
    """
    coins = pl.concat([df.select("coin") for df in (trades, book, asset_ctx, markouts)]).unique().sort("coin")
    spells = book_spells(book, end_ms)
    parts = (
        trade_figures(trades),
        coverage(spells, trades),
        book_figures(book, spells),
        ctx_figures(asset_ctx, end_ms),
        markout_figures(markouts, maker_fee_bps),
    )
    joined = coins
    for part in parts:
        joined = joined.join(part, on="coin", how="left")
    return (
        joined.with_columns(per_covered_day("trade_volume_quote").alias("trade_volume_per_day_quote"))
        .with_columns(
            pl.coalesce("exchange_volume_quote", "trade_volume_per_day_quote", "trade_volume_quote").alias(
                "volume_quote"
            ),
            pl.when(pl.col("exchange_volume_quote").is_not_null())
            .then(pl.lit("exchange"))
            .when(pl.col("trade_volume_per_day_quote").is_not_null())
            .then(pl.lit("trades"))
            .when(pl.col("trade_volume_quote").is_not_null())
            .then(pl.lit("trades_unscaled"))
            .alias("volume_source"),
            pl.coalesce("volatility_bps_per_sqrt_s", "ctx_volatility").alias("volatility_bps_per_sqrt_s"),
            pl.when(pl.col("volatility_bps_per_sqrt_s").is_not_null())
            .then(pl.lit("book"))
            .when(pl.col("ctx_volatility").is_not_null())
            .then(pl.lit("mark"))
            .alias("volatility_source"),
        )
        .drop("ctx_volatility")
    )


def screen(figures: pl.DataFrame, thresholds: ScreenThresholds = ScreenThresholds()) -> pl.DataFrame:
    """``figures`` plus one pass/fail column per criterion (null when its figure is missing), the score (criteria
    passed), how many criteria could be judged, the rank (1 = best) and the thresholds as JSON."""
    t = thresholds
    passes = {
        "pass_volume": pl.col("volume_quote").is_between(t.min_volume_quote, t.max_volume_quote),
        "pass_spread": pl.col("spread_median_bps") > t.min_spread_bps,
        "pass_makers": pl.col("effective_makers") <= t.max_effective_makers,
        "pass_edge": pl.col("edge_bps") > t.min_edge_bps,
    }
    judged = figures.with_columns(**passes).with_columns(
        pl.sum_horizontal(pl.col(list(passes)).fill_null(False).cast(pl.Int32)).alias("score"),
        pl.sum_horizontal(pl.col(list(passes)).is_not_null().cast(pl.Int32)).alias("criteria_known"),
        pl.lit(t.to_json()).alias("thresholds"),
    )
    ranked = judged.sort(
        ["score", "edge_bps", "volume_quote", "coin"], descending=[True, True, True, False], nulls_last=True
    )
    return ranked.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias("rank"))


def with_universe(screened: pl.DataFrame, known: pl.DataFrame) -> pl.DataFrame:
    """``screened`` with each coin's dex, universe membership, delisting and max leverage from the latest day of
    ``known`` (the ``universe`` table up to the screened day); membership is null when no universe is known, false
    for a coin the latest universe does not list."""
    latest = known.filter(pl.col("date") == known["date"].max()) if known.height else known
    listed = latest.select("coin", pl.lit(True).alias("in_universe"), "is_delisted", "max_leverage")
    joined = screened.join(listed, on="coin", how="left")
    in_universe = pl.col("in_universe").fill_null(False) if latest.height else pl.lit(None, pl.Boolean)
    return joined.with_columns(coin_dex(pl.col("coin")).alias("dex"), in_universe.alias("in_universe"))
