"""Where smallfish's settings come from: one environment variable each, with one default, read here only.

``SMALLFISH_LAKE`` the Delta lake root (a path or ``s3://bucket/prefix``; default ``./lake``), ``SMALLFISH_RAW`` the
raw-zone root (default ``./raw``), ``SMALLFISH_EXECUTOR`` the Dagster run executor (``multiprocess`` or ``celery``).
``s3://`` lakes take their credentials and endpoint from the standard ``AWS_*`` variables
(``data_lake.lake.storage_options_from_env``). The Dagster resources (``assets/resources.py``), the CLIs and the
quoter all default to these, so a setting changed in the environment changes it everywhere.
"""

from __future__ import annotations

import os

LAKE_ENV = "SMALLFISH_LAKE"
RAW_ENV = "SMALLFISH_RAW"
EXECUTOR_ENV = "SMALLFISH_EXECUTOR"
DEFAULTS = {LAKE_ENV: "lake", RAW_ENV: "raw", EXECUTOR_ENV: "multiprocess"}
"""Each setting's value when its variable is unset or empty."""


def setting(name: str) -> str:
    """The value of setting ``name`` (one of :data:`DEFAULTS`): its environment variable, else its default."""
    return os.environ.get(name) or DEFAULTS[name]


def lake_root() -> str:
    return setting(LAKE_ENV)


def raw_root() -> str:
    return setting(RAW_ENV)


def executor_kind() -> str:
    return setting(EXECUTOR_ENV)
