"""Partitions: one per (coin, UTC day). Coins are dynamic: the raw-arrival sensor and `make demo` add them."""

from __future__ import annotations

import datetime as dt

import dagster as dg

COINS = dg.DynamicPartitionsDefinition(name="coins")
DAILY = dg.DailyPartitionsDefinition(start_date="2023-04-15", timezone="UTC")
COIN_DAY = dg.MultiPartitionsDefinition({"coin": COINS, "date": DAILY})


def partition_key(coin: str, date: dt.date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"coin": coin, "date": date.isoformat()})


def coin_and_date(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> tuple[str, dt.date]:
    """The (coin, date) of the partition being materialised or checked."""
    key = context.partition_key
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
    else:
        dims = dict(zip(("coin", "date"), str(key).split("|"), strict=True))
    return dims["coin"], dt.date.fromisoformat(dims["date"])
