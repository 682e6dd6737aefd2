"""Download Hyperliquid's public S3 history into the raw zone: list, total, fetch (resumable), import.

Buckets and keys (Hyperliquid's docs, ``historical-data.md``; hours unpadded, days ``YYYYMMDD``):

- ``hyperliquid-archive`` (us-east-1): ``market_data/{day}/{H}/l2Book/{COIN}.lz4`` and ``asset_ctxs/{day}.csv.lz4``;
- ``hl-mainnet-node-data`` (ap-northeast-1): ``node_trades`` / ``node_fills`` / ``node_fills_by_block``
  ``/hourly/{day}/{H}.lz4``.

Both buckets are requester-pays: every request carries ``RequestPayer='requester'`` and the caller's AWS account
pays for it; credentials come from the caller's client (boto3's standard chain), never from here.

A run lists first (one paginated ListObjectsV2 per dataset and day), so the total is known before any byte moves, then
fetches each object into ``{downloads}/{bucket}/{key}`` and hands it to :func:`data_lake.importers.import_file`, which
places it in the raw zone (one parser for downloads and hand-imported files). Resumable:

- bytes arrive in ``{key}.{etag}.part``; an interrupted transfer resumes with a ranged GET (``bytes=n-``) pinned to
  the listed version by ``If-Match: etag``, so a part never mixes two versions of an object;
- only a part of the listed size is renamed to its final name, then imported;
- each imported object is recorded in ``{downloads}/imported.jsonl`` (bucket, key, size, etag, raw root, the raw
  files written, import counts); an object recorded with the listed size and ETag for the same raw root, whose raw
  files are all still there, is skipped; the downloaded copy is removed unless ``keep``.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import botocore.exceptions
import polars as pl
from tqdm import tqdm

from data_lake.atomic_files import replace_durably
from data_lake.importers import ImportReport, import_file

ARCHIVE_BUCKET = "hyperliquid-archive"
NODE_BUCKET = "hl-mainnet-node-data"
BUCKET_REGIONS = {ARCHIVE_BUCKET: "us-east-1", NODE_BUCKET: "ap-northeast-1"}
REQUESTER_PAYS = {"RequestPayer": "requester"}
MANIFEST = "imported.jsonl"
CHUNK_BYTES = 1 << 20
ATTEMPTS = 3
HOURS = tuple(range(24))


class ArchiveError(RuntimeError):
    """Listing or reading the S3 history failed (credentials, permissions, network); the message says which."""


class S3Client(Protocol):
    """The part of a boto3 S3 client this module calls."""

    def get_paginator(self, operation_name: str) -> Any: ...

    def get_object(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Dataset:
    """One kind of S3 history file: where it lives, how its keys read, which importer kind places it."""

    name: str
    bucket: str
    import_kind: str
    day_prefix: str
    key: re.Pattern[str]

    def prefix(self, day: dt.date) -> str:
        return self.day_prefix.format(day=day.strftime("%Y%m%d"))

    @property
    def hourly(self) -> bool:
        return "hour" in self.key.groupindex

    @property
    def per_coin(self) -> bool:
        return "coin" in self.key.groupindex


def _node(prefix: str) -> Dataset:
    name = prefix.replace("_", "-")
    key = re.compile(rf"^{prefix}/hourly/(?P<day>\d{{8}})/(?P<hour>\d{{1,2}})\.lz4$")
    return Dataset(name, NODE_BUCKET, name, prefix + "/hourly/{day}/", key)


DATASETS = {
    d.name: d
    for d in (
        Dataset(
            "l2book",
            ARCHIVE_BUCKET,
            "archive-l2book",
            "market_data/{day}/",
            re.compile(r"^market_data/(?P<day>\d{8})/(?P<hour>\d{1,2})/l2Book/(?P<coin>[^/]+)\.lz4$"),
        ),
        Dataset(
            "asset-ctxs",
            ARCHIVE_BUCKET,
            "asset-ctxs",
            "asset_ctxs/{day}",
            re.compile(r"^asset_ctxs/(?P<day>\d{8})\.csv\.lz4$"),
        ),
        _node("node_trades"),
        _node("node_fills"),
        _node("node_fills_by_block"),
    )
}


@dataclass(frozen=True)
class Selection:
    """What to fetch: datasets (names in :data:`DATASETS`), UTC days, hours (hourly datasets) and coins (``l2book``
    only; None = every coin listed)."""

    datasets: tuple[str, ...]
    days: tuple[dt.date, ...]
    hours: tuple[int, ...] = HOURS
    coins: frozenset[str] | None = None


@dataclass(frozen=True)
class RemoteObject:
    """One listed S3 object (size in bytes, ETag as S3 gives it, quotes included)."""

    dataset: Dataset
    key: str
    size: int
    etag: str
    day: dt.date
    hour: int | None
    coin: str | None

    @property
    def url(self) -> str:
        return f"s3://{self.dataset.bucket}/{self.key}"


@dataclass(frozen=True)
class Missing:
    """A requested file the listing does not hold (the archive says data may be missing)."""

    dataset: str
    day: dt.date
    hour: int | None = None
    coin: str | None = None

    def __str__(self) -> str:
        hour = "" if self.hour is None else f" hour {self.hour}"
        return f"{self.dataset} {self.day}{hour}{'' if self.coin is None else ' ' + self.coin}"


@dataclass(frozen=True)
class Planned:
    """A listed object and what is already here: imported (recorded in the manifest) and bytes held locally."""

    remote: RemoteObject
    imported: bool
    have_bytes: int

    @property
    def to_fetch(self) -> int:
        return 0 if self.imported else self.remote.size - self.have_bytes


@dataclass(frozen=True)
class Plan:
    """The listing of a run: every selected object with what is already here, and the requested files not listed."""

    objects: tuple[Planned, ...]
    missing: tuple[Missing, ...]

    @property
    def listed_bytes(self) -> int:
        return sum(p.remote.size for p in self.objects)

    @property
    def fetch_bytes(self) -> int:
        return sum(p.to_fetch for p in self.objects)

    @property
    def pending(self) -> tuple[Planned, ...]:
        return tuple(p for p in self.objects if not p.imported)


@dataclass
class DownloadReport:
    """What a run moved and placed: objects fetched and bytes transferred, import reports, failures with reasons."""

    fetched: int = 0
    fetched_bytes: int = 0
    imported: list[tuple[RemoteObject, ImportReport]] = field(default_factory=list)
    failed: list[tuple[RemoteObject, str]] = field(default_factory=list)


def days_between(start: dt.date, end: dt.date) -> tuple[dt.date, ...]:
    """Every UTC day from ``start`` to ``end`` inclusive."""
    if end < start:
        raise ValueError(f"end day {end} is before start day {start}")
    return tuple(start + dt.timedelta(days=i) for i in range((end - start).days + 1))


def s3_clients(endpoint_url: str | None = None) -> dict[str, S3Client]:
    """A boto3 S3 client per bucket, in its region, credentials from boto3's standard chain (environment, profile,
    instance role). ``AWS_ENDPOINT_URL`` is ignored (it points the lake at a MinIO-style store); pass
    ``endpoint_url`` to reach another S3 server."""
    import boto3
    from botocore.config import Config

    config = Config(ignore_configured_endpoint_urls=True, retries={"mode": "standard"})
    session = boto3.session.Session()  # reads the chain now, not the default session's cached credentials
    return {
        bucket: session.client("s3", region_name=region, endpoint_url=endpoint_url, config=config)
        for bucket, region in BUCKET_REGIONS.items()
    }


def list_dataset(client: S3Client, dataset: Dataset, selection: Selection) -> tuple[list[RemoteObject], list[Missing]]:
    """The objects of ``dataset`` the selection asks for, and the requested (day, hour, coin) with no object."""
    found: list[RemoteObject] = []
    missing: list[Missing] = []
    for day in selection.days:
        listed = [obj for obj in _list_day(client, dataset, day) if _selected(obj, selection)]
        found += listed
        missing += _missing(dataset, day, listed, selection)
    return found, missing


def _list_day(client: S3Client, dataset: Dataset, day: dt.date) -> Iterable[RemoteObject]:
    prefix = dataset.prefix(day)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=dataset.bucket, Prefix=prefix, **REQUESTER_PAYS)
    try:
        contents = [item for page in pages for item in page.get("Contents", [])]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise ArchiveError(_explain(exc, f"listing s3://{dataset.bucket}/{prefix}")) from exc
    for item in contents:
        parsed = dataset.key.match(item["Key"])
        if parsed is None or parsed["day"] != day.strftime("%Y%m%d"):
            continue
        fields = parsed.groupdict()
        hour = int(fields["hour"]) if "hour" in fields else None
        yield RemoteObject(dataset, item["Key"], int(item["Size"]), item["ETag"], day, hour, fields.get("coin"))


def _selected(obj: RemoteObject, selection: Selection) -> bool:
    if obj.hour is not None and obj.hour not in selection.hours:
        return False
    return obj.coin is None or selection.coins is None or obj.coin in selection.coins


def _missing(dataset: Dataset, day: dt.date, listed: list[RemoteObject], selection: Selection) -> list[Missing]:
    have = {(o.hour, o.coin) for o in listed}
    hours: tuple[int | None, ...] = selection.hours if dataset.hourly else (None,)
    if dataset.per_coin and selection.coins is not None:
        wanted = [(h, c) for h in hours for c in sorted(selection.coins)]
        return [Missing(dataset.name, day, h, c) for h, c in wanted if (h, c) not in have]
    present_hours = {h for h, _ in have}
    return [Missing(dataset.name, day, h) for h in hours if h not in present_hours]


def _explain(exc: Exception, doing: str) -> str:
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return (
            f"{doing}: no AWS credentials found. The Hyperliquid buckets are requester-pays: set AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for the account that pays for the transfer"
        )
    return f"{doing}: {exc}"


def local_path(downloads: str | Path, obj: RemoteObject) -> Path:
    """Where a downloaded object sits: ``{downloads}/{bucket}/{key}`` (the key's layout is what the importers read)."""
    return Path(downloads) / obj.dataset.bucket / obj.key


def part_path(final: Path, etag: str) -> Path:
    """The in-progress file of one version of an object: ``{final}.{etag}.part``."""
    return final.with_name(f"{final.name}.{etag.strip(chr(34))}.part")


def read_manifest(downloads: str | Path, raw_root: str | Path) -> dict[tuple[str, str], tuple[int, str]]:
    """(bucket, key) -> (size, etag) of every object imported into ``raw_root`` whose raw files are all still there.

    An object whose raw files were removed (``make clean``) counts as not imported, so it is fetched again; an
    unreadable line (a run killed while appending) is ignored the same way (importing is idempotent)."""
    path = Path(downloads) / MANIFEST
    done: dict[tuple[str, str], tuple[int, str]] = {}
    if not path.exists():
        return done
    raw = _raw_id(raw_root)
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
            if entry["raw_root"] == raw and all((Path(raw) / name).is_file() for name in entry["written"]):
                done[(entry["bucket"], entry["key"])] = (int(entry["size"]), str(entry["etag"]))
        except (ValueError, KeyError, TypeError):
            continue
    return done


def _raw_id(raw_root: str | Path) -> str:
    return str(Path(raw_root).resolve())


def plan(clients: Mapping[str, S3Client], selection: Selection, downloads: str | Path, raw_root: str | Path) -> Plan:
    """List every selected object and say how much of each is already here (imported into ``raw_root``,
    downloaded, or partial)."""
    unknown = sorted(set(selection.datasets) - set(DATASETS))
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; expected some of {sorted(DATASETS)}")
    done = read_manifest(downloads, raw_root)
    objects: list[Planned] = []
    missing: list[Missing] = []
    for name in selection.datasets:
        dataset = DATASETS[name]
        found, absent = list_dataset(clients[dataset.bucket], dataset, selection)
        missing += absent
        for obj in found:
            imported = done.get((dataset.bucket, obj.key)) == (obj.size, obj.etag)
            objects.append(Planned(obj, imported, 0 if imported else _bytes_held(local_path(downloads, obj), obj)))
    return Plan(tuple(objects), tuple(missing))


def _bytes_held(final: Path, obj: RemoteObject) -> int:
    """Bytes of ``obj`` already here: the whole object if its final file has the listed size, else its part's size."""
    if final.is_file() and final.stat().st_size == obj.size:
        return obj.size
    part = part_path(final, obj.etag)
    held = part.stat().st_size if part.is_file() else 0
    return held if held <= obj.size else 0


def human_bytes(n: int) -> str:
    """``n`` bytes in binary units with the exact count, e.g. ``1.50 KiB (1,536 bytes)``."""
    for scale, unit in ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= scale:
            return f"{n / scale:.2f} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"


def describe(p: Plan, show_missing: int = 10) -> str:
    """The listing's totals (printed before anything is fetched) and the requested files the archive lacks."""
    buckets = sorted({o.remote.dataset.bucket for o in p.objects})
    lines = [
        f"listed {len(p.objects)} objects, {human_bytes(p.listed_bytes)}"
        + (
            f" in {', '.join('s3://' + b for b in buckets)} (requester pays: your AWS account is billed)"
            if buckets
            else ""
        )
    ]
    by_dataset = Counter(o.remote.dataset.name for o in p.objects)
    for name, count in sorted(by_dataset.items()):
        size = sum(o.remote.size for o in p.objects if o.remote.dataset.name == name)
        lines.append(f"  {name}: {count} objects, {human_bytes(size)}")
    imported = [o for o in p.objects if o.imported]
    lines.append(
        f"already imported: {len(imported)} objects; to import: {len(p.pending)} objects; "
        f"to download: {human_bytes(p.fetch_bytes)}"
    )
    if p.missing:
        shown = ", ".join(str(m) for m in p.missing[:show_missing])
        more = f" and {len(p.missing) - show_missing} more" if len(p.missing) > show_missing else ""
        lines.append(f"not in the archive: {len(p.missing)} requested files ({shown}{more})")
    return "\n".join(lines)


def fetch(client: S3Client, obj: RemoteObject, final: Path, on_bytes: Callable[[int], object] = lambda n: None) -> int:
    """Fetch ``obj`` to ``final`` through its part file, resuming what the part holds; returns the bytes transferred.

    A transfer cut short is resumed up to :data:`ATTEMPTS` times; an object changed since it was listed (its ETag no
    longer matches) fails at once. Raises :class:`ArchiveError` with the reason."""
    final.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(final, obj.etag)
    for stale in final.parent.glob(f"{glob.escape(final.name)}.*.part"):
        if stale != part:
            stale.unlink()
    part.touch()
    moved, problem = 0, ""
    for _ in range(ATTEMPTS):
        held = part.stat().st_size
        if held > obj.size:
            part.unlink()
            held = 0
        if held < obj.size:
            try:
                moved += _get_range(client, obj, part, held, on_bytes)
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                    raise ArchiveError(f"{obj.url} changed since it was listed (ETag {obj.etag}): run again") from exc
                problem = _explain(exc, f"reading {obj.url}")
                continue
            except (botocore.exceptions.BotoCoreError, OSError) as exc:
                problem = _explain(exc, f"reading {obj.url}")
                continue
        size = part.stat().st_size
        if size == obj.size:
            replace_durably(part, final)
            return moved
        problem = f"{obj.url}: got {size} of {obj.size} bytes"
    raise ArchiveError(f"{problem} (after {ATTEMPTS} attempts; the part file is kept and resumed next run)")


def _get_range(client: S3Client, obj: RemoteObject, part: Path, start: int, on_bytes: Callable[[int], object]) -> int:
    """Append bytes ``start..`` of the listed version of ``obj`` to ``part``; returns how many arrived."""
    ranged = {"Range": f"bytes={start}-"} if start else {}
    response = client.get_object(Bucket=obj.dataset.bucket, Key=obj.key, IfMatch=obj.etag, **ranged, **REQUESTER_PAYS)
    moved = 0
    with open(part, "ab") as out:
        for chunk in response["Body"].iter_chunks(CHUNK_BYTES):
            out.write(chunk)
            moved += len(chunk)
            on_bytes(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    return moved


def _record(downloads: Path, obj: RemoteObject, report: ImportReport, raw_root: str | Path) -> None:
    entry = {
        "bucket": obj.dataset.bucket,
        "key": obj.key,
        "size": obj.size,
        "etag": obj.etag,
        "raw_root": _raw_id(raw_root),
        "import_kind": obj.dataset.import_kind,
        "imported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "items": report.items,
        "attributed": report.attributed,
        "unattributed": report.unattributed,
        "written": sorted({os.path.relpath(Path(w).resolve(), _raw_id(raw_root)) for w in report.written}),
    }
    with open(downloads / MANIFEST, "a") as out:
        out.write(json.dumps(entry) + "\n")


def run(
    p: Plan,
    clients: Mapping[str, S3Client],
    downloads: str | Path,
    raw_root: str | Path,
    keep: bool = False,
    progress: bool = True,
) -> DownloadReport:
    """Fetch and import every pending object of ``p``, one at a time, with a progress bar over the bytes to fetch.

    A failed object is reported with its reason and the run goes on; its part or downloaded file stays for the
    next run. An imported object is recorded in the manifest and its downloaded copy removed unless ``keep``."""
    downloads = Path(downloads)
    downloads.mkdir(parents=True, exist_ok=True)
    report = DownloadReport()
    with tqdm(
        total=p.fetch_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="download", disable=not progress
    ) as bar:
        for planned in p.pending:
            obj = planned.remote
            final = local_path(downloads, obj)
            bar.set_postfix_str(obj.key, refresh=False)
            try:
                if planned.have_bytes < obj.size or not final.is_file():
                    report.fetched_bytes += fetch(clients[obj.dataset.bucket], obj, final, bar.update)
                    report.fetched += 1
                imported = import_file(final, obj.dataset.import_kind, raw_root)
            except ArchiveError as exc:
                report.failed.append((obj, str(exc)))
                continue
            except (pl.exceptions.PolarsError, ValueError, OSError) as exc:
                report.failed.append(
                    (obj, f"import of {final} failed ({type(exc).__name__}: {exc}); the download is kept")
                )
                continue
            _record(downloads, obj, imported, raw_root)
            report.imported.append((obj, imported))
            if not keep:
                final.unlink()
    return report


def summary(report: DownloadReport) -> str:
    """What a run fetched and placed in the raw zone, unattributed items by reason, and each failure."""
    items = sum(r.items for _, r in report.imported)
    attributed = sum(r.attributed for _, r in report.imported)
    unattributed = sum(r.unattributed for _, r in report.imported)
    lines = [
        f"downloaded {report.fetched} objects, {human_bytes(report.fetched_bytes)}",
        f"imported {len(report.imported)} objects: {items} items, {attributed} to coin files, "
        f"{unattributed} unattributed",
    ]
    reasons: Counter[str] = Counter()
    for _, r in report.imported:
        reasons.update(r.reasons)
    lines += [f"  unattributed, {reason}: {count}" for reason, count in sorted(reasons.items())]
    lines += [f"FAILED {obj.url}: {why}" for obj, why in report.failed]
    return "\n".join(lines)
