"""Delta Lake read/write for the catalogue's tables, local or on S3.

The lake root comes from ``SMALLFISH_LAKE`` (default ``./lake``). ``s3://bucket/prefix`` roots take their
storage options from the environment (``AWS_*`` variables, see :func:`storage_options_from_env`).
Partition writes replace exactly the rows of that partition in one Delta commit, so re-materialising a
partition is idempotent and readers never see a half-written partition. A write that runs out of disk space
raises :class:`OutOfDiskSpace` naming the table and its path (delta-rs reports it as a parquet or I/O error).
"""

from __future__ import annotations

import datetime as dt
import errno
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from data_lake.tables import Table, table

_S3_ENV_KEYS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ALLOW_HTTP",
    "AWS_CONDITIONAL_PUT",
    "AWS_S3_ALLOW_UNSAFE_RENAME",
)


def default_root() -> str:
    return os.environ.get("SMALLFISH_LAKE", "lake")


def storage_options_from_env(root: str) -> dict[str, str]:
    """Storage options for delta-rs: empty for local paths, the ``AWS_*`` environment for ``s3://`` roots."""
    if not root.startswith("s3://"):
        return {}
    opts = {k: os.environ[k] for k in _S3_ENV_KEYS if k in os.environ}
    if "AWS_ENDPOINT_URL" in opts and "AWS_CONDITIONAL_PUT" not in opts:
        opts["AWS_CONDITIONAL_PUT"] = "etag"
    return opts


class OutOfDiskSpace(OSError):
    """The disk filled up while a table was written; the table keeps its last commit."""


_NO_SPACE = ("No space left on device", "os error 28", "Disk quota exceeded")


@contextmanager
def _naming_disk_full(name: str, uri: str) -> Iterator[None]:
    """Turn an out-of-space failure of a Delta write (any exception type delta-rs chose) into :class:`OutOfDiskSpace`."""
    try:
        yield
    except Exception as exc:
        if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or any(text in str(exc) for text in _NO_SPACE):
            raise OutOfDiskSpace(errno.ENOSPC, f"out of disk space writing table {name} at path {uri}") from exc
        raise


def _sql_literal(value: Any) -> str:
    if isinstance(value, dt.date):
        return f"'{value.isoformat()}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def predicate_for(where: Mapping[str, Any]) -> str:
    """A Delta SQL predicate selecting rows whose columns equal the given values."""
    if not where:
        raise ValueError("an empty predicate would replace the whole table")
    return " AND ".join(f"{col} = {_sql_literal(v)}" for col, v in where.items())


class Lake:
    """The data lake: one Delta table per catalogue entry under ``root``."""

    def __init__(self, root: str | Path | None = None, storage_options: Mapping[str, str] | None = None):
        self.root = str(root if root is not None else default_root()).rstrip("/")
        if not self.root.startswith("s3://"):
            self.root = str(Path(self.root).absolute())
        self.storage_options = dict(storage_options) if storage_options is not None else storage_options_from_env(self.root)

    def uri(self, name: str) -> str:
        return f"{self.root}/{name}"

    def exists(self, name: str) -> bool:
        return DeltaTable.is_deltatable(self.uri(name), storage_options=self.storage_options or None)

    def delta_table(self, name: str) -> DeltaTable:
        return DeltaTable(self.uri(name), storage_options=self.storage_options or None)

    def version(self, name: str) -> int | None:
        try:
            return self.delta_table(name).version()
        except TableNotFoundError:
            return None

    def replace(self, name: str, df: pl.DataFrame, where: Mapping[str, Any]) -> int:
        """Replace the rows matching ``where`` with ``df`` in one commit; returns the new table version.

        Every row of ``df`` must itself match ``where``: a write can never touch rows outside its slice.
        """
        spec = table(name)
        data = spec.conform(df)
        for col, value in where.items():
            bad = data.filter(pl.col(col) != pl.lit(value, dtype=spec.schema[col]))
            if bad.height:
                raise ValueError(f"{name}: {bad.height} rows fall outside the slice {col}={value!r}")
        with _naming_disk_full(name, self.uri(name)):
            self._create_if_absent(spec)
            write_deltalake(
                self.uri(name),
                data.to_arrow(),
                mode="overwrite",
                predicate=predicate_for(where),
                partition_by=list(spec.partition_by) or None,
                storage_options=self.storage_options or None,
                schema_mode=None,
            )
        return self.delta_table(name).version()

    def _create_if_absent(self, spec: Table) -> None:
        """Create an empty table first, so two concurrent first writes conflict instead of both committing."""
        if not self.exists(spec.name):
            DeltaTable.create(
                self.uri(spec.name),
                schema=spec.empty().to_arrow().schema,
                partition_by=list(spec.partition_by) or None,
                mode="ignore",
                storage_options=self.storage_options or None,
            )

    def write_partition(self, name: str, df: pl.DataFrame, coin: str, date: dt.date) -> int:
        """Atomically replace the (coin, date) partition of table ``name`` with ``df``."""
        return self.replace(name, df, {"coin": coin, "date": date})

    def append(self, name: str, df: pl.DataFrame) -> int:
        spec = table(name)
        with _naming_disk_full(name, self.uri(name)):
            write_deltalake(
                self.uri(name),
                spec.conform(df).to_arrow(),
                mode="append",
                partition_by=list(spec.partition_by) or None,
                storage_options=self.storage_options or None,
            )
        return self.delta_table(name).version()

    def scan(self, name: str, version: int | None = None) -> pl.LazyFrame:
        """A lazy scan of a table; an absent table scans as empty with the catalogue schema."""
        spec = table(name)
        if not self.exists(name):
            return spec.empty().lazy()
        return pl.scan_delta(self.uri(name), version=version, storage_options=self.storage_options or None)

    def read(
        self,
        name: str,
        coins: Iterable[str] | str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        columns: list[str] | None = None,
        version: int | None = None,
    ) -> pl.DataFrame:
        """Read a table, pruned to ``coins`` and the inclusive date range [start, end]."""
        lf = self.scan(name, version=version)
        if isinstance(coins, str):
            coins = [coins]
        if coins is not None:
            lf = lf.filter(pl.col("coin").is_in(list(coins)))
        if start is not None:
            lf = lf.filter(pl.col("date") >= start)
        if end is not None:
            lf = lf.filter(pl.col("date") <= end)
        if columns is not None:
            lf = lf.select(columns)
        df = lf.collect()
        return df.select(pl.col(c).cast(t) for c, t in table(name).schema.items() if c in df.columns)

    def read_partition(self, name: str, coin: str, date: dt.date, columns: list[str] | None = None) -> pl.DataFrame:
        return self.read(name, coins=[coin], start=date, end=date, columns=columns)
