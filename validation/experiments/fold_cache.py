"""Walk-forward folds already evaluated, kept in the lake's file store so a nightly run evaluates only the new ones.

A (fold, variant) outcome is a pure function of the fold's windows, the rows of its train and test slices, the
variant, the :class:`VariantConfig` and the code; :func:`fold_key` names exactly those (the slices by a content
fingerprint: polars ``hash_rows`` of every frame the variants read, leader mids included, folded with BLAKE2b, plus
each frame's schema and the library versions, since ``hash_rows`` is stable only within one polars version). An entry
stores what the walk-forward reads downstream: the outcome's frames (``fills``, ``quotes``, ``period_pnl``,
``beliefs``) as Parquet, and as JSON its scalars (``final_inventory``, ``orders_sent``), the fitted variant's
:class:`FittedSummary`, the SHA-256 of each Parquet file and the key it was stored under; or the
:class:`InsufficientSamples` refusal with its reason. Never pickles.

Layout: ``walk_forward_folds/<coin>/<fold digest>/<variant>.json`` and ``.../<variant>/<frame>.parquet``, each
written atomically (:meth:`data_lake.lake.LakeFiles.write`), the JSON last: an entry without its JSON is absent. An
entry whose JSON cannot be parsed, whose key differs from the one asked for, or whose Parquet files are missing or
do not match their checksums is recomputed with a warning, never trusted.

Pruning (:func:`prune`, once per walk-forward run): an entry that can no longer be served is deleted, JSON first
(so it turns absent at once), then its Parquet files. That is an entry stored under another entry format, code
version or library versions (its key can never be asked for again by this code), one older than
``RETENTION_DAYS`` (nightly folds end with their day, so only a re-run or backfill of an old day asks for an old
fold; that re-run recomputes it), one whose JSON cannot be read, and Parquet files left without a JSON for longer
than ``ORPHAN_GRACE_MS`` (a writer interrupted between its Parquet files and its JSON).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

import polars as pl

from calibration.fit_result import InsufficientSamples, code_version
from data_lake.units import DAY_MS, HOUR_MS
from validation.experiments.out_of_sample import VariantOutcome
from validation.experiments.variant_types import FittedSummary, VariantConfig
from validation.experiments.walk_forward import Fold

log = logging.getLogger(__name__)

ROOT = "walk_forward_folds"
OUTCOME_FRAMES = ("fills", "quotes", "period_pnl", "beliefs")
CODE_PACKAGES = ("calibration", "validation", "quoting", "data_lake")
"""Whose sources the stored outcomes depend on: the variants, the backtest, the estimators and the lake's constants."""
LIBRARIES = ("polars", "numpy", "scipy", "statsmodels", "hmmlearn", "numba")
"""Distributions whose upgrade may change a stored outcome: part of the key."""
FORMAT = 1
"""Version of the entry layout below; an entry of another format is recomputed."""
RETENTION_DAYS = 14.0
"""Default age (days since an entry was written) beyond which :func:`prune` deletes it: two weeks of re-runs and
backfills are served from the cache; an older day's folds are recomputed when asked for again."""
ORPHAN_GRACE_MS = HOUR_MS
"""Parquet files without their entry's JSON are deleted only once this old: a writer still storing the entry writes
the JSON moments after them."""

Evaluated = VariantOutcome | InsufficientSamples


class FileStore(Protocol):
    """Whole-file reads and atomic replacements under relative paths (:class:`data_lake.lake.LakeFiles`)."""

    def read(self, rel: str) -> bytes | None: ...

    def write(self, rel: str, data: bytes) -> None: ...


class ListedFile(Protocol):
    """A file of a :class:`PrunableStore` listing (:class:`data_lake.lake.StoredFile`)."""

    @property
    def rel(self) -> str: ...

    @property
    def modified_ms(self) -> int: ...


class PrunableStore(FileStore, Protocol):
    """A :class:`FileStore` that also lists and deletes (:class:`data_lake.lake.LakeFiles`)."""

    def list_files(self, rel: str) -> Sequence[ListedFile]: ...

    def delete(self, rel: str) -> bool: ...


class CorruptEntry(ValueError):
    """A stored fold entry that cannot be trusted; the message says why."""


def frame_fingerprint(frame: pl.DataFrame, row_hashes: pl.Series | None = None) -> str:
    """BLAKE2b of ``frame``'s schema, height and row hashes (polars ``hash_rows``, in row order): any changed,
    added, removed or reordered row changes it. ``row_hashes``: those hashes when already known
    (:class:`RowHashes`)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr(list(frame.schema.items())).encode())
    digest.update(frame.height.to_bytes(8, "little"))
    if frame.height and frame.width:
        hashes = frame.hash_rows(seed=0) if row_hashes is None else row_hashes
        digest.update(hashes.to_numpy().tobytes())
    return digest.hexdigest()


def market_fingerprint(data: Mapping[str, pl.DataFrame]) -> dict[str, str]:
    """:func:`frame_fingerprint` of every frame of one fold part, by frame name."""
    return {name: frame_fingerprint(data[name]) for name in sorted(data)}


@dataclass(frozen=True)
class RowHashes:
    """The row hashes (polars ``hash_rows``) of a walk-forward's frames, computed once over the span its folds cover,
    with each row's slicing time: a fold part's :func:`frame_fingerprint` picks its rows' hashes by the part's window
    instead of rehashing the slice (a row's hash does not depend on the frame it is hashed in). The train windows
    overlap, so the slices hold several times the rows of the span (3x with the default 60 d / 7 d folds)."""

    frames: Mapping[str, tuple[pl.Series, pl.Series]]
    """Per frame name: the slicing times and the row hashes of its rows in the span."""

    @classmethod
    def of(cls, data: Mapping[str, pl.DataFrame], time_cols: Mapping[str, str], span: tuple[int, int]) -> RowHashes:
        """Hashes of ``data``'s rows whose time (``time_cols[name]``, else ``time``; UTC epoch ms) is in the half-open
        ``span``."""
        frames = {}
        for name, frame in data.items():
            time_col = time_cols.get(name, "time")
            inside = frame.filter(pl.col(time_col).is_between(*span, closed="left"))
            hashes = inside.hash_rows(seed=0) if inside.width else pl.Series(dtype=pl.UInt64)
            frames[name] = (inside[time_col], hashes)
        return cls(frames)

    def fingerprints(self, part: Mapping[str, pl.DataFrame], window: tuple[int, int]) -> dict[str, str]:
        """:func:`market_fingerprint` of the fold part ``part``, the frames' rows in ``window`` (inside the span)."""
        out = {}
        for name in sorted(part):
            times, hashes = self.frames[name]
            picked = hashes.filter(times.is_between(*window, closed="left")) if hashes.len() else hashes
            frame = part[name]
            if frame.width and picked.len() != frame.height:
                raise ValueError(f"{name}: {frame.height} rows in the part, {picked.len()} hashed in its window")
            out[name] = frame_fingerprint(frame, picked)
        return out


def config_fingerprint(config: VariantConfig) -> str:
    """SHA-256 of the config's ``repr`` (a frozen dataclass of numbers, strings, tuples and nested dataclasses:
    the same settings give the same text)."""
    return hashlib.sha256(repr(config).encode()).hexdigest()


@cache
def library_versions() -> dict[str, str]:
    """Versions of the libraries the outcomes' numbers come from (polars also makes the row hashes)."""
    return {name: _version_or_absent(name) for name in LIBRARIES}


def _version_or_absent(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def fold_key(
    fold: Fold,
    train: Mapping[str, pl.DataFrame],
    test: Mapping[str, pl.DataFrame],
    config: VariantConfig,
    code: str,
    hashes: RowHashes | None = None,
) -> dict[str, Any]:
    """What a fold's outcomes depend on, but the variant: windows (UTC epoch ms), the fingerprints of the train and
    test slices, the config and the code version. Not the fold's index, which shifts from night to night. ``hashes``:
    the row hashes of the data the slices were cut from, when known (the same fingerprints, without rehashing)."""

    def inputs(part: Mapping[str, pl.DataFrame], window: tuple[int, int]) -> dict[str, str]:
        return market_fingerprint(part) if hashes is None else hashes.fingerprints(part, window)

    return {
        "format": FORMAT,
        "train_ms": list(fold.window("train")),
        "test_ms": list(fold.window("test")),
        "train_inputs": inputs(train, fold.window("train")),
        "test_inputs": inputs(test, fold.window("test")),
        "config": config_fingerprint(config),
        "code_version": code,
        "libraries": library_versions(),
    }


def _digest(key: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def _document(key: Mapping[str, Any], variant: str, evaluated: Evaluated, checksums: Mapping[str, str]) -> dict:
    entry: dict[str, Any] = {"key": dict(key), "variant": variant}
    if isinstance(evaluated, InsufficientSamples):
        return entry | {
            "refusal": {
                "model": evaluated.model,
                "n": evaluated.n,
                "required": evaluated.required,
                "message": str(evaluated),
            }
        }
    fitted = FittedSummary.of(evaluated.fitted)
    return entry | {
        "fitted": {
            "name": fitted.name,
            "params": dict(fitted.params),
            "regime_names": list(fitted.regime_names),
            "parameter_set": fitted.parameter_set,
        },
        "final_inventory": float(evaluated.final_inventory),
        "orders_sent": int(evaluated.orders_sent),
        "frames": dict(checksums),
    }


def _plain(value: Any) -> Any:
    """A numpy scalar or array, or a tuple, as the JSON value of the Python number or list it holds."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _refusal(stored: Mapping[str, Any]) -> InsufficientSamples:
    """The stored refusal, with the very message it was raised with (subclasses word theirs differently)."""
    error = InsufficientSamples(str(stored["model"]), int(stored["n"]), int(stored["required"]))
    error.args = (str(stored["message"]),)
    return error


@dataclass
class FoldCache:
    """Evaluated (fold, variant) outcomes of one coin in ``files``; counts what it served, computed and rejected.

    ``code`` is the code version in the key (default: :func:`calibration.fit_result.code_version` of
    :data:`CODE_PACKAGES`); ``rejected`` holds the reason of every entry found corrupt or partial (each recomputed).
    """

    files: FileStore
    coin: str
    code: str = field(default_factory=lambda: code_version(CODE_PACKAGES))
    hits: int = 0
    misses: int = 0
    rejected: list[str] = field(default_factory=list)

    def key(
        self,
        fold: Fold,
        train: Mapping[str, pl.DataFrame],
        test: Mapping[str, pl.DataFrame],
        config: VariantConfig,
        hashes: RowHashes | None = None,
    ) -> dict[str, Any]:
        """:func:`fold_key` with this cache's code version."""
        return fold_key(fold, train, test, config, self.code, hashes)

    def _base(self, key: Mapping[str, Any], variant: str) -> str:
        return f"{ROOT}/{self.coin}/{_digest(key)}/{variant}"

    def load(self, key: Mapping[str, Any], variant: str) -> Evaluated | None:
        """The stored outcome (or refusal) of ``variant`` on the fold ``key`` names; None when absent, or when the
        entry cannot be trusted (then logged as a warning and counted in ``rejected``)."""
        base = self._base(key, variant)
        raw = self.files.read(f"{base}.json")
        if raw is None:
            self.misses += 1
            return None
        try:
            evaluated = self._decode(raw, base, key, variant)
        except CorruptEntry as exc:
            reason = f"{base}: {exc}; recomputed"
            log.warning("walk-forward fold cache: %s", reason)
            self.rejected.append(reason)
            self.misses += 1
            return None
        self.hits += 1
        return evaluated

    def _decode(self, raw: bytes, base: str, key: Mapping[str, Any], variant: str) -> Evaluated:
        try:
            entry = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptEntry(f"unreadable JSON ({exc})") from None
        if not isinstance(entry, dict) or entry.get("key") != key or entry.get("variant") != variant:
            raise CorruptEntry("stored under another key or variant")
        try:
            if "refusal" in entry:
                return _refusal(entry["refusal"])
            frames = {name: self._frame(base, name, entry["frames"][name]) for name in OUTCOME_FRAMES}
            fitted = entry["fitted"]
            summary = FittedSummary(
                str(fitted["name"]), dict(fitted["params"]), tuple(fitted["regime_names"]), fitted["parameter_set"]
            )
            return VariantOutcome(
                fitted=summary,
                final_inventory=float(entry["final_inventory"]),
                orders_sent=int(entry["orders_sent"]),
                **frames,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptEntry(f"incomplete entry ({type(exc).__name__}: {exc})") from None

    def _frame(self, base: str, name: str, checksum: str) -> pl.DataFrame:
        data = self.files.read(f"{base}/{name}.parquet")
        if data is None:
            raise CorruptEntry(f"{name}.parquet is missing")
        if hashlib.sha256(data).hexdigest() != checksum:
            raise CorruptEntry(f"{name}.parquet does not match its checksum")
        try:
            return pl.read_parquet(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001 -- whatever the Parquet reader raises, the entry is not trusted
            raise CorruptEntry(f"{name}.parquet cannot be read ({exc})") from None

    def store(self, key: Mapping[str, Any], variant: str, evaluated: Evaluated) -> None:
        """Write ``variant``'s outcome (or refusal) on the fold ``key`` names: the Parquet files, then the JSON."""
        base = self._base(key, variant)
        checksums: dict[str, str] = {}
        if isinstance(evaluated, VariantOutcome):
            for name in OUTCOME_FRAMES:
                data = _parquet(getattr(evaluated, name))
                self.files.write(f"{base}/{name}.parquet", data)
                checksums[name] = hashlib.sha256(data).hexdigest()
        document = _document(key, variant, evaluated, checksums)
        self.files.write(f"{base}.json", json.dumps(document, sort_keys=True, default=_plain).encode())

    def summary(self) -> str:
        """``hits/asked`` and the rejected count, for run metadata."""
        asked = self.hits + self.misses
        return f"{self.hits} of {asked} (fold, variant) outcomes from the cache, {len(self.rejected)} rejected"


@dataclass(frozen=True)
class PruneReport:
    """What :func:`prune` deleted, entries by reason, and how many entries it kept."""

    kept: int
    deleted: Mapping[str, int]
    files_deleted: int

    def summary(self) -> str:
        """One line for run metadata."""
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(self.deleted.items())) or "none"
        return f"{self.kept} entries kept; deleted: {reasons} ({self.files_deleted} files)"


def prune(
    files: PrunableStore, now_ms: int, *, code: str | None = None, retention_days: float = RETENTION_DAYS
) -> PruneReport:
    """Delete the fold cache's entries (every coin's) that can no longer be served (see the module docstring);
    ``code`` is the code version current entries carry (default: as :class:`FoldCache`'s), ``now_ms`` UTC epoch ms."""
    current = {"format": FORMAT, "code_version": code or code_version(CODE_PACKAGES), "libraries": library_versions()}
    oldest_ms = now_ms - retention_days * DAY_MS
    entries: dict[str, list[ListedFile]] = {}
    for listed in files.list_files(ROOT):
        if listed.rel.endswith(".json"):
            entries.setdefault(listed.rel.removesuffix(".json"), []).insert(0, listed)
        elif listed.rel.endswith(".parquet"):
            entries.setdefault(listed.rel.rsplit("/", 1)[0], []).append(listed)
    deleted: dict[str, int] = {}
    files_deleted = 0
    for base, found in entries.items():
        reason = _stale(files, base, found, current, oldest_ms, now_ms)
        if reason is None:
            continue
        deleted[reason] = deleted.get(reason, 0) + 1
        files_deleted += sum(files.delete(f.rel) for f in found)
    return PruneReport(len(entries) - sum(deleted.values()), deleted, files_deleted)


def _stale(
    files: FileStore,
    base: str,
    found: Sequence[ListedFile],
    current: Mapping[str, Any],
    oldest_ms: float,
    now_ms: int,
) -> str | None:
    """Why the entry at ``base`` (its files ``found``, the JSON first when there is one) can no longer be served, or
    None when it may still be."""
    document = found[0] if found[0].rel == f"{base}.json" else None
    if document is None:
        newest = max(f.modified_ms for f in found)
        return "Parquet files without an entry" if newest < now_ms - ORPHAN_GRACE_MS else None
    if document.modified_ms < oldest_ms:
        return "past the retention window"
    raw = files.read(document.rel)
    if raw is None:  # deleted since it was listed
        return None
    try:
        key = json.loads(raw)["key"]
        stored = {name: key[name] for name in current}
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        return "unreadable entries"
    return None if stored == current else "other code or library versions"
