"""Reports and plots are files in the lake, local or on S3, linked from metadata by URL (never base64 in the log)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from assets.metadata import plot_url
from data_lake.lake import Lake
from tests import services

BUCKET = "smallfish-files"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    with services.moto_s3_or_skip(BUCKET) as aws:
        yield aws


def test_a_local_plot_is_a_file_under_the_lake_linked_by_a_file_url(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake", storage_options={})
    link = plot_url(lake, PNG, "kappa_fit", "xyz:NVDA", "2026-01-01", "fill_intensity")
    assert isinstance(link, dg.UrlMetadataValue)
    target = tmp_path / "lake" / "plots" / "kappa_fit" / "xyz_NVDA" / "2026-01-01" / "fill_intensity.png"
    assert link.value == target.as_uri() and target.read_bytes() == PNG
    files = lake.files()
    files.write("reports/a/b.html", b"first")
    files.write("reports/a/b.html", b"second")  # replaced whole
    assert files.read("reports/a/b.html") == b"second" and files.read("reports/none.html") is None
    assert sorted(p.name for p in (tmp_path / "lake" / "reports" / "a").iterdir()) == ["b.html"]  # no temp file left


def test_on_an_s3_lake_plots_and_reports_land_on_s3_with_s3_urls(s3: dict[str, str]) -> None:
    import boto3

    lake = Lake(f"s3://{BUCKET}/lake", storage_options=s3)
    link = plot_url(lake, PNG, "hawkes_fit", "BTC", "2026-01-01", "qq_plot")
    assert link.value == f"s3://{BUCKET}/lake/plots/hawkes_fit/BTC/2026-01-01/qq_plot.png"
    client = boto3.client(
        "s3",
        endpoint_url=s3["AWS_ENDPOINT_URL"],
        region_name=s3["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    body = client.get_object(Bucket=BUCKET, Key="lake/plots/hawkes_fit/BTC/2026-01-01/qq_plot.png")["Body"].read()
    assert body == PNG
    files = lake.files()
    files.write("reports/BTC/2026-01-01.html", "<html>café</html>".encode())
    assert files.read("reports/BTC/2026-01-01.html").decode() == "<html>café</html>"
    assert files.url("reports/BTC/2026-01-01.html") == f"s3://{BUCKET}/lake/reports/BTC/2026-01-01.html"
    assert files.stamp("reports/BTC/2026-01-01.html") is not None and files.stamp("reports/none.html") is None
    assert not Path("reports").exists() or not any(Path("reports").rglob("2026-01-01.html"))  # nothing local


def test_a_local_lake_lists_and_deletes_its_files(tmp_path: Path) -> None:
    files = Lake(str(tmp_path / "lake"), storage_options={}).files()
    files.write("cache/a/one.json", b"1")
    files.write("cache/a/b/two.parquet", b"22")
    files.write("other/three.txt", b"333")
    (tmp_path / "lake" / "cache" / "a" / ".one.json.x.tmp").write_bytes(b"half")  # a writer's temp file
    listed = files.list_files("cache")
    assert [(f.rel, f.size) for f in listed] == [("cache/a/b/two.parquet", 2), ("cache/a/one.json", 1)]
    written_ms = (tmp_path / "lake" / "cache" / "a" / "one.json").stat().st_mtime_ns // 1_000_000
    assert listed[1].modified_ms == written_ms
    assert files.list_files("none") == []
    assert files.delete("cache/a/b/two.parquet") and not files.delete("cache/a/b/two.parquet")
    assert not (tmp_path / "lake" / "cache" / "a" / "b").exists()  # left empty: removed
    assert (tmp_path / "lake" / "cache" / "a").is_dir()  # still holds one.json and the temp file
    assert [f.rel for f in files.list_files("")] == ["cache/a/one.json", "other/three.txt"]


def test_an_s3_lake_lists_and_deletes_its_files(s3: dict[str, str]) -> None:
    import boto3

    files = Lake(f"s3://{BUCKET}/listing", storage_options=s3).files()
    files.write("cache/a/one.json", b"1")
    files.write("cache/a/b/two.parquet", b"22")
    files.write("other/three.txt", b"333")
    listed = files.list_files("cache")
    assert [(f.rel, f.size) for f in listed] == [("cache/a/b/two.parquet", 2), ("cache/a/one.json", 1)]
    assert all(f.modified_ms > 1_700_000_000_000 for f in listed)  # S3's LastModified, epoch ms
    assert files.list_files("none") == []
    assert files.delete("cache/a/one.json") and not files.delete("cache/a/one.json")
    assert files.read("cache/a/one.json") is None and files.read("cache/a/b/two.parquet") == b"22"
    assert [f.rel for f in files.list_files("")] == ["cache/a/b/two.parquet", "other/three.txt"]
    assert files.delete("cache/a/b/two.parquet")
    client = boto3.client(
        "s3",
        endpoint_url=s3["AWS_ENDPOINT_URL"],
        region_name=s3["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    left = client.list_objects_v2(Bucket=BUCKET, Prefix="listing/cache").get("Contents", [])
    assert left == []  # no empty directory markers (``cache/a/b/``) left behind
    assert files.read("other/three.txt") == b"333"
