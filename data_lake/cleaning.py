"""Raw -> clean for one (coin, UTC day): parse, attribute to the day, validate, dedupe, account.

Files are keyed by receive hour while records carry their own event time, so a partition reads its own
files plus the neighbouring edge files (previous day hour 23, next day hour 0). From the neighbours it
takes only records timed in this day ("spilled in"); records of its own hour-0 file timed on the
previous day, or of its hour-23 file timed on the next day, belong to the neighbour ("spilled out");
any other record outside the day is quarantined. Every record ends as exactly one of: a clean row, a
quarantined record, a counted duplicate, or a spill-out, and :class:`Accounting` proves it.

The day's rows then meet the data contract (:mod:`data_lake.contract`): prices within 10x of the day's
median and sizes within the day's notional bound, else quarantined; records sharing a key but differing in
price, size or side are all quarantined as a conflicting duplicate (identical ones stay counted duplicates).
Rows quarantined at this stage carry their parsed fields as JSON (the raw text of valid candidates is not
kept, see :func:`_without_raw`); their source file and line name the raw line.

Files are parsed, attributed and validated one at a time and only their candidate rows (without raw
text) are kept, so memory follows the day's rows rather than its raw lines; the steps that compare
records across files (node-fill pairing, dedupe, quoter predictions) then run on the whole day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from data_lake import contract, raw_zone
from data_lake.heap import release_free_heap
from data_lake.parsers import Records, parse_bytes, record_problem, resolve_node_fills
from data_lake.parsers.records import DUPLICATES, PROVENANCE_COLUMNS, QUARANTINED, quarantined
from data_lake.tables import QUARANTINE, RAW_CAPTURES, table
from data_lake.units import DAY_MS

CLEAN_TABLES = ("trades", "book", "asset_ctx", "fills", "order_updates", "quoter_log")
_DEDUPE_KEYS = {
    "quoter_log": ("coin", "time", "channel", "payload"),
    "trades": ("coin", "time", "tid"),
    "fills": ("coin", "time", "tid", "oid"),
    "order_updates": ("coin", "time", "oid", "status"),
    "book": ("coin", "time", "source"),
    "asset_ctx": ("coin", "time", "source"),
}
_CONTENT_DEDUPED = ("book", "asset_ctx")
"""Tables deduped on identical content (all columns but the receive time), not on their key alone."""
_DAMAGE = {"_file": pl.Int32, "_line": pl.Int64, "_item": pl.Int32, "_raw": pl.String, "reason": pl.String}


@dataclass(frozen=True)
class Accounting:
    """Record counts of one partition: ``records_in + spilled_in == clean_rows + quarantined + duplicates
    + spilled_out`` when nothing was lost.

    A record is one data item: a trade of a multi-trade frame, a book snapshot, a ctx, a fill, an order
    update, a whole unparseable line, or a damaged file's undecodable tail. ``duplicates`` also counts the
    partner fill of each node buyer/seller pair (the same trade reported from the other side).
    """

    records_in: int
    spilled_in: int
    clean_rows: int
    quarantined: int
    duplicates: int
    spilled_out: int

    @property
    def balanced(self) -> bool:
        return contract.unaccounted_records(self.as_dict()) == 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class CleanPartition:
    """The clean tables, the quarantine and the raw-file inventory of one (coin, day), and its accounting."""

    tables: dict[str, pl.DataFrame]
    quarantine: pl.DataFrame
    files: pl.DataFrame
    accounting: Accounting

    def content_hashes(self) -> dict[str, str]:
        """A hash per clean table and the quarantine over their rows sorted on every column: equal hashes mean equal
        tables whatever the row order (how two ways of cleaning the same raw zone are compared)."""
        frames = {**self.tables, "quarantine": self.quarantine}
        return {
            name: hashlib.sha256(
                df.sort(df.columns, nulls_last=True).hash_rows(seed=0).to_numpy().tobytes()
            ).hexdigest()[:16]
            for name, df in frames.items()
        }


def _partition_files(raw_root: str | Path, coin: str, date: dt.date) -> list[tuple[raw_zone.RawFile, str]]:
    """Own files of the day, then the neighbours' edge-hour files, each with its role."""
    day = dt.timedelta(days=1)
    own = [(f, "own") for f in raw_zone.discover(raw_root, coin=coin, date=date)]
    before = [(f, "prev") for f in raw_zone.discover(raw_root, coin=coin, date=date - day) if f.hour == 23]
    after = [(f, "next") for f in raw_zone.discover(raw_root, coin=coin, date=date + day) if f.hour == 0]
    return before + own + after


def _read(raw_file: raw_zone.RawFile, index: int, scan: bool) -> tuple[Records, int]:
    """One file's parsed records (``_file`` = ``index``) and line count; a damaged LZ4 tail, or a file that cannot be
    read at all (see :func:`raw_zone.discover`, or an I/O error), becomes one quarantined record, and the day goes
    on."""
    problem = raw_file.problem
    decoded = raw_zone.DecodedFile(b"", 0)
    if problem is None:
        try:
            decoded = raw_zone.decode_file(raw_file.path)
            problem = decoded.problem
        except OSError as exc:
            problem = f"unreadable raw file: {exc.strerror or exc}"
    parsed, lines = parse_bytes(decoded.data, index, raw_file.source, scan=scan)
    damaged = [{"_file": index, "_line": lines + 1, "_item": 0, "_raw": "", "reason": problem}] if problem else []
    damage = Records(quarantine=quarantined(pl.DataFrame(damaged, schema=_DAMAGE), pl.col("reason")))
    return Records.concat([parsed, damage]), lines


def _inventory(raw_file: raw_zone.RawFile, coin: str, date: dt.date, lines: int) -> dict[str, object]:
    """The ``raw_captures`` row of one own file."""
    stat = raw_zone.file_stat(raw_file.path)
    return {
        "coin": coin,
        "date": date,
        "source": raw_file.source,
        "file": str(raw_file.path),
        "bytes": stat.st_size,
        "lines": lines,
        "modified_ns": stat.st_mtime_ns,
    }


def _fate(start_ms: int) -> pl.Expr:
    """Where a record goes given its file's role and hour and its event time."""
    t, own, hour = pl.col("time"), pl.col("_role") == "own", pl.col("_hour")
    end_ms = start_ms + DAY_MS
    in_day = (t >= start_ms) & (t < end_ms)
    to_prev = (hour == 0) & (t >= start_ms - DAY_MS) & (t < start_ms)
    to_next = (hour == 23) & (t >= end_ms) & (t < end_ms + DAY_MS)
    return (
        pl.when(own & (t.is_null() | in_day))
        .then(pl.lit("keep"))
        .when(own & (to_prev | to_next))
        .then(pl.lit("spilled_out"))
        .when(own)
        .then(pl.lit("out_of_day"))
        .when(in_day)
        .then(pl.lit("spilled_in"))
        .otherwise(pl.lit("foreign"))
    )


@dataclass
class _Tally:
    """Counts taken while attributing records: own records read, spilled in, spilled out."""

    records_in: int = 0
    spilled_in: int = 0
    spilled_out: int = 0


def _split(df: pl.DataFrame, flagged: pl.Expr | pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows where ``flagged`` is false, rows where it is true); no copy of a wide table when no row is flagged."""
    mask = df.select(flagged).to_series()
    if not mask.any():
        return df, df.clear()
    return df.filter(~mask), df.filter(mask)


def _within_day(df: pl.DataFrame, start_ms: int) -> bool:
    """Whether every record's time is in the day [start_ms, start_ms + DAY_MS) or null (null times stay with their
    own file, see :func:`_fate`)."""
    first, last = df.select(pl.col("time").min().alias("first"), pl.col("time").max().alias("last")).row(0)
    return first is None or (first >= start_ms and last < start_ms + DAY_MS)


def _attribute(
    df: pl.DataFrame, file: list[pl.Expr], role: str, start_ms: int, tally: _Tally
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the records of this day (own or spilled in); returns them and the own records outside the day.

    An own file whose records all fall in the day (the usual case) is kept whole without judging row by row."""
    if role == "own" and _within_day(df, start_ms):
        tally.records_in += df.height
        kept = df.with_columns(*file).drop("_role", "_hour")
        return kept, kept.clear()
    judged = df.with_columns(*file).with_columns(_fate(start_ms).alias("_fate"))
    fates = dict(judged.group_by("_fate").len().iter_rows())
    tally.records_in += judged.select((pl.col("_role") == "own").sum()).item()
    tally.spilled_in += fates.get("spilled_in", 0)
    tally.spilled_out += fates.get("spilled_out", 0)
    kept, gone = _split(judged, ~pl.col("_fate").is_in(["keep", "spilled_in"]))
    return kept.drop("_fate", "_role", "_hour"), gone.filter(pl.col("_fate") == "out_of_day")


def _file_columns(raw_file: raw_zone.RawFile, role: str) -> list[pl.Expr]:
    """The file's role (own / prev / next), hour and coin as columns of its records."""
    return [
        pl.lit(role, pl.String).alias("_role"),
        pl.lit(raw_file.hour, pl.Int64).alias("_hour"),
        pl.lit(raw_file.coin, pl.String).alias("_file_coin"),
    ]


def _attribute_all(parsed: Records, file: list[pl.Expr], role: str, start_ms: int, tally: _Tally) -> Records:
    """Attribute every parsed record of one file to this day, a neighbour, or the quarantine (own, outside the day).

    A record quarantined while parsing keeps its first reason even when it is also outside the day.
    """
    tables, quarantine = {}, []
    for name, df in parsed.tables.items():
        tables[name], late = _attribute(df, file, role, start_ms, tally)
        quarantine.append(quarantined(late, "time outside the partition day"))
    kept, late = _attribute(parsed.quarantine, file, role, start_ms, tally)
    quarantine += [kept.select(QUARANTINED.keys()), late.select(QUARANTINED.keys())]
    return Records(tables, pl.concat(quarantine, how="vertical"))


def _validate(records: Records) -> Records:
    """Quarantine every candidate row that breaks its table's rules (wrong coin first)."""
    tables, rejected = {}, [records.quarantine]
    for name, df in records.tables.items():
        valid, broken = _split(
            df.with_columns(record_problem(name, pl.col("_file_coin")).alias("_problem")),
            pl.col("_problem").is_not_null(),
        )
        tables[name] = valid.drop("_problem", "_file_coin")
        rejected.append(quarantined(broken, pl.col("_problem")))
    return Records(tables, pl.concat(rejected, how="vertical"), records.duplicates)


def _without_raw(records: Records) -> Records:
    """Null the raw text of valid candidates: only quarantine rows keep it, and of valid rows only node fills
    can still be quarantined (system fills), so the day's rows stay a fraction of its raw lines."""
    tables = {
        name: df if name == "node_fills" else df.with_columns(pl.lit(None, pl.String).alias("_raw"))
        for name, df in records.tables.items()
    }
    return Records(tables, records.quarantine, records.duplicates)


def _clean_file(
    raw_file: raw_zone.RawFile, index: int, role: str, start_ms: int, tally: _Tally, scan: bool
) -> tuple[Records, int]:
    """One file's records parsed, attributed to the day and validated; also returns its line count."""
    parsed, lines = _read(raw_file, index, scan)
    valid = _without_raw(_validate(_attribute_all(parsed, _file_columns(raw_file, role), role, start_ms, tally)))
    # in the day's final order (time, then raw order), one chunk per column: the day's concatenation is then in order
    # but at the hour boundaries, so it is put in order by slicing (:func:`_in_order`), and its chunks are aligned,
    # which row-wise expressions read as they are instead of copying the whole table into one chunk
    return Records({name: _by_time(df) for name, df in valid.tables.items()}, valid.quarantine, valid.duplicates), lines


def _by_time(df: pl.DataFrame) -> pl.DataFrame:
    """One file's rows sorted by time, then raw order (line, item), one chunk per column. A file's rows usually arrive
    in that order already (the compiled scanner's book rows are in line order, and line order is time order): they
    are then only checked, on the narrow key columns, instead of gathering every column of the wide table."""
    key = df.select("time", "_line", "_item")
    if df["_file"].n_unique() == 1 and key["time"].null_count() == 0:
        time, line, item = (np.diff(key[c].to_numpy()) for c in key.columns)
        if np.all((time > 0) | ((time == 0) & ((line > 0) | ((line == 0) & (item > 0))))):
            return df.rechunk()
    return df.sort("time", *PROVENANCE_COLUMNS)


def _first_of_each(df: pl.DataFrame, key: list[str], content: list[str]) -> pl.Series:
    """True for the first row (in file, line, item order) of each distinct ``content``; only rows sharing ``key`` are
    compared in full, and only they are sorted: the day's table keeps its order and is not copied.

    Rows that may share a key are found by their key's hash occurring twice, from the sorted hashes (8 bytes a row),
    not by ``is_duplicated`` on the key, whose per-key index lists cost a day's book 0.12 GiB; a hash collision only
    adds a candidate, which the full comparison (on the key and ``content``) keeps."""
    hashed = df.select(pl.struct(key).hash(seed=0)).to_series()
    ordered = hashed.sort()
    repeated = ordered.filter(ordered == ordered.shift(1))
    if repeated.is_empty():
        return pl.repeat(True, df.height, eager=True)
    shared = hashed.is_in(repeated.implode())
    candidates = df.with_row_index("_row").filter(shared).sort(PROVENANCE_COLUMNS)
    later = candidates.filter(~pl.struct(list(dict.fromkeys([*key, *content]))).is_first_distinct())["_row"]
    return ~pl.int_range(df.height, dtype=pl.UInt32, eager=True).is_in(later.implode())


def _row_text(name: str) -> pl.Expr:
    """The row's raw text, else its parsed fields as JSON (what a quarantine row shows of a valid candidate)."""
    fields = [c for c in table(name).schema if c != "date"]
    return pl.coalesce(pl.col("_raw"), pl.struct(fields).struct.json_encode()).alias("_raw")


def _within_bounds(records: Records) -> Records:
    """Quarantine the rows outside the day's price and size bounds (:mod:`data_lake.contract`).

    Bounds come from the median of the rows they judge, and removing outliers moves the median, so the rows are
    judged again on the rows kept until none is removed: the clean table then meets bounds computed from itself,
    as its GX suite computes them (a single pass kept 10 among 0.1s whose pre-filter median was 1)."""
    tables, rejected = dict(records.tables), [records.quarantine]
    for name in contract.BOUNDED_TABLES:
        df = records.table(name)
        while (bounds := contract.day_bounds(name, df)) is not None:
            # judged in a narrow frame of its own: adding columns to the day's wide table would copy all of it
            problem = (
                df.select(**contract.extremes(name, df.columns))
                .select(contract.bound_problem(bounds).alias("_problem"))
                .to_series()
            )
            if problem.null_count() == problem.len():
                break
            df, outside = _split(df, problem.is_not_null())
            rejected.append(
                quarantined(
                    outside.with_columns(problem.filter(problem.is_not_null()), _row_text(name)), pl.col("_problem")
                )
            )
        tables[name] = df
    return Records(tables, pl.concat(rejected, how="vertical"), records.duplicates)


def _conflicts(name: str, df: pl.DataFrame) -> pl.Series:
    """True for every row whose key is shared by a row with other :data:`contract.SAME_RECORD` content."""
    if name not in contract.SAME_RECORD or df.height == 0:
        return pl.repeat(False, df.height, eager=True)
    versions = pl.struct(contract.SAME_RECORD[name]).n_unique().over(list(_DEDUPE_KEYS[name]))
    return df.select(versions > 1).to_series()


def _dedupe(records: Records) -> Records:
    """Keep the first of each duplicate (trades on (coin, time, tid); books and ctx on identical content).

    Rows sharing a key but not their price, size or side are all quarantined as a conflicting duplicate:
    which version is true cannot be told, so none reaches the clean table and both are kept for inspection.
    """
    tables, duplicates, conflicting = {}, [records.duplicates], [records.quarantine]
    for name, df in records.tables.items():
        conflict = _conflicts(name, df)
        reason = (
            f"{contract.CONFLICTING_DUPLICATE}: same {', '.join(_DEDUPE_KEYS[name])} "
            f"but different {', '.join(contract.SAME_RECORD.get(name, ()))}"
        )
        consistent, conflicts = _split(df, conflict)
        conflicting.append(quarantined(conflicts.with_columns(_row_text(name)), reason))
        key = list(_DEDUPE_KEYS[name])
        content = (
            [c for c in table(name).schema if c not in ("date", "recv_time_ns")] if name in _CONTENT_DEDUPED else key
        )
        tables[name], repeated = _split(consistent, ~_first_of_each(consistent, key, content))
        duplicates.append(repeated.select(DUPLICATES.keys()))
    return Records(tables, pl.concat(conflicting, how="vertical"), pl.concat(duplicates, how="vertical"))


def clean_partition(raw_root: str | Path, coin: str, date: dt.date, scan: bool = True) -> CleanPartition:
    """Parse and clean every raw record of ``coin`` on ``date`` (UTC) into the clean tables and quarantine.

    ``scan=False`` turns off the compiled l2Book/bbo fast path (see :func:`data_lake.parsers.parse_bytes`): the
    reference its tables are compared with."""
    files = _partition_files(raw_root, coin, date)
    start_ms = int(dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC).timestamp() * 1000)
    tally, parts, inventory = _Tally(), [], []
    for index, (raw_file, role) in enumerate(files):
        records, lines = _clean_file(raw_file, index, role, start_ms, tally, scan)
        parts.append(records)
        if role == "own":
            inventory.append(_inventory(raw_file, coin, date, lines))
    release_free_heap()  # the files' temporaries left holes between the kept columns (0.07-0.1 GiB of a demo day)
    combined = Records.concat(parts)
    parts.clear()
    clean = _with_quoter_predictions(_dedupe(_within_bounds(resolve_node_fills(combined))))
    del combined
    accounting = Accounting(
        records_in=tally.records_in,
        spilled_in=tally.spilled_in,
        clean_rows=sum(clean.table(name).height for name in CLEAN_TABLES),
        quarantined=clean.quarantine.height,
        duplicates=clean.duplicates.height,
        spilled_out=tally.spilled_out,
    )
    # each table leaves ``clean`` as it is conformed, so the day's book is held at most twice, not three times
    tables = {
        name: _conform(name, clean.tables.pop(name) if name in clean.tables else clean.table(name), coin, date)
        for name in CLEAN_TABLES
    }
    release_free_heap()  # and the columns the conform dropped (provenance, the scanner's coin views: 0.02-0.03 GiB)
    return CleanPartition(
        tables=tables,
        quarantine=_quarantine(clean.quarantine, files, coin, date),
        files=RAW_CAPTURES.conform(pl.DataFrame(inventory, schema=RAW_CAPTURES.polars_schema)),
        accounting=accounting,
    )


PREDICTION_COLUMNS = ("pred_fill_prob", "pred_adverse_bps", "belief_calm", "belief_volatile", "belief_cascade")


def _with_quoter_predictions(records: Records) -> Records:
    """Own fills get the predictions the quoter logged for them (``quoterFill`` frames, joined on oid and tid)."""
    logged = records.table("quoter_log").filter(pl.col("channel") == "quoterFill").sort(PROVENANCE_COLUMNS)
    if logged.height == 0:
        return records
    predictions = logged.select("oid", "tid", *(pl.col(c).alias(f"_logged_{c}") for c in PREDICTION_COLUMNS)).unique(
        ["oid", "tid"], keep="first"
    )
    fills = (
        records.table("fills")
        .join(predictions, on=["oid", "tid"], how="left")
        .with_columns(pl.coalesce(pl.col(c), pl.col(f"_logged_{c}")).alias(c) for c in PREDICTION_COLUMNS)
        .drop(f"_logged_{c}" for c in PREDICTION_COLUMNS)
    )
    return Records({**records.tables, "fills": fills}, records.quarantine, records.duplicates)


def _conform(name: str, df: pl.DataFrame, coin: str, date: dt.date) -> pl.DataFrame:
    """Rows ordered by time, ties in raw order (file, line, item), in the catalogue's schema, coin and date set."""
    order = df.select(pl.int_range(pl.len(), dtype=pl.UInt32).sort_by("time", *PROVENANCE_COLUMNS)).to_series()
    kept = df.select(c for c in df.columns if c in table(name).schema)
    del df
    return table(name).conform(
        _in_order(kept, order).with_columns(pl.lit(coin).alias("coin"), pl.lit(date).alias("date"))
    )


MIN_RUN_ROWS = 1_000
"""Rows per run, on average, below which :func:`_in_order` gathers instead of slicing."""


def _in_order(df: pl.DataFrame, order: pl.Series) -> pl.DataFrame:
    """``df``'s rows in ``order`` (a permutation).

    Each file's rows arrive in order (see :func:`_clean_file`), so the day's permutation is mostly runs of
    consecutive rows, broken where one hour's file reaches into the next: those runs become zero-copy slices, one
    chunk each, 5-10x faster than a gather and no second copy of the day's book (0.46 GiB); the partition writer
    writes the chunks in order (:mod:`data_lake.partition_files`). A permutation of short runs is gathered one
    column at a time."""
    if df.height == 0:
        return df
    index = order.to_numpy().astype(np.int64)
    starts = np.flatnonzero(np.diff(index) != 1) + 1
    if starts.size * MIN_RUN_ROWS < df.height:
        bounds = np.concatenate(([0], starts, [index.size]))
        return pl.concat(
            [df.slice(int(index[a]), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)],
            rechunk=False,
        )
    ordered = []
    for column in df.columns:
        ordered.append(df.get_column(column).rechunk().gather(order))
        df = df.drop(column)
    return pl.DataFrame(ordered)


def _quarantine(
    rows: pl.DataFrame, files: list[tuple[raw_zone.RawFile, str]], coin: str, date: dt.date
) -> pl.DataFrame:
    """Quarantined records in the catalogue's shape, named by source, file path, line and item."""
    paths = pl.DataFrame(
        {
            "_file": list(range(len(files))),
            "source": [f.source for f, _ in files],
            "file": [str(f.path) for f, _ in files],
        },
        schema={"_file": pl.Int32, "source": pl.String, "file": pl.String},
    )
    named = rows.sort(PROVENANCE_COLUMNS).join(paths, on="_file", how="left")
    return QUARANTINE.conform(
        named.with_columns(
            pl.lit(coin).alias("coin"),
            pl.lit(date).alias("date"),
            pl.col("_line").alias("line"),
            pl.col("_item").alias("item"),
        )
    )
