"""Delta Lake read/write for the catalogue's tables, local or on S3.

The lake root comes from ``SMALLFISH_LAKE`` (default ``./lake``). ``s3://bucket/prefix`` roots take their
storage options from the environment (``AWS_*`` variables, see :func:`storage_options_from_env`).
Partition writes replace exactly the rows of that partition in one Delta commit, so re-materialising a
partition is idempotent and readers never see a half-written partition: pyarrow writes the partition's Parquet file
(:mod:`data_lake.partition_files`) and delta-rs commits it. A write that runs out of disk space raises
:class:`OutOfDiskSpace` naming the table and its path (pyarrow and delta-rs report it as an I/O or parquet error).
Files that are no tables (reports, plots, the parameter registry's documents) go through :class:`LakeFiles` under
the same root, so an ``s3://`` lake keeps them on S3 too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import functools
import os
import posixpath
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import ColumnProperties, CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction

from data_lake import settings
from data_lake.atomic_files import write_atomically
from data_lake.partition_files import ParquetOptions, partition_text, write_partition_file
from data_lake.tables import Table, table
from data_lake.units import NS_PER_MS

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
    """The lake root of ``data_lake.settings`` (``SMALLFISH_LAKE``, default ``./lake``)."""
    return settings.lake_root()


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
    """Turn an out-of-space failure of a Delta write (any exception type delta-rs chose) into
    :class:`OutOfDiskSpace`."""
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


PARQUET_COMPRESSION: Literal["ZSTD"] = "ZSTD"
PARQUET_COMPRESSION_LEVEL = 1
"""zstd at level 1: a demo day's book partition is 43 MiB instead of snappy's 69 MiB (snappy saves 0.3-0.5 s CPU of
the book's 1.2-1.8 s write, pyarrow or delta-rs alike: encoding 130 columns costs more than compressing them)."""
ROW_GROUP_ROWS = 65_536
"""Rows per Parquet row group: a demo day's book (517k rows) becomes 8 row groups with ``time`` statistics each, which
a reader filtering on time can skip by, at the same file size (43 MiB) and write time as one row group. pyarrow's
writer holds one row group's pages at a time (``write_deltalake`` added about 0.5 GiB writing that book)."""


def stats_columns(spec: Table) -> list[str]:
    """The columns whose min/max are worth storing: the key columns that are not partition columns (``time``,
    ``tid``...), the only ones reads filter or join on besides the partition columns Delta prunes by path."""
    return [c for c in spec.key if c not in spec.partition_by]


def writer_properties(spec: Table) -> WriterProperties:
    """Parquet settings of every write: zstd level 1, statistics only on :func:`stats_columns` (a book row has 130
    columns; their min/max helps no reader), dictionary encoding only for text columns (addresses, sources: few
    values, long ones); numbers are plain-encoded, which zstd compresses as well and writes faster; row groups of
    :data:`ROW_GROUP_ROWS` rows."""
    stats = set(stats_columns(spec))
    columns = {
        c: ColumnProperties(
            statistics_enabled="CHUNK" if c in stats else "NONE", dictionary_enabled=dtype == pl.String()
        )
        for c, dtype in spec.schema.items()
        if c in stats or dtype == pl.String()
    }
    return WriterProperties(
        compression=PARQUET_COMPRESSION,
        compression_level=PARQUET_COMPRESSION_LEVEL,
        max_row_group_size=ROW_GROUP_ROWS,
        default_column_properties=ColumnProperties(statistics_enabled="NONE", dictionary_enabled=False),
        column_properties=columns or None,
    )


def parquet_options(spec: Table) -> ParquetOptions:
    """:func:`writer_properties` for pyarrow's writer (:mod:`data_lake.partition_files`): the same codec, level,
    row group rows, statistics columns and dictionary columns."""
    return ParquetOptions(
        compression=PARQUET_COMPRESSION,
        compression_level=PARQUET_COMPRESSION_LEVEL,
        row_group_rows=ROW_GROUP_ROWS,
        statistics=stats_columns(spec),
        dictionary=[c for c, dtype in spec.schema.items() if dtype == pl.String() and c not in spec.partition_by],
    )


COMMIT_ATTEMPTS = 50
"""Commits tried before a partition write gives up: each retry follows another writer's commit to the same table
(a 2-4 worker backfill commits a few times a second at most)."""
COMMIT_BACKOFF_S = 0.02
"""Upper bound of the random pause before retry n, times n, so racing writers spread out."""


def _is_one_partition(spec: Table, where: Mapping[str, Any]) -> bool:
    """Whether ``where`` names exactly one partition: a value, neither null nor empty (Delta stores an empty
    partition value as null), for every partition column and for nothing else."""
    return (
        bool(spec.partition_by)
        and set(where) == set(spec.partition_by)
        and all(value is not None and value != "" for value in where.values())
    )


def one_batch(df: pl.DataFrame) -> pa.Table:
    """``df`` as an Arrow table of a single record batch (a copy only when ``df`` has several chunks), for
    ``write_deltalake``.

    delta-rs 1.6 spreads the batches it is handed over parallel partitions and writes them in whichever order they
    come back (measured: 50k-row batches 0, 100k, 50k, 200k, ... in the file), so a partition stays in its rows'
    order (by time, as the clean tables are sorted and their suites expect) only when it arrives as one batch."""
    return df.rechunk().to_arrow()


def table_configuration(spec: Table) -> dict[str, str] | None:
    """Delta table properties at creation: data-skipping statistics in the log on :func:`stats_columns` only."""
    columns = stats_columns(spec)
    return {"delta.dataSkippingStatsColumns": ",".join(columns)} if columns else None


class Lake:
    """The data lake: one Delta table per catalogue entry under ``root``."""

    def __init__(self, root: str | Path | None = None, storage_options: Mapping[str, str] | None = None):
        self.root = str(root if root is not None else default_root()).rstrip("/")
        if not self.root.startswith("s3://"):
            self.root = str(Path(self.root).absolute())
        self.storage_options = (
            dict(storage_options) if storage_options is not None else storage_options_from_env(self.root)
        )

    def uri(self, name: str) -> str:
        return f"{self.root}/{name}"

    def files(self) -> LakeFiles:
        """The lake root's plain files (reports, plots, registry documents)."""
        return LakeFiles(self)

    def exists(self, name: str) -> bool:
        return DeltaTable.is_deltatable(self.uri(name), storage_options=self.storage_options or None)

    def delta_table(self, name: str) -> DeltaTable:
        return DeltaTable(self.uri(name), storage_options=self.storage_options or None)

    def version(self, name: str) -> int | None:
        try:
            return self.delta_table(name).version()
        except TableNotFoundError:
            return None

    def replace(
        self, name: str, df: pl.DataFrame, where: Mapping[str, Any], writer: Literal["pyarrow", "delta-rs"] = "pyarrow"
    ) -> int:
        """Replace the rows matching ``where`` with ``df`` in one commit; returns the new table version.

        Every row of ``df`` must itself match ``where``: a write can never touch rows outside its slice. A slice that
        is one whole partition (``where`` names every partition column) is written by pyarrow and committed by
        delta-rs (:meth:`_replace_partition`); any other slice, or ``writer="delta-rs"``, by ``write_deltalake``
        with ``where`` as its overwrite predicate (what every write did before: ``bench_clean`` shows both).
        """
        spec = table(name)
        data = spec.conform(df)
        for col, value in where.items():
            bad = data.filter(pl.col(col) != pl.lit(value, dtype=spec.schema[col]))
            if bad.height:
                raise ValueError(f"{name}: {bad.height} rows fall outside the slice {col}={value!r}")
        with _naming_disk_full(name, self.uri(name)):
            self._create_if_absent(spec)
            if writer == "pyarrow" and _is_one_partition(spec, where):
                return self._replace_partition(spec, data, {c: where[c] for c in spec.partition_by})
            write_deltalake(
                self.uri(name),
                one_batch(data),
                mode="overwrite",
                predicate=predicate_for(where),
                partition_by=list(spec.partition_by) or None,
                storage_options=self.storage_options or None,
                schema_mode=None,
                writer_properties=writer_properties(spec),
            )
        return self.delta_table(name).version()

    def _replace_partition(self, spec: Table, data: pl.DataFrame, partition: dict[str, Any]) -> int:
        """Write ``data`` as one new file of ``partition`` and commit it in place of the partition's files.

        The commit is made on the table version its removes were read from and on no other
        (``max_commit_retries=0``): when another writer committed first, the table is read again and the commit
        retried, so the partition ends as exactly one writer's file, never two writers' files (delta-rs' own retry
        would not see a concurrent first write of the same partition: ``create_write_transaction`` declares no read
        predicate). A write killed before its commit leaves only an unreferenced file, which a full vacuum removes.
        """
        fs, table_path = self._filesystem(), self.uri(spec.name).removeprefix("s3://")
        adds: list[AddAction | RemoveAction] = (
            [write_partition_file(data, partition, fs, table_path, parquet_options(spec))] if data.height else []
        )
        filters = [(column, "=", partition_text(value)) for column, value in partition.items()]
        attempt = 1
        while True:
            delta = self.delta_table(spec.name)
            read_version = delta.version()
            try:
                delta.create_write_transaction(
                    adds,
                    mode="overwrite",
                    schema=delta.schema(),
                    partition_by=list(spec.partition_by),
                    partition_filters=filters,
                    commit_properties=CommitProperties(max_commit_retries=0),
                )
                return read_version + 1
            except CommitFailedError:
                if attempt == COMMIT_ATTEMPTS or self.version(spec.name) == read_version:
                    raise
            time.sleep(random.uniform(0, COMMIT_BACKOFF_S * attempt))
            attempt += 1

    def _filesystem(self) -> pafs.FileSystem:
        """pyarrow's file system of the lake root (S3 with the lake's storage options, else local)."""
        if self.root.startswith("s3://"):
            return s3_filesystem(tuple(sorted(self.storage_options.items())))
        return pafs.LocalFileSystem()

    def _create_if_absent(self, spec: Table) -> None:
        """Create an empty table first, so two concurrent first writes conflict instead of both committing."""
        if not self.exists(spec.name):
            DeltaTable.create(
                self.uri(spec.name),
                schema=spec.empty().to_arrow().schema,
                partition_by=list(spec.partition_by) or None,
                mode="ignore",
                storage_options=self.storage_options or None,
                configuration=table_configuration(spec),
            )

    def write_partition(self, name: str, df: pl.DataFrame, coin: str, date: dt.date) -> int:
        """Atomically replace the (coin, date) partition of table ``name`` with ``df``."""
        return self.replace(name, df, {"coin": coin, "date": date})

    def append(self, name: str, df: pl.DataFrame) -> int:
        spec = table(name)
        with _naming_disk_full(name, self.uri(name)):
            write_deltalake(
                self.uri(name),
                one_batch(spec.conform(df)),
                mode="append",
                partition_by=list(spec.partition_by) or None,
                storage_options=self.storage_options or None,
                writer_properties=writer_properties(spec),
                configuration=table_configuration(spec),
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
        where: pl.Expr | None = None,
    ) -> pl.DataFrame:
        """Read a table, pruned to ``coins``, the inclusive date range [start, end] and the rows ``where`` holds
        (pushed down to the Parquet scan: a day's first minute of the book reads in 0.1 s, not the whole day's
        470 MiB in 2 s)."""
        lf = self.scan(name, version=version)
        if isinstance(coins, str):
            coins = [coins]
        if coins is not None:
            coins = list(coins)
            lf = lf.filter(pl.col("coin").is_in(coins))
        if start is not None:
            lf = lf.filter(pl.col("date") >= start)
        if end is not None:
            lf = lf.filter(pl.col("date") <= end)
        if where is not None:
            lf = lf.filter(where)
        spec = table(name)
        keys = unpinned_keys(spec.partition_by, coins, start, end)
        if columns is not None:
            lf = lf.select(list(dict.fromkeys([*columns, *keys])))
        df = in_partition_order(lf.collect(), keys)
        wanted = set(columns if columns is not None else df.columns)
        return df.select(pl.col(c).cast(t) for c, t in spec.schema.items() if c in wanted and c in df.columns)

    def read_partition(self, name: str, coin: str, date: dt.date, columns: list[str] | None = None) -> pl.DataFrame:
        return self.read(name, coins=[coin], start=date, end=date, columns=columns)


def unpinned_keys(
    partition_by: Iterable[str], coins: list[str] | None, start: dt.date | None, end: dt.date | None
) -> list[str]:
    """The partition columns a read's filter leaves free to vary: a read of one coin holds one ``coin``, a read of
    one day (``start == end``) one ``date``. Only these can put the read's partitions out of order, so only these are
    read for :func:`in_partition_order` (a one-partition read, the usual one, neither reads nor checks any)."""
    pinned = set()
    if coins is not None and len(coins) == 1:
        pinned.add("coin")
    if start is not None and start == end:
        pinned.add("date")
    return [k for k in partition_by if k not in pinned]


def in_partition_order(df: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """``df`` with its partitions in the order of their ``keys`` (coin, date), each partition's rows as stored.

    A Delta scan returns the partitions in the order the log added them, which is commit order: two days cleaned at
    once by parallel workers read back as (day 2, day 1) from one lake and (day 1, day 2) from a serial one, and a
    float reduction over the read (a day's traded size summed for the VPIN bucket) then differs in its last bits.
    A stable sort on the partition columns makes every read of the same rows the same frame. Whether the read is
    already in order is judged in one pass over the key columns (the keys where they change must be sorted and
    distinct), so an ordered read, the usual one, costs no sort; rows are gathered only when it is not."""
    keys = [k for k in keys if k in df.columns]
    if df.height < 2 or not keys:
        return df
    changed = pl.any_horizontal(pl.col(k).ne_missing(pl.col(k).shift(1)) for k in keys)
    partitions = df.select(keys).filter(changed)
    if partitions.equals(partitions.sort(keys)) and partitions.is_unique().all():
        return df
    return df.sort(keys, maintain_order=True)


class UnreadableLakeFile(ValueError):
    """A path under the lake root that exists but cannot be read as a file (a directory in its place, no
    permission)."""


@dataclass(frozen=True)
class StoredFile:
    """One file listed by :meth:`LakeFiles.list_files`: its path under the lake root (``/``-separated), its size in
    bytes and its last modification, UTC epoch ms."""

    rel: str
    size: int
    modified_ms: int


class LakeFiles:
    """Whole-file reads, atomic replacements, listings and deletions under the lake root (a local directory or an
    s3:// prefix): the parameter registry's documents and pointers, the HTML reports, the plots and the walk-forward
    fold cache. ``rel`` paths use ``/``."""

    def __init__(self, lake: Lake, unreadable: type[Exception] = UnreadableLakeFile):
        self.root = lake.root
        self.s3 = self.root.startswith("s3://")
        self.fs = s3_filesystem(tuple(sorted(lake.storage_options.items()))) if self.s3 else None
        self.unreadable = unreadable

    def _path(self, rel: str) -> str:
        return f"{self.root.removeprefix('s3://')}/{rel}" if self.s3 else os.path.join(self.root, rel)

    def read(self, rel: str) -> bytes | None:
        try:
            if self.fs is not None:
                with self.fs.open_input_stream(self._path(rel)) as f:
                    return f.read()
            return Path(self._path(rel)).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            hint = "" if self.s3 else "; it must be a file written by smallfish: move it away"
            raise self.unreadable(f"{self._path(rel)} cannot be read ({exc.strerror or exc}){hint}") from None

    def write(self, rel: str, data: bytes) -> None:
        """Replace ``rel`` with ``data`` so that a reader sees the old or the new bytes, never a mixture."""
        path = self._path(rel)
        if self.fs is not None:
            with self.fs.open_output_stream(path) as f:
                f.write(data)
            return
        write_atomically(path, data)

    def stamp(self, rel: str) -> tuple[int, ...] | None:
        """A cheap change detector: (mtime ns, size, inode) locally, (mtime ns, size) on S3; None if absent."""
        if self.fs is not None:
            info = self.fs.get_file_info(self._path(rel))
            if info.type == pafs.FileType.NotFound:
                return None
            return (info.mtime_ns or 0, info.size or 0)
        try:
            st = os.stat(self._path(rel))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self.unreadable(f"{self._path(rel)} cannot be examined ({exc.strerror or exc})") from None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def list_files(self, rel: str) -> list[StoredFile]:
        """Every file below the directory (or S3 prefix) ``rel``, recursively, sorted by path; none when it does not
        exist. Hidden files, such as writers' temp files (``.name.*.tmp`` of
        :func:`data_lake.atomic_files.write_atomically`), are not listed."""
        base = self._path(rel)
        fs = self.fs or pafs.LocalFileSystem()
        try:
            infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        except OSError as exc:
            raise self.unreadable(f"{base} cannot be listed ({exc.strerror or exc})") from None
        root = self._path("")
        listed = [
            StoredFile(info.path.removeprefix(root).lstrip("/"), info.size or 0, (info.mtime_ns or 0) // NS_PER_MS)
            for info in infos
            if info.type == pafs.FileType.File and not info.base_name.startswith(".")
        ]
        return sorted(listed, key=lambda f: f.rel)

    def delete(self, rel: str) -> bool:
        """Remove the file ``rel``; False when there was none. Directories it leaves empty are removed too, up to the
        lake root: locally the directories themselves, on S3 the directory markers pyarrow leaves in their place."""
        path = self._path(rel)
        if self.fs is not None:
            try:
                self.fs.delete_file(path)
            except FileNotFoundError:
                return False
            self._drop_empty_s3_parents(path)
            return True
        try:
            os.remove(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self.unreadable(f"{path} cannot be deleted ({exc.strerror or exc})") from None
        root, parent = Path(self.root).resolve(), Path(path).resolve().parent
        while root in parent.parents:
            try:
                parent.rmdir()
            except OSError:  # not empty (or a writer just created it): keep it and its parents
                break
            parent = parent.parent
        return True

    def _drop_empty_s3_parents(self, path: str) -> None:
        """pyarrow keeps a deleted file's directory as an empty ``dir/`` marker object; remove each parent below the
        root that holds no file any more (deleting one marker makes pyarrow mark its parent, removed next)."""
        assert self.fs is not None
        root = self._path("").rstrip("/")
        parent = posixpath.dirname(path)
        while parent.startswith(f"{root}/"):
            below = self.fs.get_file_info(pafs.FileSelector(parent, recursive=True, allow_not_found=True))
            if any(info.type == pafs.FileType.File for info in below):
                return
            self.fs.delete_dir(parent)
            parent = posixpath.dirname(parent)

    def url(self, rel: str) -> str:
        """Where ``rel`` can be opened: ``s3://bucket/...`` on S3, ``file:///...`` locally."""
        return f"{self.root}/{rel}" if self.s3 else Path(self._path(rel)).as_uri()

    @contextlib.contextmanager
    def lock(self, rel: str) -> Iterator[None]:
        """Serialise writers holding the lock file ``rel`` (an flock locally; nothing on S3, where one writer runs
        at a time: see :mod:`data_lake.param_registry`)."""
        if self.s3:
            yield
            return
        path = self._path(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@functools.cache
def s3_filesystem(option_items: tuple[tuple[str, str], ...]) -> pafs.S3FileSystem:
    """pyarrow's S3 client from the lake's ``AWS_*`` storage options (absent keys: the SDK's default chain),
    one per distinct options so that polling does not build a client each time."""
    options = dict(option_items)
    endpoint = options.get("AWS_ENDPOINT_URL")
    scheme = "http" if options.get("AWS_ALLOW_HTTP", "").lower() == "true" else "https"
    if endpoint and "://" in endpoint:
        scheme, endpoint = endpoint.split("://", 1)
    kwargs = {
        "access_key": options.get("AWS_ACCESS_KEY_ID"),
        "secret_key": options.get("AWS_SECRET_ACCESS_KEY"),
        "session_token": options.get("AWS_SESSION_TOKEN"),
        "region": options.get("AWS_REGION") or options.get("AWS_DEFAULT_REGION"),
        "endpoint_override": endpoint,
    }
    return pafs.S3FileSystem(scheme=scheme, **{k: v for k, v in kwargs.items() if v})
