"""Partitions: one per (coin, UTC day). Coins are dynamic: the raw-arrival sensor and `make demo` add them.

Days run from Hyperliquid's first data to yesterday (UTC): a day is partitioned once it is over. A raw file can name
a day or a coin no partition can hold (a capture of today, a stray ``19700101`` folder, a coin with ``|``);
:func:`partition_problem` says why, so callers skip it by name instead of letting Dagster abort the whole run.
"""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg

FIRST_DAY = dt.date(2023, 2, 1)
"""Hyperliquid's first data: its L1 explorer blocks (``s3://hl-mainnet-node-data/explorer_blocks``) start in
February 2023. The l2Book archive starts later (~2023-04-15) and asset contexts later still (2023-05-20), so
earlier days hold only what other sources (node data, the info API) give."""

COINS_NAME = "coins"
"""The name of the coins' dynamic partitions, typed as a str (``COINS.name`` is optional for Dagster)."""
COINS = dg.DynamicPartitionsDefinition(name=COINS_NAME)
DAILY = dg.DailyPartitionsDefinition(start_date=FIRST_DAY.isoformat(), timezone="UTC")
COIN_DAY = dg.MultiPartitionsDefinition({"coin": COINS, "date": DAILY})

FORBIDDEN_IN_COIN = {
    "|": "Dagster's multi-partition key delimiter",
    "...": "Dagster's partition range separator",
    **{c: "a control character" for c in ("\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")},
}
"""Substrings a coin partition key cannot hold, and why (Dagster splits (coin, day) keys on ``|`` and rejects the
others in partition keys)."""


def coin_days(first: int, last: int = 0) -> dg.MultiPartitionMapping:
    """Partition mapping of a read of days ``[d + first, d + last]`` of the same coin by partition (coin, d): e.g.
    ``coin_days(-6)`` a 7-day window ending with d, ``coin_days(-1, -1)`` the day before, ``coin_days(0, 1)`` d and
    the next day. Days outside the partitions (before the first, after yesterday) are allowed and simply absent, as
    they are in the lake.

    Dagster 1.13 marks ``MultiPartitionMapping`` and ``allow_nonexistent_upstream_partitions`` beta; they are its
    documented way to map one dimension of a multi-partition, so the warning is silenced here rather than printed at
    every import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        days = dg.TimeWindowPartitionMapping(
            start_offset=first, end_offset=last, allow_nonexistent_upstream_partitions=True
        )
        return dg.MultiPartitionMapping(
            {
                "coin": dg.DimensionPartitionMapping("coin", dg.IdentityPartitionMapping()),
                "date": dg.DimensionPartitionMapping("date", days),
            }
        )


def days_dep(asset: str | dg.AssetsDefinition | dg.AssetSpec, first: int, last: int = 0) -> dg.AssetDep:
    """``asset`` read over the days ``[d + first, d + last]`` of the partition's coin (:func:`coin_days`)."""
    return dg.AssetDep(asset, partition_mapping=coin_days(first, last))


def partition_key(coin: str, date: dt.date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"coin": coin, "date": date.isoformat()})


def coin_problem(coin: str) -> str | None:
    """Why ``coin`` cannot be a coin partition key, or None when it can."""
    if not coin:
        return "an empty coin name cannot be a partition key"
    found = [f"{bad!r} ({why})" for bad, why in FORBIDDEN_IN_COIN.items() if bad in coin]
    return f"coin {coin!r} cannot be a partition key: it contains {', '.join(found)}" if found else None


def day_problem(date: dt.date, today: dt.date) -> str | None:
    """Why ``date`` has no daily partition when it is ``today`` (UTC), or None when it has one."""
    if date < FIRST_DAY:
        return f"{date} is before Hyperliquid's first data ({FIRST_DAY}, the first daily partition)"
    if date == today:
        return f"{date} is today (UTC) and not over: its partition exists from {date + dt.timedelta(days=1)} 00:00 UTC"
    if date > today:
        return f"{date} is in the future (today is {today} UTC)"
    return None


def partition_problem(coin: str, date: dt.date, today: dt.date | None = None) -> str | None:
    """Why (coin, date) is no partition of :data:`COIN_DAY` (``today`` defaults to the current UTC day), or None."""
    reasons = [r for r in (coin_problem(coin), day_problem(date, today or utc_today())) if r]
    return "; ".join(reasons) or None


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def coin_and_date(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> tuple[str, dt.date]:
    """The (coin, date) of the partition being materialised or checked."""
    key = context.partition_key
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
    else:
        dims = dict(zip(("coin", "date"), str(key).split("|"), strict=True))
    return dims["coin"], dt.date.fromisoformat(dims["date"])
