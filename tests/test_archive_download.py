"""`smallfish download` against moto's S3 server on loopback, with Hyperliquid's real bucket names and key layout.

The objects are lz4 frames as the archive serves them: the real node_trades hour of the shared samples, a real
l2Book frame re-timed into archive envelopes, and a hand-built asset_ctxs CSV. The server's request recorder shows
what the client sent (requester pays, ranged resumes, which objects were fetched).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import lz4.frame
import pytest

from data_lake import raw_zone
from tests.conftest import SAMPLES

boto3 = pytest.importorskip("boto3", reason="boto3 missing: pip install -e '.[production]'")
moto_server = pytest.importorskip("moto.server", reason="moto missing: pip install -e '.[production]'")
from data_lake import archive_download as archive  # noqa: E402  (after the skips: it needs boto3 and tqdm)
from quoting.cli.main import main  # noqa: E402

DAY = dt.date(2025, 6, 24)
SECRET = "not-a-real-secret-7f3a"
HOUR2_BTC = "market_data/20250624/2/l2Book/BTC.lz4"
HOUR3_BTC = "market_data/20250624/3/l2Book/BTC.lz4"
CTX_KEY = "asset_ctxs/20250624.csv.lz4"
NODE_KEY = "node_trades/hourly/20250624/2.lz4"
UNWANTED = ("market_data/20250624/2/l2Book/ETH.lz4", "market_data/20250624/5/l2Book/BTC.lz4")
WANTED = {
    HOUR2_BTC: archive.ARCHIVE_BUCKET,
    HOUR3_BTC: archive.ARCHIVE_BUCKET,
    CTX_KEY: archive.ARCHIVE_BUCKET,
    NODE_KEY: archive.NODE_BUCKET,
}
CTX_CSV = (
    "time,coin,funding,open_interest,prev_day_px,day_ntl_vlm,premium,oracle_px,mark_px,mid_px,impact_bid_px,impact_ask_px\n"
    "2025-06-24T02:00:00Z,BTC,0.0000125,10000.0,105000.0,1000000000.0,0.0001,105100.0,105110.0,105105.0,105100.0,105120.0\n"
    "2025-06-24T02:01:00Z,BTC,0.0000125,10001.0,105000.0,1000000001.0,0.0001,105200.0,105210.0,105205.0,105200.0,105220.0\n"
    "2025-06-24T03:00:00Z,ETH,0.0000125,500000.0,2400.0,300000000.0,0.0001,2410.0,2411.0,2410.5,2410.0,2411.0\n"
)


def _l2book_object(hour: int, coin: str) -> bytes:
    """Two archive lines of the real BTC l2Book frame, re-timed into ``hour`` of DAY, as an lz4 frame."""
    frame = json.loads((SAMPLES / "ws" / "ws_messages_examples.jsonl").read_text().splitlines()[1])
    lines = []
    for i in range(2):
        exchange_ms = (
            int(dt.datetime(DAY.year, DAY.month, DAY.day, hour, 30, tzinfo=dt.UTC).timestamp() * 1000) + 500 * i
        )
        frame["data"].update(time=exchange_ms, coin=coin)
        lines.append(raw_zone.envelope(exchange_ms * 1_000_000 + 40_000_000, frame))
    return lz4.frame.compress(("\n".join(lines) + "\n").encode())


def _objects() -> dict[tuple[str, str], bytes]:
    node_trades = (SAMPLES / "node" / "node_trades_2025-06-24T02.jsonl").read_bytes()
    return {
        (archive.ARCHIVE_BUCKET, HOUR2_BTC): _l2book_object(2, "BTC"),
        (archive.ARCHIVE_BUCKET, HOUR3_BTC): _l2book_object(3, "BTC"),
        (archive.ARCHIVE_BUCKET, UNWANTED[0]): _l2book_object(2, "ETH"),
        (archive.ARCHIVE_BUCKET, UNWANTED[1]): _l2book_object(5, "BTC"),
        (archive.ARCHIVE_BUCKET, CTX_KEY): lz4.frame.compress(CTX_CSV.encode()),
        (archive.NODE_BUCKET, NODE_KEY): lz4.frame.compress(node_trades),
    }


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[tuple[str, str], bytes]]]:
    """moto's S3 server on 127.0.0.1 holding the two Hyperliquid buckets; yields (endpoint, objects uploaded)."""
    if not SAMPLES.is_dir():
        pytest.skip(f"real Hyperliquid samples not found at {SAMPLES} (they live outside the repository)")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    objects = _objects()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("moto"))  # the server's request recording is written to its working directory
        for bucket, region in archive.BUCKET_REGIONS.items():
            client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name=region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            client.create_bucket(
                Bucket=bucket,
                **({} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}),
            )
            for (in_bucket, key), body in objects.items():
                if in_bucket == bucket:
                    client.put_object(Bucket=bucket, Key=key, Body=body)
        _moto_api(endpoint, "start-recording")
        try:
            yield endpoint, objects
        finally:
            _moto_api(endpoint, "stop-recording")
            server.stop()


def _moto_api(endpoint: str, action: str) -> str:
    method = "GET" if action == "download-recording" else "POST"
    with urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/recorder/{action}", method=method)) as r:
        return r.read().decode()


def _requests(endpoint: str) -> list[dict]:
    """The S3 requests the server received since the last reset: method, path, query and headers."""
    entries = [json.loads(line) for line in _moto_api(endpoint, "download-recording").splitlines() if line.strip()]
    return [e for e in entries if "/moto-api/" not in e["url"]]


def _object_gets(requests: list[dict]) -> dict[str, dict]:
    """The object GETs by key (listing requests carry a query, object GETs do not)."""
    gets = {}
    for r in requests:
        path, _, query = r["url"].split("://", 1)[1].partition("/")[2].partition("?")
        if r["method"] == "GET" and not query:
            gets[path.split("/", 1)[1]] = r["headers"]
    return gets


@pytest.fixture
def aws(s3: tuple[str, dict], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[str, dict]:
    """Credentials in the environment (as a user sets them), a fresh recording, the server's working directory."""
    endpoint, objects = s3
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the lake's store: the download must not use it
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    _moto_api(endpoint, "reset-recording")
    return endpoint, objects


def _download(endpoint: str, root: Path, *extra: str) -> int:
    return main(
        [
            "download",
            "l2book",
            "asset-ctxs",
            "node-trades",
            "--start",
            DAY.isoformat(),
            "--hours",
            "2-3",
            "--coins",
            "BTC",
            "--raw",
            str(root / "raw"),
            "--downloads",
            str(root / "downloads"),
            "--endpoint-url",
            endpoint,
            *extra,
        ]
    )


def _line(out: str, start: str) -> str:
    return next(line for line in out.splitlines() if start in line)


def _raw_files(raw: Path) -> dict[str, bytes]:
    return {str(p.relative_to(raw)): p.read_bytes() for p in sorted(raw.rglob("*")) if p.is_file()}


def test_download_lists_the_total_first_places_each_file_and_pays_as_requester(
    aws: tuple, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    endpoint, objects = aws
    assert _download(endpoint, tmp_path) == 0
    out, err = capsys.readouterr()
    total = sum(len(objects[(bucket, key)]) for key, bucket in WANTED.items())
    assert _line(out, "listed 4 objects").endswith(
        f"({total:,} bytes) in s3://hl-mainnet-node-data, s3://hyperliquid-archive "
        "(requester pays: your AWS account is billed)"
    )
    assert _line(out, "to download:").endswith(f"({total:,} bytes)")
    assert "not in the archive: 1 requested files (node-trades 2025-06-24 hour 3)" in out
    assert "imported 4 objects" in out and "0 unattributed" in out
    assert SECRET not in out + err

    raw = tmp_path / "raw"
    for key in (HOUR2_BTC, HOUR3_BTC):
        hour = key.split("/")[2]
        assert (raw / "archive" / "20250624" / hour / "BTC.jsonl.lz4").read_bytes() == objects[
            (archive.ARCHIVE_BUCKET, key)
        ]
    assert {(f.source, f.hour, f.coin) for f in raw_zone.discover(raw, coin="BTC")} == {
        ("archive", 2, "BTC"),
        ("archive", 3, "BTC"),
        ("asset_ctxs", 2, "BTC"),
    }
    assert not list(raw.glob("archive/*/*/ETH*")) and not (raw / "archive" / "20250624" / "5").exists()
    node = [f for f in raw_zone.discover(raw) if f.source == "node"]
    sample = [
        json.loads(line) for line in (SAMPLES / "node" / "node_trades_2025-06-24T02.jsonl").read_text().splitlines()
    ]
    assert {f.coin for f in node} == {t["coin"] for t in sample} and {f.hour for f in node} == {2}
    assert sum(len(raw_zone.read_lines(f.path)) for f in node) == len(sample)
    assert len(raw_zone.read_lines(raw / "asset_ctxs" / "20250624" / "2" / "BTC.jsonl.lz4")) == 2
    assert len(raw_zone.read_lines(raw / "asset_ctxs" / "20250624" / "3" / "ETH.jsonl.lz4")) == 1

    requests = _requests(endpoint)
    assert requests and all(r["headers"].get("X-Amz-Request-Payer") == "requester" for r in requests)
    assert set(_object_gets(requests)) == set(WANTED)
    manifest = [json.loads(line) for line in (tmp_path / "downloads" / archive.MANIFEST).read_text().splitlines()]
    assert {(m["bucket"], m["key"]) for m in manifest} == {(b, k) for k, b in WANTED.items()}
    assert not [p for p in (tmp_path / "downloads").rglob("*.lz4")]  # imported copies are removed


def test_a_second_run_downloads_nothing_and_changes_nothing(
    aws: tuple, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    endpoint, _ = aws
    assert _download(endpoint, tmp_path) == 0
    before = _raw_files(tmp_path / "raw")
    _moto_api(endpoint, "reset-recording")
    capsys.readouterr()
    assert _download(endpoint, tmp_path) == 0
    out = capsys.readouterr().out
    assert "already imported: 4 objects; to import: 0 objects; to download: 0 bytes" in out
    assert "downloaded 0 objects" in out
    assert _object_gets(_requests(endpoint)) == {}
    assert _raw_files(tmp_path / "raw") == before


def test_a_removed_raw_file_or_another_raw_zone_is_imported_again(
    aws: tuple, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    endpoint, _ = aws
    assert _download(endpoint, tmp_path) == 0
    complete = _raw_files(tmp_path / "raw")
    (tmp_path / "raw" / "archive" / "20250624" / "3" / "BTC.jsonl.lz4").unlink()
    capsys.readouterr()
    assert _download(endpoint, tmp_path) == 0
    assert "already imported: 3 objects; to import: 1 objects" in capsys.readouterr().out
    assert _raw_files(tmp_path / "raw") == complete
    assert _download(endpoint, tmp_path, "--raw", str(tmp_path / "other_raw")) == 0
    assert "already imported: 0 objects; to import: 4 objects" in capsys.readouterr().out
    assert _raw_files(tmp_path / "other_raw") == complete


def test_a_truncated_partial_file_is_completed_with_a_ranged_get(
    aws: tuple, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    endpoint, objects = aws
    body = objects[(archive.ARCHIVE_BUCKET, HOUR2_BTC)]
    etag = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").head_object(
        Bucket=archive.ARCHIVE_BUCKET, Key=HOUR2_BTC
    )["ETag"]
    final = tmp_path / "downloads" / archive.ARCHIVE_BUCKET / HOUR2_BTC
    final.parent.mkdir(parents=True)
    half = len(body) // 2
    archive.part_path(final, etag).write_bytes(body[:half])
    total = sum(len(objects[(bucket, key)]) for key, bucket in WANTED.items())
    assert _download(endpoint, tmp_path) == 0
    out = capsys.readouterr().out
    assert _line(out, "to download:").endswith(f"({total - half:,} bytes)")
    gets = _object_gets(_requests(endpoint))
    assert gets[HOUR2_BTC]["Range"] == f"bytes={half}-" and gets[HOUR2_BTC]["If-Match"] == etag
    assert "Range" not in gets[HOUR3_BTC]
    assert (tmp_path / "raw" / "archive" / "20250624" / "2" / "BTC.jsonl.lz4").read_bytes() == body
    assert not list(final.parent.glob("*.part"))


def test_dry_run_lists_and_totals_without_downloading(
    aws: tuple, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    endpoint, objects = aws
    assert _download(endpoint, tmp_path, "--dry-run") == 0
    out = capsys.readouterr().out
    total = sum(len(objects[(bucket, key)]) for key, bucket in WANTED.items())
    assert f"({total:,} bytes)" in _line(out, "listed 4 objects") and "dry run: nothing downloaded" in out
    assert _object_gets(_requests(endpoint)) == {}
    assert not (tmp_path / "raw").exists() and not (tmp_path / "downloads").exists()


def test_without_credentials_the_command_says_so_and_downloads_nothing(
    aws: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    endpoint, _ = aws
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert _download(endpoint, tmp_path) == 2
    err = capsys.readouterr().err
    assert "no AWS credentials found" in err and "requester-pays" in err
    assert _requests(endpoint) == [] and not (tmp_path / "raw").exists()
