"""Parameter-set registry and the promotion pointer, shared by the pipeline and the quoter.

Layout under the lake root::

    param_set_docs/{coin_file}/{param_set_id}.json   immutable set documents (data_lake.param_schema)
    promoted/{coin_file}.json                       the pointer {param_set_id, version, promoted_at_ms, sha256}
    param_sets/  (Delta table)                       every decision: candidate / promoted / rejected / retired

The documents live outside the Delta table's directory so that a VACUUM of the table can never delete them.

The pointer is the only thing the quoter follows, so candidates and rejected sets are never loaded. A
promotion appends its decision rows first (one Delta commit) and replaces the pointer second: locally by
write-to-temp, fsync, ``os.replace`` and a directory fsync; on ``s3://`` by one PUT, which S3 applies whole
and reads back consistently. Readers verify the set against the pointer's sha256 and validate it, retrying
a pointer that reads torn. Writers of one coin are serialised by a lock file (local roots only: on S3 run one
writer at a time, the nightly job or an operator).

A pointer that exists but does not parse (garbage bytes, a bad id) stops the quoter; ``promote`` and ``rollback``
repair it by writing a new pointer (the live set is then taken from the decision log, :func:`pointer_problem`
says what the file held). A directory where a file belongs is a clear :class:`UnreadableRegistryFile`, never
replaced. Set ids must have the form of a content hash (``param_schema.check_param_set_id``), so no id can
name a file outside the registry.

``version`` grows by one per promotion (rollbacks included). A promoted row stores ``rollback_to``, the set a
rollback from it restores, so repeated rollbacks walk back through the history.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from data_lake.lake import Lake, LakeFiles
from data_lake.param_schema import InvalidParameterSet, ParamSet, check_param_set_id
from data_lake.raw_zone import coin_file_name
from data_lake.tables import PARAM_SETS

STATUSES = ("candidate", "promoted", "retired", "rejected")
"""Decision kinds, in the order that breaks ties between decisions at the same pointer version and time."""
_READ_ATTEMPTS = 20
_RETRY_SLEEP_S = 0.005


class NoPromotedSet(LookupError):
    """No set has been promoted for the coin (or the pointer names nothing the history can roll back to)."""


class UnknownParameterSet(LookupError):
    """No stored set has this id."""


class UnreadableRegistryFile(InvalidParameterSet):
    """A registry path that exists but cannot be read as a file (a directory in its place, no permission)."""


@dataclass(frozen=True)
class Pointer:
    """The promotion pointer: which set is live, its promotion number and the sha256 of its stored bytes."""

    param_set_id: str
    version: int
    promoted_at_ms: int
    sha256: str

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Pointer:
        """Parse a pointer; raises ValueError on anything but a complete, well-typed document."""
        try:
            d = json.loads(data)
        except RecursionError:
            raise ValueError("pointer nested too deeply") from None
        if not isinstance(d, dict) or sorted(d) != sorted(cls.__dataclass_fields__):
            raise ValueError(f"pointer keys {sorted(d) if isinstance(d, dict) else d!r}")
        ok = (
            isinstance(d["param_set_id"], str)
            and isinstance(d["sha256"], str)
            and all(isinstance(d[k], int) and not isinstance(d[k], bool) for k in ("version", "promoted_at_ms"))
        )
        if not ok:
            raise ValueError(f"pointer field types {d!r}")
        check_param_set_id(d["param_set_id"])
        return cls(**d)


@dataclass(frozen=True)
class PromotedSet:
    """The live set of a coin and the pointer that named it."""

    pointer: Pointer
    param_set: ParamSet


def now_ms() -> int:
    """Wall-clock UTC epoch milliseconds."""
    return time.time_ns() // 1_000_000


def _at(at_ms: int | None) -> int:
    return now_ms() if at_ms is None else at_ms


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _lock_path(coin: str) -> str:
    return f"promoted/.{coin_file_name(coin)}.lock"


def set_path(coin: str, param_set_id: str) -> str:
    """Where a set document lives; raises InvalidParameterSet for anything that is not a set id."""
    return f"param_set_docs/{coin_file_name(coin)}/{check_param_set_id(param_set_id)}.json"


def pointer_path(coin: str) -> str:
    return f"promoted/{coin_file_name(coin)}.json"


def _store(lake_root: str | Path) -> tuple[Lake, LakeFiles]:
    lake = Lake(lake_root)
    return lake, LakeFiles(lake, unreadable=UnreadableRegistryFile)


def _read_set(files: LakeFiles, coin: str, param_set_id: str) -> tuple[ParamSet, bytes]:
    data = files.read(set_path(coin, param_set_id))
    if data is None:
        raise UnknownParameterSet(f"{coin}: no parameter set {param_set_id!r}")
    ps = ParamSet.from_json(data)
    if ps.param_set_id != param_set_id or ps.coin != coin:
        raise InvalidParameterSet(f"{set_path(coin, param_set_id)} holds set {ps.param_set_id} of {ps.coin}")
    return ps, data


def load_set(lake_root: str | Path, coin: str, param_set_id: str) -> ParamSet:
    """A stored set, validated (schema, ranges, content hash), whatever its status."""
    return _read_set(_store(lake_root)[1], coin, param_set_id)[0]


def _read_pointer(files: LakeFiles, coin: str) -> Pointer | None:
    """The pointer, re-read while it parses as torn (impossible with atomic replacement; cheap to guard)."""
    problem = ""
    for _ in range(_READ_ATTEMPTS):
        data = files.read(pointer_path(coin))
        if data is None:
            return None
        try:
            return Pointer.from_json(data)
        except ValueError as exc:
            problem = str(exc)[:200]
            time.sleep(_RETRY_SLEEP_S)
    raise InvalidParameterSet(
        f"{coin}: promotion pointer {pointer_path(coin)} unreadable after {_READ_ATTEMPTS} attempts ({problem}); "
        "`smallfish params promote` or `rollback` rewrites it"
    )


def _describe_bytes(data: bytes | None) -> str:
    if data is None:
        return "nothing (the file is gone)"
    return f"{len(data)} bytes starting {data[:60]!r}"


def pointer_problem(lake_root: str | Path, coin: str) -> str | None:
    """What an unparsable pointer file holds (for the operator), or None when it is absent or a valid pointer.

    Raises :class:`UnreadableRegistryFile` when the pointer cannot be read at all (a directory in its place).
    """
    files = _store(lake_root)[1]
    try:
        _read_pointer(files, coin)
    except UnreadableRegistryFile:
        raise
    except InvalidParameterSet:
        return _describe_bytes(files.read(pointer_path(coin)))
    return None


def _recorded_pointer(lake_root: str | Path, coin: str) -> Pointer | None:
    """The pointer as the decision log last recorded it (the latest promotion), for repairing a broken file."""
    promoted = decisions(lake_root, coin).filter(pl.col("status") == "promoted")
    if promoted.is_empty():
        return None
    row = promoted.row(-1, named=True)
    return Pointer(row["param_set_id"], row["pointer_version"], row["decided_at_ms"], row["sha256"] or "")


def _current_pointer(lake_root: str | Path, files: LakeFiles, coin: str) -> Pointer | None:
    """The pointer; when the file holds something else, the decision log's last promotion (the caller then
    replaces the file). A directory in its place raises :class:`UnreadableRegistryFile`."""
    try:
        return _read_pointer(files, coin)
    except UnreadableRegistryFile:
        raise
    except InvalidParameterSet:
        return _recorded_pointer(lake_root, coin)


def _read_pointer_or_none(files: LakeFiles, coin: str) -> Pointer | None:
    try:
        return _read_pointer(files, coin)
    except UnreadableRegistryFile:
        raise
    except InvalidParameterSet:
        return None


def read_pointer(lake_root: str | Path, coin: str) -> Pointer | None:
    return _read_pointer(_store(lake_root)[1], coin)


def pointer_stamp(lake_root: str | Path, coin: str) -> tuple[int, ...] | None:
    """One stat of the pointer file: changes whenever the pointer is replaced (see :class:`LakeFiles.stamp`)."""
    return _store(lake_root)[1].stamp(pointer_path(coin))


def load_promoted(lake_root: str | Path, coin: str) -> PromotedSet:
    """The live set: pointer, then the set, whose sha256 must match the pointer's and which must validate.

    Raises :class:`NoPromotedSet` before any promotion and :class:`InvalidParameterSet` for a set that fails
    its hash or its checks. A set whose hash disagrees is re-read with a fresh pointer before giving up.
    """
    files = _store(lake_root)[1]
    for _ in range(_READ_ATTEMPTS):
        pointer = _read_pointer(files, coin)
        if pointer is None:
            raise NoPromotedSet(f"{coin}: no parameter set has been promoted")
        data = files.read(set_path(coin, pointer.param_set_id))
        if data is not None and sha256_hex(data) == pointer.sha256:
            ps = ParamSet.from_json(data)
            if ps.param_set_id != pointer.param_set_id or ps.coin != coin:
                raise InvalidParameterSet(f"{coin}: pointer names {pointer.param_set_id}, file holds {ps.param_set_id}")
            return PromotedSet(pointer, ps)
        if _read_pointer(files, coin) == pointer:
            found = "missing" if data is None else f"sha256 {sha256_hex(data)}"
            raise InvalidParameterSet(
                f"{coin}: promoted set {pointer.param_set_id} is {found}, pointer expects sha256 {pointer.sha256}"
            )
    raise InvalidParameterSet(f"{coin}: the pointer kept changing while reading the promoted set")


def _row(
    coin: str,
    param_set_id: str,
    status: str,
    reason: str,
    at_ms: int,
    pointer_version: int,
    ps: ParamSet | None = None,
    data: bytes | None = None,
    rollback_to: str | None = None,
) -> dict:
    row = {
        "coin": coin,
        "param_set_id": param_set_id,
        "status": status,
        "reason": reason,
        "decided_at_ms": at_ms,
        "pointer_version": pointer_version,
        "rollback_to": rollback_to,
    }
    if ps is not None and data is not None:
        doc = ps.to_dict()
        row |= {
            "created_at_ms": ps.created_at_ms,
            "window_start_ms": ps.window_start_ms,
            "window_end_ms": ps.window_end_ms,
            "code_version": ps.code_version,
            "schema_version": doc["schema_version"],
            "sha256": sha256_hex(data),
            "parameters": json.dumps(doc["parameters"]),
            "evidence": json.dumps(doc["evidence"]),
        }
    return row


def _append(lake: Lake, rows: list[dict]) -> None:
    lake.append(PARAM_SETS.name, pl.DataFrame(rows, schema_overrides=PARAM_SETS.schema, infer_schema_length=None))


def register_candidate(lake_root: str | Path, param_set: ParamSet, *, at_ms: int | None = None) -> ParamSet:
    """Store a new set (immutable file, then a 'candidate' row) and return the stored set.

    Idempotent: a set whose id is already stored is returned as stored (its first ``created_at_ms``) and
    gets a candidate row only if it has none.
    """
    lake, files = _store(lake_root)
    coin, set_id = param_set.coin, param_set.param_set_id
    with files.lock(_lock_path(coin)):
        if files.read(set_path(coin, set_id)) is None:
            files.write(set_path(coin, set_id), param_set.to_json())
        stored, data = _read_set(files, coin, set_id)
        if decisions(lake_root, coin).filter(pl.col("param_set_id") == set_id).is_empty():
            pointer = _current_pointer(lake_root, files, coin)
            version = pointer.version if pointer else 0
            _append(lake, [_row(coin, set_id, "candidate", "registered", _at(at_ms), version, stored, data)])
    return stored


def _install(
    lake: Lake,
    files: LakeFiles,
    coin: str,
    target: ParamSet,
    data: bytes,
    reason: str,
    rollback_to: str | None,
    retire_reason: str,
    at_ms: int,
) -> Pointer:
    """Record the promotion (and the retirement of the live set) in one commit, then replace the pointer (a
    broken pointer file included: ``current`` then comes from the decision log)."""
    current = _current_pointer(lake.root, files, coin)
    pointer = Pointer(target.param_set_id, (current.version if current else 0) + 1, at_ms, sha256_hex(data))
    rows = [_row(coin, target.param_set_id, "promoted", reason, at_ms, pointer.version, target, data, rollback_to)]
    if current is not None and current.param_set_id != target.param_set_id:
        rows.append(_row(coin, current.param_set_id, "retired", retire_reason, at_ms, pointer.version))
    _append(lake, rows)
    files.write(pointer_path(coin), pointer.to_json())
    return pointer


def promote(lake_root: str | Path, coin: str, param_set_id: str, reason: str, *, at_ms: int | None = None) -> Pointer:
    """Make a stored, valid set the live one; returns the new pointer (the current one if it is already live).

    Raises :class:`InvalidParameterSet` for a set that fails validation or its content hash (a tampered file),
    :class:`UnknownParameterSet` for an id that was never stored.
    """
    lake, files = _store(lake_root)
    with files.lock(_lock_path(coin)):
        target, data = _read_set(files, coin, param_set_id)
        current = _current_pointer(lake_root, files, coin)
        if current is not None and current.param_set_id == param_set_id:
            if _read_pointer_or_none(files, coin) == current:
                return current
            rollback_to = _recorded_rollback_to(lake_root, coin, current)  # repairing the pointer of the live set
        else:
            rollback_to = current.param_set_id if current else None
        return _install(lake, files, coin, target, data, reason, rollback_to, f"replaced by {param_set_id}", _at(at_ms))


def _recorded_rollback_to(lake_root: str | Path, coin: str, pointer: Pointer) -> str | None:
    """The set a rollback from ``pointer``'s promotion restores, as recorded."""
    log = decisions(lake_root, coin).filter(
        (pl.col("status") == "promoted")
        & (pl.col("param_set_id") == pointer.param_set_id)
        & (pl.col("pointer_version") == pointer.version)
    )
    return log["rollback_to"][-1] if log.height else None


def reject(lake_root: str | Path, coin: str, param_set_id: str, reason: str, *, at_ms: int | None = None) -> None:
    """Record that a set must not be promoted by the pipeline (an operator may still promote it by hand)."""
    lake, files = _store(lake_root)
    with files.lock(_lock_path(coin)):
        if files.read(set_path(coin, param_set_id)) is None:
            raise UnknownParameterSet(f"{coin}: no parameter set {param_set_id!r}")
        current = _current_pointer(lake_root, files, coin)
        if current is not None and current.param_set_id == param_set_id:
            raise ValueError(f"{coin}: {param_set_id} is live; roll back or promote another set first")
        _append(lake, [_row(coin, param_set_id, "rejected", reason, _at(at_ms), current.version if current else 0)])


def rollback(lake_root: str | Path, coin: str, reason: str = "rollback", *, at_ms: int | None = None) -> Pointer:
    """Re-promote the set the live one replaced (repeat to walk further back); returns the new pointer.

    Raises :class:`NoPromotedSet` when nothing is live or the live set was the first promotion, ValueError
    when the target has since been rejected (promote a set explicitly instead).
    """
    lake, files = _store(lake_root)
    with files.lock(_lock_path(coin)):
        current = _current_pointer(lake_root, files, coin)
        if current is None:
            raise NoPromotedSet(f"{coin}: nothing is promoted, nothing to roll back")
        log = decisions(lake_root, coin)
        promoted = log.filter(pl.col("status") == "promoted")
        live = promoted.filter(
            (pl.col("param_set_id") == current.param_set_id) & (pl.col("pointer_version") == current.version)
        )
        if live.is_empty():
            raise NoPromotedSet(f"{coin}: no recorded promotion of the live pointer (version {current.version})")
        target_id = live["rollback_to"][-1]
        if target_id is None:
            raise NoPromotedSet(f"{coin}: {current.param_set_id} was the first promotion; nothing to roll back to")
        last = log.filter(pl.col("param_set_id") == target_id).row(-1, named=True)
        if last["status"] == "rejected":
            raise ValueError(f"{coin}: rollback target {target_id} was rejected ({last['reason']})")
        earlier = promoted.filter((pl.col("param_set_id") == target_id) & (pl.col("pointer_version") < current.version))
        target, data = _read_set(files, coin, target_id)
        return _install(
            lake,
            files,
            coin,
            target,
            data,
            f"rollback from {current.param_set_id}: {reason}",
            earlier["rollback_to"][-1] if earlier.height else None,
            f"rolled back to {target_id}: {reason}",
            _at(at_ms),
        )


def decisions(lake_root: str | Path, coin: str) -> pl.DataFrame:
    """Every recorded decision of a coin, oldest first (pointer version, time, then :data:`STATUSES` order)."""
    rank = {s: i for i, s in enumerate(STATUSES)}
    return (
        Lake(lake_root)
        .read(PARAM_SETS.name, coins=coin)
        .with_columns(_rank=pl.col("status").replace_strict(rank, default=len(rank), return_dtype=pl.Int32))
        .sort("pointer_version", "decided_at_ms", "_rank")
        .drop("_rank")
    )


def list_sets(lake_root: str | Path, coin: str, status: str | None = None) -> pl.DataFrame:
    """One row per stored set, latest decision first: status, reason and time of its last decision, its
    window and code version, and ``live`` (the pointer names it; differs from status 'promoted' only after a
    promotion that stopped between its decision row and the pointer)."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    log = decisions(lake_root, coin).with_row_index("_order")
    meta_cols = ["created_at_ms", "window_start_ms", "window_end_ms", "code_version", "sha256"]
    meta = log.filter(pl.col("created_at_ms").is_not_null()).group_by("param_set_id").agg(pl.col(meta_cols).first())
    last_cols = ["_order", "status", "reason", "decided_at_ms", "pointer_version"]
    last = log.group_by("param_set_id").agg(pl.col(last_cols).last())
    try:
        pointer = read_pointer(lake_root, coin)
    except InvalidParameterSet:  # an unreadable pointer names no set
        pointer = None
    out = (
        last.join(meta, on="param_set_id", how="left")
        .with_columns(live=pl.col("param_set_id") == (pointer.param_set_id if pointer else ""))
        .sort("_order", descending=True)
        .drop("_order")
    )
    return out if status is None else out.filter(pl.col("status") == status)
