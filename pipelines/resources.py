"""Dagster resources: the data lake and the raw zone, configured from the environment."""

from __future__ import annotations

import os

import dagster as dg

from data_lake.lake import Lake, default_root


def default_raw_root() -> str:
    return os.environ.get("SMALLFISH_RAW", "raw")


class DataLakeResource(dg.ConfigurableResource):
    """Where the Delta lake and the raw zone live; empty fields fall back to ``SMALLFISH_LAKE`` / ``SMALLFISH_RAW``.

    ``s3://`` lake roots take their credentials and endpoint from the ``AWS_*`` environment variables.
    """

    lake_root: str = ""
    raw_root: str = ""

    def lake(self) -> Lake:
        return Lake(self.lake_root or default_root())

    def raw(self) -> str:
        return self.raw_root or default_raw_root()
