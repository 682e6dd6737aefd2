"""The nightly job's default run config per partition: the demo's hour-scale folds for the demo coins, the assets'
production defaults for every other coin.

The UI's launchpad, a backfill, the schedule and ``make demo`` all take a partition's config from
:data:`NIGHTLY_CONFIG`, so a demo partition launched from the UI runs exactly as ``make demo`` ran it.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from assets.partitions import COIN_DAY
from data_lake.demo_market.presets import DEMO_COINS

DEMO_RUN_CONFIG: dict[str, Any] = {
    "ops": {
        "walk_forward_assets": {
            "config": {"train_hours": 6, "test_hours": 3, "n_folds": 4, "vpin_buckets_per_day": 2000, "vpin_window": 20}
        },
        "signal_quality": {"config": {"lookback_days": 2, "window_hours": 6}},
        "param_sets": {"config": {"min_paired_periods": 30}},
    }
}
"""Hour-scale folds: the demo market spans days, the production defaults (60 d train, 7 d test) need 67 days of
covered book."""


def nightly_run_config(partition_key: str) -> dict[str, Any]:
    """The default run config of a nightly partition (``COIN|YYYY-MM-DD``): :data:`DEMO_RUN_CONFIG` for a demo
    coin, else none (each asset's config defaults)."""
    coin = COIN_DAY.get_partition_key_from_str(partition_key).keys_by_dimension["coin"]
    return DEMO_RUN_CONFIG if coin in DEMO_COINS else {}


NIGHTLY_CONFIG = dg.PartitionedConfig(partitions_def=COIN_DAY, run_config_for_partition_key_fn=nightly_run_config)
