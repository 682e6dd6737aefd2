"""Dagster resources, beside the assets that use them: the data lake and the raw zone.

Every setting comes from ``data_lake.settings`` (one environment variable each). :func:`data_lake_from_env` binds
the resource's fields to :class:`dagster.EnvVar` where the variable is set, so the UI's resource page shows which
variable each value comes from; an unset variable leaves the field empty, read from the environment (or its
default) when used, so the variable can still be set after the definitions are loaded.
"""

from __future__ import annotations

import os

import dagster as dg

from data_lake import settings
from data_lake.lake import Lake


class DataLakeResource(dg.ConfigurableResource):
    """Where the Delta lake (``lake_root``: a path or ``s3://bucket/prefix``) and the raw zone (``raw_root``) live;
    empty fields fall back to ``data_lake.settings`` (``SMALLFISH_LAKE`` / ``SMALLFISH_RAW``).

    ``s3://`` lake roots take their credentials and endpoint from the ``AWS_*`` environment variables.
    """

    lake_root: str = ""
    raw_root: str = ""

    def lake(self) -> Lake:
        return Lake(self.lake_root or settings.lake_root())

    def raw(self) -> str:
        return self.raw_root or settings.raw_root()


def env_setting(name: str) -> str | dg.EnvVar:
    """Setting ``name`` for a resource field: ``dg.EnvVar(name)`` when the variable is set (resolved when a run
    starts, shown by name in the UI), else empty (the resource reads ``data_lake.settings`` when used)."""
    return dg.EnvVar(name) if os.environ.get(name) else ""


def data_lake_from_env() -> DataLakeResource:
    """The code location's data lake: lake and raw roots from ``SMALLFISH_LAKE`` / ``SMALLFISH_RAW``."""
    return DataLakeResource(lake_root=env_setting(settings.LAKE_ENV), raw_root=env_setting(settings.RAW_ENV))
